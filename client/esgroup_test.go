package client_test

import (
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
)

func TestGroupToken(t *testing.T) {
	for in, want := range map[string]string{
		"workers":         "workers",
		"hmnfd.consumers": "hmnfd%2Econsumers",
		"a%b*c>d":         "a%25b%2Ac%3Ed",
		"tab\there x":     "tab%09here%20x",
		"nbsp\u00a0é":     "nbsp%C2%A0é",
		"ctl\x01":         "ctl%01",
	} {
		if got := client.GroupToken(in); got != want {
			t.Errorf("GroupToken(%q) = %q, want %q", in, got, want)
		}
	}
	if q := client.ESGroupQueue("a.b", "orders.eu"); q != "_herald.es.a%2Eb.orders.eu" {
		t.Errorf("ESGroupQueue = %q", q)
	}
}

// TestCreateESGroup: a durable created from "first" reads what was stored
// before it, by the queue API, with the channel's sequences; one created
// with the default start reads only what is stored afterwards.
func TestCreateESGroup(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newClient(t, srv)
	ctx := testCtx(t, 20*time.Second)
	ch := uniq("esg")
	storeN(t, c, ch, 1, 3)
	first, err := c.CreateESGroup(ctx, "g.first", ch, "first")
	if err != nil || first != client.ESGroupQueue("g.first", ch) {
		t.Fatalf("create: %q %v", first, err)
	}
	fresh, err := c.CreateESGroup(ctx, "g.new", ch, "")
	if err != nil {
		t.Fatal(err)
	}
	storeN(t, c, ch, 4, 4)
	for _, tc := range []struct {
		queue string
		seqs  []uint64
	}{{first, []uint64{1, 2, 3, 4}}, {fresh, []uint64{4}}} {
		res, err := c.RQM().SetChannel(tc.queue).SetMaxNumberOfMessages(10).SetWaitTimeSeconds(1).Send(ctx)
		if err != nil || res.IsError {
			t.Fatalf("receive %s: %v %+v", tc.queue, err, res)
		}
		var got []uint64
		for _, m := range res.Messages {
			got = append(got, m.Attributes.Sequence)
		}
		if len(got) != len(tc.seqs) || got[0] != tc.seqs[0] || got[len(got)-1] != tc.seqs[len(tc.seqs)-1] {
			t.Fatalf("%s: sequences %v, want %v", tc.queue, got, tc.seqs)
		}
	}
}
