package netchan_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
	"github.com/heraldmq/herald/client/queuesstream"
)

func TestNetchanAsyncFailureDoesNotSeal(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv, netchan.WithPublishTimeout(2*time.Second))
	ctx := ctxFor(t, 30*time.Second)
	name := adaptertest.UniqueName("async")
	p, err := c.OpenPubChannel(ctx, name, netchan.WithAsync(32))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := p.Publish(line(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if p.Count() != 100 {
		t.Fatalf("count %d after flush, want 100", p.Count())
	}
	// The server goes away mid-stream: publishing goes on until a failure
	// (a lost confirmation or the publish timeout) sticks.
	srv.Stop()
	var failed error
	for i := 100; i < 100000 && failed == nil; i++ {
		failed = p.Publish(line(i))
	}
	if failed == nil {
		t.Fatal("publishing to a stopped server never failed")
	}
	if err := p.Publish([]byte("more")); err == nil {
		t.Fatal("publish after a failure succeeded; the failure must stick")
	}
	closeErr := p.Close()
	if closeErr == nil {
		t.Fatal("Close after a failed async publish returned nil")
	}
	srv.Restart(t)
	// Not sealed: the channel takes messages again, and holds no marker.
	var p2 *netchan.PubChannel
	adaptertest.Eventually(t, 10*time.Second, func() error {
		var err error
		p2, err = c.OpenPubChannel(ctx, name)
		return err
	})
	if err := p2.Publish([]byte("after restart")); err != nil {
		t.Fatalf("publish after the failed close: %v (the channel must not be sealed)", err)
	}
	_ = p2.Release()
	for _, m := range rawRead(t, rawClient(t, srv), "netchan.chan."+name, time.Second) {
		if _, ok := m.Tags["herald.seal"]; ok {
			t.Fatalf("message %d carries herald.seal after a failed async close", m.Sequence)
		}
	}
}

func TestNetchanResumeContinues(t *testing.T) {
	for _, herald := range []bool{true, false} {
		t.Run(fmt.Sprintf("herald=%v", herald), func(t *testing.T) {
			srv := newServer(t)
			c := dial(t, srv, netchan.AssumeHerald(herald))
			ctx := ctxFor(t, 30*time.Second)
			name := adaptertest.UniqueName("resume")
			p, err := c.OpenPubChannel(ctx, name, netchan.WithCloseCheck(0))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
			publishN(t, p, 1, 11)
			id := adaptertest.UniqueName("cursor")
			s1, err := c.OpenSubChannel(ctx, id, name, netchan.Resume())
			if err != nil {
				t.Fatal(err)
			}
			got := readN(t, ctx, s1.Channel(), 5)
			for i, m := range got {
				if !bytes.Equal(m, line(i+1)) {
					t.Fatalf("first reader: message %d = %q", i, m)
				}
			}
			_ = s1.Close()
			if herald {
				publishN(t, p, 11, 12)
			}
			s2, err := c.OpenSubChannel(ctx, id, name, netchan.Resume())
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if !herald {
				// At most once: what the first reader's client had
				// buffered is gone; nothing before 6 comes again.
				publishN(t, p, 11, 12)
				for {
					m := readN(t, ctx, s2.Channel(), 1)[0]
					for i := 1; i <= 5; i++ {
						if bytes.Equal(m, line(i)) {
							t.Fatalf("group fallback redelivered %q", m)
						}
					}
					if bytes.Equal(m, line(11)) {
						return
					}
				}
			}
			got = readN(t, ctx, s2.Channel(), 5)
			for i, m := range got {
				if !bytes.Equal(m, line(i+6)) {
					t.Fatalf("resumed reader: message %d = %q, want %q", i, m, line(i+6))
				}
			}
			_ = s2.Close()
			// Message 11 was published before s2 opened, so s2's first poll
			// (which waits to fill 16) took 6–11: 11 sat in a hand-off that
			// never completed. It must come back, counted as redelivered.
			qs, err := queuesstream.FromClient(rawClient(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			defer qs.Close()
			durable := "_herald.es." + strings.ReplaceAll(id, ".", "%2E") + ".netchan.chan." + name
			resp, err := qs.Poll(ctx, queuesstream.NewPollRequest().SetChannel(durable).SetMaxItems(1).SetWaitTimeout(2000))
			if err != nil || len(resp.Messages) != 1 {
				t.Fatalf("poll of the durable: %v, %v", resp, err)
			}
			m := resp.Messages[0]
			if !bytes.Equal(m.Body, line(11)) || m.Attributes.ReceiveCount < 2 {
				t.Fatalf("after a hand-off that never completed: %q with receive count %d, want %q redelivered", m.Body, m.Attributes.ReceiveCount, line(11))
			}
			if err := m.NAck(); err != nil {
				t.Fatal(err)
			}
			s3, err := c.OpenSubChannel(ctx, id, name, netchan.Resume())
			if err != nil {
				t.Fatal(err)
			}
			defer s3.Close()
			if m := readN(t, ctx, s3.Channel(), 1)[0]; !bytes.Equal(m, line(11)) {
				t.Fatalf("third reader: %q, want %q", m, line(11))
			}
		})
	}
}

func TestNetchanSlowReaderDoesNotBlockPublisher(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 60*time.Second)
	name := adaptertest.UniqueName("slow")
	s, err := c.OpenSubChannel(ctx, "slow", name)
	if err != nil {
		t.Fatal(err)
	}
	var read atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range s.Channel() {
			read.Add(1)
			time.Sleep(50 * time.Millisecond) // the slow reader under test
		}
	}()
	p, err := c.OpenPubChannel(ctx, name, netchan.WithAsync(256))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := p.PublishContext(ctx, line(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := read.Load(); n >= 100 {
		t.Fatalf("reader read %d messages before 2000 publishes finished; want fewer than 100", n)
	}
	_ = p.Release()
	_ = s.Close()
	<-done
}

func TestNetchanRestartMidStream(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 60*time.Second)
	name := adaptertest.UniqueName("restart")
	s, err := c.OpenSubChannel(ctx, "restart", name, netchan.WithBuffer(16))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	view := s.Messages()
	p, err := c.OpenPubChannel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, p, 0, 50)
	got := readN(t, ctx, view, 10)
	srv.Restart(t)
	publishN(t, p, 50, 100)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	got = append(got, readN(t, ctx, view, 90)...)
	for i, m := range got {
		if !bytes.Equal(m.Value, line(i)) || m.Sequence != uint64(i+1) {
			t.Fatalf("message %d = %q (seq %d), want %q", i, m.Value, m.Sequence, line(i))
		}
	}
	expectClosed(t, ctx, view)
	if s.Err() != nil || !s.Closed() {
		t.Fatalf("Err %v, Closed %v", s.Err(), s.Closed())
	}
}

func TestNetchanDeleteChannel(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	name := adaptertest.UniqueName("delete")
	p, err := c.OpenPubChannel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, p, 1, 6)
	_ = p.Release()
	live, err := c.OpenSubChannel(ctx, "live", name)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	readN(t, ctx, live.Channel(), 5)
	if err := c.DeleteChannelContext(ctx, name); err != nil {
		t.Fatalf("delete: %v", err)
	}
	expectClosed(t, ctx, live.Channel())
	if !errors.Is(live.Err(), netchan.ErrChannelDeleted) {
		t.Fatalf("live reader: Err %v, want ErrChannelDeleted", live.Err())
	}
	fresh, err := c.OpenSubChannel(ctx, "fresh", name)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	expectNothing(t, fresh.Channel(), 500*time.Millisecond)
}
