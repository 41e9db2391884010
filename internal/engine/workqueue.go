package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Consumer is a durable pull consumer from which several receivers fetch
// concurrently (competing consumers).
type Consumer struct {
	c      jetstream.Consumer
	stream string
}

// EnsureConsumer returns the durable consumer spec.Durable on stream,
// creating it from spec when it does not exist.
func (e *Engine) EnsureConsumer(ctx context.Context, stream string, spec ConsumerSpec) (*Consumer, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	c, err := e.js.Consumer(ctx, stream, spec.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		c, err = e.js.CreateOrUpdateConsumer(ctx, stream, spec.config())
	}
	if err != nil {
		return nil, fmt.Errorf("engine: consumer %s on %s: %w", spec.Durable, stream, mapJSErr(err))
	}
	return &Consumer{c: c, stream: stream}, nil
}

func storedFrom(m jetstream.Msg) (*StoredMsg, bool) {
	md, err := m.Metadata()
	if err != nil {
		return nil, false
	}
	return &StoredMsg{
		Subject: m.Subject(), Data: m.Data(), Seq: md.Sequence.Stream,
		Time: md.Timestamp, NumDelivered: md.NumDelivered, m: m,
	}, true
}

// Fetch waits up to wait for up to n messages and returns what arrived; it
// returns early once it has n. A pull that has started runs to its end;
// ctx only stops the retries below (keep waits short: receivers slice long
// waits into pulls of a second).
func (c *Consumer) Fetch(ctx context.Context, n int, wait time.Duration) ([]*StoredMsg, error) {
	var out []*StoredMsg
	err := c.FetchEach(ctx, n, wait, func(m *StoredMsg) { out = append(out, m) })
	return out, err
}

// FetchEach is Fetch handing each message to fn as soon as it arrives, in
// the caller's goroutine, so that the caller can take hold of it (and keep
// it alive) while the wait for the rest goes on.
//
// A consumer that was just created can be visible before it takes pull
// requests (a concurrent create of the same durable returns it early); a
// pull request then meets "no responders". FetchEach retries such a request
// for up to noRespondersGrace before it reports the error.
func (c *Consumer) FetchEach(ctx context.Context, n int, wait time.Duration, fn func(*StoredMsg)) error {
	deadline := time.Now().Add(max(wait, noRespondersGrace))
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := c.fetchEach(n, wait, fn)
		if !errors.Is(err, nats.ErrNoResponders) || time.Now().Add(pause).After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(pause)
		wait = min(wait, time.Until(deadline))
	}
}

const noRespondersGrace = 250 * time.Millisecond

func (c *Consumer) fetchEach(n int, wait time.Duration, fn func(*StoredMsg)) error {
	if wait < time.Millisecond {
		b, err := c.c.FetchNoWait(n)
		if err != nil {
			return mapFetchErr(err)
		}
		return drain(b, fn)
	}
	// The pull ends by the server's expiry, which it reports after the
	// messages it sent, not by a client-side deadline: nats.go would end a
	// FetchContext pull only a tenth of the wait after the server's expiry,
	// and a message still on its way then would be lost to this pull and
	// stay invisible until the ack wait ran out.
	b, err := c.c.Fetch(n, jetstream.FetchMaxWait(wait))
	if err != nil {
		return mapFetchErr(err)
	}
	return drain(b, fn)
}

// FetchNoWait returns up to n messages that are available now.
func (c *Consumer) FetchNoWait(n int) ([]*StoredMsg, error) {
	return c.Fetch(context.Background(), n, 0)
}

func drain(b jetstream.MessageBatch, fn func(*StoredMsg)) error {
	for m := range b.Messages() {
		if sm, ok := storedFrom(m); ok {
			fn(sm)
		}
	}
	if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return mapFetchErr(err)
	}
	return nil
}

func mapFetchErr(err error) error {
	if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("%w: %w", ErrReaderClosed, err)
	}
	return mapJSErr(err)
}

// ConsumerState is a snapshot of a consumer's counters.
type ConsumerState struct {
	Delivered     uint64 // deliveries handed out, redeliveries included
	AckFloor      uint64 // stream sequence below which everything is settled
	NumPending    uint64 // matching messages never delivered
	NumAckPending int    // delivered, not yet settled
	NumWaiting    int    // pull requests waiting
}

// Info returns the consumer's counters.
func (c *Consumer) Info(ctx context.Context) (ConsumerState, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	ci, err := c.c.Info(ctx)
	if err != nil {
		return ConsumerState{}, mapFetchErr(err)
	}
	return ConsumerState{
		Delivered: ci.Delivered.Consumer, AckFloor: ci.AckFloor.Stream,
		NumPending: ci.NumPending, NumAckPending: ci.NumAckPending, NumWaiting: ci.NumWaiting,
	}, nil
}

// RawMsg is a stored message read directly, outside any consumer.
type RawMsg struct {
	Subject string
	Seq     uint64
	Time    time.Time
	Data    []byte
}

// NextMsg returns the first message on subject with a sequence ≥ seq, or
// (nil, nil) when there is none. It does not touch any consumer.
func (e *Engine) NextMsg(ctx context.Context, stream string, seq uint64, subject string) (*RawMsg, error) {
	e.streamsMu.Lock()
	st := e.streams[stream]
	e.streamsMu.Unlock()
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	if st == nil {
		var err error
		if st, err = e.js.Stream(ctx, stream); err != nil {
			return nil, mapJSErr(err)
		}
	}
	m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, mapJSErr(err)
	}
	return &RawMsg{Subject: m.Subject, Seq: m.Sequence, Time: m.Time, Data: m.Data}, nil
}

// StreamSummary describes one stream in a listing.
type StreamSummary struct {
	Name     string
	Metadata map[string]string
	State    StreamState
}

// ListStreams returns the streams whose names start with prefix.
func (e *Engine) ListStreams(ctx context.Context, prefix string) ([]StreamSummary, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	l := e.js.ListStreams(ctx)
	var out []StreamSummary
	for info := range l.Info() {
		if !strings.HasPrefix(info.Config.Name, prefix) {
			continue
		}
		out = append(out, StreamSummary{
			Name: info.Config.Name, Metadata: info.Config.Metadata,
			State: StreamState{
				Msgs: info.State.Msgs, Bytes: info.State.Bytes, FirstSeq: info.State.FirstSeq,
				LastSeq: info.State.LastSeq, LastTime: info.State.LastTime,
			},
		})
	}
	if err := l.Err(); err != nil {
		return out, mapJSErr(err)
	}
	return out, nil
}

// DeleteConsumer removes a durable consumer; a missing one is not an error.
func (e *Engine) DeleteConsumer(ctx context.Context, stream, name string) error {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	err := e.js.DeleteConsumer(ctx, stream, name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("engine: delete consumer %s on %s: %w", name, stream, mapJSErr(err))
	}
	return nil
}

// CountSubjects returns how many messages of stream are stored on subjects
// matching filter (which may hold wildcards).
func (e *Engine) CountSubjects(ctx context.Context, stream, filter string) (uint64, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.js.Stream(ctx, stream)
	if err != nil {
		return 0, mapJSErr(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, mapJSErr(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// PurgeSubjects removes the messages of stream on subjects matching filter.
func (e *Engine) PurgeSubjects(ctx context.Context, stream, filter string) error {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return mapJSErr(err)
	}
	return mapJSErr(st.Purge(ctx, jetstream.WithPurgeSubject(filter)))
}
