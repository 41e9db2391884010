package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/client"
)

// phase is one measured part of a scenario and the driver every scenario
// runs its load with: one worker per client, each taking up to take
// messages from the quota and doing them in a step, until the quota ends,
// stop reports true, nothing was done for idle, or ctx ends. Steps report
// what they did through their worker, which counts the messages, keeps the
// latency samples and the first error, and moves the progress bar.
//
// A scenario fills in a phase (b.phase gives the defaults), calls run once
// and completes the Result it returns.
type phase struct {
	name    string
	clients []*client.Client
	// quota hands out the messages; nil: steps of take messages go on
	// until stop, idle or ctx ends the phase.
	quota *quota
	// take is how many messages a step takes from the quota at most.
	take int
	// stop, when set, ends the phase once it reports true; it is checked
	// before every step.
	stop func() bool
	// idle, when above 0, ends the phase when no message was done for
	// this long.
	idle time.Duration
	// start begins worker w in its goroutine and returns its step, called
	// with k messages until the phase ends, and end, called once after the
	// last step (nil: nothing to end). each makes one from a plain step.
	start func(ctx context.Context, w *worker) (step func(ctx context.Context, k int), end func())

	// size is the payload bytes of one message (0: Bytes stays 0).
	size int
	// latencyOf says what one latency sample measures.
	latencyOf string
	// prog counts the messages done; nil: they are not counted (another
	// part of the scenario counts its own).
	prog *progress
	// bar draws prog's bar for this phase toward total messages (0: the
	// quota's count, or its duration); false: the scenario draws it.
	bar      bool
	total    int64
	duration time.Duration

	t       tally
	began   time.Time
	workers []*worker
}

// phase returns a phase of the run's clients with the run's quota, size
// and progress bar; the scenario sets start and what else differs.
func (b *Bench) phase(ctx context.Context, name string, clients []*client.Client) *phase {
	return &phase{
		name: name, clients: clients, quota: b.newQuota(ctx), take: 1,
		size: b.cfg.Size, prog: b.prog, bar: true, total: int64(b.cfg.Count), duration: b.cfg.Duration,
	}
}

// each makes a phase's start from a step that needs no set-up.
func each(step func(ctx context.Context, w *worker, k int)) func(context.Context, *worker) (func(context.Context, int), func()) {
	return func(_ context.Context, w *worker) (func(context.Context, int), func()) {
		return func(ctx context.Context, k int) { step(ctx, w, k) }, nil
	}
}

// run drives the phase to its end and returns its result: the messages
// done, their payload bytes, the errors, and throughput and latency over
// the time from the start to the last message done. Publishers and
// Subscribers are the scenario's to fill.
func (p *phase) run(ctx context.Context) Result {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.t.prog = p.prog
	if p.bar && p.prog != nil {
		p.prog.start(p.name, p.total, p.duration)
	}
	p.began = time.Now()
	var wg sync.WaitGroup
	for i, c := range p.clients {
		w := &worker{i: i, c: c, ctx: pctx, t: &p.t}
		p.workers = append(p.workers, w)
		wg.Go(func() {
			step, end := p.start(pctx, w)
			if end != nil {
				defer end()
			}
			for !w.quit.Load() && pctx.Err() == nil && !p.over() {
				k := p.take
				if p.quota != nil {
					if k = p.quota.take(p.take); k == 0 {
						return
					}
				}
				step(pctx, k)
			}
		})
	}
	wg.Wait()
	hists := make([]*histogram, len(p.workers))
	for i, w := range p.workers {
		hists[i] = &w.hist
	}
	return p.t.result(p.name, p.began, p.size, p.latencyOf, merged(hists))
}

// over reports whether stop or idle ends the phase.
func (p *phase) over() bool {
	if p.stop != nil && p.stop() {
		return true
	}
	if p.idle <= 0 {
		return false
	}
	last := p.began
	if ns := p.t.last.ns.Load(); ns > last.UnixNano() {
		last = time.Unix(0, ns)
	}
	return time.Since(last) > p.idle
}

// done is how many messages the phase did so far.
func (p *phase) done() int64 { return p.t.done.Load() }

// worker is one client of a phase, as its step sees it. Its methods are
// safe for concurrent use, so that a goroutine of the step (a stream's
// result reader) may report too.
type worker struct {
	i   int
	c   *client.Client
	ctx context.Context // an error after it ended is an interruption, not a failure
	t   *tally

	mu   sync.Mutex
	hist histogram
	quit atomic.Bool
}

// did records that n messages were done, with latency as one latency
// sample when it is above 0.
func (w *worker) did(n int, latency time.Duration) {
	if latency > 0 {
		w.mu.Lock()
		w.hist.record(latency)
		w.mu.Unlock()
	}
	w.t.add(int64(n), time.Now())
}

// fail counts n failed messages or calls (0: the error only) and keeps
// err if it is the first.
func (w *worker) fail(err error, n int) { w.t.errs.add(w.ctx, err, int64(n)) }

// stop ends the worker after its current step.
func (w *worker) stop() { w.quit.Store(true) }

// tally counts what a phase, or the subscribers of a scenario, did: the
// messages, the time of the last one and the errors.
type tally struct {
	done atomic.Int64
	last latestTime
	errs errCount
	prog *progress // nil: not counted in the progress bar
}

func (t *tally) add(n int64, at time.Time) {
	t.done.Add(n)
	t.last.store(at)
	if t.prog != nil {
		t.prog.add(n)
	}
}

// result is the tally as a line of the report, timed from start to the
// last message.
func (t *tally) result(name string, start time.Time, size int, latencyOf string, h *histogram) Result {
	r := Result{Name: name, Messages: t.done.Load(), LatencyOf: latencyOf}
	r.Bytes = r.Messages * int64(size)
	t.errs.fill(&r)
	r.finish(t.last.since(start), h)
	return r
}

// errCount counts failed calls and keeps the first error.
type errCount struct {
	n     atomic.Int64
	mu    sync.Mutex
	first error
}

// add counts err unless ctx ended (an interrupted run is not a failure).
func (e *errCount) add(ctx context.Context, err error, n int64) {
	if ctx.Err() != nil {
		return
	}
	e.n.Add(n)
	e.mu.Lock()
	if e.first == nil {
		e.first = err
	}
	e.mu.Unlock()
}

func (e *errCount) fill(r *Result) {
	r.Errors = e.n.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first != nil {
		r.FirstErr = oneLine(e.first)
	}
}

// latestTime keeps the latest of the times stored.
type latestTime struct{ ns atomic.Int64 }

func (l *latestTime) store(t time.Time) {
	ns := t.UnixNano()
	for {
		old := l.ns.Load()
		if ns <= old || l.ns.CompareAndSwap(old, ns) {
			return
		}
	}
}

// since is the time from start to the latest time stored, or to now when
// none was.
func (l *latestTime) since(start time.Time) time.Duration {
	if ns := l.ns.Load(); ns != 0 {
		return time.Unix(0, ns).Sub(start)
	}
	return time.Since(start)
}
