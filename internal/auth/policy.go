package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Resource is a kind of KubeMQ channel, as the access-control list names it.
type Resource string

// The resources rules can grant, and Responses, which needs no rule.
const (
	Events      Resource = "events"
	EventsStore Resource = "events_store"
	Queues      Resource = "queues"
	Commands    Resource = "commands"
	Queries     Resource = "queries"
	// Responses is a response to a command or query, on its reply channel.
	// It is always allowed (see the package documentation).
	Responses Resource = "responses"
)

// Action is what a request does to a channel.
type Action string

// The actions. Sending (events, requests, queue messages, ack-all) is
// Write; subscribing and receiving (queue receive, stream and downstream
// requests) is Read.
const (
	Read  Action = "read"
	Write Action = "write"
)

var resourceBits = map[Resource]uint8{Events: 1, EventsStore: 2, Queues: 4, Commands: 8, Queries: 16}

const allResources = 31

var actionBits = map[Action]uint8{Read: 1, Write: 2}

const allActions = 3

// Policy is a parsed access-control list: a set of rules that each grant
// actions on resources to client ids on channels. What no rule grants is
// denied. A Policy is immutable and safe for concurrent use.
type Policy struct {
	rules  []rule
	format string
	cache  decisionCache
}

type rule struct {
	resources uint8
	actions   uint8
	clients   []matcher // any of them
	channels  []matcher // any of them
}

type matcher interface{ match(string) bool }

// Policy formats, as Format reports them.
const (
	FormatReference = "kubemq-json" // the reference server's JSON array
	FormatYAML      = "yaml"
)

// Format is the format the policy was written in: FormatReference or
// FormatYAML.
func (p *Policy) Format() string { return p.format }

// Len is the number of rules. A reference rule counts once, whatever the
// number of resources it names.
func (p *Policy) Len() int { return len(p.rules) }

// Allowed reports whether the policy grants act on res to clientID on
// channel. clientID is the client id the request declares (checked against
// the caller's Identity before); channel is the request's channel, wildcards
// included for subscriptions. Responses are always allowed; an unknown
// resource or action, and a nil Policy, never are.
func (p *Policy) Allowed(res Resource, clientID, channel string, act Action) bool {
	if p == nil {
		return false
	}
	if res == Responses {
		return true
	}
	rb, ab := resourceBits[res], actionBits[act]
	if rb == 0 || ab == 0 {
		return false
	}
	key := decisionKey{res, act, clientID, channel}
	if v, ok := p.cache.get(key); ok {
		return v
	}
	v := p.evaluate(rb, ab, clientID, channel)
	p.cache.put(key, v)
	return v
}

func (p *Policy) evaluate(rb, ab uint8, clientID, channel string) bool {
	for i := range p.rules {
		r := &p.rules[i]
		if r.resources&rb != 0 && r.actions&ab != 0 && anyMatch(r.clients, clientID) && anyMatch(r.channels, channel) {
			return true
		}
	}
	return false
}

func anyMatch(ms []matcher, s string) bool {
	for _, m := range ms {
		if m.match(s) {
			return true
		}
	}
	return false
}

// decisionCache remembers recent answers: regular expressions are not free
// and the same (client, channel) pairs come back with every message.
type decisionCache struct {
	mu sync.RWMutex
	m  map[decisionKey]bool
}

type decisionKey struct {
	res      Resource
	act      Action
	clientID string
	channel  string
}

// Bounds of the decision cache: entries, and the longest client id plus
// channel worth remembering.
const (
	maxDecisions   = 4096
	maxDecisionKey = 512
)

func (c *decisionCache) get(k decisionKey) (bool, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *decisionCache) put(k decisionKey, v bool) {
	if len(k.clientID)+len(k.channel) > maxDecisionKey {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxDecisions {
		c.m = make(map[decisionKey]bool)
	}
	c.m[k] = v
}

// LoadPolicyFile reads and parses the access-control list in path.
func LoadPolicyFile(path string) (*Policy, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return p, nil
}

// ParsePolicy parses an access-control list in either format; a list with
// no rule is an error.
//
// The reference server's format (KubeMQ Community up to v2.3.7), used when
// the text starts with "[", possibly after base64 decoding of the whole:
//
//	[ { "Events": true, "EventsStore": false, "Commands": false, "Queries": false, "Queues": true,
//	    "ClientID": "^billing-.*$", "Channel": "^orders\\..*", "Read": true, "Write": false } ]
//
// Keys match case-insensitively; unknown keys are errors. The five booleans
// choose the resources. ClientID and Channel are Go regular expressions,
// both required, matched unanchored as the reference did: "allowed.*" also
// matches "not-allowed", so write "^…$". Read and Write choose the actions;
// a rule with neither grants nothing. Subscription wildcards are matched as
// plain text.
//
// Herald's YAML format, anchored and without regular expressions:
//
//	rules:
//	  - clients: [billing-*]            # client ids; "*" matches any run of characters
//	    resources: [queues, events]     # events, events_store, queues, commands, queries, or "*"
//	    channels: ["orders.>", "audit.*.eu"]
//	    actions: [read, write]          # read, write, or "*"
//
// Each of the four keys takes one value or a list, and is required. Channel
// patterns are NATS subjects: tokens separated by ".", where the token "*"
// matches exactly one token and a final ">" one or more. A subscription's
// own wildcards only match a rule that covers them: "orders.*" and
// "orders.>" fit "orders.>", but "*.eu" does not fit "orders.*". YAML reads
// a bare leading "*" or ">" as syntax, so quote those values.
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("auth: policy larger than %d bytes", MaxFileSize)
	}
	text := bytes.TrimSpace(data)
	if len(text) > 0 && text[0] != '[' {
		if dec, err := base64.StdEncoding.DecodeString(string(text)); err == nil {
			text = bytes.TrimSpace(dec)
		}
	}
	var (
		p   *Policy
		err error
	)
	if len(text) > 0 && text[0] == '[' {
		p, err = parseReference(text)
	} else {
		p, err = parseYAML(text)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: policy: %w", err)
	}
	if len(p.rules) == 0 {
		return nil, errors.New("auth: policy: no rules (an empty list would deny everything)")
	}
	return p, nil
}

// referenceRule is the reference server's AccessControlRule.
type referenceRule struct {
	Events      bool
	EventsStore bool
	Commands    bool
	Queries     bool
	Queues      bool
	ClientID    string
	Channel     string
	Read        bool
	Write       bool
}

type regexMatcher struct{ re *regexp.Regexp }

func (m regexMatcher) match(s string) bool { return m.re.MatchString(s) }

func parseReference(text []byte) (*Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var list []*referenceRule
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("reference JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("reference JSON: text after the array")
	}
	p := &Policy{format: FormatReference}
	var errs []error
	for i, r := range list {
		if r == nil {
			errs = append(errs, fmt.Errorf("rule %d: null", i))
			continue
		}
		ru := rule{}
		for _, b := range []struct {
			on  bool
			res Resource
		}{{r.Events, Events}, {r.EventsStore, EventsStore}, {r.Commands, Commands}, {r.Queries, Queries}, {r.Queues, Queues}} {
			if b.on {
				ru.resources |= resourceBits[b.res]
			}
		}
		if r.Read {
			ru.actions |= actionBits[Read]
		}
		if r.Write {
			ru.actions |= actionBits[Write]
		}
		for _, f := range []struct {
			name, expr string
			dst        *[]matcher
		}{{"ClientID", r.ClientID, &ru.clients}, {"Channel", r.Channel, &ru.channels}} {
			if f.expr == "" {
				errs = append(errs, fmt.Errorf("rule %d: %s is empty", i, f.name))
				continue
			}
			re, err := regexp.Compile(f.expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("rule %d: %s: %w", i, f.name, err))
				continue
			}
			*f.dst = []matcher{regexMatcher{re}}
		}
		p.rules = append(p.rules, ru)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// list is a YAML value that is one string or a sequence of strings.
type list []string

func (l *list) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = list{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

type yamlPolicy struct {
	Rules []yamlRule `yaml:"rules"`
}

type yamlRule struct {
	Clients   list `yaml:"clients"`
	Resources list `yaml:"resources"`
	Channels  list `yaml:"channels"`
	Actions   list `yaml:"actions"`
}

func parseYAML(text []byte) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	var doc yamlPolicy
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty")
		}
		return nil, fmt.Errorf("YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("YAML: more than one document")
	}
	p := &Policy{format: FormatYAML}
	var errs []error
	for i, r := range doc.Rules {
		ru, err := compileYAMLRule(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d: %w", i, err))
			continue
		}
		p.rules = append(p.rules, ru)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func compileYAMLRule(r yamlRule) (rule, error) {
	var ru rule
	var errs []error
	need := func(name string, l list) bool {
		if len(l) == 0 {
			errs = append(errs, fmt.Errorf("%s: missing", name))
			return false
		}
		return true
	}
	if need("resources", r.Resources) {
		for _, s := range r.Resources {
			switch b := resourceBits[Resource(s)]; {
			case s == "*":
				ru.resources |= allResources
			case Resource(s) == Responses:
				errs = append(errs, errors.New("resources: responses need no rule: whoever received a request may answer it"))
			case b == 0:
				errs = append(errs, fmt.Errorf("resources: %q is not events, events_store, queues, commands, queries or \"*\"", s))
			default:
				ru.resources |= b
			}
		}
	}
	if need("actions", r.Actions) {
		for _, s := range r.Actions {
			switch b := actionBits[Action(s)]; {
			case s == "*":
				ru.actions |= allActions
			case b == 0:
				errs = append(errs, fmt.Errorf("actions: %q is not read, write or \"*\"", s))
			default:
				ru.actions |= b
			}
		}
	}
	if need("clients", r.Clients) {
		for _, s := range r.Clients {
			if s == "" || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
				errs = append(errs, fmt.Errorf("clients: %q is empty or has white space", s))
				continue
			}
			ru.clients = append(ru.clients, globMatcher(s))
		}
	}
	if need("channels", r.Channels) {
		for _, s := range r.Channels {
			m, err := parseSubject(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("channels: %q: %w", s, err))
				continue
			}
			ru.channels = append(ru.channels, m)
		}
	}
	return ru, errors.Join(errs...)
}

// globMatcher matches client ids; "*" is any run of characters.
type globMatcher string

func (g globMatcher) match(s string) bool { return matchGlob(string(g), s) }

// subjectMatcher matches channels as NATS subjects: "*" is one token, a
// final ">" one or more.
type subjectMatcher []string

func parseSubject(s string) (subjectMatcher, error) {
	if s == "" || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return nil, errors.New("empty or has white space")
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return nil, errors.New(`empty token (leading, trailing or double ".")`)
		case t == ">" && i != len(toks)-1:
			return nil, errors.New(`">" must be the last token`)
		case t != "*" && t != ">" && strings.ContainsAny(t, "*>"):
			return nil, errors.New(`"*" and ">" must be whole tokens`)
		}
	}
	return subjectMatcher(toks), nil
}

// match reports whether channel is covered. A wildcard in channel (a
// subscription) is only covered by a wildcard at least as wide: "*" by "*"
// or ">", ">" only by ">".
func (m subjectMatcher) match(channel string) bool {
	rest := channel
	for i := 0; ; i++ {
		tok, more := rest, false
		if j := strings.IndexByte(rest, '.'); j >= 0 {
			tok, rest, more = rest[:j], rest[j+1:], true
		}
		if i == len(m) || tok == "" {
			return false
		}
		switch m[i] {
		case ">":
			return !more || (rest != "" && !strings.HasPrefix(rest, ".") && !strings.HasSuffix(rest, ".") && !strings.Contains(rest, ".."))
		case "*":
			if tok == ">" {
				return false
			}
		default:
			if tok != m[i] {
				return false
			}
		}
		if !more {
			return i == len(m)-1
		}
	}
}
