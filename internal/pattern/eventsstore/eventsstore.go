// Package eventsstore is persistent publish/subscribe. Every events-store
// channel is a subject of the engine's events-store log (a few shard
// streams shared by all channels), where its events are numbered 1, 2, 3…
// per channel; subscribers start from one of six positions and continue
// live. Subscriptions are durable: a subscription without a group is keyed
// by (client id, channel) and its position kept in a key-value cursor; one
// with a group is keyed by (channel, group) and shares a durable consumer.
// A new subscription with the same key resumes where the last one
// stopped, whatever start it asks for.
//
// A sealed channel takes no more events and its events move to a store
// without age limit (seal.go).
package eventsstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/registry"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// Kind is the registry and statistics kind of events-store channels.
const Kind = stats.EventsStore

// Event is an event to store; it has the fields of events.Event.
type Event = events.Event

// Received is a stored event as a subscriber receives it.
type Received struct {
	events.Event
	Sequence  uint64 // per-channel sequence, from 1
	Timestamp int64  // store time, Unix ns
}

// StartType is where a new subscription starts.
type StartType int32

// The six start types of the KubeMQ API.
const (
	StartUndefined StartType = iota
	StartNewOnly
	StartFromFirst
	StartFromLast
	StartAtSequence
	StartAtTime
	StartAtTimeDelta
)

// secondsBelow: StartAtTime values below it are Unix seconds (sent by the
// Python SDK), larger ones Unix nanoseconds. No Go client can send a
// nanosecond value this small: it is 28 hours after 1970.
const secondsBelow = 1e14

// Subscription asks for the events of one channel from a start position.
type Subscription struct {
	ClientID   string
	Channel    string
	Group      string
	Start      StartType
	StartValue int64
}

// Validate checks a subscription in the reference server's order.
func (s *Subscription) Validate() error {
	if err := kmq.ValidateClientID(s.ClientID); err != nil {
		return err
	}
	if err := kmq.ValidateChannel(s.Channel, false); err != nil {
		return err
	}
	switch {
	case s.Start == StartUndefined:
		return kmq.ErrUndefinedStoreType
	case s.Start == StartAtSequence && s.StartValue <= 0:
		return kmq.ErrStartSequence
	case s.Start == StartAtTime && s.StartValue <= 0:
		return kmq.ErrStartTime
	case s.Start == StartAtTimeDelta && s.StartValue <= 0:
		return kmq.ErrStartTimeDelta
	case s.Start < 0:
		return kmq.ErrUndefinedStoreType
	}
	return kmq.ValidateGroup(s.Group)
}

// Log is an engine log of events-store channels; *engine.Log implements it.
type Log interface {
	Append(ctx context.Context, a engine.Append) engine.Pending
	OpenReader(ctx context.Context, channel string, spec engine.ConsumerSpec) (*engine.Reader, error)
	Next(ctx context.Context, channel string, seq uint64) (*engine.RawMsg, error)
	Last(ctx context.Context, channel string) (*engine.RawMsg, error)
	StreamSeqOf(ctx context.Context, channel string, seq uint64) (uint64, error)
	// Search returns the first message of channel for which ok holds (ok
	// is false, then true, along the channel), or nil.
	Search(ctx context.Context, channel string, ok func(*engine.RawMsg) bool) (*engine.RawMsg, error)
	Counts(ctx context.Context) (map[string]uint64, error)
	Purge(ctx context.Context, channel string) error
	Seal(ctx context.Context, channel string) error
	Forget(ctx context.Context, channel string) error
	Consumers(ctx context.Context, channel string) ([]string, error)
	ConsumerState(ctx context.Context, channel, name string) (engine.ConsumerState, error)
	Consumer(ctx context.Context, channel string, spec engine.ConsumerSpec) (engine.Fetcher, error)
	DeleteConsumer(ctx context.Context, channel, name string) error
}

// Registry keeps which channels exist and which are sealed;
// *registry.Registry implements it.
type Registry interface {
	Ensure(ctx context.Context, kind, name string) (created bool, err error)
	Get(kind, name string) (registry.Record, bool)
	Delete(ctx context.Context, kind, name string) error
	Seal(ctx context.Context, kind, name string, moved bool) error
	List(kind string) []registry.Record
}

// Cursors keeps the positions of subscriptions without a group;
// *engine.KV implements it (a bucket whose entries expire after the cursor
// idle time).
type Cursors interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Put(ctx context.Context, key string, value []byte) error
	DeleteMatching(ctx context.Context, filter string) error
}

// Config sets retention and subscription housekeeping.
type Config struct {
	// CursorIdle removes a subscription position unused for this long
	// (default 24 h); the cursor bucket must expire entries after it too.
	CursorIdle time.Duration
	// AckWait is how long a delivered event may stay unconfirmed before it is
	// delivered again to a group (default 30 s).
	AckWait time.Duration
	// DedupWindow: an EventID stored again on the same channel within it is
	// stored once (0: off).
	DedupWindow time.Duration
	Logger      *slog.Logger
	Stats       *stats.Registry // nil: no counters
	// Tracer records the spans of stores; nil records none.
	Tracer Tracer
}

// Tracer records the span of the durable write of an event in the event's
// trace; internal/tracing's Steps implements it. Store returns the context
// the write runs in and a func that ends the span with its outcome; it must
// not block.
type Tracer interface {
	Store(ctx context.Context, channel string, tags map[string]string) (context.Context, func(error))
}

// Service stores events and serves subscriptions.
type Service struct {
	log     Log // the channels' events
	sealed  Log // the events of sealed channels
	reg     Registry
	cursors Cursors
	cfg     Config
	logg    *slog.Logger

	mu      sync.Mutex
	active  map[string]int          // durable cursors in use on this node
	signals map[string]*chanSignal  // live subscriptions' channels
	dirty   map[string]*cursorState // positions to write
	life    context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// New returns an events-store service over the log of its channels and
// the log of sealed channels; Close stops its cursor writer.
func New(log, sealed Log, reg Registry, cursors Cursors, cfg Config) *Service {
	if cfg.CursorIdle <= 0 {
		cfg.CursorIdle = 24 * time.Hour
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	logg := cfg.Logger
	if logg == nil {
		logg = slog.New(slog.DiscardHandler)
	}
	s := &Service{log: log, sealed: sealed, reg: reg, cursors: cursors, cfg: cfg, logg: logg,
		active: map[string]int{}, signals: map[string]*chanSignal{}, dirty: map[string]*cursorState{}}
	s.life, s.stop = context.WithCancel(context.Background())
	s.wg.Go(s.writeCursors)
	return s
}

// Close writes the positions still pending and stops the cursor writer.
// Call it after the subscriptions ended.
func (s *Service) Close() {
	s.stop()
	s.wg.Wait()
	s.flushCursors(context.Background())
}

// SealTag, with the value "true" on a stored event, seals its channel once
// the event is stored: later sends fail with ErrChannelSealed.
const SealTag = "herald.seal"

// ErrChannelSealed is the error of a send to a sealed channel.
var ErrChannelSealed = errors.New("channel is sealed")

func (s *Service) msgID(ev *Event) string {
	if s.cfg.DedupWindow > 0 {
		return ev.ID
	}
	return ""
}

func sealedErr(err error) error {
	if errors.Is(err, engine.ErrChannelSealed) {
		return ErrChannelSealed
	}
	return err
}

// Send validates ev, fills its id and returns once the event is stored.
// Validation failures are *kmq.Error; anything else is a store failure.
func (s *Service) Send(ctx context.Context, ev *Event) (string, error) {
	p := s.SendAsync(ctx, ev)
	return p.ID, p.Wait(ctx)
}

// Pending is a store in progress, from SendAsync.
type Pending struct {
	ID      string
	err     error
	f       engine.Pending
	done    func(ctx context.Context) error // on success
	end     func(error)                     // the store span's, once
	settled bool
}

// Wait returns nil once the event is stored, or why it was not.
func (p *Pending) Wait(ctx context.Context) error {
	if p.err != nil || p.f == nil || p.settled {
		return p.err
	}
	_, err := p.f.Wait(ctx)
	err = sealedErr(err)
	if err == nil && p.done != nil {
		err = p.done(ctx)
	}
	if p.end != nil {
		p.end(err)
		p.end = nil
	}
	if ctx.Err() == nil {
		p.settled, p.err = true, err
	}
	return err
}

// SendAsync validates ev and starts storing it; many stores can be in flight.
// The caller must Wait on the result before reporting success.
func (s *Service) SendAsync(ctx context.Context, ev *Event) *Pending {
	if err := ev.Validate(); err != nil {
		return &Pending{ID: ev.ID, err: err}
	}
	if ev.ID == "" {
		ev.ID = kmq.NewID()
	}
	rec, ok := s.reg.Get(Kind, ev.Channel)
	if ok && rec.Sealed {
		return &Pending{ID: ev.ID, err: ErrChannelSealed}
	}
	if !ok {
		if _, err := s.reg.Ensure(ctx, Kind, ev.Channel); err != nil {
			return &Pending{ID: ev.ID, err: err}
		}
	}
	ch, n, client, seal := ev.Channel, len(ev.Body), ev.ClientID, ev.Tags[SealTag] == "true"
	var end func(error)
	if s.cfg.Tracer != nil {
		ctx, end = s.cfg.Tracer.Store(ctx, ev.Channel, ev.Tags)
	}
	f := s.log.Append(ctx, engine.Append{Channel: ev.Channel, Data: ev.Encode(), MsgID: s.msgID(ev)})
	return &Pending{ID: ev.ID, f: f, end: end, done: func(ctx context.Context) error {
		s.cfg.Stats.In(Kind, ch, client, n)
		if seal {
			return s.Seal(ctx, ch)
		}
		return nil
	}}
}

// Failed is a Pending that already failed, for results that must keep their
// place in an ordered stream of results.
func Failed(id string, err error) *Pending { return &Pending{ID: id, err: err} }

// Create makes the channel exist.
func (s *Service) Create(ctx context.Context, channel string) error {
	if err := kmq.ValidateChannel(channel, false); err != nil {
		return err
	}
	_, err := s.reg.Ensure(ctx, Kind, channel)
	return err
}

// errRemoved ends the subscriptions of a deleted channel.
var errRemoved = errors.New("removed")

// Delete removes a channel with its events and subscription cursors; live
// subscriptions to it end. Deleting a channel that does not exist is not an
// error.
func (s *Service) Delete(ctx context.Context, channel string) error {
	if err := kmq.ValidateChannel(channel, false); err != nil {
		return err
	}
	s.cfg.Stats.Delete(Kind, channel)
	if err := s.reg.Delete(ctx, Kind, channel); err != nil {
		return err
	}
	s.signal(channel, errRemoved)
	for _, l := range []Log{s.log, s.sealed} {
		names, err := l.Consumers(ctx, channel)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := l.DeleteConsumer(ctx, channel, n); err != nil {
				return err
			}
		}
		if err := l.Purge(ctx, channel); err != nil {
			return err
		}
		if err := l.Forget(ctx, channel); err != nil {
			return err
		}
	}
	s.dropCursors(channel)
	return s.cursors.DeleteMatching(ctx, token(channel)+".>")
}

// ChannelState is an events-store channel's stored state.
type ChannelState struct {
	Channel  string
	Messages int64
	Sealed   bool
}

// Channels lists the events-store channels that exist.
func (s *Service) Channels(ctx context.Context) ([]ChannelState, error) {
	counts, err := s.log.Counts(ctx)
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealed.Counts(ctx)
	if err != nil {
		return nil, err
	}
	recs := s.reg.List(Kind)
	out := make([]ChannelState, 0, len(recs))
	for _, r := range recs {
		out = append(out, ChannelState{Channel: r.Name, Messages: int64(counts[r.Name] + sealed[r.Name]), Sealed: r.Sealed})
	}
	return out, nil
}

// received turns a delivery into what a subscriber receives.
func received(channel string, m *engine.StoredMsg) *Received {
	r := &Received{Sequence: m.ChanSeq, Timestamp: m.Time.UnixNano()}
	if t := m.Header(engine.TimeHeader); t != "" { // copied: the original store time
		if ns, err := strconv.ParseInt(t, 10, 64); err == nil {
			r.Timestamp = ns
		}
	}
	if err := r.Decode(m.Data); err != nil {
		r.Event = events.Event{Body: m.Data} // stored through the NATS side door
	}
	r.Channel = channel
	return r
}

// chanSignal ends the readers of a channel's live subscriptions when the
// channel is sealed (its events moved: they reopen) or deleted.
type chanSignal struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	n      int
}

// watch returns the signal of channel for a subscription; release when done.
func (s *Service) watch(channel string) (context.Context, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sig := s.signals[channel]
	if sig == nil || sig.ctx.Err() != nil {
		sig = &chanSignal{}
		sig.ctx, sig.cancel = context.WithCancelCause(context.Background())
		s.signals[channel] = sig
	}
	sig.n++
	return sig.ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if sig.n--; sig.n == 0 && s.signals[channel] == sig {
			delete(s.signals, channel)
			sig.cancel(nil)
		}
	}
}

// signal ends the readers of channel's live subscriptions with cause.
func (s *Service) signal(channel string, cause error) {
	s.mu.Lock()
	sig := s.signals[channel]
	delete(s.signals, channel)
	s.mu.Unlock()
	if sig != nil {
		sig.cancel(cause)
	}
}

// claimWait is how long a subscription waits for the previous one with the
// same (client id, channel) to finish ending: a client that reconnects at
// once must resume from the durable cursor, not be taken for a second,
// concurrent subscription.
const claimWait = time.Second

// claim takes the durable cursor key for a subscription. Group members
// share it; without a group it is exclusive, and claim reports false when
// another subscription still holds it after claimWait.
func (s *Service) claim(ctx context.Context, key string, exclusive bool) bool {
	deadline := time.Now().Add(claimWait)
	for {
		s.mu.Lock()
		if !exclusive || s.active[key] == 0 {
			s.active[key]++
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Service) unclaim(key string) {
	s.mu.Lock()
	if s.active[key]--; s.active[key] <= 0 {
		delete(s.active, key)
	}
	s.mu.Unlock()
}

func fmtRemoved(channel string) error {
	return fmt.Errorf("events store channel %s was removed", channel)
}
