package cloudevents_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/cloudevents"
	"github.com/heraldmq/herald/client/queuesstream"
)

type handlers = map[cloudevents.EventType]cloudevents.EventHandlerFunc

// listen runs Listen until the test ends (then drains).
func listen(t *testing.T, e *cloudevents.EventConn, h handlers) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if err := e.Listen(ctx, h, &wg); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func publishN(t *testing.T, e *cloudevents.EventConn, typ string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := e.PublishContext(ctxFor(t, 10*time.Second), newEvent(t, typ, strconv.Itoa(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// counter collects handled event data.
type counter struct {
	mu   sync.Mutex
	seen map[string]int
	n    int
}

func newCounter() *counter { return &counter{seen: map[string]int{}} }

func (c *counter) add(s string) {
	c.mu.Lock()
	c.seen[s]++
	c.n++
	c.mu.Unlock()
}

func (c *counter) handler() cloudevents.EventHandlerFunc {
	return func(_ context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
		w.NoResponse()
		c.add(dataOf(ev))
		return nil
	}
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *counter) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func waitCount(t *testing.T, what string, n func() int, want int, d time.Duration) {
	t.Helper()
	adaptertest.Eventually(t, d, func() error {
		if got := n(); got < want {
			return fmt.Errorf("%s: %d of %d", what, got, want)
		}
		return nil
	})
}

func TestCEPublishListen(t *testing.T) {
	adaptertest.NoLeaks(t)
	srv := newServer(t)
	cfg := config(srv, "pl")
	e := eventConn(t, cfg)
	got := make(chan cloudevents.Event, 1)
	listen(t, e, handlers{"org.test.Created": func(_ context.Context, ev cloudevents.Event, _ cloudevents.EventResponseWriter) error {
		got <- ev
		return nil
	}})
	ce := newEvent(t, "org.test.Created", "payload")
	if err := e.Publish(ce); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Type() != "org.test.Created" || dataOf(ev) != "payload" || cloudevents.GetTransactionID(&ev) != cloudevents.GetTransactionID(&ce) {
			t.Errorf("handled %v", ev)
		}
		if ev.Source() != cfg.ClientID {
			t.Errorf("source %q, want the ClientID", ev.Source())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not handled")
	}
}

func TestCEPublishIdempotent(t *testing.T) {
	srv := newServer(t)
	e := eventConn(t, config(srv, "idem"))
	c := newCounter()
	listen(t, e, handlers{"org.test.Once": c.handler()})
	ce := newEvent(t, "org.test.Once", "same")
	for range 2 {
		if err := e.Publish(ce); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Publish(newEvent(t, "org.test.Once", "marker")); err != nil {
		t.Fatal(err)
	}
	waitCount(t, "handled", c.total, 2, 5*time.Second)
	time.Sleep(200 * time.Millisecond) // a wait for nothing more to happen
	if c.total() != 2 {
		t.Errorf("handled %d events (%v), want the repeated one once", c.total(), c.seen)
	}
}

func durableCfg(srv *adaptertest.Server, stream, durable string) cloudevents.Config {
	cfg := config(srv, "durable")
	cfg.Stream, cfg.DurableName = stream, durable
	return cfg
}

func testDurableGroupSplitsAndFansOut(t *testing.T, assume *bool) {
	srv := newServer(t)
	stream := adaptertest.UniqueName("split")
	a, b := newCounter(), newCounter()
	var per [2]atomic.Int64
	for i := range 2 {
		cfg := durableCfg(srv, stream, "group.a")
		cfg.AssumeHerald = assume
		e := eventConn(t, cfg)
		h := a.handler()
		listen(t, e, handlers{"org.test.Split": func(ctx context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
			per[i].Add(1)
			return h(ctx, ev, w)
		}})
	}
	cfgB := durableCfg(srv, stream, "group b")
	cfgB.AssumeHerald = assume
	listen(t, eventConn(t, cfgB), handlers{"org.test.Split": b.handler()})
	pub := eventConn(t, durableCfg(srv, stream, ""))
	publishN(t, pub, "org.test.Split", 0, 200)
	waitCount(t, "group A", a.distinct, 200, 20*time.Second)
	waitCount(t, "group B", b.distinct, 200, 20*time.Second)
	if per[0].Load() == 0 || per[1].Load() == 0 {
		t.Errorf("the members of A did not share: %d / %d", per[0].Load(), per[1].Load())
	}
}

func TestCEDurableGroupSplitsAndFansOut(t *testing.T) { testDurableGroupSplitsAndFansOut(t, nil) }

func TestCEDurableSurvivesRestart(t *testing.T) {
	srv := newServer(t)
	stream := adaptertest.UniqueName("restart")
	cfg := durableCfg(srv, stream, "svc")
	first := eventConn(t, cfg)
	c := newCounter()
	s, err := first.Subscribe(ctxFor(t, 5*time.Second), handlers{"org.test.R": c.handler()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Drain(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	pub := eventConn(t, durableCfg(srv, stream, ""))
	publishN(t, pub, "org.test.R", 0, 20)
	srv.Restart(t)
	second := eventConn(t, cfg)
	listen(t, second, handlers{"org.test.R": c.handler()})
	waitCount(t, "handled after the restart", c.distinct, 20, 20*time.Second)
}

func TestCEAckedRedeliveryAfterCrash(t *testing.T) {
	srv := newServer(t)
	stream := adaptertest.UniqueName("crash")
	cfg := durableCfg(srv, stream, "svc")
	cfg.AckWait = 10 * time.Second
	crashClient := srv.Client(t)
	a, err := cloudevents.NewEventConnectionFromClient(cfg, crashClient)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	entered := make(chan struct{})
	var once sync.Once
	listen(t, a, handlers{"org.test.Crash": func(ctx context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
		once.Do(func() { close(entered) })
		_ = crashClient.Close() // the process dies while handling
		<-ctx.Done()
		return ctx.Err()
	}})
	pub := eventConn(t, durableCfg(srv, stream, ""))
	publishN(t, pub, "org.test.Crash", 0, 1)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("instance A never got the event")
	}
	// Instance B sees it again, as a second delivery. ReceiveCount is read
	// from the dead-letter tags: B fails with MaxDeliver 2 so the copy
	// records the attempts.
	cfgB := cfg
	cfgB.MaxDeliver = 2
	b := eventConn(t, cfgB)
	got := make(chan struct{}, 1)
	listen(t, b, handlers{"org.test.Crash": func(ctx context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
		select {
		case got <- struct{}{}:
		default:
		}
		return errors.New("record the delivery count")
	}})
	select {
	case <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("instance B never got the event")
	}
	m := readDLQ(t, srv, stream+".dlq.svc")
	if m.Tags["herald.dlq.attempts"] != "2" {
		t.Errorf("B handled the event as delivery %s, want 2 (tags %v)", m.Tags["herald.dlq.attempts"], m.Tags)
	}
}

// readDLQ waits for one message in the dead-letter queue.
func readDLQ(t *testing.T, srv *adaptertest.Server, queue string) *queuesstream.QueueMessage {
	t.Helper()
	qs, err := queuesstream.FromClient(srv.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	defer qs.Close()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := qs.Poll(ctxFor(t, 5*time.Second), queuesstream.NewPollRequest().SetChannel(queue).SetMaxItems(1).SetWaitTimeout(1000).SetAutoAck(true))
		if err == nil && len(resp.Messages) > 0 {
			return resp.Messages[0]
		}
	}
	t.Fatalf("nothing in %s", queue)
	return nil
}

func TestCEHandlerErrorRetriesThenDLQ(t *testing.T) {
	for _, tc := range []struct {
		name   string
		assume *bool
	}{{"acked", nil}, {"fallback", boolPtr(false)}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			stream := adaptertest.UniqueName("dlq")
			cfg := durableCfg(srv, stream, "svc")
			cfg.MaxDeliver, cfg.AssumeHerald = 3, tc.assume
			e := eventConn(t, cfg)
			var calls atomic.Int64
			ok := newCounter()
			listen(t, e, handlers{
				"org.test.Bad": func(context.Context, cloudevents.Event, cloudevents.EventResponseWriter) error {
					calls.Add(1)
					return errors.New("always fails")
				},
				"org.test.Good": ok.handler(),
			})
			warmUp(t, e, "org.test.Good", ok)
			bad := newEvent(t, "org.test.Bad", "bad")
			if err := e.Publish(bad); err != nil {
				t.Fatal(err)
			}
			before := ok.total()
			publishN(t, e, "org.test.Good", 0, 1)
			m := readDLQ(t, srv, stream+".dlq.svc")
			if m.MessageID != bad.ID() || m.Tags["herald.dlq.reason"] != "always fails" || m.Tags["herald.dlq.attempts"] != "3" ||
				m.Tags["herald.dlq.group"] != "svc" || m.Tags["herald.dlq.sequence"] == "" {
				t.Errorf("dead letter %s tags %v", m.MessageID, m.Tags)
			}
			if ev, err := cloudevents.Decode(cloudevents.Wire{Metadata: m.Metadata, Body: m.Body, Tags: m.Tags}); err != nil || ev.ID() != bad.ID() {
				t.Errorf("dead letter does not carry the envelope: %v %v", ev, err)
			}
			if calls.Load() != 3 {
				t.Errorf("handler called %d times, want MaxDeliver 3", calls.Load())
			}
			waitCount(t, "the stream moved on", ok.total, before+1, 10*time.Second)
		})
	}
}

func TestCEInProgressExtends(t *testing.T) {
	srv := newServer(t)
	stream := adaptertest.UniqueName("inprog")
	cfg := durableCfg(srv, stream, "svc")
	cfg.AckWait = time.Second
	var calls atomic.Int64
	done := make(chan error, 1)
	for range 2 { // a second member would get a redelivery
		e := eventConn(t, cfg)
		listen(t, e, handlers{"org.test.Long": func(ctx context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
			if calls.Add(1) > 1 {
				return nil
			}
			end := time.Now().Add(3 * time.Second)
			last, _ := cloudevents.HandlerDeadline(ctx)
			for time.Now().Before(end) {
				// The context reports no deadline, before and after InProgress
				// (successive Deadline calls must agree); HandlerDeadline moves.
				if d, ok := ctx.Deadline(); ok {
					done <- fmt.Errorf("handler context has a Deadline, %v", d)
					return nil
				}
				if err := cloudevents.InProgress(ctx); err != nil {
					done <- err
					return err
				}
				d, ok := cloudevents.HandlerDeadline(ctx)
				if !ok || !d.After(last) {
					done <- fmt.Errorf("HandlerDeadline = %v, %v after InProgress, want later than %v", d, ok, last)
					return nil
				}
				last = d
				time.Sleep(300 * time.Millisecond) // the handler's own work
			}
			if d, ok := ctx.Deadline(); ok {
				done <- fmt.Errorf("handler context has a Deadline, %v", d)
				return nil
			}
			done <- ctx.Err()
			return nil
		}})
	}
	publishN(t, eventConn(t, durableCfg(srv, stream, "")), "org.test.Long", 0, 1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("handler context ended or InProgress failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not finish")
	}
	time.Sleep(1500 * time.Millisecond) // a redelivery would come within the visibility
	if calls.Load() != 1 {
		t.Errorf("handler called %d times: redelivered despite InProgress", calls.Load())
	}
	if err := cloudevents.InProgress(context.Background()); !errors.Is(err, cloudevents.ErrNotAcked) {
		t.Errorf("InProgress outside a handler: %v", err)
	}
	if d, ok := cloudevents.HandlerDeadline(context.Background()); ok {
		t.Errorf("HandlerDeadline outside a handler: %v", d)
	}
}

func TestCEWorkersBound(t *testing.T) {
	srv := newServer(t)
	cfg := durableCfg(srv, adaptertest.UniqueName("workers"), "svc")
	e := eventConn(t, cfg)
	var running, peak atomic.Int64
	c := newCounter()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	err := e.ListenWithConcurrentWorkers(ctx, handlers{"org.test.W": func(_ context.Context, ev cloudevents.Event, _ cloudevents.EventResponseWriter) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		c.add(dataOf(ev))
		return nil
	}}, &wg, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); wg.Wait() }()
	publishN(t, e, "org.test.W", 0, 60)
	waitCount(t, "handled", c.distinct, 60, 20*time.Second)
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency %d, want at most 3 (and a pool in use)", p)
	}
}

func TestCEListenOrder(t *testing.T) {
	srv := newServer(t)
	cfg := durableCfg(srv, adaptertest.UniqueName("order"), "svc")
	e := eventConn(t, cfg)
	var mu sync.Mutex
	var got []int
	listen(t, e, handlers{"org.test.O": func(_ context.Context, ev cloudevents.Event, _ cloudevents.EventResponseWriter) error {
		n, _ := strconv.Atoi(dataOf(ev))
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		return nil
	}})
	publishN(t, e, "org.test.O", 0, 500)
	waitCount(t, "handled", func() int { mu.Lock(); defer mu.Unlock(); return len(got) }, 500, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for i, n := range got {
		if n != i {
			t.Fatalf("event %d handled at position %d", n, i)
		}
	}
}

// warmUp publishes events of typ until c counts one: a group subscription
// without acked durable reads may miss what is published while it starts
// (the documented at-most-once fallback).
func warmUp(t *testing.T, e *cloudevents.EventConn, typ string, c *counter) {
	t.Helper()
	adaptertest.Eventually(t, 10*time.Second, func() error {
		if c.total() > 0 {
			return nil
		}
		if err := e.Publish(newEvent(t, typ, "warm-up")); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond) // give the handler a moment before publishing again
		if c.total() == 0 {
			return errors.New("listener not live yet")
		}
		return nil
	})
}
