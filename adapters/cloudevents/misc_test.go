package cloudevents_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	sdkevent "github.com/cloudevents/sdk-go/v2/event"
	kubemq "github.com/kubemq-io/kubemq-go"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/cloudevents"
)

func TestCEBadInput(t *testing.T) {
	host, port := adaptertest.ClosedAddress(t)
	cfg := cloudevents.Config{Address: host + ":" + strconv.Itoa(port), AssumeHerald: boolPtr(true)}
	e, err := cloudevents.NewEventConnection(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	q, err := cloudevents.NewQueryConnection(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	noop := func(context.Context, cloudevents.Event, cloudevents.EventResponseWriter) error { return nil }
	noType := sdkevent.New()
	noType.SetID("id")
	noType.SetSource("src")
	typed := func(typ string) cloudevents.Event { return newEvent(t, typ, "x") }
	typeRoute := cfg
	typeRoute.EventRouting = cloudevents.RouteByType
	eType, err := cloudevents.NewEventConnection(context.Background(), typeRoute)
	if err != nil {
		t.Fatal(err)
	}
	defer eType.Close()
	at := cfg
	at.AssumeHerald, at.Delivery = boolPtr(false), cloudevents.DeliveryAtLeastOnce

	for _, tc := range []struct {
		name string
		err  error
		call func() error
	}{
		{"publish: zero event", cloudevents.ErrInvalidEvent, func() error { return e.Publish(cloudevents.Event{}) }},
		{"publish: no type", cloudevents.ErrInvalidEvent, func() error { return e.Publish(noType) }},
		{"publish: wildcard type", cloudevents.ErrInvalidEventType, func() error { return e.Publish(typed("a.*")) }},
		{"publish: type with '_'", cloudevents.ErrInvalidEventType, func() error { return e.Publish(typed("_inbox")) }},
		{"publish: type with space", cloudevents.ErrInvalidName, func() error { return e.Publish(typed("a b")) }},
		{"request: empty token", cloudevents.ErrInvalidEventType, func() error { _, err := q.Request(context.Background(), typed("a..b")); return err }},
		{"listen: nil map", cloudevents.ErrNoHandlers, func() error { return e.Listen(context.Background(), nil, nil) }},
		{"listen: empty map", cloudevents.ErrNoHandlers, func() error { return e.Listen(context.Background(), handlers{}, nil) }},
		{"listen: nil handler", cloudevents.ErrNilHandler, func() error { return e.Listen(context.Background(), handlers{"t": nil}, nil) }},
		{"query listen: nil map", cloudevents.ErrNoHandlers, func() error { return q.Listen(context.Background(), nil, nil) }},
		{"workers 0", cloudevents.ErrInvalidOption, func() error {
			return e.ListenWithConcurrentWorkers(context.Background(), handlers{"t": noop}, nil, 1, 0)
		}},
		{"query workers 0", cloudevents.ErrInvalidOption, func() error {
			return q.ListenWithConcurrentWorkers(context.Background(), map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"t": func(context.Context, cloudevents.Event, cloudevents.ReplyWriter) {}}, nil, 1, 0)
		}},
		{"wildcard type with RouteByType", cloudevents.ErrUnsupported, func() error { return eType.Listen(context.Background(), handlers{"": noop}, nil) }},
		{"event source: double wildcard", cloudevents.ErrInvalidListener, func() error {
			_, err := e.EventSource().AddListener("", "", cloudevents.Listener{Callback: func(cloudevents.EventType, cloudevents.Event) {}})
			return err
		}},
		{"event source: nil callback", cloudevents.ErrInvalidListener, func() error {
			_, err := e.EventSource().AddListener("t", "", cloudevents.Listener{})
			return err
		}},
		{"event source: wildcard type with RouteByType", cloudevents.ErrUnsupported, func() error {
			_, err := eType.EventSource().AddListener("", "tid-1", cloudevents.Listener{Callback: func(cloudevents.EventType, cloudevents.Event) {}})
			return err
		}},
		{"wait: empty transaction id", cloudevents.ErrInvalidTransactionID, func() error { _, err := e.WaitForResponse("", []cloudevents.EventType{"t"}); return err }},
		{"wait: no types", cloudevents.ErrNoResponseTypes, func() error { _, err := e.WaitForResponse("tid-1", nil); return err }},
		{"request: no types", cloudevents.ErrNoResponseTypes, func() error { _, err := e.Request(typed("t"), nil); return err }},
		{"at least once without Herald", cloudevents.ErrUnsupported, func() error {
			_, err := cloudevents.NewEventConnection(context.Background(), at)
			return err
		}},
		{"invalid stream", cloudevents.ErrInvalidName, func() error {
			c := cfg
			c.Stream = "a>b"
			_, err := cloudevents.NewEventConnection(context.Background(), c)
			return err
		}},
		{"after close", cloudevents.ErrClosed, func() error {
			_ = q.Close()
			_, err := q.Request(context.Background(), typed("t"))
			return err
		}},
	} {
		start := time.Now()
		if err := tc.call(); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s: took %v, not refused before any network call", tc.name, d)
		}
	}
}

func TestCEConfigFromEnv(t *testing.T) {
	t.Setenv("HERALD_ADDRESS", "broker:50000")
	t.Setenv("NATS_QUEUE_GROUP", "qg")
	t.Setenv("HERALD_DURABLE_NAME", "durable")
	t.Setenv("NATS_DURABLE_NAME", "ignored")
	t.Setenv("NATS_JS_ACK_WAIT", "7")
	t.Setenv("HERALD_REQUEST_TIMEOUT", "2s")
	t.Setenv("HERALD_EVENT_ROUTING", "type")
	t.Setenv("HERALD_ASSUME_HERALD", "false")
	c, err := cloudevents.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Address != "broker:50000" || c.QueueGroup != "qg" || c.DurableName != "durable" || c.AckWait != 7*time.Second ||
		c.RequestTimeout != 2*time.Second || c.EventRouting != cloudevents.RouteByType || c.AssumeHerald == nil || *c.AssumeHerald {
		t.Errorf("config %+v", c)
	}
	t.Setenv("HERALD_ACK_WAIT", "soon")
	if _, err := cloudevents.ConfigFromEnv(); !errors.Is(err, cloudevents.ErrInvalidOption) {
		t.Errorf("bad duration: %v", err)
	}
}

func TestCEWireInterop(t *testing.T) {
	srv := newServer(t)
	for _, enc := range []cloudevents.Encoding{cloudevents.Structured, cloudevents.Binary} {
		cfg := config(srv, "interop")
		cfg.Encoding = enc
		e := eventConn(t, cfg)
		kc, err := kubemq.NewClient(context.Background(), kubemq.WithAddress(srv.Host, srv.Port), kubemq.WithClientId(adaptertest.UniqueName("kubemq-go")),
			kubemq.WithTransportType(kubemq.TransportTypeGRPC))
		if err != nil {
			t.Fatal(err)
		}
		defer kc.Close()
		ce := newEvent(t, "org.test.Interop", "hello")
		if err := e.Publish(ce); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errCh := make(chan error, 1)
		ch, err := kc.SubscribeToEventsStore(ctx, cfg.Stream, "", errCh, kubemq.StartFromFirstEvent())
		if err != nil {
			t.Fatal(err)
		}
		var m *kubemq.EventStoreReceive
		select {
		case m = <-ch:
		case err := <-errCh:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("nothing received by kubemq-go")
		}
		cancel()
		if m.Channel != cfg.Stream || m.Id != ce.ID() || m.Tags["ce-type"] != "org.test.Interop" || m.Tags["ce-id"] != ce.ID() ||
			m.Tags["ce-source"] != cfg.ClientID || m.Tags["ce-transactionid"] != string(cloudevents.GetTransactionID(&ce)) {
			t.Errorf("%v: received %+v", enc, m)
		}
		switch enc {
		case cloudevents.Structured:
			if m.Metadata != "application/cloudevents+json; charset=utf-8" {
				t.Errorf("metadata %q", m.Metadata)
			}
		case cloudevents.Binary:
			if m.Metadata != "application/json" || string(m.Body) != `"hello"` {
				t.Errorf("metadata %q body %s", m.Metadata, m.Body)
			}
		}
	}
}

func TestCEReconnect(t *testing.T) {
	srv := newServer(t)
	stream := adaptertest.UniqueName("reconnect")
	cfg := config(srv, "rc")
	cfg.Stream = stream
	e := eventConn(t, cfg)
	c := newCounter()
	listen(t, e, handlers{"org.test.Rc": c.handler()})
	tid := cloudevents.NewTransactionID()
	p, err := e.WaitForResponse(tid, []cloudevents.EventType{"org.test.RcDone"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sourced []string
	if _, err := e.EventSource().AddListener("org.test.Rc", "", cloudevents.Listener{Callback: func(_ cloudevents.EventType, ce cloudevents.Event) {
		mu.Lock()
		sourced = append(sourced, dataOf(ce))
		mu.Unlock()
	}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, e, "org.test.Rc", 0, 5)
	waitCount(t, "before the restart", c.total, 5, 10*time.Second)
	srv.Restart(t)
	publishN(t, e, "org.test.Rc", 5, 10)
	resp, _ := cloudevents.CreateCloudEventWithTransactionID("done", cloudevents.EventType("org.test.RcDone"), "svc", tid)
	if err := e.PublishContext(ctxFor(t, 20*time.Second), resp); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Response(ctxFor(t, 20*time.Second)); err != nil || got.ID() != resp.ID() {
		t.Fatalf("promise across the restart: %v %v", got, err)
	}
	waitCount(t, "after the restart", c.total, 10, 20*time.Second)
	waitCount(t, "event source", func() int { mu.Lock(); defer mu.Unlock(); return len(sourced) }, 10, 20*time.Second)
	time.Sleep(300 * time.Millisecond) // a wait for duplicates that should not come
	if c.total() != 10 || c.distinct() != 10 {
		t.Errorf("listener handled %d events (%d distinct), want 10 once each", c.total(), c.distinct())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sourced) != 10 {
		t.Errorf("event source saw %v, want 10 once each", sourced)
	}
}

func TestCEFallbackPaths(t *testing.T) {
	t.Run("GroupSplitsAndFansOut", func(t *testing.T) { testFallbackGroups(t) })
	t.Run("Guarantee", func(t *testing.T) {
		srv := newServer(t)
		cfg := config(srv, "g")
		if g := eventConn(t, cfg).Guarantee(); g != cloudevents.DeliveryAtLeastOnce {
			t.Errorf("on Herald: %v", g)
		}
		cfg.AssumeHerald = boolPtr(false)
		if g := eventConn(t, cfg).Guarantee(); g != cloudevents.DeliveryAtMostOnce {
			t.Errorf("AssumeHerald false: %v", g)
		}
	})
}

// testFallbackGroups: without acked reads, members of a group share the
// events at most once and groups fan out; a timely drain loses nothing.
func testFallbackGroups(t *testing.T) {
	srv := newServer(t)
	stream := adaptertest.UniqueName("fallback")
	a, b := newCounter(), newCounter()
	var subs []*cloudevents.Subscription
	for _, g := range []string{"a", "a", "b"} {
		cfg := durableCfg(srv, stream, g)
		cfg.AssumeHerald = boolPtr(false)
		c := a
		if g == "b" {
			c = b
		}
		s, err := eventConn(t, cfg).Subscribe(ctxFor(t, 5*time.Second), handlers{"org.test.F": c.handler(), "org.test.Warm": c.handler()})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	pub := eventConn(t, durableCfg(srv, stream, ""))
	warmUp(t, pub, "org.test.Warm", a)
	warmUp(t, pub, "org.test.Warm", b)
	baseA, baseB := a.total(), b.total()
	publishN(t, pub, "org.test.F", 0, 100)
	waitCount(t, "group a", func() int { return a.total() - baseA }, 100, 20*time.Second)
	waitCount(t, "group b", func() int { return b.total() - baseB }, 100, 20*time.Second)
	for _, s := range subs {
		if err := s.Drain(ctxFor(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // a wait for duplicates that should not come
	if a.total()-baseA != 100 || b.total()-baseB != 100 {
		t.Errorf("group a handled %d, group b %d; want 100 each, once", a.total()-baseA, b.total()-baseB)
	}
}
