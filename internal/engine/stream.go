package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamSpec describes a JetStream stream Herald keeps for one channel.
type StreamSpec struct {
	Name     string
	Subjects []string
	// WorkQueue selects work-queue retention (messages leave when acked);
	// otherwise limits retention (kept until MaxAge/MaxMsgs/MaxBytes).
	WorkQueue bool
	MaxAge    time.Duration // 0 = unlimited
	MaxMsgs   int64         // 0 = unlimited
	MaxBytes  int64         // 0 = unlimited
	// MaxMsgsPerSubject caps each subject (0 = unlimited).
	MaxMsgsPerSubject int64
	// Duplicates is the window for message-id deduplication (0 = engine default).
	Duplicates     time.Duration
	AllowMsgTTL    bool
	AllowSchedules bool
	Metadata       map[string]string
}

func (s StreamSpec) config() jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:              s.Name,
		Subjects:          s.Subjects,
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          1,
		MaxAge:            s.MaxAge,
		MaxMsgs:           orUnlimited(s.MaxMsgs),
		MaxBytes:          orUnlimited(s.MaxBytes),
		MaxMsgsPerSubject: orUnlimited(s.MaxMsgsPerSubject),
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		Duplicates:        s.Duplicates,
		AllowDirect:       true,
		AllowMsgTTL:       s.AllowMsgTTL,
		AllowMsgSchedules: s.AllowSchedules,
		Metadata:          s.Metadata,
		Discard:           jetstream.DiscardOld,
	}
	if s.WorkQueue {
		cfg.Retention = jetstream.WorkQueuePolicy
	}
	if s.AllowSchedules {
		cfg.AllowRollup = true
	}
	return cfg
}

func orUnlimited(v int64) int64 {
	if v <= 0 {
		return -1
	}
	return v
}

// EnsureStream creates the stream if it does not exist. Known streams are
// cached, so calling it before every publish is cheap.
func (e *Engine) EnsureStream(ctx context.Context, spec StreamSpec) error {
	e.streamsMu.Lock()
	_, ok := e.streams[spec.Name]
	e.streamsMu.Unlock()
	if ok {
		return nil
	}
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.js.Stream(ctx, spec.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = e.js.CreateStream(ctx, spec.config())
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = e.js.Stream(ctx, spec.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("engine: ensure stream %s: %w", spec.Name, mapJSErr(err))
	}
	e.streamsMu.Lock()
	e.streams[spec.Name] = st
	e.streamsMu.Unlock()
	return nil
}

// ForgetStream drops a stream from the cache of known streams, so that the
// next EnsureStream checks (and if need be recreates) it.
func (e *Engine) ForgetStream(name string) {
	e.streamsMu.Lock()
	delete(e.streams, name)
	e.streamsMu.Unlock()
}

// DeleteStream removes a stream and everything stored in it. Deleting a
// stream that does not exist is not an error.
func (e *Engine) DeleteStream(ctx context.Context, name string) error {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	e.ForgetStream(name)
	err := e.js.DeleteStream(ctx, name)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("engine: delete stream %s: %w", name, mapJSErr(err))
	}
	return nil
}

// StreamState is a snapshot of a stream's contents.
type StreamState struct {
	Msgs     uint64
	Bytes    uint64
	FirstSeq uint64
	LastSeq  uint64
	LastTime time.Time
}

// ErrStreamNotFound is returned when a stream does not exist.
var ErrStreamNotFound = errors.New("engine: stream not found")

// StreamInfo returns the state of a stream.
func (e *Engine) StreamInfo(ctx context.Context, name string) (StreamState, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.js.Stream(ctx, name)
	if err != nil {
		return StreamState{}, fmt.Errorf("engine: stream %s: %w", name, mapJSErr(err))
	}
	info := st.CachedInfo()
	return StreamState{
		Msgs: info.State.Msgs, Bytes: info.State.Bytes,
		FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq,
		LastTime: info.State.LastTime,
	}, nil
}

// PubOpts are per-publish options for stored messages.
type PubOpts struct {
	MsgID  string            // deduplication id within the stream's window
	Header map[string]string // extra headers
	// ScheduleAt, with ScheduleTarget, stores the message as a schedule: at
	// that time the engine publishes its data to ScheduleTarget (a subject of
	// the same stream) as a new message and deletes the schedule.
	ScheduleAt     time.Time
	ScheduleTarget string
}

// PubAck confirms that a message is stored.
type PubAck struct {
	Stream    string
	Seq       uint64
	Duplicate bool
}

func (e *Engine) newMsg(subject string, data []byte, o PubOpts) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: data}
	if o.MsgID != "" || len(o.Header) > 0 || o.ScheduleTarget != "" {
		m.Header = make(nats.Header, len(o.Header)+3)
		for k, v := range o.Header {
			m.Header.Set(k, v)
		}
		if o.MsgID != "" {
			m.Header.Set(jetstream.MsgIDHeader, dedupID(o.MsgID))
		}
		if o.ScheduleTarget != "" {
			m.Header.Set(jetstream.ScheduleHeader, "@at "+o.ScheduleAt.UTC().Format(time.RFC3339Nano))
			m.Header.Set(jetstream.ScheduleTargetHeader, o.ScheduleTarget)
		}
	}
	return m
}

// PublishStored stores a message and returns once JetStream acknowledged it.
func (e *Engine) PublishStored(ctx context.Context, subject string, data []byte, o PubOpts) (PubAck, error) {
	if len(data) > MaxStoredRecord {
		return PubAck{}, fmt.Errorf("%w: %d bytes, stored messages are limited to %d", ErrPayloadTooLarge, len(data), MaxStoredRecord)
	}
	if err := e.space.check(len(data)); err != nil {
		return PubAck{}, err
	}
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	ack, err := e.js.PublishMsg(ctx, e.newMsg(subject, data, o))
	if err != nil {
		return PubAck{}, mapJSErr(err)
	}
	return PubAck{Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// PubPending is the result of an asynchronous stored publish, once known.
type PubPending interface {
	// Wait blocks until the message is stored or failed, or ctx ends.
	Wait(ctx context.Context) (PubAck, error)
}

// PubFuture is the pending result of an asynchronous stored publish.
type PubFuture struct {
	f   jetstream.PubAckFuture
	err error
}

// Wait blocks until the message is stored or failed, or ctx ends.
func (p *PubFuture) Wait(ctx context.Context) (PubAck, error) {
	if p.err != nil {
		return PubAck{}, p.err
	}
	select {
	case a := <-p.f.Ok():
		return PubAck{Stream: a.Stream, Seq: a.Sequence, Duplicate: a.Duplicate}, nil
	case err := <-p.f.Err():
		return PubAck{}, mapJSErr(err)
	case <-ctx.Done():
		return PubAck{}, ctx.Err()
	}
}

// PublishStoredAsync starts a stored publish without waiting for the
// acknowledgement; many can be in flight at once.
func (e *Engine) PublishStoredAsync(subject string, data []byte, o PubOpts) PubPending {
	if len(data) > MaxStoredRecord {
		return &PubFuture{err: fmt.Errorf("%w: %d bytes, stored messages are limited to %d", ErrPayloadTooLarge, len(data), MaxStoredRecord)}
	}
	if err := e.space.check(len(data)); err != nil {
		return &PubFuture{err: err}
	}
	f, err := e.js.PublishMsgAsync(e.newMsg(subject, data, o))
	if err != nil {
		return &PubFuture{err: mapJSErr(err)}
	}
	return &PubFuture{f: f}
}

// ErrNoStream is returned when a stored publish found no stream for its subject.
var ErrNoStream = errors.New("engine: no stream for subject")

func mapJSErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%w: %w", ErrStreamNotFound, err)
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w: %w", ErrNoStream, err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10077 || apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum) {
		return fmt.Errorf("%w: %w", ErrPayloadTooLarge, err)
	}
	if errors.As(err, &apiErr) && apiErr.ErrorCode == 10109 { // invalid operation on sealed stream
		return fmt.Errorf("%w: %w", ErrSealed, err)
	}
	return mapConnErr(err)
}

// ErrSealed is returned for writes to a sealed stream.
var ErrSealed = errors.New("engine: stream is sealed")

// SealStream seals a stream for good: it keeps its messages, takes no new
// ones and has no age or size limit any more. Sealing a sealed stream is
// not an error.
func (e *Engine) SealStream(ctx context.Context, name string) error {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("engine: seal %s: %w", name, mapJSErr(err))
	}
	cfg := st.CachedInfo().Config
	if cfg.Sealed {
		return nil
	}
	cfg.Sealed = true
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("engine: seal %s: %w", name, mapJSErr(err))
	}
	return nil
}
