package cloudevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
)

// conn is what QueryConn and EventConn share: the client, the settings,
// the subscriptions, and the close and drain state.
type conn struct {
	s     settings
	cl    *client.Client
	owned bool
	log   *slog.Logger

	ctx    context.Context // ends on Close: handler contexts derive from it
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	subs    map[*Subscription]struct{}
	ops     sync.WaitGroup // Publish and writer calls in progress
	qs      *queuesstream.QueuesStreamClient
	closers []func()
}

func newConn(cfg Config) (*conn, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	cl, owned, err := s.dial()
	if err != nil {
		return nil, err
	}
	c := &conn{s: s, cl: cl, owned: owned, subs: map[*Subscription]struct{}{}}
	c.log = s.Logger.With("client_id", s.ClientID)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// begin registers an operation; end it with the returned func.
func (c *conn) begin() (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.ops.Add(1)
	return c.ops.Done, nil
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// addSub records a running subscription; it is forgotten when it ends.
func (c *conn) addSub(s *Subscription) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	s.whenEnded(func() {
		c.mu.Lock()
		delete(c.subs, s)
		c.mu.Unlock()
	})
	return nil
}

func (c *conn) subscriptions() []*Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Subscription, 0, len(c.subs))
	for s := range c.subs {
		out = append(out, s)
	}
	return out
}

// onClose registers fn to run when the connection closes or drains, after
// the subscriptions stopped.
func (c *conn) onClose(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closers = append(c.closers, fn)
}

// drain drains every subscription, runs the closers, waits for operations
// in progress and closes the connection.
func (c *conn) drain(ctx context.Context) error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range c.subscriptions() {
		wg.Go(func() {
			if err := s.Drain(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	c.shutdown(false)
	return errors.Join(errs...)
}

// shutdown closes the connection; hard stops the subscriptions at once.
func (c *conn) shutdown(hard bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	closers := c.closers
	c.mu.Unlock()
	for _, s := range c.subscriptions() {
		if hard {
			s.close()
		} else {
			s.beginDrain()
			s.hcancel()
			<-s.done
		}
	}
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	c.cancel()
	c.ops.Wait()
	c.mu.Lock()
	qs := c.qs
	c.mu.Unlock()
	if qs != nil {
		_ = qs.Close()
	}
	if c.owned {
		_ = c.cl.Close()
	}
}

// queues returns the queue-stream client over the connection.
func (c *conn) queues() (*queuesstream.QueuesStreamClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.qs == nil {
		qs, err := queuesstream.FromClient(c.cl)
		if err != nil {
			return nil, fmt.Errorf("cloudevents: queue streams: %w", err)
		}
		c.qs = qs
	}
	return c.qs, nil
}

// prepare fills the missing source, id and time of a copy of ce and
// validates it and its type.
func (c *conn) prepare(ce Event) (Event, error) {
	ce, err := c.fill(ce)
	if err != nil {
		return Event{}, err
	}
	if err := validType(ce.Type()); err != nil {
		return Event{}, err
	}
	return ce, nil
}

// fill fills the missing source, id and time of a copy of ce and validates it.
func (c *conn) fill(ce Event) (Event, error) {
	if ce.Context == nil {
		return Event{}, fmt.Errorf("%w: no context", ErrInvalidEvent)
	}
	ce = ce.Clone()
	if ce.Source() == "" || ce.Source() == AutoPopulateCloudEventSource {
		ce.SetSource(c.s.ClientID)
	}
	if ce.ID() == "" {
		ce.SetID(newEventID())
	}
	if ce.Time().IsZero() {
		ce.SetTime(time.Now().UTC())
	}
	if err := ce.Validate(); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return ce, nil
}

// publish stores ce on its events channel, retrying transport failures
// with the same id until EventsTimeout or ctx ends.
func (c *conn) publish(ctx context.Context, ce Event) error {
	done, err := c.begin()
	if err != nil {
		return err
	}
	defer done()
	ce, err = c.prepare(ce)
	if err != nil {
		return err
	}
	ce = withTraceContext(ctx, ce)
	w, err := Encode(ce, c.s.Encoding)
	if err != nil {
		return err
	}
	return c.store(ctx, c.s.eventsChannel(EventType(ce.Type())), w)
}

func (c *conn) store(ctx context.Context, channel string, w Wire) error {
	ctx, cancel := context.WithTimeout(ctx, c.s.EventsTimeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		res, err := c.cl.ES().SetId(w.ID).SetChannel(channel).SetMetadata(w.Metadata).SetBody(w.Body).SetTags(w.Tags).Send(ctx)
		if err == nil && res.Err != nil {
			err = res.Err
		}
		if err == nil && !res.Sent {
			err = errors.New("not stored")
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctxErr(fmt.Sprintf("publish %s to %s", w.ID, channel), ctx, err)
		}
		if !errors.Is(err, client.ErrUnavailable) {
			return fmt.Errorf("cloudevents: publish %s to %s: %w", w.ID, channel, err)
		}
		select {
		case <-ctx.Done():
			return ctxErr(fmt.Sprintf("publish %s to %s", w.ID, channel), ctx, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// ctxErr is the error of an operation whose context ended: it wraps
// ctx.Err(), ErrTimeout for a deadline, and the last error seen.
func ctxErr(op string, ctx context.Context, last error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if last != nil {
			return fmt.Errorf("cloudevents: %s: %w: %w (last error: %w)", op, ErrTimeout, ctx.Err(), last)
		}
		return fmt.Errorf("cloudevents: %s: %w: %w", op, ErrTimeout, ctx.Err())
	}
	if last != nil {
		return fmt.Errorf("cloudevents: %s: %w (last error: %w)", op, ctx.Err(), last)
	}
	return fmt.Errorf("cloudevents: %s: %w", op, ctx.Err())
}

// backoff returns the wait before retry n (1, 2, …): 100 ms doubling,
// capped at limit.
func backoff(n int, limit time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return max(min(d, limit), time.Millisecond)
}
