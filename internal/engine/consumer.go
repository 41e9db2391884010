package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
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
	FilterSubject     string
	Deliver           DeliverPolicy
	StartSeq          uint64
	StartTime         time.Time
	AckWait           time.Duration
	InactiveThreshold time.Duration
	MaxAckPending     int
}

func (s ConsumerSpec) config() jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:           s.Durable,
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
	Time         time.Time // when it was stored
	NumDelivered uint64    // 1 on the first delivery
	m            jetstream.Msg
	nc           *nats.Conn // for Return; set on messages of a Reader
}

// Header returns a header value of the stored message.
func (m *StoredMsg) Header(key string) string { return m.m.Headers().Get(key) }

// Ack settles the message (fire and forget).
func (m *StoredMsg) Ack() error { return mapJSErr(m.m.Ack()) }

// AckSync settles the message and waits for the server's confirmation.
func (m *StoredMsg) AckSync(ctx context.Context) error { return mapJSErr(m.m.DoubleAck(ctx)) }

// Return gives the message back for redelivery ahead of newer messages, in
// the order of Return calls, also across a shutdown that follows. A plain
// NAK queues it for redelivery at once but is not stored (after a restart
// the message waits out the ack wait, and newer ones overtake it); a delayed
// NAK is stored but lets newer messages overtake it until its timer runs.
// So Return sends both: a NAK delayed by 1 ms, stored, then a plain one
// (on the same connection, hence in that order; nats.go refuses a second
// settlement, so the plain one is published directly).
func (m *StoredMsg) Return() error {
	if err := m.m.NakWithDelay(time.Millisecond); err != nil {
		return mapJSErr(err)
	}
	if m.nc == nil {
		return nil
	}
	return mapConnErr(m.nc.Publish(m.m.Reply(), []byte("-NAK")))
}

// Nak asks for redelivery after delay (0 = at once).
func (m *StoredMsg) Nak(delay time.Duration) error {
	if delay <= 0 {
		return mapJSErr(m.m.Nak())
	}
	return mapJSErr(m.m.NakWithDelay(delay))
}

// InProgress resets the consumer's ack timer for this message.
func (m *StoredMsg) InProgress() error { return mapJSErr(m.m.InProgress()) }

// Term removes the message from the consumer without redelivery.
func (m *StoredMsg) Term(reason string) error { return mapJSErr(m.m.TermWithReason(reason)) }

// Reader pulls messages through one consumer. It is used by one goroutine.
type Reader struct {
	e         *Engine
	stream    string
	ephemeral string
	it        jetstream.MessagesContext
}

// ErrReaderClosed is returned by Next after Close or when the consumer vanished.
var ErrReaderClosed = errors.New("engine: reader closed")

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
		}
	} else {
		cons, err = e.js.CreateConsumer(cctx, stream, spec.config())
	}
	if err != nil {
		return nil, fmt.Errorf("engine: consumer on %s: %w", stream, mapJSErr(err))
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(256, 16<<20), jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return nil, fmt.Errorf("engine: pull from %s: %w", stream, mapJSErr(err))
	}
	r := &Reader{e: e, stream: stream, it: it}
	if spec.Durable == "" {
		r.ephemeral = cons.CachedInfo().Name
	}
	return r, nil
}

// Next blocks until a message arrives, ctx ends or the reader is closed.
func (r *Reader) Next(ctx context.Context) (*StoredMsg, error) {
	for {
		m, err := r.it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				return nil, ErrReaderClosed
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				continue
			}
			return nil, mapJSErr(err)
		}
		md, err := m.Metadata()
		if err != nil {
			continue // not a JetStream message; cannot happen on a pull subscription
		}
		return &StoredMsg{
			Subject: m.Subject(), Data: m.Data(), Seq: md.Sequence.Stream,
			Time: md.Timestamp, NumDelivered: md.NumDelivered, m: m, nc: r.e.nc,
		}, nil
	}
}

// Close stops pulling. Messages already pulled but not handed out are
// returned (Return) in order; an ephemeral consumer is deleted.
func (r *Reader) Close() {
	r.it.Drain()
	for {
		m, err := r.it.Next(jetstream.NextMaxWait(50 * time.Millisecond))
		if err != nil {
			break
		}
		_ = (&StoredMsg{m: m, nc: r.e.nc}).Return()
	}
	if r.ephemeral != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = r.e.js.DeleteConsumer(ctx, r.stream, r.ephemeral)
		cancel()
	}
}
