package stats

import "testing"

func TestCountAndReload(t *testing.T) {
	r := New()
	r.In(Queues, "q", 10)
	r.In(Queues, "q", 5)
	r.Out(Queues, "q", 10)
	r.Expire(Queues, "q")
	r.Response(Commands, "c")
	done := r.Subscribed(Events, "e")
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
	nilReg.In(Queues, "x", 1) // a nil registry counts nothing and does not panic
	nilReg.Subscribed(Queues, "x")()
}
