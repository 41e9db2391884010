package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// EventStore is a persistent pub/sub message: stored in its channel with a
// sequence number, and replayable by subscribers (see SubscriptionOption).
type EventStore struct {
	Id       string
	Channel  string
	Metadata string
	Body     []byte
	ClientId string
	Tags     map[string]string

	client *Client
}

// NewEventStore returns an empty events-store event that is not bound to a
// client: send it with EventsStoreClient.Send or bind it with
// Client.SetEventStore.
func NewEventStore() *EventStore { return &EventStore{} }

// SetId sets the event id; the server generates one when it is empty.
func (es *EventStore) SetId(id string) *EventStore {
	es.Id = id
	return es
}

// SetClientId sets the sender's client id (default: the client's).
func (es *EventStore) SetClientId(clientId string) *EventStore {
	es.ClientId = clientId
	return es
}

// SetMetadata sets the metadata; an event needs metadata or a body.
func (es *EventStore) SetMetadata(metadata string) *EventStore {
	es.Metadata = metadata
	return es
}

// SetChannel sets the channel (no wildcards).
func (es *EventStore) SetChannel(channel string) *EventStore {
	es.Channel = channel
	return es
}

// SetBody sets the body; an event needs metadata or a body.
func (es *EventStore) SetBody(body []byte) *EventStore {
	es.Body = body
	return es
}

// SetTags replaces the tags with a copy of tags.
func (es *EventStore) SetTags(tags map[string]string) *EventStore {
	es.Tags = copyTags(tags)
	return es
}

// AddTag adds one tag.
func (es *EventStore) AddTag(key, value string) *EventStore {
	if es.Tags == nil {
		es.Tags = map[string]string{}
	}
	es.Tags[key] = value
	return es
}

// Send stores the event. Herald answers once the event is stored. A
// refusal by the server is an error; so is Sent == false (Result.Err).
func (es *EventStore) Send(ctx context.Context) (*EventStoreResult, error) {
	if es.client == nil {
		return nil, ErrNoTransportDefined
	}
	return es.client.sendEventStore(ctx, es)
}

func (es *EventStore) String() string {
	if es == nil {
		return "<nil>"
	}
	return fmt.Sprintf("Id: %s, Channel: %s, Metadata: %s, Body: %s, ClientId: %s, Tags: %s", es.Id, es.Channel, es.Metadata, es.Body, es.ClientId, es.Tags)
}

func (es *EventStore) toPB(c *Client) *kubemqpb.Event {
	return &kubemqpb.Event{
		EventID: es.Id, ClientID: c.clientID(es.ClientId), Channel: es.Channel,
		Metadata: es.Metadata, Body: es.Body, Store: true, Tags: es.Tags,
	}
}

// EventStoreResult is the server's answer to an events-store send.
type EventStoreResult struct {
	Id   string
	Sent bool
	Err  error
}

func (r *EventStoreResult) String() string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("Id: %s, Sent: %t, Err: %v", r.Id, r.Sent, r.Err)
}

// EventStoreReceive is an event delivered by an events-store subscription.
type EventStoreReceive struct {
	Id        string
	Sequence  uint64    // per channel, from 1
	Timestamp time.Time // when it was stored
	Channel   string
	Metadata  string
	Body      []byte
	ClientId  string // the subscriber's client id
	Tags      map[string]string
}

func (es *EventStoreReceive) String() string {
	if es == nil {
		return "<nil>"
	}
	return fmt.Sprintf("Id: %s, Sequence: %d, Timestamp: %s, Channel: %s, Metadata: %s, Body: %s, ClientId: %s, Tags: %s", es.Id, es.Sequence, es.Timestamp.String(), es.Channel, es.Metadata, es.Body, es.ClientId, es.Tags)
}

func (c *Client) sendEventStore(ctx context.Context, es *EventStore) (*EventStoreResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	pb := es.toPB(c)
	ctx, tags, span := c.startSend(ctx, sendSpan{op: "send", channel: pb.Channel, clientID: pb.ClientID, id: pb.EventID, bodySize: len(pb.Body)}, pb.Tags)
	pb.Tags = tags
	res, err := c.t.sendEvent(ctx, pb)
	if err != nil {
		endSpan(span, err)
		return nil, err
	}
	out := &EventStoreResult{Id: res.EventID, Sent: res.Sent}
	if !res.Sent {
		out.Err = inBandError(res.Error)
	}
	endSpan(span, out.Err)
	return out, nil
}

// StreamEventsStore stores every event read from eventsCh over one stream
// and delivers one result per event on resultCh, matched by event id (ids
// are generated for events without one). It blocks until ctx ends, the
// client closes or eventsCh is closed (then it waits for the outstanding
// results); run it on its own goroutine. When the stream breaks, every
// event without an answer gets a result with Sent == false and the
// interruption as Err, the failure is reported on errCh (never blocking),
// and the stream is re-opened unless auto-reconnect is off. StreamEventsStore
// does not close resultCh.
func (c *Client) StreamEventsStore(ctx context.Context, eventsCh chan *EventStore, resultCh chan *EventStoreResult, errCh chan error) {
	c.retry(ctx, "events store stream", errCh, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.t.sendEventsStream(ctx)
		if err != nil {
			return false, err
		}
		var mu sync.Mutex
		pending := map[string]bool{}
		recvErr := make(chan error, 1)
		readerDone := make(chan struct{})
		if !c.goroutine(func() {
			defer close(readerDone)
			for {
				res, err := stream.Recv()
				if err != nil {
					recvErr <- err
					return
				}
				mu.Lock()
				delete(pending, res.EventID)
				mu.Unlock()
				r := &EventStoreResult{Id: res.EventID, Sent: res.Sent}
				if !res.Sent {
					r.Err = inBandError(res.Error)
				}
				if !deliver(ctx, resultCh, r) {
					recvErr <- ctx.Err()
					return
				}
			}
		}) {
			return false, ErrClientClosed
		}
		defer func() { cancel(); <-readerDone }()
		fail := func(err error) (bool, error) {
			mu.Lock()
			ids := make([]string, 0, len(pending))
			for id := range pending {
				ids = append(ids, id)
			}
			clear(pending)
			mu.Unlock()
			for _, id := range ids {
				if !deliver(ctx, resultCh, &EventStoreResult{Id: id, Err: fmt.Errorf("client: events store stream: %w", err)}) {
					break
				}
			}
			return true, err
		}
		for {
			select {
			case <-ctx.Done():
				return true, ctx.Err()
			case err := <-recvErr:
				return fail(streamEnded(err))
			case es, ok := <-eventsCh:
				if !ok {
					_ = stream.CloseSend()
					var err error
					select {
					case err = <-recvErr:
					case <-ctx.Done():
						return true, ctx.Err()
					}
					if err == io.EOF || errors.Is(err, errStreamEnded) {
						return true, errInputClosed
					}
					if _, err := fail(streamEnded(err)); ctx.Err() != nil {
						return true, err
					}
					return true, errInputClosed
				}
				if es == nil {
					continue
				}
				ev := es.toPB(c)
				ev.Tags = injectTags(ctx, c.opts.propagator, ev.Tags)
				if ev.EventID == "" {
					ev.EventID = newID()
				}
				ev.ClientID = c.clientID(es.ClientId)
				mu.Lock()
				pending[ev.EventID] = true
				mu.Unlock()
				if err := stream.Send(ev); err != nil {
					if errors.Is(err, io.EOF) {
						err = streamEnded(<-recvErr)
					}
					return fail(err)
				}
			}
		}
	})
}

// SubscriptionOption is the start position of an events-store subscription.
type SubscriptionOption interface {
	apply(*subscriptionOption)
}

type subscriptionOption struct {
	kind  kubemqpb.Subscribe_EventsStoreType
	value int64
}

type funcSubscriptionOption func(*subscriptionOption)

func (f funcSubscriptionOption) apply(o *subscriptionOption) { f(o) }

// StartFromNewEvents delivers only events stored after the subscription
// starts.
func StartFromNewEvents() SubscriptionOption {
	return funcSubscriptionOption(func(o *subscriptionOption) {
		o.kind = kubemqpb.Subscribe_StartNewOnly
	})
}

// StartFromFirstEvent replays the channel from its first stored event, then
// delivers new ones.
func StartFromFirstEvent() SubscriptionOption {
	return funcSubscriptionOption(func(o *subscriptionOption) {
		o.kind = kubemqpb.Subscribe_StartFromFirst
	})
}

// StartFromLastEvent delivers the last stored event, then new ones.
func StartFromLastEvent() SubscriptionOption {
	return funcSubscriptionOption(func(o *subscriptionOption) {
		o.kind = kubemqpb.Subscribe_StartFromLast
	})
}

// StartFromSequence replays from sequence (≥ 1; a sequence past the end
// means new events only), then delivers new ones.
func StartFromSequence(sequence int) SubscriptionOption {
	return funcSubscriptionOption(func(o *subscriptionOption) {
		o.kind = kubemqpb.Subscribe_StartAtSequence
		o.value = int64(sequence)
	})
}

// StartFromTime replays the events stored at or after since (sent as Unix
// nanoseconds), then delivers new ones.
func StartFromTime(since time.Time) SubscriptionOption {
	return funcSubscriptionOption(func(o *subscriptionOption) {
		o.kind = kubemqpb.Subscribe_StartAtTime
		o.value = since.UnixNano()
	})
}

// StartFromTimeDelta replays the events stored during the last delta (sent
// in whole seconds), then delivers new ones.
func StartFromTimeDelta(delta time.Duration) SubscriptionOption {
	return funcSubscriptionOption(func(o *subscriptionOption) {
		o.kind = kubemqpb.Subscribe_StartAtTimeDelta
		o.value = int64(delta.Seconds())
	})
}
