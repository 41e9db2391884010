package cloudevents_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/cloudevents"
	"github.com/heraldmq/herald/client"
)

// echo answers with the request's data prefixed by "re:".
func echo(ctx context.Context, req cloudevents.Event, w cloudevents.ReplyWriter) {
	reply := newEvent(nil, "org.test.Reply", "re:"+dataOf(req))
	reply.SetExtension(cloudevents.TransactionIDExtension, nil)
	_ = w.Write(reply)
}

func dataOf(ce cloudevents.Event) string {
	var s string
	_ = ce.DataAs(&s)
	return s
}

func listenQueries(t *testing.T, q *cloudevents.QueryConn, handlers map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if err := q.Listen(ctx, handlers, &wg); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestCEQueryRoundTrip(t *testing.T) {
	adaptertest.NoLeaks(t)
	srv := newServer(t)
	cfg := config(srv, "qrt")
	responder := queryConn(t, cfg)
	listenQueries(t, responder, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Get": echo})
	requester := queryConn(t, config(srv, "requester"))

	req := newEvent(t, "org.test.Get", "ping")
	reply, err := requester.Request(ctxFor(t, 5*time.Second), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := dataString(t, reply); got != "re:ping" {
		t.Errorf("reply data %q", got)
	}
	if got, want := cloudevents.GetTransactionID(&reply), cloudevents.GetTransactionID(&req); got != want || got == "" {
		t.Errorf("reply transaction id %q, want %q", got, want)
	}
	if reply.Type() != "org.test.Reply" || reply.ID() == "" {
		t.Errorf("reply %v", reply)
	}
	// The request's AUTO_POPULATE source became the requester's ClientID:
	// the handler sees it.
	var seen atomic.Value
	listenQueries(t, responder, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Source": func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
		seen.Store(r.Source())
		_ = w.Write(r)
	}})
	reqCfg := config(srv, "named")
	named := queryConn(t, reqCfg)
	if _, err := named.Request(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Source", "x")); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != reqCfg.ClientID {
		t.Errorf("source %v, want the requester's ClientID %q", got, reqCfg.ClientID)
	}
}

func TestCEQueryDeadlinePropagated(t *testing.T) {
	srv := newServer(t)
	q := queryConn(t, config(srv, "qdl"))
	got := make(chan time.Time, 1)
	listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Deadline": func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
		d, _ := ctx.Deadline()
		got <- d
		_ = w.Write(r)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	want, _ := ctx.Deadline()
	if _, err := q.Request(ctx, newEvent(t, "org.test.Deadline", "x")); err != nil {
		t.Fatal(err)
	}
	d := <-got
	if diff := d.Sub(want); diff > 10*time.Millisecond || diff < -10*time.Millisecond {
		t.Errorf("handler deadline %v, requester's %v (diff %v)", d, want, diff)
	}
}

func TestCEQueryNoReplyFailsFast(t *testing.T) {
	srv := newServer(t)
	q := queryConn(t, config(srv, "qnr"))
	listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Silent": func(context.Context, cloudevents.Event, cloudevents.ReplyWriter) {}})
	start := time.Now()
	_, err := q.Request(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Silent", "x"))
	if !errors.Is(err, cloudevents.ErrNoReply) {
		t.Fatalf("err %v, want ErrNoReply", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("no reply after %v, not well before the 5 s timeout", d)
	}
}

func TestCEQueryHandlerPanics(t *testing.T) {
	srv := newServer(t)
	q := queryConn(t, config(srv, "qp"))
	listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Panic": func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
		if dataOf(r) == "boom" {
			panic("boom!")
		}
		echo(ctx, r, w)
	}})
	_, err := q.Request(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Panic", "boom"))
	var re *cloudevents.ReplyError
	if !errors.As(err, &re) || !errors.Is(err, cloudevents.ErrReplyError) {
		t.Fatalf("err %v, want *ReplyError", err)
	}
	if re.Message == "" || re.Responder == "" {
		t.Errorf("reply error %+v", re)
	}
	reply, err := q.Request(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Panic", "fine"))
	if err != nil || dataOf(reply) != "re:fine" {
		t.Fatalf("the listener stopped serving after a panic: %v %v", reply, err)
	}
}

func TestCEQueryNoListener(t *testing.T) {
	srv := newServer(t)
	q := queryConn(t, config(srv, "qnl"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := q.Request(ctx, newEvent(t, "org.test.Nobody", "x"))
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("returned after %v", d)
	}
	if !errors.Is(err, cloudevents.ErrTimeout) && !errors.Is(err, cloudevents.ErrNoResponders) {
		t.Fatalf("err %v, want ErrTimeout or ErrNoResponders", err)
	}
}

func TestCEQueryGroupSplits(t *testing.T) {
	srv := newServer(t)
	var counts [2]atomic.Int64
	handled := sync.Map{}
	var dup atomic.Int64
	for i := range 2 {
		cfg := config(srv, "member")
		cfg.QueueGroup = "workers"
		q := queryConn(t, cfg)
		listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Split": func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
			counts[i].Add(1)
			if _, loaded := handled.LoadOrStore(r.ID(), true); loaded {
				dup.Add(1)
			}
			echo(ctx, r, w)
		}})
	}
	req := queryConn(t, config(srv, "req"))
	for n := range 100 {
		if _, err := req.Request(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Split", "x")); err != nil {
			t.Fatalf("request %d: %v", n, err)
		}
	}
	if counts[0].Load()+counts[1].Load() != 100 || dup.Load() != 0 {
		t.Errorf("handled %d + %d (duplicates %d), want 100 exactly once", counts[0].Load(), counts[1].Load(), dup.Load())
	}
	if counts[0].Load() == 0 || counts[1].Load() == 0 {
		t.Errorf("one member got nothing: %d / %d", counts[0].Load(), counts[1].Load())
	}
}

func TestCEQueryCache(t *testing.T) {
	srv := newServer(t)
	q := queryConn(t, config(srv, "qc"))
	var calls atomic.Int64
	listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Cached": func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
		calls.Add(1)
		echo(ctx, r, w)
	}})
	key := adaptertest.UniqueName("key")
	first, info, err := q.RequestCached(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Cached", "a"), key, time.Minute)
	if err != nil || info.CacheHit || dataOf(first) != "re:a" {
		t.Fatalf("first: %v %+v %v", first, info, err)
	}
	second, info, err := q.RequestCached(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Cached", "b"), key, time.Minute)
	if err != nil || !info.CacheHit || dataOf(second) != "re:a" {
		t.Fatalf("second: %v %+v %v", second, info, err)
	}
	if calls.Load() != 1 {
		t.Errorf("handler called %d times, want 1", calls.Load())
	}
}

var _ = client.ErrTimeout
