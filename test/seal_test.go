package test

import (
	"strings"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// TestEventsStoreSeal: an event tagged herald.seal=true is stored, then the
// channel refuses sends with "channel is sealed"; replay still returns
// everything; the seal survives a restart; the channel can be deleted.
func TestEventsStoreSeal(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "sealer")
	ctx := testCtx(t, 30*time.Second)
	ch := uniq("seal")
	if _, err := c.ES().SetChannel(ch).SetBody([]byte("one")).Send(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := c.ES().SetChannel(ch).SetMetadata("end").AddTag("herald.seal", "true").Send(ctx); err != nil || !r.Sent {
		t.Fatalf("seal marker: %v %+v", err, r)
	}
	// kubemq-go reports an in-band failure in the result, not as the error
	sealed := func(r *kubemq.EventStoreResult, err error) bool {
		return err == nil && !r.Sent && r.Err != nil && strings.Contains(r.Err.Error(), "channel is sealed")
	}
	if r, err := c.ES().SetChannel(ch).SetBody([]byte("late")).Send(ctx); !sealed(r, err) {
		t.Fatalf("send after seal: %v %+v", err, r)
	}
	// a marker with another value seals nothing
	other := uniq("noseal")
	for i := 0; i < 2; i++ {
		if r, err := c.ES().SetChannel(other).SetBody([]byte("x")).AddTag("herald.seal", "yes").Send(ctx); err != nil || !r.Sent {
			t.Fatalf("herald.seal=yes must not seal: %v %+v", err, r)
		}
	}
	replay := func(c *kubemq.Client) []string {
		errCh := make(chan error, 1)
		sub, err := c.SubscribeToEventsStore(ctx, ch, "", errCh, kubemq.StartFromFirstEvent())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) < 2 {
			select {
			case e := <-sub:
				got = append(got, string(e.Body)+e.Metadata+e.Tags["herald.seal"])
			case err := <-errCh:
				t.Fatal(err)
			case <-time.After(5 * time.Second):
				t.Fatalf("replay got %v", got)
			}
		}
		return got
	}
	if got := replay(c); got[0] != "one" || got[1] != "endtrue" {
		t.Fatalf("replay %v", got)
	}
	srv.Restart()
	c2 := newClient(t, srv, "sealer2")
	if r, err := c2.ES().SetChannel(ch).SetBody([]byte("after restart")).Send(ctx); !sealed(r, err) {
		t.Fatalf("seal lost in restart: %v %+v", err, r)
	}
	if got := replay(c2); len(got) != 2 {
		t.Fatalf("replay after restart %v", got)
	}
	if err := kubemq.DeleteChannel(ctx, c2, "sealer2", ch, "events_store"); err != nil {
		t.Fatalf("delete sealed: %v", err)
	}
	if r, err := c2.ES().SetChannel(ch).SetBody([]byte("new life")).Send(ctx); err != nil || !r.Sent {
		t.Fatalf("send to a deleted (so new) channel: %v %+v", err, r)
	}
}

// TestEventsStoreDedup: an EventID sent twice within the window is stored once.
func TestEventsStoreDedup(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "dedup")
	ctx := testCtx(t, 20*time.Second)
	ch := uniq("esdedup")
	for i := 0; i < 2; i++ {
		if _, err := c.ES().SetId("same-id").SetChannel(ch).SetBody([]byte("x")).Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ES().SetId("other-id").SetChannel(ch).SetBody([]byte("y")).Send(ctx); err != nil {
		t.Fatal(err)
	}
	errCh := make(chan error, 1)
	sub, err := c.SubscribeToEventsStore(ctx, ch, "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"x", "y"} {
		select {
		case e := <-sub:
			if string(e.Body) != want || e.Sequence != uint64(i+1) {
				t.Fatalf("event %d: %q seq %d", i, e.Body, e.Sequence)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("missing event")
		}
	}
}
