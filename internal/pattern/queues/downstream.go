package queues

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// defaultDownstreamItems is what a Get with MaxItems ≤ 0 asks for, as the
// reference does. It only bounds a loop: nothing is sized by it.
const defaultDownstreamItems = 200000

// MaxGetsPerStream bounds the Gets of one stream that wait at once; a Get
// beyond it is refused (ErrTooManyGets). The reference serves a stream's
// Gets one after the other, so clients send one at a time.
const MaxGetsPerStream = 16

// ErrTooManyGets refuses a Get while MaxGetsPerStream Gets of its stream wait.
var ErrTooManyGets = kmq.New(0, fmt.Sprintf("too many Get requests waiting on this stream, at most %d at once", MaxGetsPerStream))

// keepClosed is how many closed transactions a stream remembers, so that
// settlements on them are answered "closed response" (as the reference
// does, which keeps them all until the stream ends); older ones are
// forgotten and answered "transaction is completed or transaction id not
// found", so a stream that lives for days does not grow without bound.
const keepClosed = 1024

// Downstream holds the poll transactions of one QueuesDownstream stream.
// Settlements are serialised by the caller; Get may run concurrently with
// them and with each other.
type Downstream struct {
	s      *Service
	mu     sync.Mutex // guards tx, closed, gets and every transaction's held, closed and timer
	tx     map[string]*transaction
	closed []string // ids of closed transactions, oldest first
	gets   int      // Gets reserved and not finished
}

type transaction struct {
	id     string
	held   map[uint64]*delivery
	closed bool
	timer  *time.Timer
}

// NewDownstream starts the transaction registry of one stream.
func (s *Service) NewDownstream() *Downstream {
	return &Downstream{s: s, tx: make(map[string]*transaction)}
}

// GetRequest opens a poll transaction.
type GetRequest struct {
	ClientID string
	Channel  string
	// MaxItems caps the messages of the transaction; ≤ 0 means 200,000.
	MaxItems int
	// Wait is how long the Get waits to fill the transaction: at least
	// 1 s, at most the longest receive wait (Limits.MaxWaitSeconds).
	Wait time.Duration
	// AutoAck settles the messages once the reply is on its way.
	AutoAck bool
}

// ReserveGet claims one of the stream's MaxGetsPerStream Get slots, before
// the caller starts a Get; Get releases it. ErrTooManyGets when none is free.
func (ds *Downstream) ReserveGet() error {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.gets >= MaxGetsPerStream {
		return ErrTooManyGets
	}
	ds.gets++
	return nil
}

// Get opens a transaction holding up to r.MaxItems messages of r.Channel,
// waiting up to r.Wait to fill it, and hands its id (also on failure), the
// messages and the error to reply. With AutoAck the messages are removed
// once reply returned nil and returned in place when it failed, so a reply
// that never left does not lose them. It releases the slot ReserveGet took.
func (ds *Downstream) Get(ctx context.Context, r GetRequest, reply func(txID string, msgs []*Message, err error) error) {
	id, msgs, err := ds.get(ctx, r)
	ds.mu.Lock()
	ds.gets--
	ds.mu.Unlock()
	rerr := reply(id, msgs, err)
	if err != nil || !r.AutoAck || len(msgs) == 0 {
		return
	}
	op := OpAckAll
	if rerr != nil {
		op = OpClose
	}
	_, _ = ds.Settle(context.WithoutCancel(ctx), op, id, nil, "")
}

func (ds *Downstream) get(ctx context.Context, r GetRequest) (string, []*Message, error) {
	id := kmq.NewUUID()
	if err := kmq.ValidateClientID(r.ClientID); err != nil {
		return id, nil, err
	}
	if err := kmq.ValidateQueueChannel(r.Channel); err != nil {
		return id, nil, err
	}
	if r.MaxItems <= 0 {
		r.MaxItems = defaultDownstreamItems
	}
	r.Wait = min(max(r.Wait, time.Second), seconds(ds.s.lim.MaxWaitSeconds))
	got, _, err := ds.s.lease(ctx, leaseRequest{Client: r.ClientID, Channel: r.Channel, Max: r.MaxItems, Wait: r.Wait, Order: expiryFirst})
	if err != nil {
		if ctx.Err() != nil {
			err = kmq.ErrPollCanceled
		}
		return id, nil, err
	}
	msgs := make([]*Message, len(got))
	for i, d := range got {
		msgs[i] = d.msg
	}
	t := &transaction{id: id, held: make(map[uint64]*delivery, len(got)), closed: len(got) == 0}
	for _, d := range got {
		t.held[d.seq] = d
	}
	ds.mu.Lock()
	if !t.closed {
		// No client may hold messages forever: after the longest
		// visibility the server allows they return in place.
		t.timer = time.AfterFunc(ds.s.lim.maxVisibility(), func() { ds.expire(t) })
	}
	ds.tx[id] = t
	if t.closed {
		ds.retireLocked(t)
	}
	ds.mu.Unlock()
	return id, msgs, nil
}

func (ds *Downstream) expire(t *transaction) {
	ds.mu.Lock()
	back := ds.closeLocked(t)
	ds.mu.Unlock()
	ds.returnAll(back)
}

// closeLocked closes t and returns what it held, in sequence order, for the
// caller to return in place once it released ds.mu.
func (ds *Downstream) closeLocked(t *transaction) []*delivery {
	back := t.sorted()
	t.held = map[uint64]*delivery{}
	if !t.closed {
		t.closed = true
		ds.retireLocked(t)
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	return back
}

// retireLocked records that t closed and forgets the oldest closed
// transaction beyond keepClosed.
func (ds *Downstream) retireLocked(t *transaction) {
	ds.closed = append(ds.closed, t.id)
	if len(ds.closed) > keepClosed {
		delete(ds.tx, ds.closed[0])
		ds.closed[0] = ""
		ds.closed = ds.closed[1:]
	}
}

func (ds *Downstream) returnAll(back []*delivery) {
	for _, d := range back {
		_ = ds.s.returnInPlace(d)
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

// Settlement operations.
const (
	OpAckAll Op = iota + 1
	OpAckRange
	OpNAckAll
	OpNAckRange
	OpReQueueAll
	OpReQueueRange
	OpActiveOffsets
	OpClose
)

// opTexts are the errors of an operation on a closed transaction and with
// an empty range.
var opTexts = map[Op]struct{ closed, empty error }{
	OpAckAll:       {closed: kmq.ErrAckClosed},
	OpNAckAll:      {closed: kmq.ErrNackClosed},
	OpReQueueAll:   {closed: kmq.ErrAckClosed}, // sic: the reference answers with the ack text
	OpAckRange:     {closed: kmq.ErrAckClosed, empty: kmq.ErrAckEmpty},
	OpNAckRange:    {closed: kmq.ErrNackClosed, empty: kmq.ErrNackEmpty},
	OpReQueueRange: {closed: kmq.ErrRequeueClosed, empty: kmq.ErrRequeueEmpty},
}

// Settle applies op to the transaction txID. It returns the active offsets
// for OpActiveOffsets; successful settlements return nothing, as the
// reference answers nothing. The messages are settled after ds.mu is
// released, so a Get of the same stream never waits behind the engine.
func (ds *Downstream) Settle(ctx context.Context, op Op, txID string, seqs []int64, requeueTo string) ([]int64, error) {
	ds.mu.Lock()
	t := ds.tx[txID]
	if t == nil {
		ds.mu.Unlock()
		return nil, kmq.ErrTxNotFound
	}
	switch op {
	case OpActiveOffsets:
		defer ds.mu.Unlock()
		if t.closed {
			return nil, kmq.ErrOffsetsClosed
		}
		out := make([]int64, 0, len(t.held))
		for _, d := range t.sorted() {
			out = append(out, int64(d.seq))
		}
		return out, nil
	case OpClose:
		back := ds.closeLocked(t)
		ds.mu.Unlock()
		ds.returnAll(back)
		return nil, nil
	}
	texts, ok := opTexts[op]
	if !ok {
		ds.mu.Unlock()
		return nil, kmq.ErrRequestUnknown
	}
	if t.closed {
		ds.mu.Unlock()
		return nil, texts.closed
	}
	if (op == OpReQueueAll || op == OpReQueueRange) && requeueTo == "" {
		ds.mu.Unlock()
		return nil, kmq.ErrRequeueNoChannel
	}
	all := op == OpAckAll || op == OpNAckAll || op == OpReQueueAll
	if !all && len(seqs) == 0 {
		ds.mu.Unlock()
		return nil, texts.empty
	}
	// Take the messages out of the transaction: up to the first sequence
	// it does not hold, whose error is reported after the earlier ones
	// were applied, as the reference does.
	var (
		take   []*delivery
		badSeq error
	)
	if all {
		take = t.sorted()
	} else {
		for _, seq := range seqs {
			d := t.held[uint64(seq)]
			if seq <= 0 || d == nil {
				badSeq = kmq.ErrInvalidAckSeq(seq)
				if op == OpNAckRange {
					badSeq = kmq.ErrInvalidNackSeq(seq)
				}
				break
			}
			take = append(take, d)
		}
	}
	for _, d := range take {
		delete(t.held, d.seq)
	}
	ds.mu.Unlock()

	for i, d := range take {
		last := op == OpAckAll && i == len(take)-1
		if err := ds.apply(ctx, op, d, requeueTo, last); err != nil {
			ds.mu.Lock()
			for _, rest := range take[i:] { // not settled: still held
				t.held[rest.seq] = rest
			}
			ds.mu.Unlock()
			return nil, err
		}
	}
	if badSeq != nil {
		return nil, badSeq // the transaction stays open, as on the reference
	}
	ds.mu.Lock()
	var back []*delivery
	if all || len(t.held) == 0 {
		back = ds.closeLocked(t)
	}
	ds.mu.Unlock()
	ds.returnAll(back)
	return nil, nil
}

// apply settles one message; last marks the final ack of an AckAll, which
// waits for the engine's confirmation (acks are ordered, so it confirms
// the earlier ones too).
func (ds *Downstream) apply(ctx context.Context, op Op, d *delivery, requeueTo string, last bool) error {
	var err error
	switch op {
	case OpAckAll, OpAckRange:
		if last {
			err = ds.s.ackSync(ctx, d)
		} else {
			err = ds.s.ack(d)
		}
	case OpNAckAll, OpNAckRange:
		if err = ds.s.requeue(ctx, d); err != nil && err != errLeaseGone {
			return kmq.ErrNackFailed(d.seq, err)
		}
	case OpReQueueAll, OpReQueueRange:
		cp := *d.msg
		cp.Channel = requeueTo
		cp.Attributes = Attributes{}
		if err = ds.s.move(ctx, d, &cp); err != nil && err != errLeaseGone {
			return kmq.ErrRequeueFailed(d.seq, err)
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
		return true, kmq.ErrTxNotFound
	}
	return t.closed, nil
}

// Close ends the stream: every open transaction returns its messages in place.
func (ds *Downstream) Close() {
	ds.mu.Lock()
	var back []*delivery
	for _, t := range ds.tx {
		if !t.closed {
			back = append(back, ds.closeLocked(t)...)
		}
	}
	ds.mu.Unlock()
	ds.returnAll(back)
}
