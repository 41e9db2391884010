package queues

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// Texts of the downstream protocol (byte-exact, trailing spaces included).
var (
	ErrTxNotFound          = kmq.New(0, "transaction is completed or transaction id not found")
	ErrRequestUnknown      = kmq.New(0, "request unknown")
	errAckClosed           = kmq.New(0, "cannot ack messages with closed response ")
	errNackClosed          = kmq.New(0, "cannot nack messages with closed response ")
	errRequeueClosed       = kmq.New(0, "cannot requeue messages with closed response ")
	errOffsetsClosed       = kmq.New(0, "cannot get active offsets with closed response ")
	errAckEmpty            = kmq.New(0, "cannot ack empty list of of offsets")
	errNackEmpty           = kmq.New(0, "cannot nack empty list of of offsets")
	errRequeueEmpty        = kmq.New(0, "cannot requeue empty list of of offsets")
	errRequeueNoChannel    = kmq.New(0, "cannot requeue messages with empty channel destination ")
	defaultDownstreamItems = 200000
)

// Downstream holds the poll transactions of one QueuesDownstream stream.
// Settlements are serialised by the caller; Get may run concurrently.
type Downstream struct {
	s  *Service
	mu sync.Mutex
	tx map[string]*transaction
}

type transaction struct {
	id     string
	q      *queue
	held   map[uint64]*delivery
	closed bool
	timer  *time.Timer
}

// NewDownstream starts the transaction registry of one stream.
func (s *Service) NewDownstream() *Downstream {
	return &Downstream{s: s, tx: make(map[string]*transaction)}
}

// Get opens a transaction holding up to maxItems messages of channel,
// waiting up to waitMS (at least 1000 ms) to fill it. The transaction id is
// returned also on failure. With autoAck the caller settles the transaction
// with OpAckAll once the reply is on its way (OpClose if it could not be
// sent), so a reply that never left does not lose its messages.
func (ds *Downstream) Get(ctx context.Context, clientID, channel string, maxItems, waitMS int32, autoAck bool) (string, []*Message, error) {
	id := kmq.NewUUID()
	if err := kmq.ValidateClientID(clientID); err != nil {
		return id, nil, err
	}
	if err := kmq.ValidateQueueChannel(channel); err != nil {
		return id, nil, err
	}
	if maxItems <= 0 {
		maxItems = int32(defaultDownstreamItems)
	}
	if waitMS < 1000 {
		waitMS = 1000
	}
	q, err := ds.s.queue(ctx, channel)
	if err != nil {
		return id, nil, err
	}
	q.addReceiver(1)
	defer q.addReceiver(-1)
	got, _, err := ds.s.fetch(ctx, q, int(maxItems), time.Duration(waitMS)*time.Millisecond, expiryFirst, ds.s.cfg.MaxReplyBytes)
	if err != nil || ctx.Err() != nil {
		for _, d := range got {
			_ = ds.s.returnInPlace(d)
		}
		if err == nil {
			err = kmq.New(0, "context canceled during poll process")
		}
		return id, nil, err
	}
	msgs := make([]*Message, len(got))
	for i, d := range got {
		msgs[i] = d.msg
	}
	t := &transaction{id: id, q: q, held: make(map[uint64]*delivery, len(got)), closed: len(got) == 0}
	for _, d := range got {
		t.held[d.sm.Seq] = d
	}
	if !t.closed {
		// No client may hold messages forever: after the longest
		// visibility the server allows they return in place.
		t.timer = time.AfterFunc(time.Duration(ds.s.lim.MaxVisibility)*time.Second, func() { ds.expire(t) })
	}
	ds.mu.Lock()
	ds.tx[id] = t
	ds.mu.Unlock()
	return id, msgs, nil
}

func (ds *Downstream) expire(t *transaction) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.closeLocked(t)
}

// closeLocked returns every held message in place.
func (ds *Downstream) closeLocked(t *transaction) {
	for _, d := range t.sorted() {
		_ = ds.s.returnInPlace(d)
	}
	t.held = map[uint64]*delivery{}
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
	}
}

func (t *transaction) sorted() []*delivery {
	seqs := make([]uint64, 0, len(t.held))
	for s := range t.held {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	out := make([]*delivery, len(seqs))
	for i, s := range seqs {
		out[i] = t.held[s]
	}
	return out
}

// Op is a settlement request on a transaction.
type Op int

// Settlement operations, numbered as the wire's request types.
const (
	OpAckAll        Op = 2
	OpAckRange      Op = 3
	OpNAckAll       Op = 4
	OpNAckRange     Op = 5
	OpReQueueAll    Op = 6
	OpReQueueRange  Op = 7
	OpActiveOffsets Op = 8
	OpClose         Op = 10
)

// Settle applies op to the transaction txID. It returns the active offsets
// for OpActiveOffsets; successful settlements return nothing, as the
// reference answers nothing.
func (ds *Downstream) Settle(ctx context.Context, op Op, txID string, seqs []int64, requeueTo string) ([]int64, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	t := ds.tx[txID]
	if t == nil {
		return nil, ErrTxNotFound
	}
	switch op {
	case OpAckAll, OpNAckAll, OpReQueueAll:
		if t.closed {
			return nil, map[Op]error{OpAckAll: errAckClosed, OpNAckAll: errNackClosed, OpReQueueAll: errAckClosed}[op]
		}
		if op == OpReQueueAll && requeueTo == "" {
			return nil, errRequeueNoChannel
		}
		held := t.sorted()
		for i, d := range held {
			if op == OpAckAll && i == len(held)-1 {
				// acks are ordered: confirming the last one confirms them all
				if err := ds.s.ackSync(ctx, d); err != nil && err != errLeaseGone {
					return nil, err
				}
			} else if err := ds.apply(ctx, op, d, requeueTo); err != nil {
				return nil, err
			}
			delete(t.held, d.sm.Seq)
		}
		ds.closeLocked(t)
		return nil, nil
	case OpAckRange, OpNAckRange, OpReQueueRange:
		closedErr := map[Op]error{OpAckRange: errAckClosed, OpNAckRange: errNackClosed, OpReQueueRange: errRequeueClosed}[op]
		if t.closed {
			return nil, closedErr
		}
		if op == OpReQueueRange && requeueTo == "" {
			return nil, errRequeueNoChannel
		}
		if len(seqs) == 0 {
			return nil, map[Op]error{OpAckRange: errAckEmpty, OpNAckRange: errNackEmpty, OpReQueueRange: errRequeueEmpty}[op]
		}
		for _, seq := range seqs {
			d := t.held[uint64(seq)]
			if seq <= 0 || d == nil {
				if op == OpNAckRange {
					return nil, kmq.New(0, fmt.Sprintf("invalid nack sequence id %d", seq))
				}
				return nil, kmq.New(0, fmt.Sprintf("invalid ack sequence id %d", seq))
			}
			if err := ds.apply(ctx, op, d, requeueTo); err != nil {
				return nil, err
			}
			delete(t.held, d.sm.Seq)
		}
		if len(t.held) == 0 {
			ds.closeLocked(t)
		}
		return nil, nil
	case OpActiveOffsets:
		if t.closed {
			return nil, errOffsetsClosed
		}
		out := make([]int64, 0, len(t.held))
		for _, d := range t.sorted() {
			out = append(out, int64(d.sm.Seq))
		}
		return out, nil
	case OpClose:
		if !t.closed {
			ds.closeLocked(t)
		}
		return nil, nil
	}
	return nil, ErrRequestUnknown
}

func (ds *Downstream) apply(ctx context.Context, op Op, d *delivery, requeueTo string) error {
	var err error
	switch op {
	case OpAckAll, OpAckRange:
		err = ds.s.ack(d)
	case OpNAckAll, OpNAckRange:
		if err = ds.s.requeue(ctx, d); err != nil && err != errLeaseGone {
			return kmq.New(0, fmt.Sprintf("nack message with seq %d failed, %v", d.sm.Seq, err))
		}
	case OpReQueueAll, OpReQueueRange:
		cp := *d.msg
		cp.Channel = requeueTo
		cp.Attributes = Attributes{}
		if err = ds.s.move(ctx, d, &cp); err != nil && err != errLeaseGone {
			return kmq.New(0, fmt.Sprintf("re-queue message with seq %d failed, %v", d.sm.Seq, err))
		}
	}
	if err == errLeaseGone {
		return nil
	}
	return err
}

// Status reports whether the transaction is complete (closed or unknown).
func (ds *Downstream) Status(txID string) (complete bool, err error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	t := ds.tx[txID]
	if t == nil {
		return true, ErrTxNotFound
	}
	return t.closed, nil
}

// Close ends the stream: every open transaction returns its messages in place.
func (ds *Downstream) Close() {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for _, t := range ds.tx {
		if !t.closed {
			ds.closeLocked(t)
		}
	}
}
