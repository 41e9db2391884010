package bus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
)

// Timing of connect.
const (
	pingTimeout   = 5 * time.Second
	retryInterval = time.Second
	// reconnectInterval is the longest wait between two reconnect attempts
	// of the subscriptions of a connection the bus owns.
	reconnectInterval = time.Second
	// prefetch is how many messages acked reads fetch ahead.
	prefetch = 16
)

// Conn is a handle on one topic: a writer, a reader or both. It implements
// MsgBusIO and io.Closer; all its methods are safe for concurrent use.
// Writes from one goroutine keep their order. The callback runs on one
// goroutine owned by the Conn, never concurrently with itself.
type Conn struct {
	cfg    MsgBusConfig
	log    *slog.Logger
	cl     *client.Client
	owned  bool // cl was dialled by the Conn and is closed by it
	qs     *queuesstream.QueuesStreamClient
	herald bool
	acked  bool   // reads are acknowledged (PatternQueue, or H3 group reads)
	pollCh string // the queue channel acked reads poll

	done      chan struct{} // closed when Disconnect starts
	closing   atomic.Bool
	closeOnce sync.Once

	rctx       context.Context // the readers' sources; ended by Drain and Disconnect
	stopSource context.CancelFunc
	wg         sync.WaitGroup // every goroutine the Conn started

	// Reader state, guarded by mu.
	mu         sync.Mutex
	items      []*Message
	cb         CBFunc
	changed    chan struct{} // closed and replaced on every change of the reader state
	sourceDone bool          // the source goroutine has exited
	fatal      error         // the reader failed for good (channel deleted, refused)
	held       map[*Message]struct{}

	w *writer
}

var (
	_ MsgBusIO  = (*Conn)(nil)
	_ io.Closer = (*Conn)(nil)
)

// Connect connects for cfg: it validates the configuration, applies the
// defaults, connects with retries and, for readers, subscribes before it
// returns. On error the handle is nil (a nil interface).
func Connect(cfg MsgBusConfig) (MsgBusIO, error) {
	c, err := ConnectContext(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ConnectContext is Connect with a context bounding the connection attempts
// and the subscription. When it returns, a message written to the topic
// afterwards reaches the reader (see the package documentation for the
// exceptions of group readers on servers other than Herald and of
// PatternEvents groups).
func ConnectContext(ctx context.Context, cfg MsgBusConfig) (*Conn, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	cfg = withDefaults(cfg)
	c := &Conn{cfg: cfg, log: cfg.logger().With("channel", cfg.Topic, "client_id", cfg.ClientID), done: make(chan struct{}),
		changed: make(chan struct{}), held: map[*Message]struct{}{}}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		c.abort()
		return nil, err
	}
	return c, nil
}

// connect dials (unless cfg.Client is set) and detects Herald.
func (c *Conn) connect(ctx context.Context) error {
	if c.cfg.Client != nil {
		c.cl = c.cfg.Client
		if c.cfg.AssumeHerald != nil {
			c.herald = *c.cfg.AssumeHerald
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		info, err := c.cl.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("bus: connect: %w", ctx.Err())
			}
			return &ConnectError{Attempts: 1, Last: err}
		}
		c.herald = strings.Contains(info.Version, "+herald.")
		return nil
	}
	opts := []client.Option{
		client.WithAddress(c.cfg.Host, c.cfg.Port),
		client.WithClientId(c.cfg.ClientID),
		client.WithReconnectInterval(reconnectInterval),
	}
	if c.cfg.Token != "" {
		opts = append(opts, client.WithToken(c.cfg.Token))
	}
	if c.cfg.CertFile != "" {
		opts = append(opts, client.WithCredentials(c.cfg.CertFile, c.cfg.ServerName))
	}
	var last error
	for attempt := 1; ; attempt++ {
		cl, err := client.NewClient(context.Background(), opts...)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			var info *client.ServerInfo
			info, err = cl.Ping(pctx)
			cancel()
			if err == nil {
				c.cl, c.owned = cl, true
				c.herald = strings.Contains(info.Version, "+herald.")
				if c.cfg.AssumeHerald != nil {
					c.herald = *c.cfg.AssumeHerald
				}
				return nil
			}
			_ = cl.Close()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bus: connect to %s:%d: %w", c.cfg.Host, c.cfg.Port, ctx.Err())
		}
		last = err
		if errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrInvalidArgument) {
			return fmt.Errorf("bus: connect to %s:%d: %w", c.cfg.Host, c.cfg.Port, err)
		}
		if c.cfg.ConnectRetries > 0 && attempt >= c.cfg.ConnectRetries {
			return &ConnectError{Attempts: attempt, Last: last}
		}
		c.log.Info("bus: connect failed, retrying", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: connect to %s:%d: %w", c.cfg.Host, c.cfg.Port, ctx.Err())
		case <-time.After(retryInterval):
		}
	}
}

// abort releases what connect and a failed start took.
func (c *Conn) abort() {
	c.closing.Store(true)
	close(c.done)
	if c.stopSource != nil {
		c.stopSource()
	}
	c.wg.Wait()
	if c.qs != nil {
		_ = c.qs.Close()
	}
	if c.owned {
		_ = c.cl.Close()
	}
}

func (c *Conn) reads() bool  { return c.cfg.Direction == BusReader || c.cfg.Direction == BusReadWriter }
func (c *Conn) writes() bool { return c.cfg.Direction == BusWriter || c.cfg.Direction == BusReadWriter }

// start starts the writer and the reader of the handle.
func (c *Conn) start(ctx context.Context) error {
	grouped := c.cfg.Pattern == PatternEventsStore && c.cfg.GroupId != ""
	if grouped && c.reads() && c.cfg.Delivery == DeliveryAtLeastOnce && !c.herald {
		return fmt.Errorf("bus: DeliveryAtLeastOnce needs Herald's acked durable reads: %w", ErrUnsupported)
	}
	if c.writes() {
		c.startWriter()
	}
	if !c.reads() {
		return nil
	}
	c.rctx, c.stopSource = context.WithCancel(context.Background())
	c.wg.Go(c.dispatch)
	switch {
	case c.cfg.Pattern == PatternQueue:
		c.acked, c.pollCh = true, c.cfg.Topic
	case grouped && c.herald && c.cfg.Delivery != DeliveryAtMostOnce:
		c.acked, c.pollCh = true, client.ESGroupQueue(c.cfg.GroupId, c.cfg.Topic)
		if err := c.createDurable(ctx); err != nil {
			return err
		}
	case grouped && c.cfg.Delivery == DeliveryAuto:
		c.log.Info("bus: group reads are at most once: the server has no acked durable reads", "group", c.cfg.GroupId)
	}
	if c.acked {
		qs, err := queuesstream.FromClient(c.cl)
		if err != nil {
			return fmt.Errorf("bus: %w", err)
		}
		c.qs = qs
		c.wg.Go(c.pollLoop)
		c.wg.Go(c.extendLoop)
		return nil
	}
	if c.cfg.Pattern == PatternEvents {
		return c.subscribeEvents(ctx)
	}
	return c.subscribeEventsStore()
}

// createDurable creates the acked durable read of the group (H3) before
// Connect returns, so that nothing stored afterwards is missed.
func (c *Conn) createDurable(ctx context.Context) error {
	start := "new"
	if c.cfg.StartAt == StartOldest {
		start = "first"
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		actx, cancel := context.WithTimeout(ctx, pingTimeout)
		_, err = c.cl.CreateESGroup(actx, c.cfg.GroupId, c.cfg.Topic, start)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, client.ErrInvalidArgument) || errors.Is(err, client.ErrUnauthorized) {
			break
		}
	}
	return fmt.Errorf("bus: %w", err)
}

// Config returns the handle's configuration with the defaults applied.
func (c *Conn) Config() MsgBusConfig { return c.cfg }

// Status returns StatusOpen, StatusReconnecting while the connection is
// down, or StatusClosed after Disconnect or a fatal error.
func (c *Conn) Status() int {
	if c.closing.Load() {
		return int(StatusClosed)
	}
	c.mu.Lock()
	fatal := c.fatal
	c.mu.Unlock()
	if fatal != nil {
		return int(StatusClosed)
	}
	switch c.cl.State() {
	case client.StateReconnecting:
		return int(StatusReconnecting)
	case client.StateClosed:
		return int(StatusClosed)
	}
	return int(StatusOpen)
}

// Disconnect stops reading, flushes a NonBlocking writer (bounded by
// WriteTimeout) and releases the connection. In acked modes, messages
// buffered but not handed out are returned to the broker (NAck); in other
// modes they are discarded and their number logged (Drain reads them first).
// It returns the flush's *WriteError, if any; later calls return nil.
func (c *Conn) Disconnect() error {
	var err error
	c.closeOnce.Do(func() { err = c.shutdown() })
	return err
}

// Close is Disconnect.
func (c *Conn) Close() error { return c.Disconnect() }

// Drain stops receiving, lets the buffered messages be read (by reads or
// the callback) until they are all read or ctx ends, then disconnects. In
// acked modes what is still buffered then returns to the broker.
func (c *Conn) Drain(ctx context.Context) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if c.stopSource != nil {
		c.stopSource()
		c.mu.Lock()
		for {
			if c.sourceDone && len(c.items) == 0 {
				break
			}
			ch := c.changed
			c.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
			case <-c.done:
			}
			c.mu.Lock()
			if ctx.Err() != nil || c.closing.Load() {
				break
			}
		}
		c.mu.Unlock()
	}
	err := c.Disconnect()
	if ctx.Err() != nil {
		return errors.Join(fmt.Errorf("bus: drain: %w", ctx.Err()), err)
	}
	return err
}

func (c *Conn) shutdown() error {
	c.closing.Store(true)
	close(c.done)
	c.notify()
	var werr error
	if c.w != nil {
		werr = c.stopWriter()
	}
	if c.stopSource != nil {
		c.stopSource()
	}
	c.wg.Wait()
	// What is left in the buffer was never handed out.
	c.mu.Lock()
	left := c.items
	c.items = nil
	c.mu.Unlock()
	if c.acked {
		for _, m := range left {
			_ = m.qm.NAck()
		}
	} else if len(left) > 0 {
		c.log.Info("bus: unread buffered messages discarded at disconnect (use Drain to read them)", "count", len(left))
	}
	if c.qs != nil {
		_ = c.qs.Close()
	}
	if c.owned {
		_ = c.cl.Close()
	}
	return werr
}

// notify wakes everything that waits for a change of the reader state;
// c.mu must not be held.
func (c *Conn) notify() {
	c.mu.Lock()
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *Conn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// check returns the error of a call on a closed handle or in the wrong
// direction.
func (c *Conn) check(read bool) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if read && !c.reads() || !read && !c.writes() {
		return ErrWrongDirection
	}
	return nil
}

// newID returns a fresh message id.
func newID() string { return rand.Text() }
