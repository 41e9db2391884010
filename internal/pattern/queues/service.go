// Package queues is KubeMQ's durable FIFO queue pattern. Every queue
// channel is a subject of the engine's queue log (a few work-queue shard
// streams shared by all channels), its messages numbered 1, 2, 3… per
// channel. A channel that receivers use gets a durable pull consumer,
// created when the first receiver comes and removed by the engine once it
// has been idle for a while; delayed messages wait in a shared delay
// stream until due (see delay.go). An idle channel costs a registry record
// and its messages, nothing else.
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
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/registry"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// Kind is the registry and statistics kind of queue channels.
const Kind = stats.Queues

// Log is the engine log holding the queue channels; *engine.Log implements
// it. Appends to one channel are stored in call order.
type Log interface {
	Append(ctx context.Context, a engine.Append) engine.Pending
	// AppendBatch appends as Append would, one after another.
	AppendBatch(ctx context.Context, as []engine.Append) []engine.Pending
	// Consumer returns channel's durable consumer spec.Durable, creating it.
	Consumer(ctx context.Context, channel string, spec engine.ConsumerSpec) (engine.Fetcher, error)
	DeleteConsumer(ctx context.Context, channel, name string) error
	// Next returns the first message of channel at or after stream
	// sequence seq, or nil.
	Next(ctx context.Context, channel string, seq uint64) (*engine.RawMsg, error)
	First(ctx context.Context, channel string) (*engine.RawMsg, error)
	Counts(ctx context.Context) (map[string]uint64, error)
	Lasts(ctx context.Context, channels []string) (map[string]*engine.RawMsg, error)
	Firsts(ctx context.Context, channels []string) (map[string]*engine.RawMsg, error)
	// LastSeqs returns the last sequence stored per channel since start.
	LastSeqs() map[string]uint64
	Purge(ctx context.Context, channel string) error
	Forget(ctx context.Context, channel string) error
	Stream(channel string) string
}

// Engine is what the delay stream needs; *engine.Engine implements it.
type Engine interface {
	EnsureStream(ctx context.Context, spec engine.StreamSpec) error
	ForgetStream(name string)
	PublishStored(ctx context.Context, subject string, data []byte, o engine.PubOpts) (engine.PubAck, error)
	PublishStoredAsync(subject string, data []byte, o engine.PubOpts) engine.PubPending
	EnsureConsumer(ctx context.Context, stream string, spec engine.ConsumerSpec) (engine.Fetcher, error)
	SubjectCounts(ctx context.Context, stream, filter string) (map[string]uint64, error)
	PurgeSubjects(ctx context.Context, stream, filter string) error
}

// Registry keeps which channels exist; *registry.Registry implements it.
type Registry interface {
	Ensure(ctx context.Context, kind, name string) (created bool, err error)
	Exists(kind, name string) bool
	Delete(ctx context.Context, kind, name string) error
	List(kind string) []registry.Record
}

// Config configures the queues service.
type Config struct {
	Limits Limits
	// DedupWindow: a client-set MessageID seen again within it on the same
	// channel is stored once. 0 turns deduplication off.
	DedupWindow time.Duration
	// AckWait is the engine's safety net: a lease not heartbeated for this
	// long (the process died) returns its message in place. Default 30 s.
	AckWait time.Duration
	// ConsumerIdle is how long a channel's consumer outlives its last
	// receiver before the engine removes it (default 5 min).
	ConsumerIdle time.Duration
	// MaxReplyBytes caps the bodies one receive returns (default 100 MiB less room).
	MaxReplyBytes int
	Logger        *slog.Logger
	Stats         *stats.Registry // nil: no counters
	// Groups serves the group views of events-store channels
	// (ESGroupPrefix); nil refuses them.
	Groups *GroupViews
	// Tracer records the spans of stores and settlements; nil records none.
	Tracer Tracer
}

// Service serves the queue operations.
//
// Lock order: Service.mu, then queue.mu; delivery.mu, then queue.mu (a
// settlement removes its lease); Service.graceMu alone; Downstream.mu and
// Session.mu are never held while a delivery is settled.
type Service struct {
	log  Log
	eng  Engine
	reg  Registry
	cfg  Config
	lim  Limits
	logg *slog.Logger

	mu     sync.Mutex
	queues map[string]*queue // channels with receivers or leases (and recently used)

	// life ends at Close; the heartbeat and the delay mover run until then.
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	graceMu sync.Mutex
	closing bool
	timers  map[*time.Timer]*ReceiveResult // receives waiting out ReplyGrace
	pending sync.WaitGroup

	// waitsOver is closed by StopWaits: receives stop waiting to fill
	// their batch and answer with what they have.
	waitsOver     chan struct{}
	stopWaitsOnce sync.Once
}

// New returns a queues service; Close stops its goroutines.
func New(log Log, eng Engine, reg Registry, cfg Config) *Service {
	cfg.Limits.setDefaults()
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.ConsumerIdle <= 0 {
		cfg.ConsumerIdle = 5 * time.Minute
	}
	if cfg.MaxReplyBytes <= 0 {
		cfg.MaxReplyBytes = 100<<20 - 1<<20
	}
	logg := cfg.Logger
	if logg == nil {
		logg = slog.New(slog.DiscardHandler)
	}
	s := &Service{log: log, eng: eng, reg: reg, cfg: cfg, lim: cfg.Limits, logg: logg, queues: make(map[string]*queue),
		timers: make(map[*time.Timer]*ReceiveResult), waitsOver: make(chan struct{})}
	s.life, s.stop = context.WithCancel(context.Background())
	if cfg.Groups != nil {
		cfg.Groups.s = s
	}
	s.wg.Go(s.heartbeat)
	s.wg.Go(s.mover)
	return s
}

// StopWaits makes every receive, peek and Get that waits for its batch to
// fill stop waiting (within a second) and answer with what it has; later
// ones answer at once. The server calls it when it begins to shut down, so
// that long polls end early instead of holding the shutdown.
func (s *Service) StopWaits() {
	s.stopWaitsOnce.Do(func() { close(s.waitsOver) })
}

func (s *Service) waitsStopped() bool {
	select {
	case <-s.waitsOver:
		return true
	default:
		return false
	}
}

// Limits returns the limits in effect.
func (s *Service) Limits() Limits { return s.lim }

// Close settles the receives waiting out ReplyGrace and stops the
// heartbeats and the delay mover. Leases still held return in place when
// the engine's ack wait runs out (or at once when the engine restarts).
// Call it after the transports stopped.
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

// heartbeat keeps leases alive and drops the state of idle channels.
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
		for name, q := range s.queues {
			if q.idle(time.Now(), queueStateIdle) {
				delete(s.queues, name)
				continue
			}
			qs = append(qs, q)
		}
		s.mu.Unlock()
		for _, q := range qs {
			for _, d := range q.held() {
				_ = d.sm.InProgress()
			}
		}
	}
}

// queueStateIdle is how long this process keeps the state of a channel
// nobody receives from.
const queueStateIdle = time.Minute

func (s *Service) dedupWindow() time.Duration {
	if s.cfg.DedupWindow <= 0 {
		return 2 * time.Minute // the engine's window still protects Herald's own re-publishes
	}
	return s.cfg.DedupWindow
}

// exist makes channel exist (a send creates its channel).
func (s *Service) exist(ctx context.Context, channel string) error {
	if s.reg.Exists(Kind, channel) {
		return nil
	}
	_, err := s.reg.Ensure(ctx, Kind, channel)
	return err
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
// with pipelined appends, handed to the log as one batch. Results are in
// order.
func (s *Service) SendBatch(ctx context.Context, ms []*Message) []Result {
	pend := make([]*pending, len(ms))
	as := make([]engine.Append, 0, len(ms))
	idx := make([]int, 0, len(ms))
	for i, m := range ms {
		if m.ID == "" {
			m.ID = kmq.NewID()
		}
		if err := s.validate(m); err != nil {
			pend[i] = &pending{res: Result{MessageID: m.ID, Err: err}}
			continue
		}
		p, a := s.prepare(ctx, m, "")
		pend[i] = p
		if a != nil {
			as = append(as, *a)
			idx = append(idx, i)
		}
	}
	if len(as) > 0 {
		for j, f := range s.log.AppendBatch(ctx, as) {
			pend[idx[j]].f = f
		}
	}
	out := make([]Result, len(ms))
	for i, p := range pend {
		out[i] = p.wait(ctx)
	}
	return out
}

// pending is a send in flight: an append to the log or a schedule in the
// delay stream.
type pending struct {
	res     Result
	f       engine.Pending                  // the append, or
	sched   func(ctx context.Context) error // the schedule
	s       *Service
	channel string
	client  string
	size    int
	end     func(error) // the store span's
}

func (p *pending) wait(ctx context.Context) Result {
	if p.res.Err != nil || (p.f == nil && p.sched == nil) {
		return p.res
	}
	var err error
	if p.f != nil {
		_, err = p.f.Wait(ctx)
	} else {
		err = p.sched(ctx)
	}
	p.end(err)
	if err != nil {
		p.s.cfg.Stats.Error(Kind, stats.Send, p.channel, p.client)
		p.res.Err = err
		p.res.SentAt, p.res.ExpirationAt, p.res.DelayedTo = 0, 0, 0
		return p.res
	}
	p.res.SentAt = time.Now().UnixNano()
	p.s.cfg.Stats.In(Kind, p.channel, p.client, p.size)
	return p.res
}

// publish starts storing a validated message; wait() reports the outcome.
// msgID is the engine's deduplication id: "" means the client's MessageID
// when deduplication is on.
func (s *Service) publish(ctx context.Context, m *Message, msgID string) *pending {
	p, a := s.prepare(ctx, m, msgID)
	if a != nil {
		p.f = s.log.Append(ctx, *a)
	}
	return p
}

// prepare starts a send of a validated message: a delayed one is
// scheduled, for another it returns the append to make (nil when the send
// failed already).
func (s *Service) prepare(ctx context.Context, m *Message, msgID string) (*pending, *engine.Append) {
	if err := s.exist(ctx, m.Channel); err != nil {
		return &pending{res: Result{MessageID: m.ID, Err: err}}, nil
	}
	now := time.Now()
	delayedTo, expirationAt := m.stamp(now)
	m.receiveCount = 0
	m.Attributes.ReRouted, m.Attributes.ReRoutedFromQueue = false, ""
	if msgID == "" && s.cfg.DedupWindow > 0 {
		msgID = m.ID
	}
	p := &pending{
		res: Result{MessageID: m.ID, ExpirationAt: expirationAt, DelayedTo: delayedTo},
		s:   s, channel: m.Channel, client: m.ClientID, size: len(m.Body),
	}
	data := m.encode()
	_, p.end = s.traceStore(ctx, m.Channel, m.Tags)
	if delayedTo != 0 {
		p.sched = s.schedule(m.Channel, data, msgID, time.Unix(0, delayedTo))
		return p, nil
	}
	return p, &engine.Append{Channel: m.Channel, Data: data, MsgID: msgID}
}

// store appends an already-built message copy (re-publish, dead letter,
// move) to channel with an idempotency id.
func (s *Service) store(ctx context.Context, channel string, m *Message, msgID string) error {
	if err := s.exist(ctx, channel); err != nil {
		return err
	}
	ctx, end := s.traceStore(ctx, channel, m.Tags)
	_, err := s.log.Append(ctx, engine.Append{Channel: channel, Data: m.encode(), MsgID: msgID}).Wait(ctx)
	end(err)
	if err != nil {
		return err
	}
	s.cfg.Stats.In(Kind, channel, m.ClientID, len(m.Body))
	return nil
}

// Create makes the channel exist.
func (s *Service) Create(ctx context.Context, channel string) error {
	if err := kmq.ValidateQueueChannel(channel); err != nil {
		return err
	}
	if strings.HasPrefix(channel, ESGroupPrefix) {
		_, err := s.queue(ctx, channel)
		return err
	}
	return s.exist(ctx, channel)
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
		return s.cfg.Groups.delete(ctx, channel)
	}
	s.mu.Lock()
	delete(s.queues, channel)
	s.mu.Unlock()
	s.cfg.Stats.Delete(Kind, channel)
	if err := s.reg.Delete(ctx, Kind, channel); err != nil {
		return err
	}
	if err := s.purgeDelays(ctx, channel); err != nil {
		return err
	}
	if err := s.log.Purge(ctx, channel); err != nil {
		return err
	}
	if err := s.log.DeleteConsumer(ctx, channel, consumerName(channel)); err != nil {
		return err
	}
	return s.log.Forget(ctx, channel)
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
