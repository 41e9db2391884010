package cloudevents_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/cloudevents"
)

func TestCEResponseEvents(t *testing.T) {
	srv := newServer(t)
	stream := adaptertest.UniqueName("resp")
	service := eventConn(t, durableCfg(srv, stream, "service"))
	listen(t, service, handlers{"org.test.Asked": func(_ context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
		resp := newEvent(nil, "org.test.Answered", "answer to "+dataOf(ev))
		cloudevents.SetTransactionID(&resp, "") // the writer gives it the request's
		return w.Write(resp)
	}})
	third := newCounter()
	listen(t, eventConn(t, durableCfg(srv, stream, "auditor")), handlers{"org.test.Answered": third.handler()})

	caller := eventConn(t, durableCfg(srv, stream, ""))
	req := newEvent(t, "org.test.Asked", "q")
	req.SetExtension(cloudevents.TransactionIDExtension, nil)
	p, err := caller.Request(req, []cloudevents.EventType{"org.test.Answered"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Response(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tid := p.(*cloudevents.Promise).TransactionID()
	if dataOf(resp) != "answer to q" || cloudevents.GetTransactionID(&resp) != tid || tid == "" {
		t.Errorf("response %v (promise tid %q)", resp, tid)
	}
	if _, err := p.Response(ctxFor(t, time.Second)); !errors.Is(err, cloudevents.ErrPromiseClosed) {
		t.Errorf("Response after a success: %v, want ErrPromiseClosed", err)
	}
	waitCount(t, "the third listener", third.total, 1, 10*time.Second)

	// RequestWithSyncSub does the same in one call.
	ev, err := caller.RequestWithSyncSub(ctxFor(t, 10*time.Second), newEvent(t, "org.test.Asked", "sync"), []cloudevents.EventType{"org.test.Answered"})
	if err != nil || dataOf(ev) != "answer to sync" {
		t.Errorf("RequestWithSyncSub: %v %v", ev, err)
	}
}

func TestCEWaitForResponseAfterPublish(t *testing.T) {
	srv := newServer(t)
	e := eventConn(t, config(srv, "wfr"))
	tid := cloudevents.NewTransactionID()
	resp, _ := cloudevents.CreateCloudEventWithTransactionID("early", cloudevents.EventType("org.test.Done"), "svc", tid)
	if err := e.Publish(resp); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the response is 2 s old when the caller starts waiting
	p, err := e.WaitForResponse(tid, []cloudevents.EventType{"org.test.Done"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Response(ctxFor(t, 5*time.Second))
	if err != nil || got.ID() != resp.ID() {
		t.Fatalf("response %v %v", got, err)
	}
	// A promise times out with ErrTimeout and DeadlineExceeded.
	p2, _ := e.WaitForResponse(cloudevents.NewTransactionID(), []cloudevents.EventType{"org.test.Done"})
	defer p2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p2.Response(ctx); !errors.Is(err, cloudevents.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
}

func TestCEResponseChanMany(t *testing.T) {
	srv := newServer(t)
	e := eventConn(t, config(srv, "rcm"))
	tid := cloudevents.NewTransactionID()
	p, err := e.WaitForResponse(tid, []cloudevents.EventType{"org.test.Step", "org.test.Last"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := p.ResponseChan(ctx)
	for i, typ := range []string{"org.test.Step", "org.test.Other", "org.test.Step", "org.test.Last"} {
		ce, _ := cloudevents.CreateCloudEventWithTransactionID(i, cloudevents.EventType(typ), "svc", tid)
		if err := e.Publish(ce); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(got) < 3 {
		select {
		case ev := <-ch:
			got = append(got, ev.Type())
		case <-time.After(10 * time.Second):
			t.Fatalf("got %v", got)
		}
	}
	if got[0] != "org.test.Step" || got[1] != "org.test.Step" || got[2] != "org.test.Last" {
		t.Errorf("responses %v", got)
	}
	if p.(*cloudevents.Promise).Err() != nil {
		t.Errorf("Err while open: %v", p.(*cloudevents.Promise).Err())
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("an extra response")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ResponseChan not closed after the context ended")
	}
	if err := p.(*cloudevents.Promise).Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after the context ended: %v", err)
	}
}

func TestCEEventSourceRules(t *testing.T) {
	srv := newServer(t)
	cfg := config(srv, "es")
	e := eventConn(t, cfg)
	es := cloudevents.NewEventSource(e)
	defer es.Close()
	noop := cloudevents.Listener{Callback: func(cloudevents.EventType, cloudevents.Event) {}}
	if _, err := es.AddListener("", "", noop); !errors.Is(err, cloudevents.ErrInvalidListener) {
		t.Errorf("double wildcard: %v", err)
	}
	if _, err := es.AddListener("t", "", cloudevents.Listener{}); !errors.Is(err, cloudevents.ErrInvalidListener) {
		t.Errorf("nil callback: %v", err)
	}
	es.RemoveListenerByID("unknown") // does nothing

	var once, byType, byTID atomic.Int64
	tid := cloudevents.NewTransactionID()
	idOnce, err := es.AddListener("org.test.S", "", cloudevents.Listener{ListenOnce: true, Callback: func(cloudevents.EventType, cloudevents.Event) { once.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	_ = idOnce
	idType, _ := es.AddListener("org.test.S", "", cloudevents.Listener{Callback: func(cloudevents.EventType, cloudevents.Event) { byType.Add(1) }})
	idTID, _ := es.AddListener("", tid, cloudevents.Listener{Callback: func(cloudevents.EventType, cloudevents.Event) { byTID.Add(1) }})
	publish := func(typ string, tid cloudevents.TransactionID) {
		ce, _ := cloudevents.CreateCloudEventWithTransactionID("x", cloudevents.EventType(typ), "svc", tid)
		if err := e.Publish(ce); err != nil {
			t.Fatal(err)
		}
	}
	publish("org.test.S", "")
	publish("org.test.S", "")
	publish("org.test.Other", tid)
	waitCount(t, "by type", func() int { return int(byType.Load()) }, 2, 5*time.Second)
	waitCount(t, "by transaction", func() int { return int(byTID.Load()) }, 1, 5*time.Second)
	if once.Load() != 1 {
		t.Errorf("ListenOnce called %d times", once.Load())
	}
	es.RemoveListenerByID(idType)
	publish("org.test.S", tid)
	waitCount(t, "by transaction", func() int { return int(byTID.Load()) }, 2, 5*time.Second)
	if byType.Load() != 2 {
		t.Errorf("a removed listener was called: %d", byType.Load())
	}
	// The subscription stops with the last listener: the server's channel
	// loses its subscriber.
	active := func() bool {
		list, err := e.Client().ListEventsStoreChannels(ctxFor(t, 5*time.Second), cfg.Stream)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range list {
			if ch.Name == cfg.Stream {
				return ch.IsActive
			}
		}
		return false
	}
	if !active() {
		t.Log("the server does not report an active subscriber while listening; skipping the subscriber-count check")
		es.RemoveListenerByID(idTID)
		return
	}
	es.RemoveListenerByID(idTID)
	adaptertest.Eventually(t, 5*time.Second, func() error {
		if active() {
			return errors.New("still subscribed")
		}
		return nil
	})
}
