package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Fetcher fetches from a durable consumer; *Consumer implements it, and
// tests of the layers above can supply their own.
type Fetcher interface {
	// FetchEach hands each message to fn as it arrives, up to n, waiting
	// up to wait (see Consumer.FetchEach).
	FetchEach(ctx context.Context, n int, wait time.Duration, fn func(*StoredMsg)) error
	// FetchNoWait returns up to n messages available now.
	FetchNoWait(n int) ([]*StoredMsg, error)
	// Info returns the consumer's counters.
	Info(ctx context.Context) (ConsumerState, error)
}

// Consumer is a durable pull consumer from which several receivers fetch
// concurrently (competing consumers).
type Consumer struct {
	c      jetstream.Consumer
	stream string
}

// EnsureConsumer returns the durable consumer spec.Durable on stream,
// creating it from spec when it does not exist. An existing one whose ack
// wait, most pending acks or idle limit differ from spec (the server was
// restarted with other settings) is updated to spec's: with a shorter ack
// wait than the heartbeats assume, held messages would be delivered again
// while still held.
func (e *Engine) EnsureConsumer(ctx context.Context, stream string, spec ConsumerSpec) (Fetcher, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	c, err := e.js.Consumer(ctx, stream, spec.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		c, err = e.js.CreateOrUpdateConsumer(ctx, stream, spec.config())
	} else if err == nil {
		want := spec.config()
		if cfg := c.CachedInfo().Config; cfg.AckWait != want.AckWait || cfg.MaxAckPending != want.MaxAckPending || cfg.InactiveThreshold != want.InactiveThreshold {
			cfg.AckWait, cfg.MaxAckPending, cfg.InactiveThreshold = want.AckWait, want.MaxAckPending, want.InactiveThreshold
			if updated, uerr := e.js.UpdateConsumer(ctx, stream, cfg); uerr == nil {
				c = updated
			} else {
				e.log.Warn("cannot update a consumer to the settings in effect", "stream", stream, "consumer", spec.Durable, "err", uerr)
			}
		}
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
	return newStored(m, md, nil), true
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
	ChanSeq uint64 // its channel sequence in a Log (0 elsewhere)
	Time    time.Time
	Data    []byte
	header  nats.Header
}

// Header returns a header value of the message.
func (m *RawMsg) Header(key string) string { return m.header.Get(key) }

func rawFrom(m *jetstream.RawStreamMsg) *RawMsg {
	return &RawMsg{Subject: m.Subject, Seq: m.Sequence, ChanSeq: chanSeqOf(m.Header), Time: m.Time, Data: m.Data, header: m.Header}
}

// stream returns the handle of a stream, from the cache when it is known.
func (e *Engine) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	e.streamsMu.Lock()
	st := e.streams[name]
	e.streamsMu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := e.js.Stream(ctx, name)
	return st, mapJSErr(err)
}

// NextMsg returns the first message on subject with a sequence ≥ seq, or
// (nil, nil) when there is none. It does not touch any consumer.
func (e *Engine) NextMsg(ctx context.Context, stream string, seq uint64, subject string) (*RawMsg, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, mapJSErr(err)
	}
	return rawFrom(m), nil
}

// lastMsg returns the newest message on subject, or (nil, nil).
func (e *Engine) lastMsg(ctx context.Context, stream, subject string) (*RawMsg, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, mapJSErr(err)
	}
	return rawFrom(m), nil
}

// SubjectCounts returns the message count of every subject of stream
// matching filter.
func (e *Engine) SubjectCounts(ctx context.Context, stream, filter string) (map[string]uint64, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, mapJSErr(err)
	}
	return info.State.Subjects, nil
}

// multiLast hands fn the newest message of each of subjects of stream (one
// batched direct get, answered as a stream of messages ending with an
// end-of-batch status).
func (e *Engine) multiLast(ctx context.Context, stream string, subjects []string, fn func(*RawMsg)) error {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	req, _ := json.Marshal(map[string]any{"multi_last": subjects, "batch": len(subjects)})
	inbox := nats.NewInbox()
	sub, err := e.nc.SubscribeSync(inbox)
	if err != nil {
		return mapConnErr(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := e.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, req); err != nil {
		return mapConnErr(err)
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return mapConnErr(err)
		}
		if len(m.Data) == 0 && m.Header.Get("Status") != "" {
			if code := m.Header.Get("Status"); code == "204" || code == "404" {
				return nil // end of batch, or nothing matched
			}
			return fmt.Errorf("engine: multi-last get on %s: %s %s", stream, m.Header.Get("Status"), m.Header.Get("Description"))
		}
		fn(directMsg(m))
	}
}

func directMsg(m *nats.Msg) *RawMsg {
	seq, _ := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	t, _ := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer))
	return &RawMsg{Subject: m.Header.Get(jetstream.SubjectHeader), Seq: seq, ChanSeq: chanSeqOf(m.Header), Time: t, Data: m.Data, header: m.Header}
}

// consumersFiltered lists the durable consumers of stream whose filter is
// subject.
func (e *Engine) consumersFiltered(ctx context.Context, stream, subject string) ([]string, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	l := st.ListConsumers(ctx)
	var out []string
	for ci := range l.Info() {
		if ci.Config.Durable != "" && (ci.Config.FilterSubject == subject || slices.Contains(ci.Config.FilterSubjects, subject)) {
			out = append(out, ci.Name)
		}
	}
	return out, mapJSErr(l.Err())
}

// StreamSummary describes one stream in a listing.
type StreamSummary struct {
	Name     string
	Subjects []string
	Metadata map[string]string
	Sealed   bool
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
			Name: info.Config.Name, Subjects: info.Config.Subjects, Metadata: info.Config.Metadata, Sealed: info.Config.Sealed,
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

// ConsumerSummary describes a consumer of a stream.
type ConsumerSummary struct {
	Name     string
	Durable  bool
	AckFloor uint64 // stream sequence below which everything is settled
}

// ListConsumers lists the consumers of stream.
func (e *Engine) ListConsumers(ctx context.Context, stream string) ([]ConsumerSummary, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := e.stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	l := st.ListConsumers(ctx)
	var out []ConsumerSummary
	for ci := range l.Info() {
		out = append(out, ConsumerSummary{Name: ci.Name, Durable: ci.Config.Durable != "", AckFloor: ci.AckFloor.Stream})
	}
	return out, mapJSErr(l.Err())
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

// RawMsgWithHeader returns m with a header set, for tests of the layers
// above.
func RawMsgWithHeader(m RawMsg, key, value string) *RawMsg {
	m.header = nats.Header{}
	m.header.Set(key, value)
	return &m
}
