package netchan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
)

// delivery is one stored message read from a source, with its settlement
// (nil for sources without acknowledgement).
type delivery struct {
	id       string
	seq      uint64
	ts       time.Time
	channel  string
	metadata string
	body     []byte
	tags     map[string]string
	msg      *queuesstream.QueueMessage // acked sources only
}

// source is where a reader goroutine takes messages from.
type source interface {
	// next blocks until a message arrives, ctx ends or the source fails.
	next(ctx context.Context) (*delivery, error)
	// ack settles a delivered message (no-op without acknowledgement).
	ack(d *delivery)
	// nack returns a message to its group (no-op without acknowledgement).
	nack(d *delivery)
	// extend pushes back the visibility of d (if not nil) and of every
	// message held.
	extend(d *delivery)
	// close stops the source and returns held messages; it waits for what
	// the source started.
	close()
	// interval is how often extend must be called while a message is held
	// (0: never).
	interval() time.Duration
}

// deletedError tells whether a subscription ended because its channel was
// deleted.
func deletedError(err error) bool {
	return errors.Is(err, client.ErrChannelDeleted)
}

// esSource reads an events-store subscription (plain or group).
type esSource struct {
	c      *Client
	ch     string
	msgs   <-chan *client.EventStoreReceive
	errCh  chan error
	cancel context.CancelFunc
	last   error
}

func (c *Client) openES(ctx context.Context, cl *client.Client, ch, group, clientID string, start client.SubscriptionOption) (*esSource, error) {
	sctx, cancel := context.WithCancel(context.Background())
	errCh := make(chan error, 16)
	msgs, err := cl.SubscribeToEventsStoreWithRequest(sctx, &client.EventsStoreSubscription{
		Channel: ch, Group: group, ClientId: clientID, SubscriptionType: start,
	}, errCh)
	if err != nil {
		cancel()
		if errors.Is(err, client.ErrClientClosed) {
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return nil, fmt.Errorf("netchan: subscribe %s: %w", ch, err)
	}
	return &esSource{c: c, ch: ch, msgs: msgs, errCh: errCh, cancel: cancel}, nil
}

func (s *esSource) next(ctx context.Context) (*delivery, error) {
	for {
		select {
		case ev, ok := <-s.msgs:
			if !ok {
				s.drainErrs()
				if deletedError(s.last) {
					return nil, ErrChannelDeleted
				}
				if s.last == nil {
					return nil, fmt.Errorf("netchan: subscription to %s ended", s.ch)
				}
				if errors.Is(s.last, client.ErrClientClosed) {
					return nil, fmt.Errorf("%w: %w", ErrClosed, s.last)
				}
				return nil, fmt.Errorf("netchan: subscription to %s: %w", s.ch, s.last)
			}
			return &delivery{id: ev.Id, seq: ev.Sequence, ts: ev.Timestamp, channel: ev.Channel,
				metadata: ev.Metadata, body: ev.Body, tags: ev.Tags}, nil
		case err := <-s.errCh:
			if deletedError(err) {
				return nil, ErrChannelDeleted
			}
			s.last = err
			s.c.log.Debug("netchan: subscription", "channel", s.ch, "err", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *esSource) drainErrs() {
	for {
		select {
		case err := <-s.errCh:
			s.last = err
		default:
			return
		}
	}
}

func (s *esSource) ack(*delivery)           {}
func (s *esSource) nack(*delivery)          {}
func (s *esSource) extend(*delivery)        {}
func (s *esSource) interval() time.Duration { return 0 }

func (s *esSource) close() {
	s.cancel()
	for range s.msgs { // the SDK closes the channel when the subscription ends
	}
}

// Acked durable reads (H3): polling settings.
const (
	prefetch          = 16
	visibilitySeconds = 30
	pollWaitMillis    = 1000
)

// ackedSource reads an acked durable read (H3) through the queue stream.
type ackedSource struct {
	c    *Client
	qs   *queuesstream.QueuesStreamClient
	name string // the virtual queue
	ch   string // the events-store channel
	held []*queuesstream.QueueMessage
}

func (s *ackedSource) next(ctx context.Context) (*delivery, error) {
	delay := 50 * time.Millisecond
	for len(s.held) == 0 {
		resp, err := s.qs.Poll(ctx, queuesstream.NewPollRequest().SetChannel(s.name).SetMaxItems(prefetch).
			SetWaitTimeout(pollWaitMillis).SetAutoAck(false).SetVisibilitySeconds(visibilitySeconds))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, client.ErrClientClosed) {
				return nil, fmt.Errorf("%w: %w", ErrClosed, err)
			}
			if deletedError(err) {
				return nil, ErrChannelDeleted
			}
			if errors.Is(err, client.ErrInvalidArgument) || errors.Is(err, client.ErrUnauthorized) {
				return nil, fmt.Errorf("netchan: read %s: %w", s.name, err)
			}
			s.c.log.Debug("netchan: poll retry", "channel", s.ch, "err", err)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 50 * time.Millisecond
		s.held = append(s.held, resp.Messages...)
	}
	m := s.held[0]
	s.held = s.held[1:]
	d := &delivery{id: m.MessageID, channel: s.ch, metadata: m.Metadata, body: m.Body, tags: m.Tags, msg: m}
	if a := m.Attributes; a != nil {
		d.seq, d.ts = a.Sequence, time.Unix(0, a.Timestamp)
	}
	return d, nil
}

func (s *ackedSource) ack(d *delivery) {
	if err := d.msg.Ack(); err != nil {
		s.c.log.Warn("netchan: ack", "channel", s.ch, "group", s.name, "err", err)
	}
}

func (s *ackedSource) nack(d *delivery) {
	if err := d.msg.NAck(); err != nil {
		s.c.log.Debug("netchan: nack", "channel", s.ch, "err", err)
	}
}

func (s *ackedSource) extend(d *delivery) {
	if d != nil && d.msg != nil {
		_ = d.msg.ExtendVisibility(visibilitySeconds)
	}
	for _, m := range s.held {
		_ = m.ExtendVisibility(visibilitySeconds)
	}
}

func (s *ackedSource) interval() time.Duration { return visibilitySeconds * time.Second / 2 }

func (s *ackedSource) close() {
	for _, m := range s.held {
		_ = m.NAck()
	}
	s.held = nil
}
