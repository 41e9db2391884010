package auth

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// specExample is the rule shown in the compatibility spec (§3.5).
const specExample = `[ { "Events": true, "EventsStore": false, "Commands": false, "Queries": false, "Queues": true,
    "ClientID": "^billing-.*", "Channel": "orders\\..*", "Read": true, "Write": false } ]`

// referenceTestPolicy is the policy of the reference's own authorization
// tests (services/array/authorization_test.go, v2.3.7).
const referenceTestPolicy = `[{"ClientID":"authorise","Events":true,"Channel":".*","Read":true,"Write":true},
{"ClientID":"authorise","EventsStore":true,"Channel":".*","Read":true,"Write":true},
{"ClientID":"authorise","Commands":true,"Channel":".*","Read":true,"Write":true},
{"ClientID":"authorise","Queries":true,"Channel":".*","Read":true,"Write":true},
{"ClientID":"authorise","Queues":true,"Channel":".*","Read":true,"Write":true}]`

const yamlExample = `# Herald access-control list
rules:
  - clients: billing-*
    resources: [queues, events]
    channels: ["orders.>", "audit.*.eu"]
    actions: read
  - clients: [writer, "ops-*"]
    resources: queues
    channels: orders.in
    actions: write
  - clients: "*"
    resources: "*"
    channels: "public.>"
    actions: "*"
`

type decision struct {
	res      Resource
	clientID string
	channel  string
	act      Action
	want     bool
}

func checkDecisions(t *testing.T, p *Policy, ds []decision) {
	t.Helper()
	for _, d := range ds {
		if got := p.Allowed(d.res, d.clientID, d.channel, d.act); got != d.want {
			t.Errorf("Allowed(%s, %q, %q, %s) = %v, want %v", d.res, d.clientID, d.channel, d.act, got, d.want)
		}
	}
}

func mustParse(t *testing.T, text string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReferencePolicySpecExample(t *testing.T) {
	p := mustParse(t, specExample)
	if p.Format() != FormatReference || p.Len() != 1 {
		t.Fatalf("format %s, %d rules", p.Format(), p.Len())
	}
	checkDecisions(t, p, []decision{
		{Queues, "billing-1", "orders.eu", Read, true},
		{Events, "billing-1", "orders.eu", Read, true},
		{Queues, "billing-1", "orders.eu", Write, false},     // read only
		{EventsStore, "billing-1", "orders.eu", Read, false}, // resource not chosen
		{Commands, "billing-1", "orders.eu", Read, false},
		{Queues, "shipping-1", "orders.eu", Read, false}, // ^billing- is anchored at the start
		{Queues, "billing-1", "invoices", Read, false},   // wrong channel
		// Unanchored, as in the reference: the channel regex matches inside.
		{Queues, "billing-1", "old-orders.eu", Read, true},
		{Responses, "anyone", "reply-inbox", Write, true},
	})
}

func TestReferencePolicyIsUnanchored(t *testing.T) {
	p := mustParse(t, `[{"Events":true,"ClientID":"allowed.*","Channel":".*","Write":true}]`)
	checkDecisions(t, p, []decision{
		{Events, "allowed-1", "x", Write, true},
		{Events, "not-allowed", "x", Write, true}, // the reference's trap, kept
		{Events, "other", "x", Write, false},
	})
}

func TestReferencePolicyOwnTests(t *testing.T) {
	p := mustParse(t, referenceTestPolicy)
	for _, res := range []Resource{Events, EventsStore, Commands, Queries, Queues} {
		for _, act := range []Action{Read, Write} {
			checkDecisions(t, p, []decision{
				{res, "authorise", "authorise", act, true},
				{res, "bad-client", "authorise", act, false},
			})
		}
	}
	// The reference controller's table (pkg/authorization/controller_test.go).
	for _, c := range []struct {
		rule string
		d    decision
	}{
		{`{"Queues":true,"ClientID":".*","Channel":".*","Read":true}`, decision{Queues, "alice", "somequeue", Read, true}},
		{`{"Queues":true,"ClientID":".*","Channel":".*","Read":true}`, decision{Queues, "alice", "somequeue", Write, false}},
		{`{"Queues":true,"ClientID":".*","Channel":".*","Read":true,"Write":true}`, decision{Queues, "alice", "somequeue", Write, true}},
		{`{"Queues":true,"ClientID":".*","Channel":".*","Read":false,"Write":false}`, decision{Queues, "alice", "somequeue", Read, false}},
		{`{"Queues":true,"ClientID":".*","Channel":".*","Read":false,"Write":false}`, decision{Queues, "alice", "somequeue", Write, false}},
		{`{"Queues":true,"ClientID":"client","Channel":".*","Read":true}`, decision{Queues, "alice", "somequeue", Read, false}},
		{`{"Queues":true,"ClientID":"client","Channel":".*","Read":true}`, decision{Queues, "client", "somequeue", Read, true}},
		{`{"Queues":true,"ClientID":".*","Channel":"^foo$","Write":true}`, decision{Queues, "client", "foo.bar", Write, false}},
		// Write-only.
		{`{"Events":true,"ClientID":"^pub$","Channel":"^news$","Write":true}`, decision{Events, "pub", "news", Write, true}},
		{`{"Events":true,"ClientID":"^pub$","Channel":"^news$","Write":true}`, decision{Events, "pub", "news", Read, false}},
		// A comma in a regex broke the reference's CSV rules; here it works.
		{`{"Events":true,"ClientID":"^a{1,3}$","Channel":".*","Write":true}`, decision{Events, "aa", "x", Write, true}},
	} {
		p := mustParse(t, "["+c.rule+"]")
		checkDecisions(t, p, []decision{c.d})
	}
}

func TestReferencePolicyKeysIgnoreCaseAndBase64(t *testing.T) {
	lower := `[{"events":true,"clientid":"^a$","CHANNEL":"^c$","write":true}]`
	for _, text := range []string{lower, base64.StdEncoding.EncodeToString([]byte(lower)), "\n  " + base64.StdEncoding.EncodeToString([]byte(specExample)) + "\n"} {
		p := mustParse(t, text)
		if p.Format() != FormatReference {
			t.Errorf("%q read as %s", text, p.Format())
		}
	}
	checkDecisions(t, mustParse(t, lower), []decision{{Events, "a", "c", Write, true}})
}

func TestYAMLPolicy(t *testing.T) {
	p := mustParse(t, yamlExample)
	if p.Format() != FormatYAML || p.Len() != 3 {
		t.Fatalf("format %s, %d rules", p.Format(), p.Len())
	}
	checkDecisions(t, p, []decision{
		// Rule 1: read-only, two resources, NATS wildcards.
		{Queues, "billing-1", "orders.eu", Read, true},
		{Events, "billing-1", "orders.eu.de.berlin", Read, true},
		{Queues, "billing-1", "orders", Read, false}, // ">" needs one more token
		{Queues, "billing-1", "orders.eu", Write, false},
		{Commands, "billing-1", "orders.eu", Read, false},
		{Queues, "xbilling-1", "orders.eu", Read, false}, // anchored
		{Queues, "billing-1", "audit.x.eu", Read, true},
		{Queues, "billing-1", "audit.x.y.eu", Read, false}, // "*" is one token
		{Queues, "billing-1", "audit.x.eu.more", Read, false},
		{Queues, "billing-1", "neworders.eu", Read, false}, // no substring match
		// Rule 2: write-only, exact channel.
		{Queues, "writer", "orders.in", Write, true},
		{Queues, "ops-7", "orders.in", Write, true},
		{Queues, "writer", "orders.in", Read, false},
		{Queues, "writer", "orders.in.x", Write, false},
		{Events, "writer", "orders.in", Write, false},
		// Rule 3: everything under public for everyone.
		{Commands, "anyone", "public.x", Write, true},
		{Queries, "anyone", "public.x.y", Read, true},
		{Queries, "anyone", "public", Read, false},
		{Queries, "anyone", "private.x", Read, false},
		// Unknown names are denied.
		{Resource("topics"), "anyone", "public.x", Read, false},
		{Queues, "anyone", "public.x", Action("admin"), false},
	})
}

func TestYAMLSubscriptionWildcards(t *testing.T) {
	p := mustParse(t, `
rules:
  - {clients: "*", resources: events, channels: "orders.>", actions: read}
  - {clients: "*", resources: events_store, channels: "orders.*", actions: read}
`)
	checkDecisions(t, p, []decision{
		{Events, "s", "orders.>", Read, true},
		{Events, "s", "orders.*", Read, true},
		{Events, "s", "orders.*.eu", Read, true},
		{Events, "s", ">", Read, false},
		{Events, "s", "*.eu", Read, false},
		{EventsStore, "s", "orders.*", Read, true},
		{EventsStore, "s", "orders.>", Read, false}, // ">" reaches deeper than "*"
		{EventsStore, "s", "orders.a.b", Read, false},
		{Events, "s", "orders..x", Read, false},
		{Events, "s", "orders.", Read, false},
		{Events, "s", "", Read, false},
	})
}

func TestPolicyProblems(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"empty", "", "empty"},
		{"empty array", "[]", "no rules"},
		{"empty rules", "rules: []", "no rules"},
		{"bad JSON", "[{", "reference JSON"},
		{"unknown JSON key", `[{"Events":true,"ClientID":"a","Channel":"b","Read":true,"Admin":true}]`, `unknown field "Admin"`},
		{"JSON after the array", `[{"Events":true,"ClientID":"a","Channel":"b","Read":true}] []`, "text after the array"},
		{"null rule", `[null]`, "rule 0: null"},
		{"empty ClientID", `[{"Events":true,"Channel":"b","Read":true}]`, "rule 0: ClientID is empty"},
		{"bad regex", `[{"Events":true,"ClientID":"(","Channel":"b","Read":true}]`, "rule 0: ClientID: error parsing regexp"},
		{"both reported", `[{"Events":true,"ClientID":"(","Channel":""}]`, "Channel is empty"},
		{"unknown YAML key", "rules:\n  - {clients: a, resources: events, channels: b, actions: read, deny: true}", "field deny not found"},
		{"YAML missing keys", "rules:\n  - {clients: a}", "resources: missing"},
		{"YAML responses", "rules:\n  - {clients: a, resources: responses, channels: b, actions: write}", "responses need no rule"},
		{"YAML bad resource", "rules:\n  - {clients: a, resources: topics, channels: b, actions: write}", `"topics" is not`},
		{"YAML bad action", "rules:\n  - {clients: a, resources: events, channels: b, actions: publish}", `"publish" is not`},
		{"YAML > in the middle", "rules:\n  - {clients: a, resources: events, channels: a.>.b, actions: read}", "must be the last token"},
		{"YAML partial wildcard", "rules:\n  - {clients: a, resources: events, channels: a.b*, actions: read}", "whole tokens"},
		{"YAML empty token", "rules:\n  - {clients: a, resources: events, channels: a..b, actions: read}", "empty token"},
		{"YAML space in client", "rules:\n  - {clients: 'a b', resources: events, channels: a, actions: read}", "white space"},
		{"YAML two documents", "rules: []\n---\nrules: []\n", "more than one document"},
		{"YAML not a mapping", "just text", "YAML"},
		{"YAML unquoted star", "rules:\n  - {clients: *, resources: events, channels: a, actions: read}", "YAML"},
		{"second rule reported", "rules:\n  - {clients: a, resources: events, channels: a, actions: read}\n  - {clients: a}", "rule 1"},
		{"too large", strings.Repeat(" ", MaxFileSize+1), "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ParsePolicy: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestNilPolicyDeniesAll(t *testing.T) {
	var p *Policy
	if p.Allowed(Events, "a", "b", Read) {
		t.Fatal("a nil policy allowed a request")
	}
}

func TestPolicyConcurrentUse(t *testing.T) {
	p := mustParse(t, specExample)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				ch := fmt.Sprintf("orders.%d", (i*7+w)%5000)
				if !p.Allowed(Queues, "billing-1", ch, Read) || p.Allowed(Queues, "billing-1", ch, Write) {
					t.Errorf("wrong decision for %s", ch)
					return
				}
			}
		})
	}
	wg.Wait()
	p.cache.mu.RLock()
	n := len(p.cache.m)
	p.cache.mu.RUnlock()
	if n > maxDecisions {
		t.Fatalf("decision cache holds %d entries, more than %d", n, maxDecisions)
	}
}

func BenchmarkPolicyAllowed(b *testing.B) {
	var rules []string
	for i := range 50 {
		rules = append(rules, fmt.Sprintf(`{"Queues":true,"ClientID":"^team-%d-.*$","Channel":"^orders\\.%d\\..*$","Read":true,"Write":true}`, i, i))
	}
	p, err := ParsePolicy([]byte("[" + strings.Join(rules, ",") + "]"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.Allowed(Queues, "team-49-x", "orders.49.eu", Write)
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.evaluate(resourceBits[Queues], actionBits[Write], "team-49-x", "orders.49.eu")
		}
	})
}
