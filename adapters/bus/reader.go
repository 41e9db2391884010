package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
)

// probeTag marks the readiness probes a PatternEvents reader publishes on
// its topic at connect; bus readers drop them.
const probeTag = "herald.bus.probe"

// Message is one received message. Ack and Nack matter for PatternQueue and
// acked group reads; elsewhere they are no-ops that return nil.
type Message struct {
	Body         string
	Topic        string
	Sequence     uint64            // events-store or queue sequence; 0 for PatternEvents
	Timestamp    time.Time         // broker store time; zero for PatternEvents
	ReceiveCount int               // acked reads and queues: deliveries so far, 1 on first
	Tags         map[string]string // as sent; dead letters carry herald.dlq.* tags

	id       string
	metadata string
	qm       *queuesstream.QueueMessage // acked modes
	c        *Conn
}

// Context returns ctx carrying the trace context the message carries (its
// W3C traceparent and tracestate tags), for the span of its processing;
// ctx itself when it carries none.
func (m *Message) Context(ctx context.Context) context.Context {
	return client.ContextFromTags(ctx, m.Tags)
}

// Ack acknowledges the message: the broker does not deliver it again.
func (m *Message) Ack() error {
	if m.qm == nil {
		return nil
	}
	m.c.release(m)
	if err := m.qm.Ack(); err != nil {
		return fmt.Errorf("bus: ack %s/%d: %w", m.Topic, m.Sequence, err)
	}
	return nil
}

// Nack returns the message to the broker for redelivery; when MaxDeliver is
// set and this was the last delivery allowed, the message goes to the
// dead-letter topic instead.
func (m *Message) Nack() error {
	if m.qm == nil {
		return nil
	}
	return m.c.settleFailed(m, "nacked")
}

// MessageRead returns the next message of the topic: it waits for one
// (Blocking) or returns ErrWouldBlock when nothing is buffered
// (NonBlocking). In acked modes the message is acknowledged before it is
// returned.
func (c *Conn) MessageRead() (string, error) {
	return c.MessageReadContext(context.Background())
}

// MessageReadContext is MessageRead that also returns when ctx ends, with an
// error wrapping ctx.Err().
func (c *Conn) MessageReadContext(ctx context.Context) (string, error) {
	if err := c.check(true); err != nil {
		return "", err
	}
	for {
		m, err := c.take(ctx)
		if err != nil {
			return "", err
		}
		if m.qm != nil {
			c.release(m)
			if err := m.qm.Ack(); err != nil {
				// No longer held (its visibility ran out or its stream
				// broke): the broker delivers it again.
				c.log.Debug("bus: message no longer held, skipped", "err", err, "sequence", m.Sequence)
				continue
			}
		}
		return m.Body, nil
	}
}

// Receive is MessageReadContext returning the whole message and leaving its
// settlement to the caller: in acked modes a message neither acked nor
// nacked within the visibility is delivered again.
func (c *Conn) Receive(ctx context.Context) (*Message, error) {
	if err := c.check(true); err != nil {
		return nil, err
	}
	for {
		m, err := c.take(ctx)
		if err != nil {
			return nil, err
		}
		if m.qm != nil {
			c.release(m)
			if err := m.qm.ExtendVisibility(c.visibilitySeconds()); err != nil {
				c.log.Debug("bus: message no longer held, skipped", "err", err, "sequence", m.Sequence)
				continue
			}
		}
		return m, nil
	}
}

// MessageAvailable returns the number of messages received and buffered,
// not yet read or handed to the callback; 0 for writers and after
// Disconnect.
func (c *Conn) MessageAvailable() int {
	if c.check(true) != nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// RegisterCB hands every message, the buffered ones first, to cbfunc, one
// at a time and in order, on a goroutine of the Conn. In acked modes a
// message is acknowledged when cbfunc returns, and returned to the broker
// if it panics (the panic is recovered and logged).
func (c *Conn) RegisterCB(cbfunc CBFunc) error {
	if err := c.check(true); err != nil {
		return err
	}
	if cbfunc == nil {
		return ErrNilCallback
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cb != nil {
		return ErrCallbackRegistered
	}
	c.cb = cbfunc
	c.notifyLocked()
	return nil
}

// UnregisterCB returns at once: a running callback finishes, no further
// call starts, and later messages are buffered for reads. It may be called
// from inside the callback; with no callback registered it returns nil.
func (c *Conn) UnregisterCB() error {
	if err := c.check(true); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cb = nil
	c.notifyLocked()
	return nil
}

// take returns the next buffered message for a read.
func (c *Conn) take(ctx context.Context) (*Message, error) {
	c.mu.Lock()
	for {
		if c.closing.Load() {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if c.cb != nil {
			c.mu.Unlock()
			return nil, ErrCallbackRegistered
		}
		if len(c.items) > 0 {
			m := c.pop()
			c.mu.Unlock()
			return m, nil
		}
		if c.fatal != nil {
			err := c.fatal
			c.mu.Unlock()
			return nil, err
		}
		if c.cfg.Blocking == NonBlocking {
			c.mu.Unlock()
			return nil, ErrWouldBlock
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("bus: read %s: %w", c.cfg.Topic, ctx.Err())
		case <-c.done:
			return nil, ErrClosed
		}
		c.mu.Lock()
	}
}

// pop removes the first buffered message; c.mu is held.
func (c *Conn) pop() *Message {
	m := c.items[0]
	c.items[0] = nil
	c.items = c.items[1:]
	c.notifyLocked()
	return m
}

// put appends m to the buffer, waiting while it is full; false when the
// handle closed first.
func (c *Conn) put(m *Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.items) >= c.cfg.ReadBufferSize {
		if c.closing.Load() {
			return false
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
		}
		c.mu.Lock()
	}
	if c.closing.Load() {
		return false
	}
	c.items = append(c.items, m)
	c.notifyLocked()
	return true
}

// release stops extending m's visibility.
func (c *Conn) release(m *Message) {
	c.mu.Lock()
	if _, ok := c.held[m]; ok {
		delete(c.held, m)
		c.notifyLocked()
	}
	c.mu.Unlock()
}

func (c *Conn) sourceExited() {
	c.mu.Lock()
	c.sourceDone = true
	c.notifyLocked()
	c.mu.Unlock()
}

// setFatal ends the reader with err: reads return it once the buffer is
// empty and Status reports StatusClosed.
func (c *Conn) setFatal(err error) {
	c.log.Error("bus: reader stopped", "err", err)
	c.mu.Lock()
	if c.fatal == nil {
		c.fatal = err
	}
	c.notifyLocked()
	c.mu.Unlock()
}

// dispatch runs the callback: it hands it the buffered messages one at a
// time while one is registered.
func (c *Conn) dispatch() {
	c.mu.Lock()
	for {
		if c.closing.Load() {
			c.mu.Unlock()
			return
		}
		if c.cb != nil && len(c.items) > 0 {
			cb, m := c.cb, c.pop()
			c.mu.Unlock()
			c.deliver(cb, m)
			c.mu.Lock()
			continue
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
			return
		}
		c.mu.Lock()
	}
}

// deliver calls cb with m and settles m in acked modes.
func (c *Conn) deliver(cb CBFunc, m *Message) {
	if m.qm != nil {
		if err := m.qm.ExtendVisibility(c.visibilitySeconds()); err != nil {
			c.release(m)
			c.log.Debug("bus: message no longer held, skipped", "err", err, "sequence", m.Sequence)
			return
		}
	}
	ok := c.call(cb, m)
	if m.qm == nil {
		return
	}
	if ok {
		c.release(m)
		if err := m.qm.Ack(); err != nil {
			c.log.Warn("bus: ack after the callback failed; the message will be delivered again", "err", err, "sequence", m.Sequence)
		}
		return
	}
	// Held (and extended) during a back-off, so that a failing message is
	// not redelivered in a hot loop.
	delay := min(100*time.Millisecond<<min(max(m.ReceiveCount-1, 0), 20), c.cfg.Visibility/2)
	c.wg.Go(func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.done:
		}
		if err := c.settleFailed(m, "callback panicked"); err != nil {
			c.log.Warn("bus: settling a failed message", "err", err, "sequence", m.Sequence)
		}
	})
}

// call runs cb, recovering a panic.
func (c *Conn) call(cb CBFunc, m *Message) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("bus: callback panicked", "panic", r, "sequence", m.Sequence, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	cb(m.Body)
	return true
}

// settleFailed returns m to the broker, or dead-letters it when this was
// its last delivery allowed (MaxDeliver).
func (c *Conn) settleFailed(m *Message, reason string) error {
	c.release(m)
	if c.cfg.MaxDeliver > 0 && m.ReceiveCount >= c.cfg.MaxDeliver {
		if err := c.deadLetter(m, reason); err != nil {
			c.log.Error("bus: dead-lettering failed; returning the message", "err", err, "sequence", m.Sequence)
			return errors.Join(err, m.qm.NAck())
		}
		if err := m.qm.Ack(); err != nil {
			return fmt.Errorf("bus: ack of a dead-lettered message %s/%d: %w", m.Topic, m.Sequence, err)
		}
		return nil
	}
	if err := m.qm.NAck(); err != nil {
		return fmt.Errorf("bus: nack %s/%d: %w", m.Topic, m.Sequence, err)
	}
	return nil
}

// deadLetter stores a copy of m in the dead-letter topic, under m's id so
// that a retry is not duplicated.
func (c *Conn) deadLetter(m *Message, reason string) error {
	tags := maps.Clone(m.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags["herald.dlq.reason"] = reason
	tags["herald.dlq.attempts"] = strconv.Itoa(m.ReceiveCount)
	tags["herald.dlq.group"] = c.cfg.GroupId
	tags["herald.dlq.sequence"] = strconv.FormatUint(m.Sequence, 10)
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.WriteTimeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		res, err := c.cl.NewQueueMessage().SetId(m.id).SetChannel(c.cfg.DeadLetterTopic).SetMetadata(m.metadata).
			SetBody([]byte(m.Body)).SetTags(tags).Send(ctx)
		if err == nil {
			err = res.Err()
		}
		if err == nil {
			c.log.Warn("bus: message dead-lettered", "sequence", m.Sequence, "attempts", m.ReceiveCount, "dead_letter_topic", c.cfg.DeadLetterTopic)
			return nil
		}
		last = err
		if permanent(err) {
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	return fmt.Errorf("bus: dead-letter %s/%d to %s: %w", m.Topic, m.Sequence, c.cfg.DeadLetterTopic, last)
}

func (c *Conn) visibilitySeconds() int { return int(c.cfg.Visibility / time.Second) }

// txn is one poll transaction of an acked read.
type txn struct {
	mu    sync.Mutex
	ended bool
	msgs  []*Message
}

// pollLoop is the source of acked reads: it keeps up to prefetch messages
// held (buffered or in the callback) by polling the queue.
func (c *Conn) pollLoop() {
	defer c.sourceExited()
	limit := min(prefetch, c.cfg.ReadBufferSize)
	backoff := 100 * time.Millisecond
	for c.rctx.Err() == nil {
		c.mu.Lock()
		for len(c.held) >= limit {
			ch := c.changed
			c.mu.Unlock()
			select {
			case <-ch:
			case <-c.rctx.Done():
				return
			}
			c.mu.Lock()
		}
		n := limit - len(c.held)
		c.mu.Unlock()
		tx := &txn{}
		req := queuesstream.NewPollRequest().SetChannel(c.pollCh).SetMaxItems(n).SetWaitTimeout(1000).
			SetVisibilitySeconds(c.visibilitySeconds()).SetOnComplete(func() { c.txEnded(tx) })
		resp, err := c.qs.Poll(c.rctx, req)
		if err != nil {
			if c.rctx.Err() != nil {
				return
			}
			if permanent(err) {
				c.setFatal(fmt.Errorf("bus: read %s: %w", c.cfg.Topic, err))
				return
			}
			c.log.Debug("bus: poll failed, retrying", "err", err)
			sleep(c.rctx, backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if !resp.HasMessages() {
			continue
		}
		tx.mu.Lock()
		if !tx.ended { // else the stream broke already: the broker has them back
			for _, qm := range resp.Messages {
				tx.msgs = append(tx.msgs, c.fromQueue(qm))
			}
			c.mu.Lock()
			for _, m := range tx.msgs {
				c.items = append(c.items, m)
				c.held[m] = struct{}{}
			}
			c.notifyLocked()
			c.mu.Unlock()
		}
		tx.mu.Unlock()
	}
}

// txEnded drops the messages of an ended transaction that were not handed
// out: the broker has them back (its stream broke) or they were settled.
func (c *Conn) txEnded(tx *txn) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.ended = true
	if len(tx.msgs) == 0 {
		return
	}
	gone := make(map[*Message]bool, len(tx.msgs))
	for _, m := range tx.msgs {
		gone[m] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.items[:0]
	for _, m := range c.items {
		if !gone[m] {
			kept = append(kept, m)
		}
	}
	clear(c.items[len(kept):])
	c.items = kept
	for m := range gone {
		delete(c.held, m)
	}
	c.notifyLocked()
}

func (c *Conn) fromQueue(qm *queuesstream.QueueMessage) *Message {
	m := &Message{Body: string(qm.Body), Topic: c.cfg.Topic, Tags: qm.Tags, id: qm.MessageID, metadata: qm.Metadata, qm: qm, c: c}
	if a := qm.Attributes; a != nil {
		m.Sequence, m.ReceiveCount = a.Sequence, int(a.ReceiveCount)
		if a.Timestamp != 0 {
			m.Timestamp = time.Unix(0, a.Timestamp)
		}
	}
	return m
}

// extendLoop extends the visibility of the held messages every
// visibility/2, so that slowness alone never causes a redelivery.
func (c *Conn) extendLoop() {
	t := time.NewTicker(c.cfg.Visibility / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		c.mu.Lock()
		held := make([]*Message, 0, len(c.held))
		for m := range c.held {
			held = append(held, m)
		}
		c.mu.Unlock()
		for _, m := range held {
			if err := m.qm.ExtendVisibility(c.visibilitySeconds()); err != nil {
				c.log.Debug("bus: extend visibility", "err", err, "sequence", m.Sequence)
			}
		}
	}
}

// subscribeEventsStore starts the reader of an events-store topic without
// acknowledgement: every message from the start position (no group), or the
// group's share.
func (c *Conn) subscribeEventsStore() error {
	sub := &client.EventsStoreSubscription{Channel: c.cfg.Topic, Group: c.cfg.GroupId}
	switch {
	case c.cfg.StartAt == StartOldest:
		sub.SubscriptionType = client.StartFromFirstEvent()
	case c.cfg.GroupId == "":
		sub.SubscriptionType = client.StartFromTimeDelta(time.Second)
	default:
		sub.SubscriptionType = client.StartFromNewEvents()
	}
	if c.cfg.GroupId == "" {
		// A cursor of its own: the server keys ungrouped subscriptions by
		// client id, and a reader must not resume another one's.
		sub.ClientId = c.cl.ClientID() + "-" + strings.ToLower(newID()[:10])
	}
	errCh := make(chan error, 16)
	ctx, cancel := context.WithCancel(c.rctx)
	ch, err := c.cl.SubscribeToEventsStoreWithRequest(ctx, sub, errCh)
	if err != nil {
		cancel()
		return fmt.Errorf("bus: subscribe to %s: %w", c.cfg.Topic, err)
	}
	c.wg.Go(func() {
		defer cancel()
		defer c.sourceExited()
		for { // the SDK drops the events a re-opened subscription repeats
			select {
			case ev, ok := <-ch:
				if !ok {
					c.subscriptionEnded(errCh)
					return
				}
				if !c.put(&Message{Body: string(ev.Body), Topic: c.cfg.Topic, Sequence: ev.Sequence, Timestamp: ev.Timestamp,
					Tags: ev.Tags, id: ev.Id, metadata: ev.Metadata, c: c}) {
					return
				}
			case err := <-errCh:
				if c.subscriptionError(err) {
					cancel()
				}
			}
		}
	})
	return nil
}

// subscribeEvents starts the reader of a PatternEvents topic. Without a
// group it returns once the subscription is registered, proved by a probe
// event it publishes on the topic and receives (bus readers drop probes).
func (c *Conn) subscribeEvents(ctx context.Context) error {
	errCh := make(chan error, 16)
	sctx, cancel := context.WithCancel(c.rctx)
	ch, err := c.cl.SubscribeToEventsWithRequest(sctx, &client.EventsSubscription{Channel: c.cfg.Topic, Group: c.cfg.GroupId}, errCh)
	if err != nil {
		cancel()
		return fmt.Errorf("bus: subscribe to %s: %w", c.cfg.Topic, err)
	}
	nonce := newID()
	ready := make(chan struct{})
	c.wg.Go(func() {
		confirmed := false
		defer cancel()
		defer c.sourceExited()
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					c.subscriptionEnded(errCh)
					return
				}
				if p, isProbe := ev.Tags[probeTag]; isProbe {
					if p == nonce && !confirmed {
						close(ready)
						confirmed = true
					}
					continue
				}
				if !c.put(&Message{Body: string(ev.Body), Topic: c.cfg.Topic, Tags: ev.Tags, id: ev.Id, metadata: ev.Metadata, c: c}) {
					return
				}
			case err := <-errCh:
				if c.subscriptionError(err) {
					cancel()
				}
			}
		}
	})
	if c.cfg.GroupId != "" {
		return nil
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = c.cl.E().SetChannel(c.cfg.Topic).SetMetadata(probeTag).AddTag(probeTag, nonce).Send(ctx)
		select {
		case <-ready:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("bus: subscribe to %s: %w", c.cfg.Topic, ctx.Err())
		case <-deadline.C:
			c.log.Warn("bus: events subscription not confirmed within 5 s; messages of the first moments may be missed")
			return nil
		case <-tick.C:
		}
	}
}

// subscriptionError handles an error a subscription reported; true when it
// is fatal (the channel was deleted).
func (c *Conn) subscriptionError(err error) bool {
	if errors.Is(err, client.ErrChannelDeleted) {
		c.setFatal(fmt.Errorf("bus: read %s: %w: %w", c.cfg.Topic, ErrChannelDeleted, err))
		return true
	}
	c.log.Info("bus: subscription interrupted", "err", err)
	return false
}

// subscriptionEnded handles the end of a subscription's channel.
func (c *Conn) subscriptionEnded(errCh chan error) {
	if c.rctx.Err() != nil {
		return
	}
	var last error
	for {
		select {
		case err := <-errCh:
			last = err
			continue
		default:
		}
		break
	}
	if last == nil {
		last = errors.New("subscription ended")
	}
	if errors.Is(last, ErrChannelDeleted) {
		return
	}
	c.setFatal(fmt.Errorf("bus: read %s: %w", c.cfg.Topic, last))
}

// permanent reports errors that retrying does not cure.
func permanent(err error) bool {
	return errors.Is(err, client.ErrInvalidArgument) || errors.Is(err, client.ErrUnauthorized) ||
		errors.Is(err, client.ErrClientClosed) || errors.Is(err, client.ErrChannelSealed)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
