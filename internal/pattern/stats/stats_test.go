package stats

import (
	"testing"
	"time"
)

func TestCountAndReload(t *testing.T) {
	r := New()
	r.In(Queues, "q", "c1", 10)
	r.In(Queues, "q", "c1", 5)
	r.Out(Queues, "q", "c2", 10)
	r.Expire(Queues, "q")
	r.Response(Commands, "c", "resp")
	done := r.Subscribed(Events, "e", "sub")
	if c := r.Lookup(Events, "e"); c == nil || c.Active.Load() != 1 {
		t.Fatal("subscriber not counted")
	}
	done()
	done()
	if c := r.Lookup(Events, "e"); c.Active.Load() != 0 {
		t.Fatalf("done twice must count once, active %d", c.Active.Load())
	}
	data, changed := r.Marshal()
	if !changed {
		t.Fatal("changes not reported")
	}
	if _, changed := r.Marshal(); changed {
		t.Fatal("nothing changed since the last Marshal")
	}
	r2 := New()
	if err := r2.Load(data); err != nil {
		t.Fatal(err)
	}
	es := r2.Entries(Queues)
	if len(es) != 1 || es[0].InMessages != 2 || es[0].InBytes != 15 || es[0].OutMessages != 1 || es[0].Expired != 1 || es[0].LastActivity == 0 {
		t.Fatalf("reloaded %+v", es)
	}
	r2.Delete(Queues, "q")
	if r2.Lookup(Queues, "q") != nil || len(r2.Entries("")) != 2 {
		t.Fatalf("delete: %+v", r2.Entries(""))
	}
	var nilReg *Registry
	nilReg.In(Queues, "x", "c", 1) // a nil registry counts nothing and does not panic
	nilReg.Subscribed(Queues, "x", "c")()
	nilReg.Error(Queues, Send, "x", "c")
	nilReg.Sweep(time.Minute)
}

// Per client: messages, bytes and subscriptions by (kind, side, channel,
// client); idle clients fold into the client "" of their channel, totals
// intact; a deleted channel's series go.
func TestClientBreakdownAndSweep(t *testing.T) {
	r := New()
	r.In(Queues, "q", "a", 10)
	r.In(Queues, "q", "b", 5)
	r.Out(Queues, "q", "c", 10)
	r.Error(Queues, Send, "q", "a")
	done := r.Subscribed(Events, "e", "s")
	find := func(k ClientKey) *ClientEntry {
		for _, e := range r.Clients() {
			if e.ClientKey == k {
				return &e
			}
		}
		return nil
	}
	if e := find(ClientKey{Queues, Send, "q", "a"}); e == nil || e.Messages != 1 || e.Bytes != 10 || e.Errors != 1 {
		t.Fatalf("client a: %+v", e)
	}
	if e := find(ClientKey{Events, Receive, "e", "s"}); e == nil || e.Active != 1 {
		t.Fatalf("subscriber: %+v", e)
	}
	r.Sweep(0) // everyone idle, but the open subscription stays
	if find(ClientKey{Queues, Send, "q", "a"}) != nil || find(ClientKey{Events, Receive, "e", "s"}) == nil {
		t.Fatalf("after sweep: %+v", r.Clients())
	}
	if e := find(ClientKey{Queues, Send, "q", ""}); e == nil || e.Messages != 2 || e.Bytes != 15 || e.Errors != 1 {
		t.Fatalf("folded: %+v", e)
	}
	done()
	r.Delete(Queues, "q")
	for _, e := range r.Clients() {
		if e.Channel == "q" {
			t.Fatalf("deleted channel still has %+v", e)
		}
	}
}
