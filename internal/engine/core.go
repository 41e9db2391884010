package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Msg is a core (not stored) message as a subscription handler sees it.
type Msg struct {
	Subject string
	Reply   string
	Data    []byte
}

// Sub is a core subscription as the layers above use it: ended by
// Unsubscribe, Dropped counting what its handler could not keep up with.
// *Subscription implements it, and tests of those layers supply their own.
type Sub interface {
	Unsubscribe()
	Dropped() int64
}

// Subscription is a live core subscription. Unsubscribe is idempotent.
type Subscription struct {
	sub  *nats.Subscription
	once sync.Once
}

// Unsubscribe stops delivery. Calls to the handler that already started finish.
func (s *Subscription) Unsubscribe() {
	s.once.Do(func() { _ = s.sub.Unsubscribe() })
}

// ErrBadSubject reports a subject or queue name NATS refuses.
var ErrBadSubject = errors.New("engine: invalid subject")

// Publish sends data on a core subject, fire and forget.
func (e *Engine) Publish(subject string, data []byte) error {
	err := e.nc.Publish(subject, data)
	return mapConnErr(err)
}

// Subscribe calls fn for every message on subject (which may hold wildcards).
// With a non-empty queue, each message goes to one member of that queue group
// across all matching subscriptions. Calls to fn for one subscription are
// sequential; fn may block, which holds back only this subscription.
func (e *Engine) Subscribe(subject, queue string, fn func(Msg)) (Sub, error) {
	h := func(m *nats.Msg) { fn(Msg{Subject: m.Subject, Reply: m.Reply, Data: m.Data}) }
	var (
		s   *nats.Subscription
		err error
	)
	if queue == "" {
		s, err = e.nc.Subscribe(subject, h)
	} else {
		s, err = e.nc.QueueSubscribe(subject, queue, h)
	}
	if err != nil {
		if errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrBadQueueName) {
			return nil, fmt.Errorf("%w: %q", ErrBadSubject, subject)
		}
		return nil, mapConnErr(err)
	}
	// A slow gRPC reader must not make NATS drop the whole connection; the
	// pattern layer applies its own buffer and drop policy in fn. While fn
	// blocks, messages wait here: at most SubscriberBacklog of them (and
	// room for two of the largest), beyond which they are dropped and
	// counted (Dropped), so a subscriber that stopped reading costs bounded
	// memory.
	_ = s.SetPendingLimits(SubscriberBacklog, 2*DefaultMaxPayload)
	return &Subscription{sub: s}, nil
}

// SubscriberBacklog bounds the messages waiting for one subscription's
// handler: NATS's own default. It absorbs a healthy subscriber's bursts
// (at 1024, a burst of 10,000 events to a subscriber reading as fast as it
// could lost a third of them); a subscriber that stopped reading fills it
// only during its first 2 s wait, after which the pattern drops its events
// at once.
const SubscriberBacklog = 65536

// Dropped is how many messages the subscription dropped because its
// handler did not keep up (beyond its pending limits).
func (s *Subscription) Dropped() int64 {
	n, err := s.sub.Dropped()
	if err != nil {
		return 0
	}
	return int64(n)
}

// InboxPrefix starts every reply subject the engine issues.
const InboxPrefix = "_INBOX."

// ErrNoReply is returned by Request when no reply arrived before ctx ended.
var ErrNoReply = errors.New("engine: no reply")

// Request publishes data on subject with a fresh reply subject and waits for
// the first reply until ctx ends. Unlike nats.go's Request it does not fail
// early when nobody listens: the caller decides how long to wait.
func (e *Engine) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	return e.inbox.request(ctx, subject, data)
}

// Reply publishes data to a reply subject issued by Request (on this or
// another node). Subjects that are not reply subjects are ignored, so clients
// cannot publish into internal subjects through it.
func (e *Engine) Reply(reply string, data []byte) error {
	if !strings.HasPrefix(reply, InboxPrefix) || strings.ContainsAny(reply, "*> \t\r\n") {
		return nil
	}
	return mapConnErr(e.nc.Publish(reply, data))
}

// inboxMux multiplexes request replies over one wildcard subscription.
type inboxMux struct {
	nc     *nats.Conn
	prefix string
	mu     sync.Mutex
	wait   map[string]chan []byte
}

func newInboxMux(nc *nats.Conn) (*inboxMux, error) {
	m := &inboxMux{nc: nc, prefix: InboxPrefix + nuid.Next() + ".", wait: make(map[string]chan []byte)}
	_, err := nc.Subscribe(m.prefix+"*", func(msg *nats.Msg) {
		if len(msg.Data) == 0 && msg.Header.Get("Status") != "" {
			return // "no responders" and other status messages: keep waiting
		}
		token := msg.Subject[len(m.prefix):]
		m.mu.Lock()
		ch, ok := m.wait[token]
		if ok {
			delete(m.wait, token) // the first reply wins
		}
		m.mu.Unlock()
		if ok {
			ch <- msg.Data
		}
	})
	if err != nil {
		return nil, fmt.Errorf("engine: inbox subscription: %w", err)
	}
	return m, nil
}

func (m *inboxMux) request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	token := nuid.Next()
	ch := make(chan []byte, 1)
	m.mu.Lock()
	m.wait[token] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.wait, token)
		m.mu.Unlock()
	}()
	if err := m.nc.PublishRequest(subject, m.prefix+token, data); err != nil {
		return nil, mapConnErr(err)
	}
	select {
	case d := <-ch:
		return d, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrNoReply, ctx.Err())
	}
}

// ErrPayloadTooLarge is returned for messages above the engine's limits.
var ErrPayloadTooLarge = errors.New("engine: message too large")

func mapConnErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %w", ErrPayloadTooLarge, err)
	case errors.Is(err, nats.ErrBadSubject):
		return fmt.Errorf("%w: %w", ErrBadSubject, err)
	}
	return err
}
