package queues

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// idFor is the idempotency id of a copy Herald makes of the message stored
// at stream sequence seq on subject: the same copy made twice (a retry
// after a crash) is stored once.
func idFor(kind, subject string, seq uint64) string {
	return kind + ":" + subject + ":" + strconv.FormatUint(seq, 10)
}

// errLeaseGone is returned when a lease was already settled or expired.
var errLeaseGone = errors.New("queues: message is no longer held")

// delivery is a leased message.
type delivery struct {
	q     *queue
	sm    *engine.StoredMsg
	msg   *Message
	seq   uint64 // the sequence shown (the channel's)
	shown int32  // receive count shown to the receiver

	mu      sync.Mutex
	settled bool
}

func (d *delivery) maxReceive(lim Limits) int32 {
	if d.msg.Policy.MaxReceiveCount > 0 {
		return d.msg.Policy.MaxReceiveCount
	}
	return lim.MaxReceiveCount
}

// settle runs fn once, unless the lease is already settled.
func (d *delivery) settle(fn func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		return errLeaseGone
	}
	if err := fn(); err != nil {
		return err
	}
	d.settled = true
	d.q.mu.Lock()
	delete(d.q.leases, d.seq)
	d.q.lastUse = time.Now()
	d.q.mu.Unlock()
	return nil
}

// ack removes the message for good.
func (s *Service) ack(d *delivery) error {
	_, end := s.traceSettle(context.Background(), d, SettleAck)
	err := d.settle(func() error { return d.sm.Ack() })
	end(err)
	return err
}

// ackSync removes the message and waits for the engine's confirmation.
func (s *Service) ackSync(ctx context.Context, d *delivery) error {
	ctx, end := s.traceSettle(ctx, d, SettleAck)
	err := d.settle(func() error { return d.sm.AckSync(ctx) })
	end(err)
	return err
}

// returnInPlace makes the message available again with the same sequence
// and receive count.
//
// It is a NAK with a tiny delay rather than a plain NAK: the engine records a
// delayed NAK in the consumer's stored state, so the return survives a
// restart right after it (a plain NAK lives in memory only, and the message
// would stay hidden until the ack wait ran out).
func (s *Service) returnInPlace(d *delivery) error {
	_, end := s.traceSettle(context.Background(), d, SettleReturn)
	err := d.settle(func() error { return d.sm.Nak(time.Millisecond) })
	end(err)
	return err
}

// requeue settles the message negatively, as its source does: a queue
// re-publishes it at the tail (or dead-letters it), a group view
// redelivers it.
func (s *Service) requeue(ctx context.Context, d *delivery) error {
	ctx, end := s.traceSettle(ctx, d, SettleReject)
	err := d.settle(func() error { return d.q.src.negative(ctx, d) })
	end(err)
	return err
}

// deadLetterLocked moves the message to its dead-letter queue, or drops it
// when it has none. The caller holds d.mu (inside settle).
func (s *Service) deadLetterLocked(ctx context.Context, d *delivery) error {
	if dlq := d.msg.Policy.MaxReceiveQueue; dlq != "" {
		cp := &Message{
			ID: d.msg.ID, ClientID: d.msg.ClientID, Metadata: d.msg.Metadata, Body: d.msg.Body, Tags: d.msg.Tags,
			Topic: d.msg.Topic, Partition: d.msg.Partition, PartitionKey: d.msg.PartitionKey,
		}
		cp.Attributes.ReRouted, cp.Attributes.ReRoutedFromQueue = true, d.q.name
		cp.Attributes.ExpirationAt = d.msg.Attributes.ExpirationAt
		if err := s.store(ctx, dlq, cp, idFor("dl", d.sm.Subject, d.sm.Seq)); err != nil {
			return fmt.Errorf("%w: %w", kmq.ErrSendToQueue, err)
		}
		s.cfg.Stats.DeadLetter(Kind, d.q.name)
	}
	return d.sm.Term("max receive count")
}

// move sends m (a copy or a replacement of the held message) through the
// normal send path to its channel and removes the held message.
func (s *Service) move(ctx context.Context, d *delivery, m *Message) (err error) {
	ctx, end := s.traceSettle(ctx, d, SettleRequeue)
	defer func() { end(err) }()
	return d.settle(func() error {
		if m.ID == "" {
			m.ID = kmq.NewID()
		}
		if err := s.validate(m); err != nil {
			return err
		}
		// The id is the source position, not the MessageID: a copy to a
		// queue that recently saw that MessageID must not count as a duplicate.
		if res := s.publish(ctx, m, idFor("mv", d.sm.Subject, d.sm.Seq)).wait(ctx); res.Err != nil {
			return res.Err
		}
		return d.sm.AckSync(ctx)
	})
}
