// Package events is real-time publish/subscribe: nothing is stored, every
// subscriber without a group receives every matching event, each group
// receives each event once, and channel patterns may use `*` (one token) and
// `>` (one or more trailing tokens).
package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/envelope"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// SubjectPrefix starts the engine subject of every events channel.
const SubjectPrefix = "e."

// Event is a message sent to, or received from, an events channel.
type Event struct {
	ID       string
	ClientID string // the sender's; not delivered to subscribers
	Channel  string // on delivery: the channel it was sent to
	Metadata string
	Body     []byte
	Tags     map[string]string
}

// Validate checks an event to send, in the reference server's order.
func (e *Event) Validate() error {
	if err := kmq.ValidateClientID(e.ClientID); err != nil {
		return err
	}
	if err := kmq.ValidateChannel(e.Channel, false); err != nil {
		return err
	}
	if e.Metadata == "" && len(e.Body) == 0 {
		return kmq.ErrEmptyMessage
	}
	return nil
}

// Encode writes the parts of an event that travel to subscribers.
func (e *Event) Encode() []byte {
	return e.AppendEncode(make([]byte, 0, len(e.ID)+len(e.Metadata)+len(e.Body)+32*len(e.Tags)+16))
}

// AppendEncode is Encode into buf's storage.
func (e *Event) AppendEncode(buf []byte) []byte {
	w := envelope.WriterOn(buf)
	w.String(e.ID)
	w.String(e.Metadata)
	w.Blob(e.Body)
	w.Map(e.Tags)
	return w.Bytes()
}

// Decode reads what Encode wrote into e.
func (e *Event) Decode(b []byte) error {
	r := envelope.NewReader(b)
	e.ID = r.String()
	e.Metadata = r.String()
	e.Body = r.Blob()
	e.Tags = r.Map()
	return r.Err()
}

// Subscription asks for the events of a channel pattern.
type Subscription struct {
	ClientID string
	Channel  string // may hold `*` and `>`
	Group    string // "" = every event; else one member of the group per event
	// StoreTypeSet is true when the request carried events-store start
	// parameters, which plain events refuse.
	StoreTypeSet bool
}

// Validate checks a subscription in the reference server's order.
func (s *Subscription) Validate() error {
	if err := kmq.ValidateClientID(s.ClientID); err != nil {
		return err
	}
	if err := kmq.ValidateChannel(s.Channel, true); err != nil {
		return err
	}
	if s.StoreTypeSet {
		return kmq.ErrStoreParamsNotStore
	}
	return kmq.ValidateGroup(s.Group)
}

// Engine is what the events pattern needs from the engine.
type Engine interface {
	Publish(subject string, data []byte) error
	Subscribe(subject, queue string, fn func(engine.Msg)) (engine.Sub, error)
}

// Config tunes delivery to subscribers.
type Config struct {
	// Buffer is how many events wait for a slow subscriber (default 100).
	Buffer int
	// WriteWait is how long an event waits for room in a full buffer before it
	// is dropped (default 2 s).
	WriteWait time.Duration
	Logger    *slog.Logger
	Stats     *stats.Registry // nil: no counters
}

// Service sends and delivers events.
type Service struct {
	eng     Engine
	cfg     Config
	log     *slog.Logger
	dropped atomic.Int64
}

// New returns an events service over eng.
func New(eng Engine, cfg Config) *Service {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 100
	}
	if cfg.WriteWait <= 0 {
		cfg.WriteWait = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{eng: eng, cfg: cfg, log: log}
}

// Dropped counts events dropped because a subscriber was too slow.
func (s *Service) Dropped() int64 { return s.dropped.Load() }

// Send validates ev, fills its id when empty and publishes it. It returns
// the event id. Validation failures are *kmq.Error; anything else is an
// engine failure.
func (s *Service) Send(ev *Event) (string, error) {
	if err := ev.Validate(); err != nil {
		return ev.ID, err
	}
	if ev.ID == "" {
		ev.ID = kmq.NewID()
	}
	bp := encodeBufs.Get().(*[]byte)
	data := ev.AppendEncode(*bp)
	err := s.eng.Publish(SubjectPrefix+ev.Channel, data) // copies data
	if cap(data) <= maxPooledBuf {
		*bp = data[:0]
		encodeBufs.Put(bp)
	}
	if err != nil {
		s.cfg.Stats.Error(stats.Events, stats.Send, ev.Channel, ev.ClientID)
		return ev.ID, err
	}
	s.cfg.Stats.In(stats.Events, ev.Channel, ev.ClientID, len(ev.Body))
	return ev.ID, nil
}

// encodeBufs recycles the buffers events are encoded into: the engine's
// Publish copies them before it returns.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuf = 64 << 10

// Subscribe delivers matching events to send until ctx ends (then it returns
// nil) or send fails (then it returns that error). Events wait in a buffer of
// Config.Buffer; when it is full for Config.WriteWait an event is dropped and
// counted, and so are the next ones until the subscriber has caught up (see
// kmq.Buffer). Validation failures are returned before anything is delivered.
func (s *Service) Subscribe(ctx context.Context, sub *Subscription, send func(*Event) error) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	buf := kmq.NewBuffer(s.cfg.Buffer, s.cfg.WriteWait, func(ev *Event, first bool) {
		s.dropped.Add(1)
		if first { // once per stall, not once per event
			s.log.Warn("events message dropped due to slow consumer; dropping until it catches up", "channel", ev.Channel, "client_id", sub.ClientID)
		}
	})
	defer buf.Close()
	es, err := s.eng.Subscribe(SubjectPrefix+sub.Channel, sub.Group, func(m engine.Msg) {
		ev := &Event{}
		if err := ev.Decode(m.Data); err != nil {
			ev = &Event{Body: m.Data} // published through the NATS side door
		}
		ev.Channel = m.Subject[len(SubjectPrefix):]
		buf.Put(ev)
	})
	if err != nil {
		if errors.Is(err, engine.ErrBadSubject) {
			return kmq.ErrWhiteSpace
		}
		return err
	}
	defer func() {
		n := es.Dropped()
		es.Unsubscribe()
		s.dropped.Add(n)
		if n += buf.Dropped(); n > 0 {
			s.log.Warn("events dropped due to slow consumer", "channel", sub.Channel, "client_id", sub.ClientID, "dropped", n)
		}
	}()
	defer s.cfg.Stats.Subscribed(stats.Events, sub.Channel, sub.ClientID)()
	return buf.Drain(ctx, func(ev *Event) error {
		if err := send(ev); err != nil {
			return err
		}
		s.cfg.Stats.Out(stats.Events, ev.Channel, sub.ClientID, len(ev.Body))
		return nil
	})
}
