package cloudevents_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkclient "github.com/cloudevents/sdk-go/v2/client"
	sdkevent "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/cloudevents"
)

// startReceiver runs c.StartReceiver(fn) until the test ends; the cleanup
// cancels it and waits (bounded) for it to return.
func startReceiver(t *testing.T, c sdkclient.Client, fn any) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.StartReceiver(ctx, fn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("StartReceiver: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("StartReceiver did not return after its context ended")
		}
	})
}

// sdkEvent builds an event with sdk-go alone.
func sdkEvent(t *testing.T, typ, data string) sdkevent.Event {
	t.Helper()
	e := sdkevent.New()
	e.SetID(adaptertest.UniqueName("sdk"))
	e.SetSource("/sdk-test")
	e.SetType(typ)
	if err := e.SetData(sdkevent.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return e
}

// waitLive sends warm-up events with c until the receiver reports one on
// seen (the receiver's subscription is in place).
func waitLive(t *testing.T, c sdkclient.Client, typ string, seen <-chan struct{}) {
	t.Helper()
	adaptertest.Eventually(t, 15*time.Second, func() error {
		if res := c.Send(ctxFor(t, 5*time.Second), sdkEvent(t, typ, "warm-up")); !protocol.IsACK(res) {
			return res
		}
		select {
		case <-seen:
			return nil
		case <-time.After(500 * time.Millisecond):
			return errors.New("receiver not live yet")
		}
	})
}

func TestCESDKProtocol(t *testing.T) {
	adaptertest.NoLeaks(t)
	srv := newServer(t)

	t.Run("send request respond", func(t *testing.T) {
		cfg := config(srv, "sdk")
		ev, q := eventConn(t, cfg), queryConn(t, cfg)
		p, err := cloudevents.NewProtocol(ev, q,
			cloudevents.ReceiveEventTypes("org.test.SDKEvent", "org.test.SDKAsk"),
			cloudevents.RespondToOps("org.test.SDKQuery", "org.test.SDKQueryFail", "org.test.SDKQueryNone"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := sdkclient.New(p)
		if err != nil {
			t.Fatal(err)
		}
		warm := make(chan struct{}, 1)
		got := make(chan sdkevent.Event, 10)
		startReceiver(t, c, func(ctx context.Context, e sdkevent.Event) (*sdkevent.Event, protocol.Result) {
			var data string
			_ = e.DataAs(&data)
			switch e.Type() {
			case "org.test.SDKEvent":
				if data == "warm-up" {
					select {
					case warm <- struct{}{}:
					default:
					}
				} else {
					got <- e
				}
				return nil, nil
			case "org.test.SDKAsk": // a response event, correlated by transaction id
				answer := sdkEvent(t, "org.test.SDKAnswer", "answer:"+data)
				return &answer, nil
			case "org.test.SDKQuery":
				reply := sdkEvent(t, "org.test.SDKReply", "re:"+data)
				return &reply, nil
			case "org.test.SDKQueryFail":
				return nil, errors.New("boom")
			}
			return nil, nil // SDKQueryNone: no reply
		})
		waitLive(t, c, "org.test.SDKEvent", warm)

		// Send reaches StartReceiver.
		sent := sdkEvent(t, "org.test.SDKEvent", "hello")
		cloudevents.SetTransactionID(&sent, "tid-sdk-send")
		if res := c.Send(ctxFor(t, 5*time.Second), sent); !protocol.IsACK(res) {
			t.Fatalf("Send: %v", res)
		}
		select {
		case e := <-got:
			if e.ID() != sent.ID() || e.Source() != "/sdk-test" || dataOf(e) != "hello" || cloudevents.GetTransactionID(&e) != "tid-sdk-send" {
				t.Errorf("received %v", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the sent event never reached StartReceiver")
		}

		// Request gets the reply of the Respond side. The query
		// subscription may start after the event one: retry until it has.
		req := sdkEvent(t, "org.test.SDKQuery", "question")
		cloudevents.SetTransactionID(&req, "tid-sdk-req")
		var resp *sdkevent.Event
		adaptertest.Eventually(t, 15*time.Second, func() error {
			r, res := c.Request(ctxFor(t, 2*time.Second), req)
			if !protocol.IsACK(res) {
				return res
			}
			resp = r
			return nil
		})
		if resp == nil || resp.Type() != "org.test.SDKReply" || dataOf(*resp) != "re:question" || cloudevents.GetTransactionID(resp) != "tid-sdk-req" {
			t.Errorf("reply %v", resp)
		}

		// A receiver error is a NACK carrying a *ReplyError.
		resp, res := c.Request(ctxFor(t, 5*time.Second), sdkEvent(t, "org.test.SDKQueryFail", "x"))
		var re *cloudevents.ReplyError
		if resp != nil || !protocol.IsNACK(res) || !errors.As(res, &re) || !strings.Contains(re.Message, "boom") {
			t.Errorf("failing responder: %v, %v", resp, res)
		}
		// No reply: an ACK without an event, matching ErrNoReply.
		resp, res = c.Request(ctxFor(t, 5*time.Second), sdkEvent(t, "org.test.SDKQueryNone", "x"))
		if resp != nil || !protocol.IsACK(res) || !errors.Is(res, cloudevents.ErrNoReply) {
			t.Errorf("silent responder: %v, %v", resp, res)
		}

		// An event answered by the receiver function is published as a
		// response event, found by messaging2's Request.
		ask, _ := cloudevents.CreateCloudEventWithAutoSource("q", cloudevents.EventType("org.test.SDKAsk"))
		promise, err := ev.RequestContext(ctxFor(t, 5*time.Second), ask, []cloudevents.EventType{"org.test.SDKAnswer"})
		if err != nil {
			t.Fatal(err)
		}
		answer, err := promise.Response(ctxFor(t, 10*time.Second))
		if err != nil || dataOf(answer) != "answer:q" || cloudevents.GetTransactionID(&answer) != cloudevents.GetTransactionID(&ask) {
			t.Errorf("response event %v: %v", answer, err)
		}
	})

	t.Run("finish error retries then dead-letters", func(t *testing.T) {
		stream := adaptertest.UniqueName("sdkdlq")
		cfg := durableCfg(srv, stream, "svc")
		cfg.MaxDeliver = 3
		ev := eventConn(t, cfg)
		p, err := cloudevents.NewProtocol(ev, nil, cloudevents.ReceiveEventTypes("org.test.SDKBad", "org.test.SDKGood"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := sdkclient.New(p)
		if err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int64
		start := time.Now()
		warm := make(chan struct{}, 1)
		startReceiver(t, c, func(ctx context.Context, e sdkevent.Event) error {
			if e.Type() == "org.test.SDKBad" {
				t.Logf("bad event: call %d at %v", calls.Add(1), time.Since(start))
				return errors.New("always fails")
			}
			select {
			case warm <- struct{}{}:
			default:
			}
			return nil
		})
		waitLive(t, c, "org.test.SDKGood", warm)
		t.Log("live", time.Since(start))
		bad := sdkEvent(t, "org.test.SDKBad", "bad")
		if res := c.Send(ctxFor(t, 5*time.Second), bad); !protocol.IsACK(res) {
			t.Fatal(res)
		}
		m := readDLQ(t, srv, stream+".dlq.svc")
		if m.MessageID != bad.ID() || !strings.Contains(m.Tags["herald.dlq.reason"], "always fails") || m.Tags["herald.dlq.attempts"] != "3" {
			t.Errorf("dead letter %s tags %v", m.MessageID, m.Tags)
		}
		if calls.Load() != 3 {
			t.Errorf("receiver called %d times, want MaxDeliver 3", calls.Load())
		}
	})

	t.Run("receive and finish without the client", func(t *testing.T) {
		cfg := config(srv, "sdkrecv")
		cfg.MaxDeliver = 2
		ev := eventConn(t, cfg)
		p, err := cloudevents.NewProtocol(ev, nil, cloudevents.ReceiveEventTypes("org.test.SDKRaw"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		opened := make(chan error, 1)
		go func() { opened <- p.OpenInbound(ctx) }()
		defer func() {
			cancel()
			select {
			case err := <-opened:
				if err != nil {
					t.Errorf("OpenInbound: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("OpenInbound did not return")
			}
			if err := p.Close(ctxFor(t, 5*time.Second)); err != nil {
				t.Error(err)
			}
		}()
		// The ephemeral subscription looks one second back: an event
		// published just before it started is still received.
		e := sdkEvent(t, "org.test.SDKRaw", "raw")
		if err := ev.Publish(e); err != nil {
			t.Fatal(err)
		}
		for attempt := 1; attempt <= 2; attempt++ {
			m, err := p.Receive(ctxFor(t, 10*time.Second))
			if err != nil {
				t.Fatalf("Receive %d: %v", attempt, err)
			}
			_ = m.Finish(errors.New("not now"))
		}
		dl := readDLQ(t, srv, cfg.Stream+".dlq._ephemeral")
		if dl.MessageID != e.ID() || dl.Tags["herald.dlq.attempts"] != "2" {
			t.Errorf("dead letter %s tags %v", dl.MessageID, dl.Tags)
		}
	})

	t.Run("nil connections", func(t *testing.T) {
		if _, err := cloudevents.NewProtocol(nil, nil); !errors.Is(err, cloudevents.ErrInvalidOption) {
			t.Errorf("no connections: %v", err)
		}
		q := queryConn(t, config(srv, "sdknil"))
		if _, err := cloudevents.NewProtocol(nil, q, cloudevents.ReceiveEventTypes("org.test.X")); !errors.Is(err, cloudevents.ErrUnsupported) {
			t.Errorf("event types without an EventConn: %v", err)
		}
		p, err := cloudevents.NewProtocol(nil, q)
		if err != nil {
			t.Fatal(err)
		}
		c, err := sdkclient.New(p)
		if err != nil {
			t.Fatal(err)
		}
		if res := c.Send(ctxFor(t, time.Second), sdkEvent(t, "org.test.X", "x")); !errors.Is(res, cloudevents.ErrUnsupported) {
			t.Errorf("Send without an EventConn: %v", res)
		}
		if err := c.StartReceiver(ctxFor(t, 5*time.Second), func(sdkevent.Event) {}); !errors.Is(err, cloudevents.ErrNoHandlers) {
			t.Errorf("StartReceiver with nothing to receive: %v", err)
		}
		if err := p.Close(ctxFor(t, time.Second)); err != nil {
			t.Error(err)
		}
		if _, res := c.Request(ctxFor(t, time.Second), sdkEvent(t, "org.test.X", "x")); !errors.Is(res, cloudevents.ErrClosed) {
			t.Errorf("Request after Close: %v", res)
		}
	})
}
