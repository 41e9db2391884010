package cloudevents

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ListenOption tunes Subscribe.
type ListenOption func(*listenOptions)

type listenOptions struct {
	workers int
	buffer  int
	set     bool
}

// Workers sets the number of handler goroutines: 0 (default) handles
// messages one at a time in order, as Listen does (one goroutine per
// transport); n > 0 runs a pool of n over one buffer, without order, as
// ListenWithConcurrentWorkers does.
func Workers(n int) ListenOption { return func(o *listenOptions) { o.workers = n; o.set = true } }

// Buffer sets how many received messages wait for a handler (for
// acknowledged listeners, the prefetch); 0 → 16.
func Buffer(n int) ListenOption { return func(o *listenOptions) { o.buffer = n } }

func listenOptionsOf(opts []ListenOption) listenOptions {
	var o listenOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// listenUntil starts a listener with subscribe and ties it to wg (Done once
// it ended) and to ctx (drained within drain when ctx ends): the Listen
// methods of both connections.
func listenUntil(ctx context.Context, wg *sync.WaitGroup, drain time.Duration, subscribe func(context.Context) (*Subscription, error)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	s, err := subscribe(ctx)
	if err != nil {
		return err
	}
	if wg != nil {
		wg.Add(1)
		s.whenEnded(wg.Done)
	}
	s.drainOn(ctx, drain)
	return nil
}

func (o *listenOptions) validate() error {
	if o.workers < 0 || o.buffer < 0 {
		return ErrInvalidOption
	}
	if o.buffer == 0 {
		o.buffer = 16
	}
	return nil
}

// Subscription is the handle of a running listener: Listen keeps one
// internally (and signals its WaitGroup); Subscribe returns it. It is safe
// for concurrent use.
//
// Life cycle: Drain (or cancelling Listen's context, or the connection's
// Drain or Close) stops incoming messages; Stopped closes once no further
// message can arrive; handlers already running keep their contexts; Done
// closes once every handler has returned. A drain whose context ends first
// cancels the running handlers' contexts and reports a *DrainError.
type Subscription struct {
	log *slog.Logger

	stopped chan struct{} // no message can arrive any more
	done    chan struct{} // every worker has exited
	ended   chan struct{} // done, or a drain timed out

	tctx    context.Context // transports run under it; cancelled to stop
	tcancel context.CancelFunc
	hctx    context.Context // parent of handler contexts
	hcancel context.CancelFunc

	lanes      []chan *task
	workersPer int
	releasable bool // tasks are acknowledged deliveries: NAck them when draining

	producers sync.WaitGroup
	workers   sync.WaitGroup
	inflight  atomic.Int64
	draining  atomic.Bool
	aborted   atomic.Bool
	drainSig  chan struct{}

	mu       sync.Mutex
	running  map[*task]struct{}
	err      error
	drainErr error
	onEnd    []func()

	drainOnce sync.Once
	stopOnce  sync.Once
	endOnce   sync.Once
	abortOnce sync.Once
}

// task is one received message on its way to a handler.
type task struct {
	// exec runs the handler (with its retries) and settles the message.
	exec func(t *task)
	// release, for acknowledged deliveries, returns the message to the
	// group at once (NAck) instead of running it.
	release func()

	mu        sync.Mutex
	cancel    context.CancelFunc // of the running handler's context
	abandoned bool               // a drain timed out while it ran
	settle    func() bool        // abandon's settlement: true if returned to the group
}

// setCancel records the running handler's cancel func; it reports false
// (and cancels at once) when the task was abandoned.
func (t *task) setCancel(cancel context.CancelFunc) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cancel = cancel
	if t.abandoned {
		cancel()
		return false
	}
	return true
}

// isAbandoned reports whether a drain gave up on the task.
func (t *task) isAbandoned() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.abandoned
}

// abandon cancels the handler and returns the message to the group when it
// can; it reports whether it did.
func (t *task) abandon() bool {
	t.mu.Lock()
	t.abandoned = true
	cancel, settle := t.cancel, t.settle
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if settle != nil {
		return settle()
	}
	return false
}

func newSubscription(parent context.Context, log *slog.Logger, lanes, workersPer, buffer int, releasable bool) *Subscription {
	s := &Subscription{
		log: log, stopped: make(chan struct{}), done: make(chan struct{}), ended: make(chan struct{}),
		workersPer: workersPer, releasable: releasable, drainSig: make(chan struct{}), running: map[*task]struct{}{},
	}
	s.tctx, s.tcancel = context.WithCancel(parent)
	s.hctx, s.hcancel = context.WithCancel(parent)
	for range lanes {
		s.lanes = append(s.lanes, make(chan *task, buffer))
	}
	return s
}

// produce runs fn as a transport goroutine; when every transport has
// returned, Stopped closes and the lanes close.
func (s *Subscription) produce(fn func()) {
	s.producers.Add(1)
	go func() {
		defer s.producers.Done()
		fn()
	}()
}

// start runs the workers; call it after the transports were added.
func (s *Subscription) start() {
	for _, lane := range s.lanes {
		for range s.workersPer {
			s.workers.Add(1)
			go s.work(lane)
		}
		if s.releasable {
			s.workers.Add(1)
			go s.releaseOnDrain(lane)
		}
	}
	go func() {
		s.producers.Wait()
		close(s.stopped)
		for _, lane := range s.lanes {
			close(lane)
		}
		s.workers.Wait()
		s.hcancel()
		close(s.done)
		s.finish()
	}()
}

func (s *Subscription) work(lane chan *task) {
	defer s.workers.Done()
	for t := range lane {
		if t.release != nil && (s.draining.Load() || s.aborted.Load()) {
			t.release()
			continue
		}
		if s.aborted.Load() {
			continue // lost: counted by nobody, its handler never started
		}
		s.mu.Lock()
		s.running[t] = struct{}{}
		s.mu.Unlock()
		s.inflight.Add(1)
		t.exec(t)
		s.inflight.Add(-1)
		s.mu.Lock()
		delete(s.running, t)
		s.mu.Unlock()
	}
}

// releaseOnDrain returns buffered acknowledged deliveries at once when a
// drain starts, while the workers finish what they run.
func (s *Subscription) releaseOnDrain(lane chan *task) {
	defer s.workers.Done()
	select {
	case <-s.drainSig:
	case <-s.stopped:
		if !s.draining.Load() {
			return
		}
	}
	for t := range lane {
		t.release()
	}
}

// stop ends the transports: no new message arrives.
func (s *Subscription) stop() {
	s.stopOnce.Do(s.tcancel)
}

func (s *Subscription) beginDrain() {
	s.drainOnce.Do(func() {
		s.draining.Store(true)
		close(s.drainSig)
	})
	s.stop()
}

// fail records why the subscription ended on its own and starts a drain
// bounded by timeout.
func (s *Subscription) fail(err error, timeout time.Duration) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.log.Warn("cloudevents: subscription ended", "err", err)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = s.Drain(ctx)
	}()
}

// finish runs once when the subscription has ended (done, or a drain gave up).
func (s *Subscription) finish() {
	s.endOnce.Do(func() {
		close(s.ended)
		s.mu.Lock()
		fns := s.onEnd
		s.mu.Unlock()
		for _, fn := range fns {
			fn()
		}
	})
}

// abort is the end of a drain whose deadline passed.
func (s *Subscription) abort() {
	s.abortOnce.Do(func() {
		s.aborted.Store(true)
		s.mu.Lock()
		running := make([]*task, 0, len(s.running))
		for t := range s.running {
			running = append(running, t)
		}
		s.mu.Unlock()
		de := &DrainError{Unfinished: len(running)}
		for _, t := range running {
			if t.abandon() {
				de.Returned++
			} else {
				de.Lost++
			}
		}
		s.hcancel()
		s.mu.Lock()
		s.drainErr = de
		s.mu.Unlock()
		s.finish()
	})
}

// Stopped is closed once no new message can arrive.
func (s *Subscription) Stopped() <-chan struct{} { return s.stopped }

// Done is closed once the subscription has stopped and every handler it
// started has returned.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// InFlight returns the number of handlers running now.
func (s *Subscription) InFlight() int { return int(s.inflight.Load()) }

// Drain stops incoming messages and waits until every running handler has
// returned (then it returns nil) or ctx ends. Messages received but not
// started are returned to the group at once by acknowledged listeners, and
// started by the others. When ctx ends first, the running handlers'
// contexts are cancelled, their events are not acknowledged, and Drain
// returns a *DrainError. Drain may be called again; later calls wait for
// the same end.
func (s *Subscription) Drain(ctx context.Context) error {
	s.beginDrain()
	select {
	case <-s.done:
	case <-s.ended:
	case <-ctx.Done():
		select {
		case <-s.done:
		default:
			s.abort()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drainErr
}

// close stops the subscription now: handler contexts are cancelled and
// close waits for the handlers to return.
func (s *Subscription) close() {
	s.beginDrain()
	s.hcancel()
	<-s.stopped
	s.abort()
	<-s.done
}

// Err reports why the subscription ended by itself (the connection was
// closed, or gave up reconnecting: the error wraps client.ErrClientClosed);
// nil while it runs or when it was drained or closed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// whenEnded registers fn to run once the subscription has ended.
func (s *Subscription) whenEnded(fn func()) {
	s.mu.Lock()
	select {
	case <-s.ended:
		s.mu.Unlock()
		fn()
		return
	default:
	}
	s.onEnd = append(s.onEnd, fn)
	s.mu.Unlock()
}

// drainOn starts a drain bounded by timeout when ctx ends.
func (s *Subscription) drainOn(ctx context.Context, timeout time.Duration) {
	if ctx.Done() == nil {
		return
	}
	go func() {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_ = s.Drain(dctx)
		case <-s.ended:
		}
	}()
}

// handlerKey finds the handler context of an event handler.
type handlerKey struct{}

// handlerCtx is an event handler's context. It ends AckWait after the
// start, a time InProgress moves, so it reports no Deadline (successive
// Deadline calls must agree): HandlerDeadline tells the current one.
type handlerCtx struct {
	context.Context
	cancel  context.CancelCauseFunc
	ackWait time.Duration
	lease   *lease // acknowledged deliveries only

	mu       sync.Mutex
	deadline time.Time
	timer    *time.Timer
}

func newHandlerCtx(parent context.Context, ackWait time.Duration, l *lease) *handlerCtx {
	ctx, cancel := context.WithCancelCause(parent)
	h := &handlerCtx{Context: ctx, cancel: cancel, ackWait: ackWait, lease: l, deadline: time.Now().Add(ackWait)}
	h.mu.Lock()
	h.timer = time.AfterFunc(ackWait, h.expire)
	h.mu.Unlock()
	return h
}

func (h *handlerCtx) expire() {
	h.mu.Lock()
	if left := time.Until(h.deadline); left > 0 {
		h.timer.Reset(left)
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	h.cancel(context.DeadlineExceeded)
}

// Err returns context.DeadlineExceeded when the handler's time ran out.
func (h *handlerCtx) Err() error {
	err := h.Context.Err()
	if err != nil && context.Cause(h.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}

// Value finds the handler context itself under handlerKey.
func (h *handlerCtx) Value(key any) any {
	if key == (handlerKey{}) {
		return h
	}
	return h.Context.Value(key)
}

func (h *handlerCtx) release() {
	h.mu.Lock()
	h.timer.Stop()
	h.mu.Unlock()
	h.cancel(context.Canceled)
}

func (h *handlerCtx) expired() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().After(h.deadline)
}

// InProgress, called from an event handler of an acknowledged listener,
// gives the handler another AckWait from now: its context ends that much
// later (see HandlerDeadline) and the event's visibility is extended
// (JetStream's in-progress acknowledgement). Elsewhere it returns
// ErrNotAcked.
func InProgress(ctx context.Context) error {
	h, _ := ctx.Value(handlerKey{}).(*handlerCtx)
	if h == nil || h.lease == nil {
		return ErrNotAcked
	}
	if err := h.lease.extend(); err != nil {
		return err
	}
	h.mu.Lock()
	h.deadline = time.Now().Add(h.ackWait)
	h.mu.Unlock()
	return nil
}

// HandlerDeadline returns when the context of the event handler that ctx
// belongs to ends unless InProgress extends it: AckWait after the handler
// started or after the last InProgress. ok is false outside an event
// handler. The handler's context itself reports no Deadline, as its end
// moves; a call that must finish in time can take its timeout from here.
func HandlerDeadline(ctx context.Context) (deadline time.Time, ok bool) {
	h, _ := ctx.Value(handlerKey{}).(*handlerCtx)
	if h == nil {
		return time.Time{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deadline, true
}
