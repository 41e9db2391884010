package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldmq/herald/client/common"
)

// EventsMessageHandler handles a received event.
type EventsMessageHandler func(*Event)

// EventsErrorsHandler handles a subscription error.
type EventsErrorsHandler func(error)

// EventsClient is a Client restricted to events, with callback
// subscriptions, as kubemq-go's EventsClient.
type EventsClient struct {
	client *Client
}

var errClientNotInitialized = errors.New("client is not initialized")

// NewEventsClient connects like NewClient.
func NewEventsClient(ctx context.Context, op ...Option) (*EventsClient, error) {
	client, err := NewClient(ctx, op...)
	if err != nil {
		return nil, err
	}
	return &EventsClient{client: client}, nil
}

// Send publishes message (see Event.Send).
func (e *EventsClient) Send(ctx context.Context, message *Event) error {
	if e.client == nil {
		return errClientNotInitialized
	}
	return e.client.SetEvent(message).Send(ctx)
}

// Stream opens an events stream (see Client.StreamEvents) and returns the
// function that sends on it; errors go to onError. The stream ends with ctx.
func (e *EventsClient) Stream(ctx context.Context, onError func(err error)) (func(msg *Event) error, error) {
	if e.client == nil {
		return nil, errClientNotInitialized
	}
	if onError == nil {
		return nil, invalidArgument("events stream error callback function is required")
	}
	if err := e.client.check(); err != nil {
		return nil, err
	}
	errCh := make(chan error, 16)
	eventsCh := make(chan *Event, 1)
	sendFunc := func(msg *Event) error {
		select {
		case eventsCh <- msg:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("context canceled during events message sending: %w", ctx.Err())
		case <-e.client.life.Done():
			return ErrClientClosed
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.client.StreamEvents(ctx, eventsCh, errCh)
	}()
	go dispatchErrors(done, errCh, onError)
	return sendFunc, nil
}

// dispatchErrors calls onError for each error until done is closed, then
// for the errors still queued.
func dispatchErrors(done <-chan struct{}, errCh <-chan error, onError func(error)) {
	for {
		select {
		case err := <-errCh:
			onError(err)
		case <-done:
			for {
				select {
				case err := <-errCh:
					onError(err)
				default:
					return
				}
			}
		}
	}
}

// dispatch calls on(msg, nil) for each message and on(nil, err) for each
// error until msgs is closed.
func dispatch[T any](msgs <-chan T, errCh <-chan error, on func(T, error)) {
	var zero T
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				for {
					select {
					case err := <-errCh:
						on(zero, err)
					default:
						return
					}
				}
			}
			on(msg, nil)
		case err := <-errCh:
			on(zero, err)
		}
	}
}

// Subscribe subscribes to events (see Client.SubscribeToEvents) and calls
// onEvent for each event, and with a nil event for each error, on one
// goroutine, until ctx ends or the client closes.
func (e *EventsClient) Subscribe(ctx context.Context, request *EventsSubscription, onEvent func(msg *Event, err error)) error {
	if e.client == nil {
		return errClientNotInitialized
	}
	if onEvent == nil {
		return invalidArgument("events subscription callback function is required")
	}
	if err := request.Complete(e.client.opts).Validate(); err != nil {
		return err
	}
	errCh := make(chan error, 16)
	eventsCh, err := e.client.SubscribeToEventsWithRequest(ctx, request, errCh)
	if err != nil {
		return err
	}
	go dispatch(eventsCh, errCh, onEvent)
	return nil
}

// Create creates an events channel (see CreateChannel).
func (e *EventsClient) Create(ctx context.Context, channel string) error {
	return CreateChannel(ctx, e.client, e.client.opts.clientID, channel, ChannelTypeEvents)
}

// Delete deletes an events channel (see DeleteChannel).
func (e *EventsClient) Delete(ctx context.Context, channel string) error {
	return DeleteChannel(ctx, e.client, e.client.opts.clientID, channel, ChannelTypeEvents)
}

// List lists the events channels whose names contain search.
func (e *EventsClient) List(ctx context.Context, search string) ([]*common.PubSubChannel, error) {
	return ListPubSubChannels(ctx, e.client, e.client.opts.clientID, ChannelTypeEvents, search)
}

// Close closes the client.
func (e *EventsClient) Close() error {
	if e.client == nil {
		return errClientNotInitialized
	}
	return e.client.Close()
}

// EventsStoreClient is a Client restricted to the events store, with
// callback subscriptions, as kubemq-go's EventsStoreClient.
type EventsStoreClient struct {
	client *Client
}

// NewEventsStoreClient connects like NewClient.
func NewEventsStoreClient(ctx context.Context, op ...Option) (*EventsStoreClient, error) {
	client, err := NewClient(ctx, op...)
	if err != nil {
		return nil, err
	}
	return &EventsStoreClient{client: client}, nil
}

// Send stores message (see EventStore.Send).
func (es *EventsStoreClient) Send(ctx context.Context, message *EventStore) (*EventStoreResult, error) {
	if es.client == nil {
		return nil, errClientNotInitialized
	}
	return es.client.SetEventStore(message).Send(ctx)
}

// Stream opens an events-store stream (see Client.StreamEventsStore) and
// returns the function that sends on it; onResult gets each result, and
// each error with a nil result. The stream ends with ctx.
func (es *EventsStoreClient) Stream(ctx context.Context, onResult func(result *EventStoreResult, err error)) (func(msg *EventStore) error, error) {
	if es.client == nil {
		return nil, errClientNotInitialized
	}
	if onResult == nil {
		return nil, invalidArgument("events stream result callback function is required")
	}
	if err := es.client.check(); err != nil {
		return nil, err
	}
	errCh := make(chan error, 16)
	eventsCh := make(chan *EventStore, 1)
	resultCh := make(chan *EventStoreResult, 16)
	sendFunc := func(msg *EventStore) error {
		select {
		case eventsCh <- msg:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("context canceled during events message sending: %w", ctx.Err())
		case <-es.client.life.Done():
			return ErrClientClosed
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(resultCh)
		es.client.StreamEventsStore(ctx, eventsCh, resultCh, errCh)
	}()
	go func() {
		defer close(done)
		for r := range resultCh {
			onResult(r, nil)
		}
	}()
	go dispatchErrors(done, errCh, func(err error) { onResult(nil, err) })
	return sendFunc, nil
}

// Subscribe subscribes to an events-store channel (see
// Client.SubscribeToEventsStore) and calls onEvent for each event, and with
// a nil event for each error, on one goroutine, until ctx ends or the client
// closes.
func (es *EventsStoreClient) Subscribe(ctx context.Context, request *EventsStoreSubscription, onEvent func(msg *EventStoreReceive, err error)) error {
	if es.client == nil {
		return errClientNotInitialized
	}
	if onEvent == nil {
		return invalidArgument("events store subscription callback function is required")
	}
	if err := request.Complete(es.client.opts).Validate(); err != nil {
		return err
	}
	errCh := make(chan error, 16)
	eventsCh, err := es.client.SubscribeToEventsStoreWithRequest(ctx, request, errCh)
	if err != nil {
		return err
	}
	go dispatch(eventsCh, errCh, onEvent)
	return nil
}

// Create creates an events-store channel (see CreateChannel).
func (es *EventsStoreClient) Create(ctx context.Context, channel string) error {
	return CreateChannel(ctx, es.client, es.client.opts.clientID, channel, ChannelTypeEventsStore)
}

// Delete deletes an events-store channel and its events (see DeleteChannel).
func (es *EventsStoreClient) Delete(ctx context.Context, channel string) error {
	return DeleteChannel(ctx, es.client, es.client.opts.clientID, channel, ChannelTypeEventsStore)
}

// List lists the events-store channels whose names contain search.
func (es *EventsStoreClient) List(ctx context.Context, search string) ([]*common.PubSubChannel, error) {
	return ListPubSubChannels(ctx, es.client, es.client.opts.clientID, ChannelTypeEventsStore, search)
}

// Close closes the client.
func (es *EventsStoreClient) Close() error {
	if es.client == nil {
		return errClientNotInitialized
	}
	return es.client.Close()
}
