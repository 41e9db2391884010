package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// errInputClosed ends a sending stream whose input channel was closed.
var errInputClosed = errors.New("client: input channel closed")

// interruptedError is what a subscription or stream reports when its stream
// broke and it reconnects.
type interruptedError struct {
	what string
	err  error
}

func (e *interruptedError) Error() string {
	return fmt.Sprintf("client: %s interrupted, reconnecting: %v", e.what, e.err)
}

func (e *interruptedError) Unwrap() []error { return []error{ErrSubscriptionInterrupted, e.err} }

// retry runs serve until ctx ends or the client closes. After a failure it
// reports on errCh and runs serve again with backoff, unless auto-reconnect
// is off, the error is permanent (refused input or credentials) or the
// reconnect budget is spent; then it reports the error and returns. serve
// reports whether its stream opened, which resets the attempt count.
func (c *Client) retry(ctx context.Context, what string, errCh chan<- error, serve func(ctx context.Context) (opened bool, err error)) {
	parent := ctx
	ctx, cancel := c.linked(ctx)
	defer cancel()
	attempts := 0
	for {
		opened, err := serve(ctx)
		if ctx.Err() != nil || errors.Is(err, errInputClosed) {
			if c.closed.Load() && parent.Err() == nil {
				notify(errCh, fmt.Errorf("client: %s: %w", what, ErrClientClosed))
			}
			return
		}
		if opened {
			attempts = 0
		}
		attempts++
		switch {
		case permanent(err) || !c.opts.autoReconnect:
			notify(errCh, fmt.Errorf("client: %s: %w", what, err))
			return
		case c.opts.maxReconnect > 0 && attempts > c.opts.maxReconnect:
			notify(errCh, fmt.Errorf("client: %s: max reconnects reached, aborting: %w", what, err))
			return
		}
		c.t.markDown()
		notify(errCh, &interruptedError{what: what, err: err})
		if !sleepCtx(ctx, backoffDelay(attempts, c.opts.reconnectInterval)) {
			return
		}
	}
}

// subscribe starts a subscription goroutine that delivers on out and closes
// it when the subscription ends. serve opens one stream and delivers until
// it fails.
func subscribe[T any](c *Client, ctx context.Context, what string, errCh chan<- error, out chan T, serve func(ctx context.Context) (bool, error)) error {
	if !c.goroutine(func() {
		defer close(out)
		c.retry(ctx, what, errCh, serve)
	}) {
		return ErrClientClosed
	}
	return nil
}

// deliver sends v on out unless ctx ends first.
func deliver[T any](ctx context.Context, out chan<- T, v T) bool {
	select {
	case out <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Client) bufferSize() int { return c.opts.receiveBufferSize }

// EventsSubscription describes a subscription to events.
type EventsSubscription struct {
	Channel  string // may use the wildcards * and >
	Group    string // members of one group share the events; empty: every event
	ClientId string // default: the client's
}

// Complete fills ClientId from opts when it is empty.
func (es *EventsSubscription) Complete(opts *Options) *EventsSubscription {
	if es.ClientId == "" {
		es.ClientId = opts.clientID
	}
	return es
}

// Validate reports a missing channel or client id.
func (es *EventsSubscription) Validate() error {
	if es.Channel == "" {
		return invalidArgument("events subscription must have a channel")
	}
	if es.ClientId == "" {
		return invalidArgument("events subscription must have a clientId")
	}
	return nil
}

// SubscribeToEvents subscribes to the events of channel (wildcards * and >
// allowed); with a group, each event goes to one member of the group.
//
// Events arrive on the returned channel, which is closed when ctx ends, the
// client closes, or the subscription fails for good. When the stream breaks
// (a server restart, a network failure) the subscription is re-opened with
// backoff and keeps delivering on the same channel; each interruption is
// reported on errCh (never blocking; nil errCh is allowed). Events sent
// while it was away are not delivered: events are not stored.
func (c *Client) SubscribeToEvents(ctx context.Context, channel, group string, errCh chan error) (<-chan *Event, error) {
	return c.SubscribeToEventsWithRequest(ctx, &EventsSubscription{Channel: channel, Group: group}, errCh)
}

// SubscribeToEventsWithRequest is SubscribeToEvents with the subscription
// described by request.
func (c *Client) SubscribeToEventsWithRequest(ctx context.Context, request *EventsSubscription, errCh chan error) (<-chan *Event, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	req := *request
	if err := req.Complete(c.opts).Validate(); err != nil {
		return nil, err
	}
	sub := &kubemqpb.Subscribe{
		SubscribeTypeData: kubemqpb.Subscribe_Events, ClientID: req.ClientId, Channel: req.Channel, Group: req.Group,
	}
	out := make(chan *Event, c.bufferSize())
	what := fmt.Sprintf("events subscription to %q", req.Channel)
	err := subscribe(c, ctx, what, errCh, out, func(ctx context.Context) (bool, error) {
		stream, err := c.t.subscribeToEvents(ctx, sub)
		if err != nil {
			return false, err
		}
		for {
			ev, err := stream.Recv()
			if err != nil {
				return true, streamEnded(err)
			}
			if !deliver(ctx, out, &Event{
				Id: ev.EventID, Channel: ev.Channel, Metadata: ev.Metadata, Body: ev.Body,
				ClientId: req.ClientId, Tags: ev.Tags,
			}) {
				return true, ctx.Err()
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EventsStoreSubscription describes a subscription to an events-store channel.
type EventsStoreSubscription struct {
	Channel          string // no wildcards
	Group            string
	ClientId         string // default: the client's
	SubscriptionType SubscriptionOption
}

// Complete fills ClientId from opts when it is empty.
func (es *EventsStoreSubscription) Complete(opts *Options) *EventsStoreSubscription {
	if es.ClientId == "" {
		es.ClientId = opts.clientID
	}
	return es
}

// Validate reports a missing channel, client id or start position.
func (es *EventsStoreSubscription) Validate() error {
	if es.Channel == "" {
		return invalidArgument("events store subscription must have a channel")
	}
	if es.ClientId == "" {
		return invalidArgument("events store subscription must have a clientId")
	}
	if es.SubscriptionType == nil {
		return invalidArgument("events store subscription must have a subscription type")
	}
	return nil
}

// SubscribeToEventsStore subscribes to an events-store channel from the
// position opt names (StartFromNewEvents, StartFromFirstEvent, …).
//
// The subscription is durable on the server, keyed by (client id, channel)
// without a group and (channel, group) with one: subscribing again with the
// same key resumes after the last event delivered, whatever opt says.
//
// Events arrive on the returned channel, which is closed when ctx ends, the
// client closes, or the subscription fails for good. When the stream breaks
// the subscription is re-opened with backoff; it asks for the sequence after
// the last one delivered, but Herald and KubeMQ resume from their cursor,
// after the last event written to the broken stream. Without a group, an
// event delivered already is dropped if it comes again, and one that comes
// late, behind newer ones, is delivered. An event written just before the
// connection broke that never arrived is not sent again (as with KubeMQ); a
// server shutdown does not break streams that way. Interruptions are
// reported on errCh (never blocking).
func (c *Client) SubscribeToEventsStore(ctx context.Context, channel, group string, errCh chan error, opt SubscriptionOption) (<-chan *EventStoreReceive, error) {
	return c.SubscribeToEventsStoreWithRequest(ctx, &EventsStoreSubscription{Channel: channel, Group: group, SubscriptionType: opt}, errCh)
}

// SubscribeToEventsStoreWithRequest is SubscribeToEventsStore with the
// subscription described by request.
func (c *Client) SubscribeToEventsStoreWithRequest(ctx context.Context, request *EventsStoreSubscription, errCh chan error) (<-chan *EventStoreReceive, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	req := *request
	if err := req.Complete(c.opts).Validate(); err != nil {
		return nil, err
	}
	var start subscriptionOption
	req.SubscriptionType.apply(&start)
	out := make(chan *EventStoreReceive, c.bufferSize())
	what := fmt.Sprintf("events store subscription to %q", req.Channel)
	var seen seenSeqs // the sequences delivered
	err := subscribe(c, ctx, what, errCh, out, func(ctx context.Context) (bool, error) {
		sub := &kubemqpb.Subscribe{
			SubscribeTypeData: kubemqpb.Subscribe_EventsStore, ClientID: req.ClientId, Channel: req.Channel, Group: req.Group,
			EventsStoreTypeData: start.kind, EventsStoreTypeValue: start.value,
		}
		if seen.last > 0 && req.Group == "" {
			sub.EventsStoreTypeData, sub.EventsStoreTypeValue = kubemqpb.Subscribe_StartAtSequence, int64(seen.last+1)
		}
		stream, err := c.t.subscribeToEvents(ctx, sub)
		if err != nil {
			return false, err
		}
		for {
			ev, err := stream.Recv()
			if err != nil {
				return true, streamEnded(err)
			}
			if req.Group == "" && seen.has(ev.Sequence) {
				continue // already delivered before a reconnect
			}
			if !deliver(ctx, out, &EventStoreReceive{
				Id: ev.EventID, Sequence: ev.Sequence, Timestamp: time.Unix(0, ev.Timestamp), Channel: ev.Channel,
				Metadata: ev.Metadata, Body: ev.Body, ClientId: req.ClientId, Tags: ev.Tags,
			}) {
				return true, ctx.Err()
			}
			seen.add(ev.Sequence)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CommandsSubscription describes a subscription of a command responder.
type CommandsSubscription struct {
	Channel  string // may use the wildcards * and >
	Group    string // members of one group share the commands
	ClientId string // default: the client's
}

// Complete fills ClientId from opts when it is empty.
func (cs *CommandsSubscription) Complete(opts *Options) *CommandsSubscription {
	if cs.ClientId == "" {
		cs.ClientId = opts.clientID
	}
	return cs
}

// Validate reports a missing channel or client id.
func (cs *CommandsSubscription) Validate() error {
	if cs.Channel == "" {
		return invalidArgument("commands subscription must have a channel")
	}
	if cs.ClientId == "" {
		return invalidArgument("commands subscription must have a clientId")
	}
	return nil
}

// SubscribeToCommands subscribes a responder to the commands of channel.
// Answer each with R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo)….
// The channel and errCh behave as for SubscribeToEvents; commands sent while
// the subscription was away time out at their senders.
func (c *Client) SubscribeToCommands(ctx context.Context, channel, group string, errCh chan error) (<-chan *CommandReceive, error) {
	return c.SubscribeToCommandsWithRequest(ctx, &CommandsSubscription{Channel: channel, Group: group}, errCh)
}

// SubscribeToCommandsWithRequest is SubscribeToCommands with the
// subscription described by request.
func (c *Client) SubscribeToCommandsWithRequest(ctx context.Context, request *CommandsSubscription, errCh chan error) (<-chan *CommandReceive, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	req := *request
	if err := req.Complete(c.opts).Validate(); err != nil {
		return nil, err
	}
	out := make(chan *CommandReceive, c.bufferSize())
	err := subscribeRequests(c, ctx, kubemqpb.Subscribe_Commands, requestSubscription{req.Channel, req.Group, req.ClientId}, errCh, out,
		func(r *kubemqpb.Request) *CommandReceive {
			return &CommandReceive{
				Id: r.RequestID, ClientId: r.ClientID, Channel: r.Channel, Metadata: r.Metadata, Body: r.Body,
				ResponseTo: r.ReplyChannel, Tags: r.Tags,
			}
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QueriesSubscription describes a subscription of a query responder.
type QueriesSubscription struct {
	Channel  string // may use the wildcards * and >
	Group    string // members of one group share the queries
	ClientId string // default: the client's
}

// Complete fills ClientId from opts when it is empty.
func (qs *QueriesSubscription) Complete(opts *Options) *QueriesSubscription {
	if qs.ClientId == "" {
		qs.ClientId = opts.clientID
	}
	return qs
}

// Validate reports a missing channel or client id.
func (qs *QueriesSubscription) Validate() error {
	if qs.Channel == "" {
		return invalidArgument("queries subscription must have a channel")
	}
	if qs.ClientId == "" {
		return invalidArgument("queries subscription must have a clientId")
	}
	return nil
}

// SubscribeToQueries subscribes a responder to the queries of channel.
// Answer each with R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo)….
// The channel and errCh behave as for SubscribeToEvents.
func (c *Client) SubscribeToQueries(ctx context.Context, channel, group string, errCh chan error) (<-chan *QueryReceive, error) {
	return c.SubscribeToQueriesWithRequest(ctx, &QueriesSubscription{Channel: channel, Group: group}, errCh)
}

// SubscribeToQueriesWithRequest is SubscribeToQueries with the subscription
// described by request.
func (c *Client) SubscribeToQueriesWithRequest(ctx context.Context, request *QueriesSubscription, errCh chan error) (<-chan *QueryReceive, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	req := *request
	if err := req.Complete(c.opts).Validate(); err != nil {
		return nil, err
	}
	out := make(chan *QueryReceive, c.bufferSize())
	err := subscribeRequests(c, ctx, kubemqpb.Subscribe_Queries, requestSubscription{req.Channel, req.Group, req.ClientId}, errCh, out,
		func(r *kubemqpb.Request) *QueryReceive {
			return &QueryReceive{
				Id: r.RequestID, ClientId: r.ClientID, Channel: r.Channel, Metadata: r.Metadata, Body: r.Body,
				ResponseTo: r.ReplyChannel, Tags: r.Tags,
			}
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// subscribeRequests runs a command or query responder subscription.
func subscribeRequests[T any](c *Client, ctx context.Context, kind kubemqpb.Subscribe_SubscribeType, req requestSubscription,
	errCh chan<- error, out chan T, convert func(*kubemqpb.Request) T) error {
	sub := &kubemqpb.Subscribe{SubscribeTypeData: kind, ClientID: req.clientID, Channel: req.channel, Group: req.group}
	what := fmt.Sprintf("commands subscription to %q", req.channel)
	if kind == kubemqpb.Subscribe_Queries {
		what = fmt.Sprintf("queries subscription to %q", req.channel)
	}
	return subscribe(c, ctx, what, errCh, out, func(ctx context.Context) (bool, error) {
		stream, err := c.t.subscribeToRequests(ctx, sub)
		if err != nil {
			return false, err
		}
		for {
			r, err := stream.Recv()
			if err != nil {
				return true, streamEnded(err)
			}
			if !deliver(ctx, out, convert(r)) {
				return true, ctx.Err()
			}
		}
	})
}

type requestSubscription struct{ channel, group, clientID string }

// seenWindow is how many sequences below the highest one delivered a
// subscription remembers.
const seenWindow = 4096

// seenSeqs remembers which sequences of a channel a subscription delivered,
// so that a re-opened subscription drops repeats but not an event the
// server redelivers late, behind newer ones (one it sent that never
// arrived). Sequences more than seenWindow below the highest are taken as
// new: a rare repeat beats a loss.
type seenSeqs struct {
	last uint64 // the highest sequence delivered; 0: none
	bits [seenWindow / 64]uint64
}

func (s *seenSeqs) has(seq uint64) bool {
	if seq == 0 || seq > s.last || s.last-seq >= seenWindow {
		return false
	}
	i := seq % seenWindow
	return s.bits[i/64]&(1<<(i%64)) != 0
}

func (s *seenSeqs) add(seq uint64) {
	if seq == 0 {
		return
	}
	if seq > s.last {
		if seq-s.last >= seenWindow {
			s.bits = [seenWindow / 64]uint64{}
		} else {
			for q := s.last + 1; q < seq; q++ { // positions reused by the window
				i := q % seenWindow
				s.bits[i/64] &^= 1 << (i % 64)
			}
		}
		s.last = seq
	} else if s.last-seq >= seenWindow {
		return
	}
	i := seq % seenWindow
	s.bits[i/64] |= 1 << (i % 64)
}
