package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldmq/herald/client"
)

// writer is the NonBlocking side of a handle: a bounded queue of messages
// that one goroutine sends in order.
type writer struct {
	queue  chan outgoing
	ctx    context.Context // the sending goroutine's; ended after the flush of Disconnect
	cancel context.CancelFunc

	mu      sync.Mutex
	pending int // queued or being sent
	failed  int
	first   error
	changed chan struct{}
}

type outgoing struct {
	id  string
	msg string
	sc  trace.SpanContext // the writer's trace context, sent with the message
}

func (c *Conn) startWriter() {
	if c.cfg.Blocking != NonBlocking {
		c.w = &writer{changed: make(chan struct{})}
		return
	}
	w := &writer{queue: make(chan outgoing, c.cfg.WriteBufferSize), changed: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	c.w = w
	c.wg.Go(func() {
		for {
			select {
			case <-w.ctx.Done():
				return
			case o := <-w.queue:
				ctx := w.ctx
				if o.sc.IsValid() {
					ctx = trace.ContextWithSpanContext(ctx, o.sc)
				}
				err := c.sendRetry(ctx, o.id, o.msg)
				if err != nil {
					c.log.Warn("bus: queued write failed", "err", err)
				}
				w.done(err)
			}
		}
	})
}

// done records the end of one queued write.
func (w *writer) done(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending--
	if err != nil {
		if w.failed == 0 {
			w.first = err
		}
		w.failed++
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// MessageWrite sends msg to the topic. Blocking: it returns once the broker
// stored it (PatternEventsStore, PatternQueue) or accepted it
// (PatternEvents), retrying transport failures with the same message id
// until WriteTimeout. NonBlocking: it returns once msg is queued locally, or
// ErrWriteBufferFull at once; Flush and Disconnect report failed sends.
func (c *Conn) MessageWrite(msg string) error {
	return c.MessageWriteContext(context.Background(), msg)
}

// MessageWriteContext is MessageWrite that also returns when ctx ends, with
// an error wrapping ctx.Err(). The trace context of ctx's span travels with
// the message (W3C traceparent and tracestate tags), also when it is sent
// later from the NonBlocking queue.
func (c *Conn) MessageWriteContext(ctx context.Context, msg string) error {
	if err := c.check(false); err != nil {
		return err
	}
	if msg == "" {
		return ErrEmptyMessage
	}
	w := c.w
	if w.queue == nil {
		return c.sendRetry(ctx, newID(), msg)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.closing.Load() {
		return ErrClosed
	}
	select {
	case w.queue <- outgoing{id: newID(), msg: msg, sc: trace.SpanContextFromContext(ctx)}:
		w.pending++
		return nil
	default:
		return ErrWriteBufferFull
	}
}

// Flush waits until every message a NonBlocking writer queued has been sent
// or has failed, or ctx ends. It returns a *WriteError for the sends that
// failed since the last Flush.
func (c *Conn) Flush(ctx context.Context) error {
	if err := c.check(false); err != nil {
		return err
	}
	return c.flush(ctx)
}

func (c *Conn) flush(ctx context.Context) error {
	w := c.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.pending > 0 {
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			w.mu.Lock()
			return fmt.Errorf("bus: flush: %d message(s) not sent yet: %w", w.pending, ctx.Err())
		}
		w.mu.Lock()
	}
	if w.failed == 0 {
		return nil
	}
	err := &WriteError{Failed: w.failed, First: w.first}
	w.failed, w.first = 0, nil
	return err
}

// stopWriter flushes a NonBlocking writer within WriteTimeout and stops it;
// what is still queued then counts as failed.
func (c *Conn) stopWriter() error {
	w := c.w
	if w.queue == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.WriteTimeout)
	err := c.flush(ctx)
	cancel()
	if err == nil {
		w.cancel()
		return nil
	}
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	var we *WriteError
	if errors.As(err, &we) {
		return we
	}
	// Not flushed in time: the unsent messages are lost.
	failed, first := w.failed+w.pending, w.first
	if first == nil {
		first = fmt.Errorf("bus: not sent within %v before disconnect: %w", c.cfg.WriteTimeout, client.ErrTimeout)
	}
	return &WriteError{Failed: failed, First: first}
}

// sendRetry sends one message, retrying failures that may pass with the
// same id (deduplicated by Herald) until WriteTimeout or ctx ends.
func (c *Conn) sendRetry(ctx context.Context, id, msg string) error {
	tctx, cancel := context.WithTimeout(ctx, c.cfg.WriteTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	var last error
	var closed <-chan struct{}
	if c.w.queue == nil { // a Blocking write: Disconnect ends it
		closed = c.done
	}
	for {
		err := c.sendOnce(tctx, id, msg)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bus: write to %s: %w", c.cfg.Topic, ctx.Err())
		}
		if permanent(err) {
			return fmt.Errorf("bus: write to %s: %w", c.cfg.Topic, err)
		}
		if tctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-tctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("bus: write to %s: %w", c.cfg.Topic, ctx.Err())
			}
			if errors.Is(last, client.ErrTimeout) {
				return fmt.Errorf("bus: write to %s not confirmed within %v: %w", c.cfg.Topic, c.cfg.WriteTimeout, last)
			}
			return fmt.Errorf("bus: write to %s not confirmed within %v: %w: %w", c.cfg.Topic, c.cfg.WriteTimeout, client.ErrTimeout, last)
		case <-closed:
			return ErrClosed
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// sendOnce sends one message on the handle's pattern.
func (c *Conn) sendOnce(ctx context.Context, id, msg string) error {
	body := []byte(msg)
	switch c.cfg.Pattern {
	case PatternEvents:
		return c.cl.E().SetId(id).SetChannel(c.cfg.Topic).SetBody(body).Send(ctx)
	case PatternQueue:
		res, err := c.cl.NewQueueMessage().SetId(id).SetChannel(c.cfg.Topic).SetBody(body).Send(ctx)
		if err != nil {
			return err
		}
		return res.Err()
	default:
		res, err := c.cl.ES().SetId(id).SetChannel(c.cfg.Topic).SetBody(body).Send(ctx)
		if err != nil {
			return err
		}
		if !res.Sent {
			if res.Err != nil {
				return res.Err
			}
			return errors.New("events store: not stored")
		}
		return nil
	}
}
