package queues

import (
	"context"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// Session is one StreamQueueMessage transaction: it receives at most one
// message, holds it under a visibility timer, and settles it once. It is
// safe for concurrent use; Expired is closed when the visibility timer
// fires (the message then went back to the tail of its queue).
type Session struct {
	s *Service

	mu        sync.Mutex
	receiving bool
	held      *delivery
	timer     *time.Timer
	expired   chan struct{}
	fired     bool
	closed    bool
}

// NewSession starts a transaction.
func (s *Service) NewSession() *Session {
	return &Session{s: s, expired: make(chan struct{})}
}

// Expired is closed when the visibility timer fires.
func (ss *Session) Expired() <-chan struct{} { return ss.expired }

// ValidateReceive checks a ReceiveMessage request before it runs.
func (ss *Session) ValidateReceive(channel string, visibility, wait time.Duration) error {
	if err := kmq.ValidateQueueChannel(channel); err != nil {
		return err
	}
	if _, err := ss.s.lim.visibility(visibility); err != nil {
		return err
	}
	_, err := ss.s.lim.wait(wait)
	return err
}

// BeginReceive validates a ReceiveMessage request and claims the session
// for it: Error 128 if a receive is running or a message is held. After a
// nil error the caller must call Receive.
func (ss *Session) BeginReceive(channel string, visibility, wait time.Duration) error {
	if err := ss.ValidateReceive(channel, visibility, wait); err != nil {
		return err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.receiving || ss.held != nil || ss.closed {
		return kmq.ErrSubscriptionActive
	}
	ss.receiving = true
	return nil
}

// Receive, after BeginReceive, waits up to wait for one message for client
// and holds it for visibility (0 means the defaults of both); Error 138
// when nothing arrived in time.
func (ss *Session) Receive(ctx context.Context, client, channel string, visibility, wait time.Duration) (*Message, error) {
	vis, _ := ss.s.lim.visibility(visibility)
	w, _ := ss.s.lim.wait(wait)
	defer func() {
		ss.mu.Lock()
		ss.receiving = false
		ss.mu.Unlock()
	}()
	ds, _, err := ss.s.lease(ctx, leaseRequest{Client: client, Channel: channel, Max: 1, Wait: w, Order: deadLetterFirst})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, kmq.ErrNoNewMessage
	}
	d := ds[0]
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed { // the stream went away while we waited: never shown, so in place
		_ = ss.s.returnInPlace(d)
		return nil, context.Canceled
	}
	ss.held = d
	ss.arm(vis)
	return d.msg, nil
}

// arm (re)starts the visibility timer; the caller holds ss.mu.
func (ss *Session) arm(vis time.Duration) {
	if ss.timer != nil {
		ss.timer.Stop()
	}
	ss.timer = time.AfterFunc(vis, ss.onExpire)
}

func (ss *Session) onExpire() {
	ss.mu.Lock()
	d := ss.held
	ss.held = nil
	if ss.fired {
		ss.mu.Unlock()
		return
	}
	ss.fired = true
	ss.mu.Unlock()
	if d != nil {
		if err := ss.s.requeue(context.Background(), d); err != nil && err != errLeaseGone {
			ss.s.logg.Warn("requeue after visibility expiry failed", "channel", d.q.name, "err", err)
			_ = ss.s.returnInPlace(d)
		}
	}
	close(ss.expired)
}

// takeHeld removes the held message from the session for settlement.
func (ss *Session) takeHeld(noneErr error, refSeq uint64, check bool) (*delivery, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.held == nil {
		return nil, noneErr
	}
	if check && refSeq != ss.held.seq {
		return nil, kmq.ErrAckSequence
	}
	return ss.held, nil
}

// done marks the held message settled and stops the timer.
func (ss *Session) done(d *delivery) {
	ss.mu.Lock()
	if ss.held == d {
		ss.held = nil
	}
	if ss.timer != nil {
		ss.timer.Stop()
	}
	ss.mu.Unlock()
}

func leaseErr(err error) error {
	if err == errLeaseGone {
		return kmq.ErrVisibilityExpired
	}
	return err
}

// Ack removes the held message (RefSequence must match it).
func (ss *Session) Ack(ctx context.Context, refSeq uint64) error {
	if refSeq == 0 {
		return kmq.ErrAckSequence
	}
	d, err := ss.takeHeld(kmq.ErrNoActiveMsgToAck, refSeq, true)
	if err != nil {
		return err
	}
	if err := ss.s.ackSync(ctx, d); err != nil {
		return leaseErr(err)
	}
	ss.done(d)
	return nil
}

// Reject returns the held message to the tail of its queue (count + 1, or
// the dead-letter queue once its receive count is used up).
func (ss *Session) Reject(ctx context.Context, refSeq uint64) error {
	if refSeq == 0 {
		return kmq.ErrAckSequence
	}
	d, err := ss.takeHeld(kmq.ErrNoActiveMsgToReject, refSeq, true)
	if err != nil {
		return err
	}
	if err := ss.s.requeue(ctx, d); err != nil {
		return leaseErr(err)
	}
	ss.done(d)
	return nil
}

// Extend restarts the visibility timer with visibility from now.
// Without a held message it arms the timer anyway, as the reference does.
func (ss *Session) Extend(visibility time.Duration) error {
	vis, err := ss.s.lim.visibility(visibility)
	if err != nil {
		return err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.fired {
		return kmq.ErrVisibilityExpired
	}
	ss.arm(vis)
	return nil
}

// Resend sends a copy of the held message to channel and removes it here.
func (ss *Session) Resend(ctx context.Context, channel string) error {
	if err := kmq.ValidateQueueChannel(channel); err != nil {
		return err
	}
	d, err := ss.takeHeld(kmq.ErrNoActiveMsgToSend, 0, false)
	if err != nil {
		return err
	}
	cp := *d.msg
	cp.Channel = channel
	cp.Attributes = Attributes{}
	if err := ss.s.move(ctx, d, &cp); err != nil {
		if err == errLeaseGone {
			return kmq.ErrVisibilityExpired
		}
		return kmq.ErrSendToQueue
	}
	ss.done(d)
	return nil
}

// SendModified sends m in place of the held message and removes the latter.
func (ss *Session) SendModified(ctx context.Context, m *Message, visibility time.Duration) error {
	if m == nil {
		return kmq.ErrInvalidQueueMessage
	}
	if m.ID == "" {
		m.ID = kmq.NewID()
	}
	if err := ss.s.lim.validate(m); err != nil {
		return err
	}
	if _, err := ss.s.lim.visibility(visibility); err != nil {
		return err
	}
	d, err := ss.takeHeld(kmq.ErrNoActiveMsgToAck, 0, false)
	if err != nil {
		return err
	}
	m.Attributes = Attributes{}
	if err := ss.s.move(ctx, d, m); err != nil {
		if err == errLeaseGone {
			return kmq.ErrVisibilityExpired
		}
		return kmq.ErrSendToQueue
	}
	ss.done(d)
	return nil
}

// Close ends the transaction: a held message goes back to the tail of its
// queue (count + 1), as when a client closes the stream.
func (ss *Session) Close() {
	ss.mu.Lock()
	ss.closed = true
	d := ss.held
	ss.held = nil
	if ss.timer != nil {
		ss.timer.Stop()
	}
	ss.mu.Unlock()
	if d != nil {
		if err := ss.s.requeue(context.Background(), d); err != nil && err != errLeaseGone {
			_ = ss.s.returnInPlace(d)
		}
	}
}
