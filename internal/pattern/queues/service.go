// Package queues is KubeMQ's durable FIFO queue pattern on JetStream work-queue
// streams: one stream per queue channel holding its messages on q.<channel>,
// with one durable pull consumer from which every receiver of the channel
// fetches; delayed messages wait in a shared delay stream until due (see
// delay.go).
//
// A delivered, unsettled message is a lease held by this process: it is
// invisible to other receivers, kept alive with in-progress heartbeats, and
// settled exactly once by ack, a return in place (same sequence and receive
// count), a re-publish at the tail (new sequence, count + 1, or the dead-letter
// queue once MaxReceiveCount is used up) or a move to another queue. If the
// process dies, the engine's ack wait returns leased messages in place.
package queues

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// Engine subjects and stream names of queue channels.
const (
	ReadyPrefix  = "q."
	StreamPrefix = "Q_"
	consumerName = "recv"
)

// StreamName is the engine stream of a queue channel.
func StreamName(channel string) string {
	return StreamPrefix + eventsstore.StreamName(channel)[len(eventsstore.StreamPrefix):]
}

// Engine is what the queues pattern needs from the engine.
type Engine interface {
	EnsureStream(ctx context.Context, spec engine.StreamSpec) error
	ForgetStream(name string)
	PublishStored(ctx context.Context, subject string, data []byte, o engine.PubOpts) (engine.PubAck, error)
	PublishStoredAsync(subject string, data []byte, o engine.PubOpts) *engine.PubFuture
	EnsureConsumer(ctx context.Context, stream string, spec engine.ConsumerSpec) (*engine.Consumer, error)
	NextMsg(ctx context.Context, stream string, seq uint64, subject string) (*engine.RawMsg, error)
	ListStreams(ctx context.Context, prefix string) ([]engine.StreamSummary, error)
	DeleteStream(ctx context.Context, name string) error
	DeleteConsumer(ctx context.Context, stream, name string) error
	CountSubjects(ctx context.Context, stream, filter string) (uint64, error)
	PurgeSubjects(ctx context.Context, stream, filter string) error
}

// Config configures the queues service.
type Config struct {
	Limits Limits
	// MaxAge, MaxMsgs and MaxBytes bound each queue channel (0 = unlimited).
	MaxAge   time.Duration
	MaxMsgs  int64
	MaxBytes int64
	// DedupWindow: a client-set MessageID seen again within it on the same
	// channel is stored once. 0 turns deduplication off.
	DedupWindow time.Duration
	// AckWait is the engine's safety net: a lease not heartbeated for this
	// long (the process died) returns its message in place. Default 30 s.
	AckWait time.Duration
	// MaxReplyBytes caps the bodies one receive returns (default 100 MiB less room).
	MaxReplyBytes int
	Logger        *slog.Logger
	Stats         *stats.Registry // nil: no counters
	// EnsureEventsStore creates an events-store channel; group views of
	// events-store channels (ESGroupPrefix) need it.
	EnsureEventsStore func(ctx context.Context, channel string) error
}

// Service serves the queue operations.
type Service struct {
	eng    Engine
	cfg    Config
	lim    Limits
	log    *slog.Logger
	mu     sync.Mutex
	queues map[string]*queue

	// life ends at Close; the heartbeat and the delay mover run until then.
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	graceMu sync.Mutex
	closing bool
	timers  map[*time.Timer]*ReceiveResult // receives waiting out ReplyGrace
	pending sync.WaitGroup
}

// queue is this node's state of one channel.
type queue struct {
	channel string
	stream  string
	ready   string
	cons    *engine.Consumer

	mu        sync.Mutex
	leases    map[uint64]*delivery
	receivers int // active receive calls, streams and transactions
	// esChannel and esDurable are set on a group view of an events-store
	// channel (ESGroupPrefix): deliveries are counted by the engine and a
	// negative settlement redelivers in place.
	esChannel string
	esDurable string
	stats     *stats.Registry
}

// New returns a queues service; Close stops its heartbeat goroutine.
func New(eng Engine, cfg Config) *Service {
	cfg.Limits.setDefaults()
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxReplyBytes <= 0 {
		cfg.MaxReplyBytes = 100<<20 - 1<<20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{eng: eng, cfg: cfg, lim: cfg.Limits, log: log, queues: make(map[string]*queue),
		timers: make(map[*time.Timer]*ReceiveResult)}
	s.life, s.stop = context.WithCancel(context.Background())
	s.wg.Go(s.heartbeat)
	s.wg.Go(s.mover)
	return s
}

// Limits returns the limits in effect.
func (s *Service) Limits() Limits { return s.lim }

// Close settles the receives waiting out ReplyGrace and stops the
// heartbeats. Leases still held return in place when the engine's ack wait
// runs out (or at once when the engine restarts). Call it after the
// transports stopped.
func (s *Service) Close() {
	s.graceMu.Lock()
	s.closing = true
	for t, r := range s.timers {
		if t.Stop() {
			delete(s.timers, t)
			r.Settle(context.Background(), true)
			s.pending.Done()
		}
	}
	s.graceMu.Unlock()
	s.pending.Wait()
	s.stop()
	s.wg.Wait()
}

func (s *Service) heartbeat() {
	t := time.NewTicker(s.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		qs := make([]*queue, 0, len(s.queues))
		for _, q := range s.queues {
			qs = append(qs, q)
		}
		s.mu.Unlock()
		for _, q := range qs {
			q.mu.Lock()
			ds := make([]*delivery, 0, len(q.leases))
			for _, d := range q.leases {
				ds = append(ds, d)
			}
			q.mu.Unlock()
			for _, d := range ds {
				_ = d.sm.InProgress()
			}
		}
	}
}

func (s *Service) streamSpec(channel string) engine.StreamSpec {
	return engine.StreamSpec{
		Name:       StreamName(channel),
		Subjects:   []string{ReadyPrefix + channel},
		WorkQueue:  true,
		MaxAge:     s.cfg.MaxAge,
		MaxMsgs:    s.cfg.MaxMsgs,
		MaxBytes:   s.cfg.MaxBytes,
		Duplicates: s.dedupWindow(),
		Metadata:   map[string]string{"herald.channel": channel, "herald.type": "queues"},
	}
}

func (s *Service) dedupWindow() time.Duration {
	if s.cfg.DedupWindow <= 0 {
		return 2 * time.Minute // the engine's window still protects Herald's own re-publishes
	}
	return s.cfg.DedupWindow
}

// queue returns the channel's state, creating its stream and consumer.
func (s *Service) queue(ctx context.Context, channel string) (*queue, error) {
	s.mu.Lock()
	q := s.queues[channel]
	s.mu.Unlock()
	if q != nil {
		return q, nil
	}
	if strings.HasPrefix(channel, ESGroupPrefix) {
		return s.esGroupQueue(ctx, channel, "new")
	}
	spec := s.streamSpec(channel)
	if err := s.eng.EnsureStream(ctx, spec); err != nil {
		return nil, err
	}
	cons, err := s.eng.EnsureConsumer(ctx, spec.Name, engine.ConsumerSpec{
		Durable: consumerName, FilterSubject: ReadyPrefix + channel, Deliver: engine.DeliverAll,
		AckWait: s.cfg.AckWait, MaxAckPending: 1 << 20,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q = s.queues[channel]; q == nil {
		q = &queue{channel: channel, stream: spec.Name, ready: ReadyPrefix + channel, cons: cons, leases: make(map[uint64]*delivery), stats: s.cfg.Stats}
		s.queues[channel] = q
	}
	return q, nil
}

// forget drops a channel's state (after its stream vanished).
func (s *Service) forget(channel string) {
	s.mu.Lock()
	delete(s.queues, channel)
	s.mu.Unlock()
	s.eng.ForgetStream(StreamName(channel))
}

// Send validates and stores one message. Validation failures are in the
// result (as *kmq.Error), with the message id filled in any case.
func (s *Service) Send(ctx context.Context, m *Message) Result {
	if m.ID == "" {
		m.ID = kmq.NewID()
	}
	if err := s.validate(m); err != nil {
		return Result{MessageID: m.ID, Err: err}
	}
	return s.publish(ctx, m, "").wait(ctx)
}

// SendBatch validates each message on its own and stores the valid ones
// with pipelined publishes. Results are in order.
func (s *Service) SendBatch(ctx context.Context, ms []*Message) []Result {
	pend := make([]*pending, len(ms))
	for i, m := range ms {
		if m.ID == "" {
			m.ID = kmq.NewID()
		}
		if err := s.validate(m); err != nil {
			pend[i] = &pending{res: Result{MessageID: m.ID, Err: err}}
			continue
		}
		pend[i] = s.publish(ctx, m, "")
	}
	out := make([]Result, len(ms))
	for i, p := range pend {
		out[i] = p.wait(ctx)
	}
	return out
}

// pending is a send in flight.
type pending struct {
	res     Result
	f       *engine.PubFuture
	q       *queue
	retry   func() (engine.PubAck, error)
	channel string
	size    int
}

func (p *pending) wait(ctx context.Context) Result {
	if p.f == nil || p.res.Err != nil {
		return p.res
	}
	_, err := p.f.Wait(ctx)
	if errors.Is(err, engine.ErrNoStream) && p.retry != nil {
		_, err = p.retry()
	}
	if err != nil {
		p.res.Err = err
		p.res.SentAt, p.res.ExpirationAt, p.res.DelayedTo = 0, 0, 0
		return p.res
	}
	p.res.SentAt = time.Now().UnixNano()
	p.q.stats.In(stats.Queues, p.q.channel, p.size)
	return p.res
}

// publish starts storing a validated message; wait() reports the outcome.
// msgID is the engine's deduplication id: "" means the client's MessageID
// when deduplication is on.
func (s *Service) publish(ctx context.Context, m *Message, msgID string) *pending {
	q, err := s.queue(ctx, m.Channel)
	if err != nil {
		return &pending{res: Result{MessageID: m.ID, Err: err}}
	}
	now := time.Now()
	delayedTo, expirationAt := m.stamp(now)
	m.receiveCount = 0
	m.Attributes.ReRouted, m.Attributes.ReRoutedFromQueue = false, ""
	subject, opts := q.ready, engine.PubOpts{MsgID: msgID}
	if msgID == "" && s.cfg.DedupWindow > 0 {
		opts.MsgID = m.ID
	}
	if delayedTo != 0 {
		if err := s.eng.EnsureStream(ctx, s.delaySpec()); err != nil {
			return &pending{res: Result{MessageID: m.ID, Err: err}}
		}
		subject = delayScheduled + kmq.NewID() + "." + m.Channel
		opts.ScheduleAt, opts.ScheduleTarget = time.Unix(0, delayedTo), delayReleased+m.Channel
	}
	data := m.encode()
	p := &pending{
		res: Result{MessageID: m.ID, ExpirationAt: expirationAt, DelayedTo: delayedTo},
		q:   q, channel: m.Channel, size: len(m.Body),
		f: s.eng.PublishStoredAsync(subject, data, opts),
	}
	p.retry = func() (engine.PubAck, error) { // the stream was deleted under us
		s.forget(m.Channel)
		q2, err := s.queue(ctx, m.Channel)
		if err != nil {
			return engine.PubAck{}, err
		}
		p.q = q2
		if delayedTo != 0 {
			s.eng.ForgetStream(DelayStream)
			if err := s.eng.EnsureStream(ctx, s.delaySpec()); err != nil {
				return engine.PubAck{}, err
			}
		}
		return s.eng.PublishStored(ctx, subject, data, opts)
	}
	return p
}

// store publishes an already-built message copy (re-publish, dead letter,
// move) to channel's ready subject with an idempotency id.
func (s *Service) store(ctx context.Context, channel string, m *Message, msgID string) error {
	q, err := s.queue(ctx, channel)
	if err != nil {
		return err
	}
	_, err = s.eng.PublishStored(ctx, q.ready, m.encode(), engine.PubOpts{MsgID: msgID})
	if errors.Is(err, engine.ErrNoStream) {
		s.forget(channel)
		if q, err = s.queue(ctx, channel); err == nil {
			_, err = s.eng.PublishStored(ctx, q.ready, m.encode(), engine.PubOpts{MsgID: msgID})
		}
	}
	if err == nil {
		q.stats.In(stats.Queues, channel, len(m.Body))
	}
	return err
}

func idFor(kind, stream string, seq uint64) string {
	return kind + ":" + stream + ":" + strconv.FormatUint(seq, 10)
}

// errLeaseGone is returned when a lease was already settled or expired.
var errLeaseGone = errors.New("queues: message is no longer held")

// delivery is a leased message.
type delivery struct {
	q     *queue
	sm    *engine.StoredMsg
	msg   *Message
	shown int32 // receive count shown to the receiver

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
	delete(d.q.leases, d.sm.Seq)
	d.q.mu.Unlock()
	return nil
}

// ack removes the message for good.
func (s *Service) ack(d *delivery) error {
	return d.settle(func() error { return d.sm.Ack() })
}

// ackSync removes the message and waits for the engine's confirmation.
func (s *Service) ackSync(ctx context.Context, d *delivery) error {
	return d.settle(func() error { return d.sm.AckSync(ctx) })
}

// returnInPlace makes the message available again with the same sequence
// and receive count.
//
// It is a NAK with a tiny delay rather than a plain NAK: the engine records a
// delayed NAK in the consumer's stored state, so the return survives a
// restart right after it (a plain NAK lives in memory only, and the message
// would stay hidden until the ack wait ran out).
func (s *Service) returnInPlace(d *delivery) error {
	return d.settle(func() error { return d.sm.Nak(time.Millisecond) })
}

// requeue re-publishes the message at the tail of its queue with the count
// just shown, or dead-letters it when that would exceed its MaxReceiveCount.
func (s *Service) requeue(ctx context.Context, d *delivery) error {
	return d.settle(func() error {
		if d.q.esChannel != "" {
			return d.sm.Nak(time.Millisecond) // redelivered (the group's count goes up); stored, see returnInPlace
		}
		if d.shown+1 > d.maxReceive(s.lim) {
			return s.deadLetterLocked(ctx, d)
		}
		cp := *d.msg
		cp.receiveCount = d.shown
		if err := s.store(ctx, d.q.channel, &cp, idFor("rp", d.q.stream, d.sm.Seq)); err != nil {
			return fmt.Errorf("%w: %w", kmq.ErrSendToQueue, err)
		}
		return d.sm.AckSync(ctx)
	})
}

// deadLetterLocked moves the message to its dead-letter queue, or drops it
// when it has none. The caller holds d.mu (inside settle).
func (s *Service) deadLetterLocked(ctx context.Context, d *delivery) error {
	if dlq := d.msg.Policy.MaxReceiveQueue; dlq != "" {
		cp := &Message{
			ID: d.msg.ID, ClientID: d.msg.ClientID, Metadata: d.msg.Metadata, Body: d.msg.Body, Tags: d.msg.Tags,
			Topic: d.msg.Topic, Partition: d.msg.Partition, PartitionKey: d.msg.PartitionKey,
		}
		cp.Attributes.ReRouted, cp.Attributes.ReRoutedFromQueue = true, d.q.channel
		cp.Attributes.ExpirationAt = d.msg.Attributes.ExpirationAt
		if err := s.store(ctx, dlq, cp, idFor("dl", d.q.stream, d.sm.Seq)); err != nil {
			return fmt.Errorf("%w: %w", kmq.ErrSendToQueue, err)
		}
	}
	return d.sm.Term("max receive count")
}

// move sends m (a copy or a replacement of the held message) through the
// normal send path to its channel and removes the held message.
func (s *Service) move(ctx context.Context, d *delivery, m *Message) error {
	return d.settle(func() error {
		if m.ID == "" {
			m.ID = kmq.NewID()
		}
		if err := s.validate(m); err != nil {
			return err
		}
		// The id is the source position, not the MessageID: a copy to a
		// queue that recently saw that MessageID must not count as a duplicate.
		if res := s.publish(ctx, m, idFor("mv", d.q.stream, d.sm.Seq)).wait(ctx); res.Err != nil {
			return res.Err
		}
		return d.sm.AckSync(ctx)
	})
}

// Create makes the channel's stream and consumer if they do not exist.
func (s *Service) Create(ctx context.Context, channel string) error {
	if err := kmq.ValidateQueueChannel(channel); err != nil {
		return err
	}
	_, err := s.queue(ctx, channel)
	return err
}

// Delete removes a queue channel with its stored and delayed messages
// (for a group view of an events-store channel, only its durable). Messages
// leased from it can no longer be settled. Deleting a channel that does not
// exist is not an error.
func (s *Service) Delete(ctx context.Context, channel string) error {
	if err := kmq.ValidateQueueChannel(channel); err != nil {
		return err
	}
	if strings.HasPrefix(channel, ESGroupPrefix) {
		return s.deleteESGroup(ctx, channel)
	}
	s.mu.Lock()
	delete(s.queues, channel)
	s.mu.Unlock()
	s.cfg.Stats.Delete(stats.Queues, channel)
	if err := s.eng.PurgeSubjects(ctx, DelayStream, delayScheduled+"*."+channel); err != nil {
		return err
	}
	if err := s.eng.PurgeSubjects(ctx, DelayStream, delayReleased+channel); err != nil {
		return err
	}
	return s.eng.DeleteStream(ctx, StreamName(channel))
}

// ChannelState is a queue channel's stored state, for channel listings.
type ChannelState struct {
	Channel  string
	Waiting  int64 // ready messages never delivered
	Delayed  int64 // messages waiting for their delay
	Messages int64 // stored messages, delayed ones included
	LastTime time.Time
}

// channelStreams lists the streams of the queue channels in the engine,
// with each channel's name.
func (s *Service) channelStreams(ctx context.Context) ([]engine.StreamSummary, []string, error) {
	streams, err := s.eng.ListStreams(ctx, StreamPrefix)
	if err != nil {
		return nil, nil, err
	}
	var out []engine.StreamSummary
	var names []string
	for _, st := range streams {
		if ch := st.Metadata["herald.channel"]; ch != "" && st.Metadata["herald.type"] == "queues" {
			out, names = append(out, st), append(names, ch)
		}
	}
	return out, names, nil
}

// Channels lists the queue channels that exist in the engine.
func (s *Service) Channels(ctx context.Context) ([]ChannelState, error) {
	streams, names, err := s.channelStreams(ctx)
	if err != nil {
		return nil, err
	}
	var out []ChannelState
	for i, st := range streams {
		ch := names[i]
		cs := ChannelState{Channel: ch, Messages: int64(st.State.Msgs), LastTime: st.State.LastTime}
		cs.Delayed = s.delayedCount(ctx, ch)
		if q, err := s.queue(ctx, ch); err == nil {
			if info, err := q.cons.Info(ctx); err == nil {
				cs.Waiting = int64(info.NumPending)
			}
		}
		out = append(out, cs)
	}
	return out, nil
}

// validate checks a message to send: the limits, and no sends to the
// read-only group views of events-store channels.
func (s *Service) validate(m *Message) error {
	if err := s.lim.validate(m); err != nil {
		return err
	}
	if strings.HasPrefix(m.Channel, ESGroupPrefix) || strings.HasPrefix(m.Policy.MaxReceiveQueue, ESGroupPrefix) {
		return errESGroupReadOnly
	}
	return nil
}
