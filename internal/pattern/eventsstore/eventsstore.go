// Package eventsstore is persistent publish/subscribe: one JetStream stream
// per channel gives each channel its own sequence 1, 2, 3…; subscribers start
// from one of six positions and continue live. Subscriptions are durable: a
// subscription without a group is keyed by (client id, channel), one with a
// group by (channel, group), and a new subscription with the same key resumes
// where the last one stopped, whatever start it asks for.
package eventsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// SubjectPrefix starts the engine subject of every events-store channel.
const SubjectPrefix = "es."

// StreamPrefix starts the engine stream name of every events-store channel.
const StreamPrefix = "ES_"

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

// Engine is what the events-store pattern needs from the engine.
type Engine interface {
	EnsureStream(ctx context.Context, spec engine.StreamSpec) error
	StreamInfo(ctx context.Context, name string) (engine.StreamState, error)
	PublishStored(ctx context.Context, subject string, data []byte, o engine.PubOpts) (engine.PubAck, error)
	PublishStoredAsync(subject string, data []byte, o engine.PubOpts) *engine.PubFuture
	OpenReader(ctx context.Context, stream string, spec engine.ConsumerSpec) (*engine.Reader, error)
	ForgetStream(name string)
	DeleteStream(ctx context.Context, name string) error
	SealStream(ctx context.Context, name string) error
	ListStreams(ctx context.Context, prefix string) ([]engine.StreamSummary, error)
}

// Config sets retention and subscription housekeeping.
type Config struct {
	MaxAge   time.Duration // per channel; 0 = unlimited
	MaxMsgs  int64         // per channel; 0 = unlimited
	MaxBytes int64         // per channel; 0 = unlimited
	// CursorIdle removes a durable subscription cursor unused for this long
	// (default 24 h).
	CursorIdle time.Duration
	// AckWait is how long a delivered event may stay unconfirmed before it is
	// delivered again (default 30 s).
	AckWait time.Duration
	// DedupWindow: an EventID stored again on the same channel within it is
	// stored once (0: off).
	DedupWindow time.Duration
	Logger      *slog.Logger
	Stats       *stats.Registry // nil: no counters
}

// Service stores events and serves subscriptions.
type Service struct {
	eng Engine
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	active map[string]int // durable cursors in use on this node
}

// New returns an events-store service over eng.
func New(eng Engine, cfg Config) *Service {
	if cfg.CursorIdle <= 0 {
		cfg.CursorIdle = 24 * time.Hour
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{eng: eng, cfg: cfg, log: log, active: make(map[string]int)}
}

// StreamName is the engine stream of a channel: a readable prefix of the
// name plus a hash, so any valid channel maps to a valid, unique name.
func StreamName(channel string) string { return StreamPrefix + nameToken(channel) }

func nameToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 48 {
			break
		}
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(sum[:8]))
	return b.String()
}

func (s *Service) spec(channel string) engine.StreamSpec {
	return engine.StreamSpec{
		Name:     StreamName(channel),
		Subjects: []string{SubjectPrefix + channel},
		MaxAge:   s.cfg.MaxAge, MaxMsgs: s.cfg.MaxMsgs, MaxBytes: s.cfg.MaxBytes,
		Duplicates: max(s.cfg.DedupWindow, 2*time.Minute),
		Metadata:   map[string]string{"herald.channel": channel, "herald.type": "events_store"},
	}
}

// SealTag, with the value "true" on a stored event, seals its channel once
// the event is stored: later sends fail with ErrChannelSealed.
const SealTag = "herald.seal"

// ErrChannelSealed is the error of a send to a sealed channel.
var ErrChannelSealed = errors.New("channel is sealed")

func (s *Service) pubOpts(ev *Event) engine.PubOpts {
	if s.cfg.DedupWindow > 0 {
		return engine.PubOpts{MsgID: ev.ID}
	}
	return engine.PubOpts{}
}

func sealedErr(err error) error {
	if errors.Is(err, engine.ErrSealed) {
		return ErrChannelSealed
	}
	return err
}

// Send validates ev, fills its id and returns once the event is stored.
// Validation failures are *kmq.Error; anything else is a store failure.
func (s *Service) Send(ctx context.Context, ev *Event) (string, error) {
	if err := s.prepare(ctx, ev); err != nil {
		return ev.ID, err
	}
	_, err := s.eng.PublishStored(ctx, SubjectPrefix+ev.Channel, ev.Encode(), s.pubOpts(ev))
	if errors.Is(err, engine.ErrNoStream) { // the stream was deleted under us
		s.eng.ForgetStream(StreamName(ev.Channel))
		if err = s.eng.EnsureStream(ctx, s.spec(ev.Channel)); err == nil {
			_, err = s.eng.PublishStored(ctx, SubjectPrefix+ev.Channel, ev.Encode(), s.pubOpts(ev))
		}
	}
	if err == nil {
		s.cfg.Stats.In(stats.EventsStore, ev.Channel, len(ev.Body))
		if ev.Tags[SealTag] == "true" {
			err = s.eng.SealStream(ctx, StreamName(ev.Channel))
		}
	}
	return ev.ID, sealedErr(err)
}

// Pending is a store in progress, from SendAsync.
type Pending struct {
	ID      string
	err     error
	f       *engine.PubFuture
	count   func() // on success
	counted bool
}

// Wait returns nil once the event is stored, or why it was not.
func (p *Pending) Wait(ctx context.Context) error {
	if p.err != nil || p.f == nil {
		return p.err
	}
	_, err := p.f.Wait(ctx)
	err = sealedErr(err)
	if err == nil && p.count != nil && !p.counted {
		p.counted = true
		p.count()
	}
	return err
}

// SendAsync validates ev and starts storing it; many stores can be in flight.
// The caller must Wait on the result before reporting success.
func (s *Service) SendAsync(ctx context.Context, ev *Event) *Pending {
	if err := s.prepare(ctx, ev); err != nil {
		return &Pending{ID: ev.ID, err: err}
	}
	if ev.Tags[SealTag] == "true" { // sealing is not pipelined
		_, err := s.Send(ctx, ev)
		return &Pending{ID: ev.ID, err: err, counted: true}
	}
	ch, n := ev.Channel, len(ev.Body)
	return &Pending{ID: ev.ID, f: s.eng.PublishStoredAsync(SubjectPrefix+ev.Channel, ev.Encode(), s.pubOpts(ev)),
		count: func() { s.cfg.Stats.In(stats.EventsStore, ch, n) }}
}

func (s *Service) prepare(ctx context.Context, ev *Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if ev.ID == "" {
		ev.ID = kmq.NewID()
	}
	return s.eng.EnsureStream(ctx, s.spec(ev.Channel))
}

// Subscribe delivers the channel's events from the subscription's position
// to send until ctx ends (then it returns nil) or send fails. An event is
// confirmed when send returned; unconfirmed events are delivered again to
// the next subscription with the same key.
func (s *Service) Subscribe(ctx context.Context, sub *Subscription, send func(*Received) error) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	stream := StreamName(sub.Channel)
	if err := s.eng.EnsureStream(ctx, s.spec(sub.Channel)); err != nil {
		return err
	}
	durable := "G_" + nameToken(sub.Group)
	if sub.Group == "" {
		durable = "C_" + nameToken(sub.ClientID)
	}
	key := stream + "/" + durable
	busy := !s.claim(ctx, key, sub.Group == "")
	if busy {
		// The reference refuses a second subscription per client id; Herald
		// serves it from its own cursor with the start it asked for.
		durable = ""
	} else {
		defer func() {
			s.mu.Lock()
			if s.active[key]--; s.active[key] <= 0 {
				delete(s.active, key)
			}
			s.mu.Unlock()
		}()
	}
	spec, err := s.consumerSpec(ctx, stream, sub)
	if err != nil {
		return err
	}
	spec.Durable = durable
	// A cursor without a group has one subscription at a time (claim): it
	// resumes exactly after the last event delivered, in order.
	spec.Exclusive = durable != "" && sub.Group == ""
	rd, err := s.eng.OpenReader(ctx, stream, spec)
	if err != nil {
		return err
	}
	defer rd.Close()
	defer s.cfg.Stats.Subscribed(stats.EventsStore, sub.Channel)()
	for {
		m, err := rd.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, engine.ErrReaderClosed) {
				return fmt.Errorf("events store channel %s was removed", sub.Channel)
			}
			return err
		}
		r := &Received{Sequence: m.Seq, Timestamp: m.Time.UnixNano()}
		if err := r.Decode(m.Data); err != nil {
			r.Event = events.Event{Body: m.Data} // stored through the NATS side door
		}
		r.Channel = sub.Channel
		if err := send(r); err != nil {
			_ = m.Return() // first again, also after a restart
			return err
		}
		_ = m.Ack()
		s.cfg.Stats.Out(stats.EventsStore, sub.Channel, len(r.Body))
	}
}

func (s *Service) consumerSpec(ctx context.Context, stream string, sub *Subscription) (engine.ConsumerSpec, error) {
	spec := engine.ConsumerSpec{
		FilterSubject:     SubjectPrefix + sub.Channel,
		AckWait:           s.cfg.AckWait,
		InactiveThreshold: s.cfg.CursorIdle,
		MaxAckPending:     1024,
	}
	now := time.Now()
	switch sub.Start {
	case StartFromFirst:
		spec.Deliver = engine.DeliverAll
	case StartFromLast:
		spec.Deliver = engine.DeliverLast
	case StartAtSequence:
		st, err := s.eng.StreamInfo(ctx, stream)
		if err != nil {
			return spec, err
		}
		seq := uint64(sub.StartValue)
		if seq > st.LastSeq+1 {
			seq = st.LastSeq + 1 // beyond the end: new events only, never a wait for that sequence
		}
		spec.Deliver, spec.StartSeq = engine.DeliverByStartSeq, seq
	case StartAtTime:
		t := time.Unix(0, sub.StartValue)
		if sub.StartValue < secondsBelow {
			t = time.Unix(sub.StartValue, 0)
		}
		spec.Deliver, spec.StartTime = engine.DeliverByStartTime, t
		if t.After(now) {
			spec.Deliver = engine.DeliverNew
		}
	case StartAtTimeDelta:
		spec.Deliver = engine.DeliverAll
		if sub.StartValue < now.Unix() { // larger deltas reach before 1970: everything
			spec.Deliver, spec.StartTime = engine.DeliverByStartTime, now.Add(-time.Duration(sub.StartValue)*time.Second)
		}
	default: // StartNewOnly, and types above 6 as the reference treats them
		spec.Deliver = engine.DeliverNew
	}
	return spec, nil
}

// Failed is a Pending that already failed, for results that must keep their
// place in an ordered stream of results.
func Failed(id string, err error) *Pending { return &Pending{ID: id, err: err} }

// Create makes the channel's stream if it does not exist.
func (s *Service) Create(ctx context.Context, channel string) error {
	if err := kmq.ValidateChannel(channel, false); err != nil {
		return err
	}
	return s.eng.EnsureStream(ctx, s.spec(channel))
}

// Delete removes a channel with its events and subscription cursors; live
// subscriptions to it end. Deleting a channel that does not exist is not an
// error.
func (s *Service) Delete(ctx context.Context, channel string) error {
	if err := kmq.ValidateChannel(channel, false); err != nil {
		return err
	}
	s.cfg.Stats.Delete(stats.EventsStore, channel)
	return s.eng.DeleteStream(ctx, StreamName(channel))
}

// ChannelState is an events-store channel's stored state.
type ChannelState struct {
	Channel  string
	Messages int64
	Bytes    int64
	LastTime time.Time
}

// Channels lists the events-store channels that exist in the engine.
func (s *Service) Channels(ctx context.Context) ([]ChannelState, error) {
	streams, err := s.eng.ListStreams(ctx, StreamPrefix)
	if err != nil {
		return nil, err
	}
	var out []ChannelState
	for _, st := range streams {
		if ch := st.Metadata["herald.channel"]; ch != "" && st.Metadata["herald.type"] == "events_store" {
			out = append(out, ChannelState{Channel: ch, Messages: int64(st.State.Msgs), Bytes: int64(st.State.Bytes), LastTime: st.State.LastTime})
		}
	}
	return out, nil
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
