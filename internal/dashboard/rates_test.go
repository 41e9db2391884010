package dashboard

import (
	"testing"
	"time"
)

func TestRatesShareOneHistory(t *testing.T) {
	r := newRates(2 * time.Second)
	t0 := time.Unix(1000, 0)
	if p := r.observe(t0, Traffic{MessagesIn: 10}); len(p) != 0 {
		t.Fatalf("first sample gave %v", p)
	}
	// A second viewer within the same interval takes no sample.
	if p := r.observe(t0.Add(500*time.Millisecond), Traffic{MessagesIn: 11}); len(p) != 0 {
		t.Fatalf("early sample gave %v", p)
	}
	p := r.observe(t0.Add(2*time.Second), Traffic{MessagesIn: 30, MessagesOut: 4, BytesIn: 2000})
	if len(p) != 1 || p[0].MessagesIn != 10 || p[0].MessagesOut != 2 || p[0].BytesIn != 1000 {
		t.Fatalf("rates %+v", p)
	}
	// After a gap, or when counters went back (a restart), no point.
	if p := r.observe(t0.Add(60*time.Second), Traffic{MessagesIn: 40}); len(p) != 1 {
		t.Fatalf("after a gap: %+v", p)
	}
	if p := r.observe(t0.Add(62*time.Second), Traffic{MessagesIn: 1}); len(p) != 1 {
		t.Fatalf("after a restart: %+v", p)
	}
	if p := r.observe(t0.Add(64*time.Second), Traffic{MessagesIn: 5}); len(p) != 2 || p[1].MessagesIn != 2 {
		t.Fatalf("going on: %+v", p)
	}
	// Old points fall out of the window.
	if p := r.observe(t0.Add(65*time.Second+historyLen*2*time.Second), Traffic{MessagesIn: 5}); len(p) != 0 {
		t.Fatalf("after the window: %+v", p)
	}
}
