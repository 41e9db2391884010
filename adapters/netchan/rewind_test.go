package netchan_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
)

func TestNetchanRewindInclusive(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	name := adaptertest.UniqueName("rewind")
	p, err := c.OpenPubChannel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	publishN(t, p, 1, 11)
	s, err := c.OpenSubChannel(ctx, "all", name)
	if err != nil {
		t.Fatal(err)
	}
	all := readN(t, ctx, s.Messages(), 10)
	_ = s.Close()
	var ts []time.Time
	for _, m := range all {
		ts = append(ts, m.Timestamp)
	}
	check := func(what string, opt netchan.SubOption, first int) {
		t.Helper()
		s, err := c.OpenSubChannel(ctx, "rewind", name, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got := readN(t, ctx, s.Messages(), 11-first)
		for i, m := range got {
			if !bytes.Equal(m.Value, line(first+i)) || m.Sequence != uint64(first+i) {
				t.Fatalf("%s: message %d = %q (seq %d), want %q", what, i, m.Value, m.Sequence, line(first+i))
			}
		}
		expectNothing(t, s.Messages(), 200*time.Millisecond)
	}
	check("From(ts[4])", netchan.From(ts[4]), 5)
	check("From(ts[4]+1ns)", netchan.From(ts[4].Add(time.Nanosecond)), 6)
	check("FromSequence(7)", netchan.FromSequence(7), 7)

	last, err := c.OpenSubChannel(ctx, "last", name, netchan.FromLast())
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	if got := readN(t, ctx, last.Channel(), 1)[0]; !bytes.Equal(got, line(10)) {
		t.Fatalf("FromLast: %q, want %q", got, line(10))
	}
	publishN(t, p, 11, 13)
	got := readN(t, ctx, last.Channel(), 2)
	if !bytes.Equal(got[0], line(11)) || !bytes.Equal(got[1], line(12)) {
		t.Fatalf("FromLast then new: %q", got)
	}
}
