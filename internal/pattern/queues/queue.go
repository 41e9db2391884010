package queues

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// source is where a queue's messages come from: a queue channel of the
// queue log, or a group view of an events-store channel. The receive and
// settle logic is the same for both; what differs is here.
type source interface {
	// consumer returns the durable consumer receivers fetch from.
	consumer(ctx context.Context) (engine.Fetcher, error)
	// message is a delivery as the queue shows it, with the receive count
	// it shows.
	message(sm *engine.StoredMsg) (*Message, int32)
	// negative settles a delivery negatively (reject, NAck, visibility
	// expiry); the caller holds the delivery's lock.
	negative(ctx context.Context, d *delivery) error
	// readOnly refuses peek and ack-all.
	readOnly() bool
}

// queue is this process's state of one queue channel with receivers or
// leases.
type queue struct {
	name string // as clients name it
	src  source
	cons engine.Fetcher

	mu        sync.Mutex
	leases    map[uint64]*delivery // by the sequence shown
	receivers int                  // active receive calls, streams and transactions
	lastUse   time.Time
	stats     *stats.Registry
}

// idle reports whether nobody used q for at least d.
func (q *queue) idle(now time.Time, d time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.receivers == 0 && len(q.leases) == 0 && now.Sub(q.lastUse) >= d
}

func (q *queue) held() []*delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	ds := make([]*delivery, 0, len(q.leases))
	for _, d := range q.leases {
		ds = append(ds, d)
	}
	return ds
}

func (q *queue) addReceiver(n int) {
	q.mu.Lock()
	q.receivers += n
	q.lastUse = time.Now()
	q.mu.Unlock()
	if q.stats != nil {
		c := q.stats.Get(Kind, q.name)
		c.Active.Add(int64(n))
		q.stats.Touch(Kind, q.name)
	}
}

func (q *queue) leased(seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.leases[seq] != nil
}

// consumerName is the durable consumer of a queue channel on its shard: a
// readable prefix of the name and a hash, unique per channel.
func consumerName(channel string) string { return "Q_" + token(channel) }

func token(s string) string { return kmq.Token(s) }

// queue returns the channel's state, creating it and its consumer. It does
// not make the channel exist: receiving from a channel nobody sent to
// leaves no record.
func (s *Service) queue(ctx context.Context, name string) (*queue, error) {
	s.mu.Lock()
	q := s.queues[name]
	s.mu.Unlock()
	if q != nil {
		return q, nil
	}
	var src source = &plainSource{s: s, channel: name}
	if strings.HasPrefix(name, ESGroupPrefix) {
		var err error
		if src, err = s.cfg.Groups.source(ctx, name, "new"); err != nil {
			return nil, err
		}
	}
	cons, err := src.consumer(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q = s.queues[name]; q == nil {
		q = &queue{name: name, src: src, cons: cons, leases: make(map[uint64]*delivery), stats: s.cfg.Stats, lastUse: time.Now()}
		s.queues[name] = q
	}
	return q, nil
}

// forget drops a channel's state (its consumer vanished).
func (s *Service) forget(name string) {
	s.mu.Lock()
	delete(s.queues, name)
	s.mu.Unlock()
}

// plainSource is a queue channel of the queue log.
type plainSource struct {
	s       *Service
	channel string
}

func (p *plainSource) consumer(ctx context.Context) (engine.Fetcher, error) {
	return p.s.log.Consumer(ctx, p.channel, engine.ConsumerSpec{
		Durable: consumerName(p.channel), Deliver: engine.DeliverAll,
		AckWait: p.s.cfg.AckWait, MaxAckPending: 1 << 20, InactiveThreshold: p.s.cfg.ConsumerIdle,
	})
}

func (p *plainSource) message(sm *engine.StoredMsg) (*Message, int32) {
	m := &Message{}
	if err := m.decode(sm.Data); err != nil {
		m = &Message{Body: sm.Data} // stored through the NATS side door
	}
	m.Channel = p.channel
	return m, m.receiveCount + 1
}

// negative re-publishes the message at the tail of its queue with the count
// just shown, or dead-letters it when that would exceed its MaxReceiveCount.
func (p *plainSource) negative(ctx context.Context, d *delivery) error {
	s := p.s
	if d.shown+1 > d.maxReceive(s.lim) {
		return s.deadLetterLocked(ctx, d)
	}
	cp := *d.msg
	cp.receiveCount = d.shown
	if err := s.store(ctx, p.channel, &cp, idFor("rp", d.sm.Subject, d.sm.Seq)); err != nil {
		return fmt.Errorf("%w: %w", kmq.ErrSendToQueue, err)
	}
	return d.sm.AckSync(ctx)
}

func (p *plainSource) readOnly() bool { return false }
