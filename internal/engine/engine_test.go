package engine

import (
	"context"
	"errors"
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
