package bench

import (
	"context"
	"sync/atomic"
	"time"
)

// quota hands out the messages of a phase: a count in all, until a
// duration ends, or until ctx ends; with a rate it paces them. It is safe
// for concurrent use.
type quota struct {
	left     atomic.Int64
	limited  bool
	deadline time.Time
	ctx      context.Context
	// pacing: message i is due at start + i*interval
	interval time.Duration
	start    time.Time
	issued   atomic.Int64
}

// newQuota returns a quota of count messages (0: no limit) for duration
// (0: no limit) at rate messages per second (0: unpaced), from now.
func newQuota(ctx context.Context, count int, duration time.Duration, rate float64) *quota {
	q := &quota{limited: count > 0, ctx: ctx, start: time.Now()}
	q.left.Store(int64(count))
	if duration > 0 {
		q.deadline = q.start.Add(duration)
	}
	if rate > 0 {
		q.interval = time.Duration(float64(time.Second) / rate)
	}
	return q
}

// newQuota is the quota of --count, --duration and --rate.
func (b *Bench) newQuota(ctx context.Context) *quota {
	return newQuota(ctx, b.cfg.Count, b.cfg.Duration, float64(b.cfg.Rate))
}

// chunk is how many messages a streaming publisher takes at once: one when
// paced, so that pacing does not send bursts.
func (b *Bench) chunk() int {
	if b.cfg.Rate > 0 {
		return 1
	}
	return takeChunk
}

// take returns how many of n messages may be sent now, waiting for them
// when paced; 0 means stop.
func (q *quota) take(n int) int {
	if q.ctx.Err() != nil || (!q.deadline.IsZero() && time.Now().After(q.deadline)) {
		return 0
	}
	k := int64(n)
	if q.limited {
		for {
			left := q.left.Load()
			if left <= 0 {
				return 0
			}
			k = min(left, int64(n))
			if q.left.CompareAndSwap(left, left-k) {
				break
			}
		}
	}
	if q.interval > 0 {
		due := q.start.Add(time.Duration(q.issued.Add(k)-k) * q.interval)
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-q.ctx.Done():
				return 0
			}
		}
	}
	return int(k)
}
