package queues

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// checkOrder is the order of the dead-letter and expiry tests on delivery.
type checkOrder int

const (
	deadLetterFirst checkOrder = iota // classic receive, peek, StreamQueueMessage
	expiryFirst                       // QueuesDownstream
)

// take turns a fetched message into a lease, or settles it when it must not
// be delivered: dead-lettered (its receive count is used up) or expired
// (removed and counted). It returns nil for settled messages.
func (s *Service) take(ctx context.Context, q *queue, sm *engine.StoredMsg, order checkOrder, client string, expired *int32) *delivery {
	m, shown := q.src.message(sm)
	d := &delivery{q: q, sm: sm, msg: m, seq: sm.ChanSeq, shown: shown}
	now := time.Now()
	deadLetter := func() bool {
		if d.shown <= d.maxReceive(s.lim) {
			return false
		}
		ctx, end := s.traceSettle(ctx, d, SettleDeadLetter)
		err := d.settle(func() error { return s.deadLetterLocked(ctx, d) })
		end(err)
		if err != nil {
			s.logg.Warn("dead letter failed", "channel", q.name, "err", err)
			_ = sm.Nak(time.Second)
		}
		return true
	}
	expire := func() bool {
		if !m.expired(now) {
			return false
		}
		_, end := s.traceSettle(ctx, d, SettleExpire)
		end(sm.Ack())
		q.stats.Expire(Kind, q.name)
		if expired != nil {
			*expired++
		}
		return true
	}
	if order == deadLetterFirst {
		if deadLetter() || expire() {
			return nil
		}
	} else if expire() || deadLetter() {
		return nil
	}
	m.Attributes.Timestamp = sm.Time.UnixNano()
	m.Attributes.Sequence = d.seq
	m.Attributes.ReceiveCount = d.shown
	m.Attributes.DelayedTo = 0
	m.Policy.Delay = 0 // served
	q.mu.Lock()
	q.leases[d.seq] = d
	q.lastUse = time.Now()
	q.mu.Unlock()
	q.stats.Out(Kind, q.name, client, len(m.Body))
	return d
}

// fetchChunk bounds one pull of fetch.
const fetchChunk = 256

// stopPull is how long the last pull of a receive waits once StopWaits
// was called.
const stopPull = 50 * time.Millisecond

// fetch collects up to max leases from q, waiting up to wait to fill the
// batch (wait-to-fill). It stops early when the next message would take the
// bodies past maxBytes.
func (s *Service) fetch(ctx context.Context, q *queue, max int, wait time.Duration, order checkOrder, client string, maxBytes int) (ds []*delivery, expired int32, err error) {
	deadline := time.Now().Add(wait)
	size := 0
	full := false
	for len(ds) < max && !full {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			break
		}
		slice := min(left, time.Second)
		stopping := s.waitsStopped()
		if stopping { // the server shuts down: take what is ready, do not wait
			slice = min(slice, stopPull)
		}
		// Each message is taken as it arrives, so that it is leased (kept
		// alive, hidden from peek) for the rest of the wait. The wait goes in
		// slices of at most a second that end by their own expiry, not by
		// ctx: the engine can still hand a message to a pull request its
		// client abandoned, and that message would then stay invisible until
		// the ack wait ran out. ctx is checked between slices.
		var extra []*engine.StoredMsg
		// A pull asks for at most fetchChunk messages: the engine sizes its
		// buffers by the number asked, which the client chose.
		ferr := q.cons.FetchEach(context.WithoutCancel(ctx), min(max-len(ds), fetchChunk), slice, func(sm *engine.StoredMsg) {
			if full || size+len(sm.Data) > maxBytes && len(ds) > 0 {
				extra = append(extra, sm) // the reply is full
				full = true
				return
			}
			if d := s.take(ctx, q, sm, order, client, &expired); d != nil {
				ds = append(ds, d)
				size += len(sm.Data)
			}
		})
		// Leave what did not fit for the next receiver, once this slice's
		// pull request is over (it would be handed straight back to it).
		for _, sm := range extra {
			_ = sm.Nak(0)
		}
		if ferr != nil {
			if errors.Is(ferr, engine.ErrReaderClosed) {
				s.forget(q.name)
			}
			return ds, expired, ferr
		}
		full = full || size >= maxBytes
		if stopping {
			break
		}
	}
	// FIFO: messages returned in place are redelivered in the order they
	// were returned, not by sequence.
	slices.SortFunc(ds, func(a, b *delivery) int { return cmp.Compare(a.seq, b.seq) })
	return ds, expired, nil
}

// ReceiveRequest is a classic receive or peek.
type ReceiveRequest struct {
	ClientID    string
	Channel     string
	MaxMessages int
	Wait        time.Duration // 0: the default wait
	Peek        bool
}

// ReceiveResult is what a receive or peek returns. The messages of a
// receive stay leased until Settle: the caller settles them once the reply
// has been handed to the transport, so a reply that cannot be written
// returns them to the queue instead of losing them.
type ReceiveResult struct {
	Messages []*Message
	Expired  int32
	s        *Service
	held     []*delivery
}

// SettleDelivered removes the received messages after the reply, already
// handed to the transport, has had time to reach the client (ReplyGrace). A
// reply handed to the transport can still die with the process before its
// bytes leave it; removing the messages a little later turns that window
// into a redelivery instead of a loss. Close settles what is pending.
func (r *ReceiveResult) SettleDelivered() {
	if len(r.held) == 0 {
		return
	}
	s := r.s
	s.graceMu.Lock()
	defer s.graceMu.Unlock()
	if s.closing {
		r.Settle(context.Background(), true)
		return
	}
	s.pending.Add(1)
	var t *time.Timer
	t = time.AfterFunc(ReplyGrace, func() {
		defer s.pending.Done()
		s.graceMu.Lock()
		delete(s.timers, t)
		s.graceMu.Unlock()
		r.Settle(context.Background(), true)
	})
	s.timers[t] = r
}

// ReplyGrace is how long SettleDelivered waits before it removes messages.
const ReplyGrace = 100 * time.Millisecond

// Settle removes the received messages when delivered is true, and returns
// them in place otherwise. Settling a peek does nothing.
func (r *ReceiveResult) Settle(ctx context.Context, delivered bool) {
	for i, d := range r.held {
		var err error
		switch {
		case !delivered:
			err = r.s.returnInPlace(d)
		case i == len(r.held)-1:
			err = r.s.ackSync(ctx, d) // acks are ordered: this confirms the earlier ones too
		default:
			err = r.s.ack(d)
		}
		if err != nil {
			if errors.Is(err, engine.ErrNoStream) || errors.Is(err, engine.ErrStreamNotFound) {
				continue // the channel was deleted meanwhile: nothing left to settle
			}
			r.s.logg.Warn("settling a receive failed", "channel", d.q.name, "delivered", delivered, "err", err)
		}
	}
	r.held = nil
}

func (s *Service) validateReceive(clientID, channel string, wait time.Duration) (time.Duration, error) {
	if err := kmq.ValidateClientID(clientID); err != nil {
		return 0, err
	}
	if err := kmq.ValidateQueueChannel(channel); err != nil {
		return 0, err
	}
	return s.lim.wait(wait)
}

// Receive takes up to MaxMessages messages, waiting up to Wait for the
// batch to fill, and holds them until the caller settles the result; when
// ctx ends first they are returned in place. With Peek the messages stay in
// the queue (leased ones are not shown).
func (s *Service) Receive(ctx context.Context, r *ReceiveRequest) (*ReceiveResult, error) {
	if err := kmq.ValidateClientID(r.ClientID); err != nil {
		return nil, err
	}
	if err := kmq.ValidateQueueChannel(r.Channel); err != nil {
		return nil, err
	}
	if r.MaxMessages < 1 || r.MaxMessages > int(s.lim.MaxNumberOfMessages) {
		return nil, kmq.ErrMaxMessages
	}
	wait, err := s.lim.wait(r.Wait)
	if err != nil {
		return nil, err
	}
	if r.Peek {
		q, err := s.queue(ctx, r.Channel)
		if err != nil {
			return nil, err
		}
		if q.src.readOnly() {
			return nil, errESGroupNoPeek
		}
		return s.peek(ctx, q, r.MaxMessages, wait)
	}
	ds, expired, err := s.lease(ctx, leaseRequest{Client: r.ClientID, Channel: r.Channel, Max: r.MaxMessages, Wait: wait, Order: deadLetterFirst})
	if err != nil {
		return nil, err
	}
	res := &ReceiveResult{Expired: expired, Messages: make([]*Message, 0, len(ds)), s: s, held: ds}
	for _, d := range ds {
		res.Messages = append(res.Messages, d.msg)
	}
	return res, nil
}

// leaseRequest asks lease for messages of a validated channel.
type leaseRequest struct {
	Client  string // the receiver's client id
	Channel string
	Max     int
	Wait    time.Duration
	Order   checkOrder
}

// lease takes up to r.Max messages of r.Channel as leases, waiting up to
// r.Wait to fill the batch, while counting as a receiver of the channel.
// When it fails, or ctx ended meanwhile, what it took returns in place and
// it reports the error (ctx's).
func (s *Service) lease(ctx context.Context, r leaseRequest) ([]*delivery, int32, error) {
	q, err := s.queue(ctx, r.Channel)
	if err != nil {
		return nil, 0, err
	}
	q.addReceiver(1)
	defer q.addReceiver(-1)
	ds, expired, err := s.fetch(ctx, q, r.Max, r.Wait, r.Order, r.Client, s.cfg.MaxReplyBytes)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		for _, d := range ds {
			_ = s.returnInPlace(d)
		}
		return nil, 0, err
	}
	return ds, expired, nil
}

// peek shows up to max ready messages without removing them or holding
// them; it waits up to wait for that many to be there.
func (s *Service) peek(ctx context.Context, q *queue, max int, wait time.Duration) (*ReceiveResult, error) {
	deadline := time.Now().Add(wait)
	for {
		res, err := s.peekOnce(ctx, q, max)
		if err != nil || len(res.Messages) >= max || !time.Now().Before(deadline) || s.waitsStopped() {
			return res, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(50*time.Millisecond, time.Until(deadline))):
		}
	}
}

func (s *Service) peekOnce(ctx context.Context, q *queue, max int) (*ReceiveResult, error) {
	res := &ReceiveResult{s: s}
	now := time.Now()
	size := 0
	for seq := uint64(0); len(res.Messages) < max; {
		raw, err := s.log.Next(ctx, q.name, seq)
		if err != nil || raw == nil {
			return res, err
		}
		seq = raw.Seq + 1
		if q.leased(raw.ChanSeq) {
			continue
		}
		m := &Message{}
		if err := m.decode(raw.Data); err != nil {
			m = &Message{Body: raw.Data}
		}
		if m.expired(now) {
			res.Expired++
			continue
		}
		if size += len(raw.Data); size > s.cfg.MaxReplyBytes && len(res.Messages) > 0 {
			break
		}
		m.Channel = q.name
		m.Attributes.Timestamp = raw.Time.UnixNano()
		m.Attributes.Sequence = raw.ChanSeq
		m.Attributes.ReceiveCount = m.receiveCount + 1
		m.Policy.Delay = 0
		res.Messages = append(res.Messages, m)
	}
	return res, nil
}

// AckAll removes every ready message of the channel now and returns how many
// it removed (expired ones included). Leased and still-delayed messages stay.
func (s *Service) AckAll(ctx context.Context, clientID, channel string, wait time.Duration) (uint64, error) {
	if _, err := s.validateReceive(clientID, channel, wait); err != nil {
		return 0, err
	}
	q, err := s.queue(ctx, channel)
	if err != nil {
		return 0, err
	}
	if q.src.readOnly() {
		return 0, errESGroupNoPeek
	}
	var n uint64
	for {
		batch, err := q.cons.FetchNoWait(256)
		for i, sm := range batch {
			if i == len(batch)-1 {
				_ = sm.AckSync(ctx)
			} else {
				_ = sm.Ack()
			}
			n++
		}
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
	}
}
