package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DeliverPolicy says where a new consumer starts.
type DeliverPolicy int

// Start positions of a consumer.
const (
	DeliverAll DeliverPolicy = iota
	DeliverNew
	DeliverLast
	DeliverByStartSeq
	DeliverByStartTime
)

// ConsumerSpec describes a pull consumer on a stream. A durable consumer is
// created with this spec the first time and reused as it is afterwards.
type ConsumerSpec struct {
	Durable           string // "" = ephemeral, removed when its reader closes
	Name              string // an ephemeral consumer's name ("" = the engine picks one)
	Metadata          map[string]string
	FilterSubject     string
	Deliver           DeliverPolicy
	StartSeq          uint64
	StartTime         time.Time
	AckWait           time.Duration
	InactiveThreshold time.Duration
	MaxAckPending     int
	// Exclusive: the durable has one reader at a time, which acks in order.
	// Opening it then resumes exactly after the last acked message: what
	// was delivered and not acked comes again first, in order, however the
	// last reader ended (a closed reader cannot account for deliveries
	// still on their way to it, and a crash leaves them pending for the ack
	// wait, after which they would come behind newer messages).
	Exclusive bool
}

func (s ConsumerSpec) config() jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:           s.Durable,
		Name:              s.Name,
		Metadata:          s.Metadata,
		FilterSubject:     s.FilterSubject,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           s.AckWait,
		MaxDeliver:        -1,
		MaxAckPending:     s.MaxAckPending,
		InactiveThreshold: s.InactiveThreshold,
		Replicas:          0,
	}
	switch s.Deliver {
	case DeliverAll:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case DeliverNew:
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	case DeliverLast:
		cfg.DeliverPolicy = jetstream.DeliverLastPolicy
	case DeliverByStartSeq:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = s.StartSeq
	case DeliverByStartTime:
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		t := s.StartTime
		cfg.OptStartTime = &t
	}
	if s.Durable == "" && cfg.InactiveThreshold == 0 {
		cfg.InactiveThreshold = 30 * time.Second
	}
	return cfg
}

// StoredMsg is a message delivered from a stream through a consumer.
type StoredMsg struct {
	Subject      string
	Data         []byte
	Seq          uint64    // stream sequence
	ChanSeq      uint64    // channel sequence in a Log (0 elsewhere)
	Time         time.Time // when it was stored
	NumDelivered uint64    // 1 on the first delivery
	set          Settler
	jm           jetstream.Msg // nil for messages made by NewStoredMsg
	rd           *Reader       // the Reader it came from, if any
}

// Settler settles a delivered message: JetStream's messages do, and tests
// can give NewStoredMsg one of their own to inject faults.
type Settler interface {
	Ack() error
	DoubleAck(ctx context.Context) error
	Nak() error
	NakWithDelay(delay time.Duration) error
	InProgress() error
	TermWithReason(reason string) error
}

// NewStoredMsg returns m settled by set, for tests of the layers above.
func NewStoredMsg(m StoredMsg, set Settler) *StoredMsg {
	m.set, m.jm, m.rd = set, nil, nil
	return &m
}

func newStored(m jetstream.Msg, md *jetstream.MsgMetadata, rd *Reader) *StoredMsg {
	return &StoredMsg{
		Subject: m.Subject(), Data: m.Data(), Seq: md.Sequence.Stream, ChanSeq: chanSeqOf(m.Headers()),
		Time: md.Timestamp, NumDelivered: md.NumDelivered, set: m, jm: m, rd: rd,
	}
}

// Header returns a header value of the stored message.
func (m *StoredMsg) Header(key string) string {
	if m.jm == nil {
		return ""
	}
	return m.jm.Headers().Get(key)
}

// Ack settles the message (fire and forget).
func (m *StoredMsg) Ack() error {
	if m.rd != nil {
		m.rd.acked = m.jm.Reply()
	}
	return mapJSErr(m.set.Ack())
}

// AckSync settles the message and waits for the server's confirmation.
func (m *StoredMsg) AckSync(ctx context.Context) error { return mapJSErr(m.set.DoubleAck(ctx)) }

// settleWait bounds each confirmed settlement of Reader.Close.
const settleWait = 2 * time.Second

// Return gives the message back for redelivery ahead of newer messages. On
// a message of a Reader it takes effect when the Reader closes (see Close).
func (m *StoredMsg) Return() error {
	if m.rd == nil {
		return mapJSErr(m.set.NakWithDelay(time.Millisecond))
	}
	m.rd.returned = append(m.rd.returned, m.jm)
	return nil
}

// Nak asks for redelivery after delay (0 = at once).
func (m *StoredMsg) Nak(delay time.Duration) error {
	if delay <= 0 {
		return mapJSErr(m.set.Nak())
	}
	return mapJSErr(m.set.NakWithDelay(delay))
}

// InProgress resets the consumer's ack timer for this message.
func (m *StoredMsg) InProgress() error { return mapJSErr(m.set.InProgress()) }

// Term removes the message from the consumer without redelivery.
func (m *StoredMsg) Term(reason string) error { return mapJSErr(m.set.TermWithReason(reason)) }

// Reader pulls messages through one consumer. It is used by one goroutine.
type Reader struct {
	e         *Engine
	stream    string
	ephemeral string
	// The pull runs as a callback subscription: nats.go's iterator
	// (Messages) hands messages over through a buffer of the pull's size
	// and drops what arrives while it is full ("slow consumer"), losing a
	// delivery now and then under load; a callback has no such buffer.
	// The callback hands each message to Next through msgs (a pull's
	// worth), waiting while it is full until Next takes one or quit closes.
	cons      jetstream.Consumer
	cc        jetstream.ConsumeContext
	closed    <-chan struct{} // cc.Closed(), taken once: it locks twice a call
	msgs      chan jetstream.Msg
	errs      chan error // the pull's terminal error, if any
	quit      chan struct{}
	exclusive bool            // an exclusive durable: Close gives nothing back
	acked     string          // reply subject of the last Ack not yet confirmed
	returned  []jetstream.Msg // Return calls, applied by Close
	// sole: this reader receives every delivery of its consumer (not a
	// durable shared with others), whose numbers then follow each other;
	// delivered is the number of the last one.
	sole      bool
	delivered uint64
	// checked: the consumer was asked, since the last delivery, whether
	// it holds deliveries that did not arrive (see Next).
	checked bool
	idle    *time.Timer // the wait for that, made on first use
	// known: delivered is the number before the next delivery (a new
	// consumer starts at 0; a durable's is known from its first delivery).
	known bool
}

// ErrReaderClosed is returned by Next after Close or when the consumer vanished.
var ErrReaderClosed = errors.New("engine: reader closed")

// ErrReaderGap is returned by Next when a delivery of the reader's own
// consumer never reached it (the client library drops what arrives while
// its buffer is full), or when the reader sits idle while its consumer
// holds messages for it: the message would come again only after the ack
// wait, out of order. Close the reader and open a new one from the last
// message handed out.
var ErrReaderGap = errors.New("engine: a delivery was lost on the way to the reader")

// lostDelivery, set by tests (LoseDeliveries), makes Next lose the
// deliveries it returns true for, as a full client buffer does.
var lostDelivery atomic.Pointer[func(*StoredMsg) bool]

// LoseDeliveries is for tests: until restore is called, readers lose the
// deliveries lose returns true for, as when the client library's buffer is
// full.
func LoseDeliveries(lose func(*StoredMsg) bool) (restore func()) {
	lostDelivery.Store(&lose)
	return func() { lostDelivery.Store(nil) }
}

// OpenReader attaches to (or creates) the consumer of spec on stream and starts
// pulling. For a durable that already exists the spec's start is ignored.
func (e *Engine) OpenReader(ctx context.Context, stream string, spec ConsumerSpec) (*Reader, error) {
	cctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	var (
		cons jetstream.Consumer
		err  error
	)
	if spec.Durable != "" {
		cons, err = e.js.Consumer(cctx, stream, spec.Durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			cons, err = e.js.CreateConsumer(cctx, stream, spec.config())
			if errors.Is(err, jetstream.ErrConsumerExists) {
				cons, err = e.js.Consumer(cctx, stream, spec.Durable)
			}
		} else if err == nil && spec.Exclusive && cons.CachedInfo().NumAckPending > 0 {
			_, err = e.js.ResetConsumer(cctx, stream, spec.Durable) // back to the ack floor
		}
	} else {
		cons, err = e.js.CreateConsumer(cctx, stream, spec.config())
	}
	if err != nil {
		return nil, fmt.Errorf("engine: consumer on %s: %w", stream, mapJSErr(err))
	}
	r := &Reader{e: e, cons: cons, stream: stream, exclusive: spec.Exclusive && spec.Durable != "", sole: spec.Durable == "" || spec.Exclusive,
		msgs: make(chan jetstream.Msg, readerPull), errs: make(chan error, 1), quit: make(chan struct{})}
	r.cc, err = cons.Consume(r.hand, jetstream.PullMaxMessagesWithBytesLimit(readerPull, 16<<20),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				select {
				case r.errs <- err:
				default:
				}
			}
			// Missed heartbeats and the like: the pull is issued again.
		}))
	if err != nil {
		return nil, fmt.Errorf("engine: pull from %s: %w", stream, mapJSErr(err))
	}
	r.closed = r.cc.Closed()
	if spec.Durable == "" {
		r.ephemeral = cons.CachedInfo().Name
		r.known = true // its deliveries are numbered from 1
	}
	return r, nil
}

// Next blocks until a message arrives, ctx ends or the reader is closed.
//
// A reader of its own consumer that has waited readerIdleCheck since its
// last delivery asks the consumer, once, whether it holds messages that did
// not arrive: delivered beyond the last one received (the last of a burst
// lost), or waiting to be delivered while nothing comes (a pull the client
// library no longer renews, acknowledgements lost on the way). Either would
// otherwise wait out the ack wait or the pull's expiry; Next returns
// ErrReaderGap instead. (A caller that keeps messages unacknowledged up to
// the consumer's MaxAckPending while it waits gets ErrReaderGap too.)
func (r *Reader) Next(ctx context.Context) (*StoredMsg, error) {
	for {
		var m jetstream.Msg
		select {
		case m = <-r.msgs:
		default:
			var err error
			if m, err = r.wait(ctx); err != nil {
				return nil, err
			}
			if m == nil {
				continue
			}
		}
		r.checked = false
		md, err := m.Metadata()
		if err != nil {
			continue // not a JetStream message; cannot happen on a pull subscription
		}
		sm := newStored(m, md, r)
		if lose := lostDelivery.Load(); lose != nil && (*lose)(sm) {
			continue
		}
		if r.sole {
			if d := md.Sequence.Consumer; r.known && d != r.delivered+1 {
				return nil, fmt.Errorf("%w: delivery %d after %d", ErrReaderGap, d, r.delivered)
			}
			r.delivered, r.known = md.Sequence.Consumer, true
		}
		return sm, nil
	}
}

// wait blocks until a message arrives (nil: look again), ctx ends or the
// reader is closed, and checks an idle consumer of the reader's own.
func (r *Reader) wait(ctx context.Context) (jetstream.Msg, error) {
	var idle <-chan time.Time
	if r.sole && !r.checked {
		if r.idle == nil {
			r.idle = time.NewTimer(readerIdleCheck)
		} else {
			r.idle.Reset(readerIdleCheck)
		}
		defer r.idle.Stop()
		idle = r.idle.C
	}
	select {
	case m := <-r.msgs:
		return m, nil
	case <-r.errs:
		return nil, ErrReaderClosed
	case <-r.closed:
		return nil, ErrReaderClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-idle:
		r.checked = true
		return nil, r.stalled(ctx)
	}
}

// readerIdleCheck is how long a reader of its own consumer waits for a
// delivery before it asks the consumer whether something is stuck.
const readerIdleCheck = 2 * time.Second

// stalled asks the reader's consumer whether it holds messages the reader
// did not get (ErrReaderGap). An error asking is no answer: the reader
// keeps waiting.
func (r *Reader) stalled(ctx context.Context) error {
	ictx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	info, err := r.cons.Info(ictx)
	if err != nil || len(r.msgs) > 0 {
		return nil
	}
	switch {
	case r.known && info.Delivered.Consumer > r.delivered:
		return fmt.Errorf("%w: the consumer delivered %d, the last received was %d", ErrReaderGap, info.Delivered.Consumer, r.delivered)
	case info.NumPending > 0:
		return fmt.Errorf("%w: %d messages wait and none arrives (%d unacknowledged)", ErrReaderGap, info.NumPending, info.NumAckPending)
	}
	return nil
}

// readerPull is how many messages a Reader asks for at a time.
const readerPull = 256

// hand gives m to Next, or drops it once the Reader closes (it is then
// delivered again after the ack wait, or goes with its ephemeral consumer).
func (r *Reader) hand(m jetstream.Msg) {
	select {
	case r.msgs <- m:
	case <-r.quit:
	}
}

// closeDrainWait bounds how long Close waits for the messages the server
// sent before it saw the pull end.
const closeDrainWait = 5 * time.Second

// Close stops pulling. An exclusive durable resumes at its ack floor when it
// is opened again, and an ephemeral consumer is deleted; on a shared durable
// the messages returned (Return) and those pulled but not handed out go back,
// in that order, ahead of newer messages, also across a shutdown that
// follows. Close returns once the server has applied the Reader's acks and
// returns: it drops the settlements still queued when it shuts down, and a
// message left pending would come back after the ack wait, behind newer
// ones. (Given back while the pull still ran, a message would come straight
// back to it, behind the ones already on their way.)
func (r *Reader) Close() {
	var back []jetstream.Msg
	if r.ephemeral != "" {
		close(r.quit) // a message being handed over is dropped:
		r.cc.Stop()   // the consumer is deleted below
	} else {
		// The drain ends when the server has seen the pull end and the
		// messages it sent before have arrived. (Deliveries still queued in
		// the server then are lost and wait out the ack wait.) An exclusive
		// durable waits for it too: a pull the server still serves would
		// take messages stored after Close, and the next reader, opened
		// when none was pending, would start behind them.
		r.cc.Drain()
		t := time.NewTimer(closeDrainWait)
	drain:
		for {
			select {
			case m := <-r.msgs:
				back = append(back, m)
			case <-r.closed:
				break drain
			case <-t.C:
				break drain
			}
		}
		t.Stop()
		close(r.quit)
		for len(r.msgs) > 0 {
			back = append(back, <-r.msgs)
		}
		if r.exclusive {
			back = nil // it resumes at its ack floor
		} else {
			back = append(r.returned, back...)
		}
	}
	r.returned = nil
	// A plain NAK queues a message for redelivery at once but is not stored
	// (after a restart the message waits out the ack wait, and newer ones
	// overtake it); a delayed NAK is stored but lets newer messages overtake
	// it until its timer runs. So each message gets both, a NAK delayed by
	// 1 ms and a plain one, each confirmed by the server. (nats.go refuses a
	// second settlement of one message, so both are sent directly.)
	delayed := []byte(fmt.Sprintf(`-NAK {"delay": %d}`, time.Millisecond))
	for _, m := range back {
		if _, err := r.e.nc.Request(m.Reply(), delayed, settleWait); err != nil {
			break
		}
		if _, err := r.e.nc.Request(m.Reply(), []byte("-NAK"), settleWait); err != nil {
			break
		}
		r.acked = "" // confirmed with every earlier ack
	}
	if r.acked != "" && r.ephemeral == "" { // an ephemeral consumer goes below
		// Acks are fire and forget. A confirmed progress note on the last
		// acked message (no longer pending, so it changes nothing) goes
		// through the same queue and is answered once every earlier ack
		// has been applied.
		_, _ = r.e.nc.Request(r.acked, []byte("+WPI"), settleWait)
		r.acked = ""
	}
	if r.ephemeral != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = r.e.js.DeleteConsumer(ctx, r.stream, r.ephemeral)
		cancel()
	}
}
