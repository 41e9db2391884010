package cloudevents_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/cloudevents"
)

func TestCEGracefulDrain(t *testing.T) {
	srv := newServer(t)
	stream := adaptertest.UniqueName("drain")
	cfg := durableCfg(srv, stream, "svc")
	cfg.AckWait = 10 * time.Second
	e := eventConn(t, cfg)
	release := make(chan struct{})
	var started, finished, afterStop atomic.Int64
	var stoppedFlag atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	err := e.ListenWithConcurrentWorkers(ctx, handlers{"org.test.D": func(hctx context.Context, ev cloudevents.Event, _ cloudevents.EventResponseWriter) error {
		if stoppedFlag.Load() {
			afterStop.Add(1)
		}
		started.Add(1)
		<-release
		if hctx.Err() != nil {
			return hctx.Err()
		}
		finished.Add(1)
		return nil
	}}, &wg, 20, 20)
	if err != nil {
		t.Fatal(err)
	}
	pub := eventConn(t, durableCfg(srv, stream, ""))
	publishN(t, pub, "org.test.D", 0, 20)
	waitCount(t, "in flight", func() int { return int(started.Load()) }, 20, 10*time.Second)

	s, err := e.Subscribe(ctxFor(t, 5*time.Second), handlers{"org.test.Other": func(context.Context, cloudevents.Event, cloudevents.EventResponseWriter) error { return nil }})
	if !errors.Is(err, cloudevents.ErrAlreadyListening) {
		t.Errorf("second Listen on the stream and group: %v, %v", s, err)
	}

	wgDone := make(chan struct{})
	go func() { wg.Wait(); close(wgDone) }()
	cancel() // starts the drain
	// Events published meanwhile go to a second instance.
	second := newCounter()
	listen(t, eventConn(t, cfg), handlers{"org.test.D": second.handler()})
	time.Sleep(300 * time.Millisecond) // let the first instance stop polling
	stoppedFlag.Store(true)
	publishN(t, pub, "org.test.D", 20, 30)
	waitCount(t, "second instance", second.distinct, 10, 10*time.Second)
	select {
	case <-wgDone:
		t.Fatal("wg.Done before the handlers finished")
	default:
	}
	close(release)
	select {
	case <-wgDone:
	case <-time.After(10 * time.Second):
		t.Fatal("wg.Done not called after the handlers finished")
	}
	if finished.Load() != 20 || afterStop.Load() != 0 {
		t.Errorf("finished %d of 20; %d handlers started after the stop", finished.Load(), afterStop.Load())
	}
	// They were acknowledged: nothing comes back to the group.
	time.Sleep(1500 * time.Millisecond) // a wait for nothing to happen
	second.mu.Lock()
	defer second.mu.Unlock()
	for i := range 20 {
		if second.seen[strconv.Itoa(i)] > 0 {
			t.Errorf("event %d, handled by the drained instance, came back", i)
		}
	}
}

func TestCEGracefulDrainSignals(t *testing.T) {
	srv := newServer(t)
	e := eventConn(t, durableCfg(srv, adaptertest.UniqueName("sig"), "svc"))
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s, err := e.Subscribe(ctxFor(t, 5*time.Second), handlers{"org.test.Sig": func(context.Context, cloudevents.Event, cloudevents.EventResponseWriter) error {
		entered <- struct{}{}
		<-release
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, e, "org.test.Sig", 0, 1)
	<-entered
	drained := make(chan error, 1)
	go func() { drained <- s.Drain(ctxFor(t, 10*time.Second)) }()
	select {
	case <-s.Stopped():
	case <-time.After(5 * time.Second):
		t.Fatal("Stopped not closed")
	}
	select {
	case <-s.Done():
		t.Fatal("Done closed while a handler runs")
	default:
	}
	if s.InFlight() != 1 {
		t.Errorf("InFlight %d", s.InFlight())
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	<-s.Done()
}

func TestCEDrainTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		assume *bool
	}{{"acked", nil}, {"fallback", boolPtr(false)}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			stream := adaptertest.UniqueName("dto")
			cfg := durableCfg(srv, stream, "svc")
			cfg.AssumeHerald, cfg.AckWait = tc.assume, 30*time.Second
			a := eventConn(t, cfg)
			entered := make(chan struct{}, 10)
			s, err := a.Subscribe(ctxFor(t, 5*time.Second), handlers{"org.test.Block": func(ctx context.Context, ev cloudevents.Event, _ cloudevents.EventResponseWriter) error {
				entered <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}})
			if err != nil {
				t.Fatal(err)
			}
			if tc.assume != nil {
				// The group fallback may miss the first moments (§6 item 1).
				time.Sleep(500 * time.Millisecond) // no readiness signal exists on this path
			}
			publishN(t, a, "org.test.Block", 0, 1)
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("not handled")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = s.Drain(ctx)
			var de *cloudevents.DrainError
			if !errors.As(err, &de) || !errors.Is(err, cloudevents.ErrDrainTimeout) || de.Unfinished != 1 {
				t.Fatalf("drain: %v", err)
			}
			if tc.assume == nil {
				if de.Returned != 1 {
					t.Errorf("acked drain error %+v, want Returned 1", de)
				}
				c := newCounter()
				listen(t, eventConn(t, cfg), handlers{"org.test.Block": c.handler()})
				waitCount(t, "redelivered to another instance", c.total, 1, 10*time.Second)
			} else if de.Lost != 1 {
				t.Errorf("fallback drain error %+v, want Lost 1", de)
			}
		})
	}
}

func TestCEListenCtxDoesNotAbortHandlers(t *testing.T) {
	srv := newServer(t)
	cfg := durableCfg(srv, adaptertest.UniqueName("ctx"), "svc")
	cfg.DrainTimeout, cfg.AckWait = 1500*time.Millisecond, 30*time.Second
	e := eventConn(t, cfg)
	entered := make(chan context.Context, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if err := e.Listen(ctx, handlers{"org.test.Ctx": func(hctx context.Context, _ cloudevents.Event, _ cloudevents.EventResponseWriter) error {
		entered <- hctx
		<-hctx.Done()
		return hctx.Err()
	}}, &wg); err != nil {
		t.Fatal(err)
	}
	publishN(t, e, "org.test.Ctx", 0, 1)
	hctx := <-entered
	start := time.Now()
	cancel()
	time.Sleep(500 * time.Millisecond) // the handler's context must outlive Listen's
	if hctx.Err() != nil {
		t.Fatalf("handler context ended %v after Listen's was cancelled: %v", time.Since(start), hctx.Err())
	}
	<-hctx.Done()
	if d := time.Since(start); d < 1400*time.Millisecond || d > 3*time.Second {
		t.Errorf("handler context ended %v after the cancel, want DrainTimeout 1.5 s", d)
	}
	wg.Wait()
}
