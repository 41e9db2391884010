package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
)

// TestPhaseDriver runs phases whose steps need no broker.
func TestPhaseDriver(t *testing.T) {
	ctx := context.Background()
	clients := make([]*client.Client, 3)

	t.Run("QuotaAndErrors", func(t *testing.T) {
		var steps atomic.Int64
		p := &phase{name: "x", clients: clients, quota: newQuota(ctx, 100, 0, 0), take: 8, size: 10, latencyOf: "step"}
		p.start = each(func(_ context.Context, w *worker, k int) {
			if steps.Add(1) == 2 {
				w.fail(errors.New("boom\nagain"), k)
				return
			}
			w.did(k, time.Millisecond)
		})
		r := p.run(ctx)
		if r.Messages+r.Errors != 100 || r.Errors == 0 || r.Bytes != r.Messages*10 || r.FirstErr != "boom; again" {
			t.Errorf("result %+v", r)
		}
		if r.Latency == nil || r.Latency.Max < 0.99 || r.Latency.Max > 1.01 || r.LatencyOf != "step" {
			t.Errorf("latency %+v of %q", r.Latency, r.LatencyOf)
		}
	})
	t.Run("StopAndEnd", func(t *testing.T) {
		var ends atomic.Int64
		p := &phase{name: "x", clients: clients, take: 5}
		p.stop = func() bool { return p.done() >= 50 }
		p.start = func(_ context.Context, w *worker) (func(context.Context, int), func()) {
			return func(_ context.Context, k int) { w.did(k, 0) }, func() { ends.Add(1) }
		}
		r := p.run(ctx)
		if r.Messages < 50 || r.Messages > 50+3*5 || ends.Load() != 3 || r.Latency != nil {
			t.Errorf("%d messages, %d ends, latency %+v", r.Messages, ends.Load(), r.Latency)
		}
	})
	t.Run("Idle", func(t *testing.T) {
		start := time.Now()
		p := &phase{name: "x", clients: clients, take: 1, idle: 50 * time.Millisecond}
		p.start = each(func(ctx context.Context, _ *worker, _ int) {
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		})
		if r := p.run(ctx); r.Messages != 0 {
			t.Errorf("result %+v", r)
		}
		if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
			t.Errorf("an idle phase ended after %v", d)
		}
	})
	t.Run("WorkerStops", func(t *testing.T) {
		p := &phase{name: "x", clients: clients[:1], quota: newQuota(ctx, 0, time.Hour, 0), take: 1}
		p.start = each(func(_ context.Context, w *worker, _ int) {
			w.did(1, 0)
			if p.done() == 7 {
				w.stop()
			}
		})
		if r := p.run(ctx); r.Messages != 7 {
			t.Errorf("%d messages, want 7", r.Messages)
		}
	})
	t.Run("Interrupted", func(t *testing.T) {
		ictx, cancel := context.WithCancel(ctx)
		p := &phase{name: "x", clients: clients, quota: newQuota(ictx, 0, time.Hour, 0), take: 1}
		p.start = each(func(_ context.Context, w *worker, _ int) {
			cancel()
			w.fail(errors.New("cancelled"), 1)
		})
		if r := p.run(ictx); r.Errors != 0 {
			t.Errorf("an interrupted phase counted %d errors", r.Errors)
		}
	})
}
