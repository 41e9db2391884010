package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T) *Engine {
	t.Helper()
	e, err := Open(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func TestCloseIsIdempotent(t *testing.T) {
	e := open(t)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := e.Publish("x", []byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}

// Request waits for its context even when nobody listens (KubeMQ answers a
// request without responders only when its timeout ends).
func TestRequestWaitsOutTheTimeout(t *testing.T) {
	e := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Request(ctx, "nobody.listens", []byte("q"))
	if !errors.Is(err, ErrNoReply) || time.Since(start) < 190*time.Millisecond {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestRequestReplyAndReplyFilter(t *testing.T) {
	e := open(t)
	sub, err := e.Subscribe("svc", "", func(m Msg) { _ = e.Reply(m.Reply, append([]byte("re:"), m.Data...)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := e.Request(ctx, "svc", []byte("ping"))
	if err != nil || string(got) != "re:ping" {
		t.Fatalf("%q %v", got, err)
	}
	// Reply refuses to publish anywhere but an inbox
	seen := make(chan struct{}, 1)
	s2, _ := e.Subscribe("internal.subject", "", func(Msg) { seen <- struct{}{} })
	defer s2.Unsubscribe()
	_ = e.Reply("internal.subject", []byte("x"))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if _, err := e.Request(ctx2, "nobody", nil); err == nil {
		t.Fatal("unexpected reply")
	}
	select {
	case <-seen:
		t.Fatal("Reply published to a non-inbox subject")
	default:
	}
}

func TestStoredPublishLimitsAndSeal(t *testing.T) {
	e := open(t)
	ctx := context.Background()
	if err := e.EnsureStream(ctx, StreamSpec{Name: "S", Subjects: []string{"s.x"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.EnsureStream(ctx, StreamSpec{Name: "S", Subjects: []string{"s.x"}}); err != nil {
		t.Fatalf("ensure again: %v", err)
	}
	if _, err := e.PublishStored(ctx, "s.x", make([]byte, MaxStoredRecord+1), PubOpts{}); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	a1, err := e.PublishStored(ctx, "s.x", []byte("a"), PubOpts{MsgID: "id-1"})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := e.PublishStored(ctx, "s.x", []byte("a"), PubOpts{MsgID: "id-1"})
	if err != nil || !a2.Duplicate || a2.Seq != a1.Seq {
		t.Fatalf("dedup: %+v %v", a2, err)
	}
	if err := e.SealStream(ctx, "S"); err != nil {
		t.Fatal(err)
	}
	if err := e.SealStream(ctx, "S"); err != nil {
		t.Fatalf("seal again: %v", err)
	}
	if _, err := e.PublishStored(ctx, "s.x", []byte("b"), PubOpts{}); !errors.Is(err, ErrSealed) {
		t.Fatalf("publish to sealed: %v", err)
	}
	if _, err := e.PublishStored(ctx, "nostream.x", []byte("b"), PubOpts{}); !errors.Is(err, ErrNoStream) {
		t.Fatalf("publish without stream: %v", err)
	}
	if err := e.DeleteStream(ctx, "S"); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteStream(ctx, "S"); err != nil {
		t.Fatalf("delete again: %v", err)
	}
}

// Exclusive durable readers resume exactly where they stopped: acked
// messages do not come again, and what was delivered but not acked comes
// first and in order, across a shutdown right after the readers closed
// (the server drops the settlements still queued when it shuts down) and
// after a reader that handed a message out and closed without settling it.
func TestReaderResumesExactlyAfterShutdown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const readers, n, acked, returned = 8, 400, 300, 3
	const ackWait = 500 * time.Millisecond
	spec := func(i int) (string, string, ConsumerSpec) {
		subj := fmt.Sprintf("s.%d", i)
		return fmt.Sprintf("S%d", i), subj, ConsumerSpec{Durable: "D", FilterSubject: subj, Deliver: DeliverAll, AckWait: ackWait, MaxAckPending: 1024, Exclusive: true}
	}
	e, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range readers {
		stream, subj, _ := spec(i)
		if err := e.EnsureStream(ctx, StreamSpec{Name: stream, Subjects: []string{subj}}); err != nil {
			t.Fatal(err)
		}
		for k := range n {
			e.PublishStoredAsync(subj, []byte(fmt.Sprint(k+1)), PubOpts{})
		}
		if _, err := e.PublishStored(ctx, subj, []byte("last"), PubOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := range readers {
		wg.Go(func() {
			stream, _, cs := spec(i)
			rd, err := e.OpenReader(ctx, stream, cs)
			if err != nil {
				errs <- err
				return
			}
			defer rd.Close()
			for k := 1; k <= acked+returned; k++ {
				m, err := rd.Next(ctx)
				if err != nil || m.Seq != uint64(k) {
					errs <- fmt.Errorf("reader %d: read %d: %v %w", i, k, m, err)
					return
				}
				if k <= acked {
					err = m.Ack()
				} else {
					err = m.Return()
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d: settle %d: %w", i, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e, err = Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Each reader takes one message and closes without settling it.
	firstIs := func(when string) {
		t.Helper()
		for i := range readers {
			stream, _, cs := spec(i)
			rd, err := e.OpenReader(ctx, stream, cs)
			if err != nil {
				t.Fatal(err)
			}
			m, err := rd.Next(ctx)
			if err != nil || m.Seq != acked+1 {
				t.Fatalf("reader %d: %s, want %d first: got %v %v", i, when, acked+1, m, err)
			}
			rd.Close()
		}
	}
	firstIs("after the restart")
	// Anything still pending would come back once its ack wait ran out,
	// ahead of newer messages.
	time.Sleep(2 * ackWait) // waiting for nothing to happen
	firstIs("after the ack wait")
}

// Short pulls while messages keep arriving: every message reaches a pull.
// One sent to a pull its client had already given up would stay invisible
// for the ack wait.
func TestFetchEachLosesNothingBetweenPulls(t *testing.T) {
	e := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.EnsureStream(ctx, StreamSpec{Name: "W", Subjects: []string{"w.x"}}); err != nil {
		t.Fatal(err)
	}
	c, err := e.EnsureConsumer(ctx, "W", ConsumerSpec{Durable: "R", FilterSubject: "w.x", Deliver: DeliverAll, AckWait: time.Minute, MaxAckPending: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	go func() {
		for i := range n {
			if _, err := e.PublishStored(ctx, "w.x", []byte(fmt.Sprint(i)), PubOpts{}); err != nil {
				return
			}
		}
	}()
	got := 0
	limit := time.Now().Add(15 * time.Second) // far below the ack wait
	for got < n && time.Now().Before(limit) {
		if err := c.FetchEach(ctx, 7, 2*time.Millisecond, func(m *StoredMsg) {
			got++
			_ = m.Ack()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got != n {
		t.Fatalf("received %d of %d; the rest went to pulls that had ended", got, n)
	}
}

// An exclusive durable reader that closes while its pull is still open
// must not leave that pull to take a message stored right after: the next
// reader would start behind it, and the message would wait out the ack
// wait.
func TestExclusiveReaderCloseLeavesNothingToTheOldPull(t *testing.T) {
	e := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.EnsureStream(ctx, StreamSpec{Name: "X", Subjects: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	spec := ConsumerSpec{Durable: "D", FilterSubject: "x", Deliver: DeliverAll, AckWait: time.Minute, MaxAckPending: 1024, Exclusive: true}
	for i := 1; i <= 100; i++ {
		rd, err := e.OpenReader(ctx, "X", spec)
		if err != nil {
			t.Fatal(err)
		}
		rd.Close()
		if _, err := e.PublishStored(ctx, "x", []byte(fmt.Sprint(i)), PubOpts{}); err != nil {
			t.Fatal(err)
		}
		rd, err = e.OpenReader(ctx, "X", spec)
		if err != nil {
			t.Fatal(err)
		}
		nctx, ncancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := rd.Next(nctx)
		ncancel()
		if err != nil || m.Seq != uint64(i) {
			t.Fatalf("round %d: want sequence %d next, got %v %v", i, i, m, err)
		}
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
		rd.Close()
	}
}

// TestEnsureConsumerUpdatesSettings: a durable made with other settings (a
// restart with another ack wait) takes the new ones.
func TestEnsureConsumerUpdatesSettings(t *testing.T) {
	e := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.EnsureStream(ctx, StreamSpec{Name: "U", Subjects: []string{"u.>"}, WorkQueue: true}); err != nil {
		t.Fatal(err)
	}
	spec := ConsumerSpec{Durable: "D", FilterSubject: "u.x", Deliver: DeliverAll, AckWait: time.Second, MaxAckPending: 16}
	if _, err := e.EnsureConsumer(ctx, "U", spec); err != nil {
		t.Fatal(err)
	}
	spec.AckWait = 30 * time.Second
	c, err := e.EnsureConsumer(ctx, "U", spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.(*Consumer).c.CachedInfo().Config.AckWait; got != 30*time.Second {
		t.Fatalf("ack wait %v after ensuring it with 30s", got)
	}
}
