package netchan_test

import (
	"bytes"
	"crypto/md5"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
)

func TestNetchanWriteCloseReadTwice(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	name := adaptertest.UniqueName("twice")
	p, err := c.OpenPubChannel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	publishN(t, p, 0, n)
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if p.Count() != n {
		t.Fatalf("publisher count %d, want %d", p.Count(), n)
	}
	want := md5.New()
	for i := range n {
		want.Write(line(i))
	}
	if !bytes.Equal(p.Md5(), want.Sum(nil)) {
		t.Fatalf("publisher md5 %x, want %x", p.Md5(), want.Sum(nil))
	}
	for r := range 2 {
		s, err := c.OpenSubChannel(ctx, "reader", name, netchan.WithVerify())
		if err != nil {
			t.Fatal(err)
		}
		got := readN(t, ctx, s.Channel(), n)
		for i, m := range got {
			if !bytes.Equal(m, line(i)) {
				t.Fatalf("reader %d: message %d = %q, want %q", r, i, m, line(i))
			}
		}
		expectClosed(t, ctx, s.Channel())
		if s.Err() != nil || !s.Closed() {
			t.Fatalf("reader %d: Err %v, Closed %v; want nil, true", r, s.Err(), s.Closed())
		}
		info, ok := s.CloseInfo()
		if !ok || !bytes.Equal(info.Md5, p.Md5()) || info.Count != n || !bytes.Equal(s.Md5(), p.Md5()) {
			t.Fatalf("reader %d: md5 %x, close info %+v (%v); publisher %x", r, s.Md5(), info, ok, p.Md5())
		}
		if info.Sequence != n+1 || info.Timestamp.IsZero() {
			t.Fatalf("reader %d: close marker at %d, %v; want sequence %d and a time", r, info.Sequence, info.Timestamp, n+1)
		}
		_ = s.Close()
	}
}

func TestNetchanReaderBeforeWriter(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	name := adaptertest.UniqueName("early")
	s, err := c.OpenSubChannel(ctx, "early", name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	view := s.Messages()
	p, err := c.OpenPubChannel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, p, 0, 20)
	got := readN(t, ctx, view, 20)
	for i, m := range got {
		if !bytes.Equal(m.Value, line(i)) || m.Sequence != uint64(i+1) || m.Partition != -1 || m.Timestamp.IsZero() {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, ctx, view)
	if s.Err() != nil || !s.Closed() {
		t.Fatalf("Err %v, Closed %v", s.Err(), s.Closed())
	}
}

func TestNetchanFromNewSeesLaterWrites(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 20*time.Second)
	name := adaptertest.UniqueName("new")
	p, err := c.OpenPubChannel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		s, err := c.OpenSubChannel(ctx, "new", name, netchan.FromNew())
		if err != nil {
			t.Fatal(err)
		}
		want := []byte("after " + time.Now().String())
		if err := p.Publish(want); err != nil {
			t.Fatal(err)
		}
		// The look-back may show earlier writes first; ours must come.
		for {
			got := readN(t, ctx, s.Channel(), 1)[0]
			if bytes.Equal(got, want) {
				break
			}
		}
		_ = s.Close()
	}
}
