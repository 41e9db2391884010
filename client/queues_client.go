package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client/common"
)

// QueuesClient is a Client restricted to queues, as kubemq-go's
// QueuesClient: sends, pulls, peeks, polling subscriptions and one-message
// transactions. The stream API with batched transactions is package
// queuesstream.
type QueuesClient struct {
	client *Client
}

// NewQueuesClient connects like NewClient.
func NewQueuesClient(ctx context.Context, op ...Option) (*QueuesClient, error) {
	client, err := NewClient(ctx, op...)
	if err != nil {
		return nil, err
	}
	return &QueuesClient{client: client}, nil
}

// NewQueuesStreamClient connects like NewClient and returns a QueuesClient,
// as kubemq-go's function of that name in package kubemq does (the stream
// client proper is queuesstream.NewQueuesStreamClient).
func NewQueuesStreamClient(ctx context.Context, op ...Option) (*QueuesClient, error) {
	return NewQueuesClient(ctx, op...)
}

// Send stores message (see QueueMessage.Send).
func (q *QueuesClient) Send(ctx context.Context, message *QueueMessage) (*SendQueueMessageResult, error) {
	return q.client.SetQueueMessage(message).Send(ctx)
}

// Batch stores messages in one call (see QueueMessages.Send).
func (q *QueuesClient) Batch(ctx context.Context, messages []*QueueMessage) ([]*SendQueueMessageResult, error) {
	return q.client.SendQueueMessages(ctx, messages)
}

// Pull takes messages from a queue (request.IsPeak is set to false); the
// request needs a channel, a maximum and a wait of at least 1.
func (q *QueuesClient) Pull(ctx context.Context, request *ReceiveQueueMessagesRequest) (*ReceiveQueueMessagesResponse, error) {
	request.client = q.client
	request.SetIsPeak(false)
	if err := request.Complete(q.client.opts).Validate(); err != nil {
		return nil, err
	}
	return request.Send(ctx)
}

// Peek shows messages of a queue without taking them (request.IsPeak is set
// to true).
func (q *QueuesClient) Peek(ctx context.Context, request *ReceiveQueueMessagesRequest) (*ReceiveQueueMessagesResponse, error) {
	request.client = q.client
	request.SetIsPeak(true)
	if err := request.Complete(q.client.opts).Validate(); err != nil {
		return nil, err
	}
	return request.Send(ctx)
}

// AckAll removes the ready messages of a queue (see
// AckAllQueueMessagesRequest.Send); the request needs a wait of at least 1.
func (q *QueuesClient) AckAll(ctx context.Context, request *AckAllQueueMessagesRequest) (*AckAllQueueMessagesResponse, error) {
	request.client = q.client
	if err := request.Complete(q.client.opts).Validate(); err != nil {
		return nil, err
	}
	return request.Send(ctx)
}

// Subscribe pulls from the queue in a loop and calls onReceive with every
// non-empty response, and with each error (after which it waits with
// backoff before the next pull). It stops when ctx ends, the client closes,
// or the returned channel is closed or sent to; the pull in flight is then
// cancelled, and Herald returns what it had taken to the queue — unless its
// answer had already arrived: those messages are off the queue, so
// onReceive still gets them.
func (q *QueuesClient) Subscribe(ctx context.Context, request *ReceiveQueueMessagesRequest, onReceive func(response *ReceiveQueueMessagesResponse, err error)) (chan struct{}, error) {
	if onReceive == nil {
		return nil, invalidArgument("queue subscription callback function is required")
	}
	request.client = q.client
	if err := request.Complete(q.client.opts).Validate(); err != nil {
		return nil, err
	}
	request.SetIsPeak(false)
	done := make(chan struct{}, 1)
	ctx, cancel := q.client.linked(ctx)
	go stopOn(ctx, done, cancel)
	go func() {
		defer cancel()
		failures := 0
		for {
			resp, err := request.Send(ctx)
			if ctx.Err() != nil {
				if err == nil && !resp.IsError && len(resp.Messages) > 0 {
					onReceive(resp, nil) // taken as the loop stopped: not lost
				}
				return
			}
			switch {
			case err != nil:
				onReceive(nil, err)
			case resp.IsError:
				err = resp.Err()
				onReceive(nil, err)
			case len(resp.Messages) > 0:
				onReceive(resp, nil)
			}
			if err == nil {
				failures = 0
				continue
			}
			failures++
			select {
			case <-ctx.Done():
				return
			case <-afterBackoff(failures, q.client.opts.reconnectInterval):
			}
		}
	}()
	return done, nil
}

// stopOn cancels when done is closed or sent to, or ctx ends: stopping a
// polling loop also cancels its pull in flight (Herald then returns the
// messages it had taken to the queue).
func stopOn(ctx context.Context, done <-chan struct{}, cancel context.CancelFunc) {
	select {
	case <-done:
		cancel()
	case <-ctx.Done():
	}
}

// afterBackoff fires after the backoff of attempt n.
func afterBackoff(n int, max time.Duration) <-chan time.Time {
	return time.After(backoffDelay(n, max))
}

// QueuesInfo describes queues (see Client.QueuesInfo).
func (q *QueuesClient) QueuesInfo(ctx context.Context, filter string) (*QueuesInfo, error) {
	return q.client.QueuesInfo(ctx, filter)
}

// Create creates a queue (see CreateChannel).
func (q *QueuesClient) Create(ctx context.Context, channel string) error {
	return CreateChannel(ctx, q.client, q.client.opts.clientID, channel, ChannelTypeQueues)
}

// Delete deletes a queue and its messages (see DeleteChannel).
func (q *QueuesClient) Delete(ctx context.Context, channel string) error {
	return DeleteChannel(ctx, q.client, q.client.opts.clientID, channel, ChannelTypeQueues)
}

// List lists the queues whose names contain search.
func (q *QueuesClient) List(ctx context.Context, search string) ([]*common.QueuesChannel, error) {
	return ListQueuesChannels(ctx, q.client, q.client.opts.clientID, search)
}

// Close closes the client.
func (q *QueuesClient) Close() error {
	return q.client.Close()
}

// QueueTransactionMessageRequest asks for one message in a transaction (see
// QueuesClient.Transaction).
type QueueTransactionMessageRequest struct {
	RequestID         string
	ClientID          string
	Channel           string
	VisibilitySeconds int32
	WaitTimeSeconds   int32
}

// NewQueueTransactionMessageRequest returns an empty transaction request.
func NewQueueTransactionMessageRequest() *QueueTransactionMessageRequest {
	return &QueueTransactionMessageRequest{}
}

// SetId sets the request id.
func (req *QueueTransactionMessageRequest) SetId(id string) *QueueTransactionMessageRequest {
	req.RequestID = id
	return req
}

// SetClientId sets the receiver's client id (default: the client's).
func (req *QueueTransactionMessageRequest) SetClientId(clientId string) *QueueTransactionMessageRequest {
	req.ClientID = clientId
	return req
}

// SetChannel sets the queue.
func (req *QueueTransactionMessageRequest) SetChannel(channel string) *QueueTransactionMessageRequest {
	req.Channel = channel
	return req
}

// SetWaitTimeSeconds sets how long to wait for a message.
func (req *QueueTransactionMessageRequest) SetWaitTimeSeconds(wait int) *QueueTransactionMessageRequest {
	req.WaitTimeSeconds = int32(wait)
	return req
}

// SetVisibilitySeconds sets how long the message stays invisible to others.
func (req *QueueTransactionMessageRequest) SetVisibilitySeconds(visibility int) *QueueTransactionMessageRequest {
	req.VisibilitySeconds = int32(visibility)
	return req
}

// Complete fills ClientID from opts when it is empty.
func (req *QueueTransactionMessageRequest) Complete(opts *Options) *QueueTransactionMessageRequest {
	if req.ClientID == "" {
		req.ClientID = opts.clientID
	}
	return req
}

// Validate reports a missing channel or client id, and a wait or visibility
// below 1.
func (req *QueueTransactionMessageRequest) Validate() error {
	switch {
	case req.Channel == "":
		return invalidArgument("request must have a channel")
	case req.ClientID == "":
		return invalidArgument("request must have a clientId")
	case req.WaitTimeSeconds <= 0:
		return invalidArgument("request must have a wait time seconds >0")
	case req.VisibilitySeconds <= 0:
		return invalidArgument("request must have a visibility seconds >0")
	}
	return nil
}

// Transaction takes one message and holds it until it is settled through
// the returned response (Ack, Reject, Resend, ResendNewMessage), its
// visibility expires or ctx ends.
func (q *QueuesClient) Transaction(ctx context.Context, request *QueueTransactionMessageRequest) (*QueueTransactionMessageResponse, error) {
	if err := q.client.check(); err != nil {
		return nil, err
	}
	if err := request.Complete(q.client.opts).Validate(); err != nil {
		return nil, err
	}
	stream, err := q.client.t.streamQueueMessage(ctx)
	if err != nil {
		return nil, err
	}
	err = stream.Send(&kubemqpb.StreamQueueMessagesRequest{
		RequestID: request.RequestID, ClientID: request.ClientID, StreamRequestTypeData: kubemqpb.StreamRequestType_ReceiveMessage,
		Channel: request.Channel, VisibilitySeconds: request.VisibilitySeconds, WaitTimeSeconds: request.WaitTimeSeconds,
	})
	if err != nil {
		return nil, err
	}
	res, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if res.IsError {
		return nil, inBandError(res.Error)
	}
	return &QueueTransactionMessageResponse{
		client: q, stream: stream, Message: &QueueMessage{QueueMessage: res.Message, client: q.client},
	}, nil
}

// TransactionStream runs Transaction in a loop and calls onReceive with each
// message (settle it through the response) or error, until ctx ends, the
// client closes, or the returned channel is closed or sent to (which also
// cancels the transaction in flight). The wait for a message that did not
// come ("Error 138") is not reported.
func (q *QueuesClient) TransactionStream(ctx context.Context, request *QueueTransactionMessageRequest, onReceive func(response *QueueTransactionMessageResponse, err error)) (chan struct{}, error) {
	if onReceive == nil {
		return nil, invalidArgument("queue transaction stream callback function is required")
	}
	if err := request.Complete(q.client.opts).Validate(); err != nil {
		return nil, err
	}
	done := make(chan struct{}, 1)
	ctx, cancel := q.client.linked(ctx)
	go stopOn(ctx, done, cancel)
	go func() {
		defer cancel()
		failures := 0
		for {
			resp, err := q.Transaction(ctx, request)
			if ctx.Err() != nil {
				return
			}
			if !isNoNewMessage(err) {
				onReceive(resp, err)
			}
			if err == nil || isNoNewMessage(err) {
				failures = 0
				continue
			}
			failures++
			select {
			case <-ctx.Done():
				return
			case <-afterBackoff(failures, q.client.opts.reconnectInterval):
			}
		}
	}()
	return done, nil
}

func isNoNewMessage(err error) bool {
	var e *Error
	return errors.As(err, &e) && kubemqCode.FindString(e.Message) == "Error 138:"
}

// QueueTransactionMessageResponse is a message held by Transaction.
type QueueTransactionMessageResponse struct {
	client  *QueuesClient
	stream  bidiStream[kubemqpb.StreamQueueMessagesRequest, kubemqpb.StreamQueueMessagesResponse]
	mu      sync.Mutex
	Message *QueueMessage
}

func (qt *QueueTransactionMessageResponse) transact(req *kubemqpb.StreamQueueMessagesRequest) error {
	qt.mu.Lock()
	defer qt.mu.Unlock()
	if qt.stream == nil {
		return errors.New("no active connection established")
	}
	if err := qt.stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	res, err := qt.stream.Recv()
	if err != nil {
		if err == io.EOF {
			return errors.New("client: queue stream ended by the server")
		}
		return err
	}
	if res.IsError {
		return inBandError(res.Error)
	}
	return nil
}

func (qt *QueueTransactionMessageResponse) request(kind kubemqpb.StreamRequestType) *kubemqpb.StreamQueueMessagesRequest {
	return &kubemqpb.StreamQueueMessagesRequest{
		RequestID: qt.Message.MessageID, ClientID: qt.client.client.clientID(qt.Message.ClientID),
		StreamRequestTypeData: kind, Channel: qt.Message.Channel, RefSequence: qt.Message.sequence(),
	}
}

// Ack removes the message from its queue and ends the transaction.
func (qt *QueueTransactionMessageResponse) Ack() error {
	if err := qt.transact(qt.request(kubemqpb.StreamRequestType_AckMessage)); err != nil {
		return err
	}
	return qt.stream.CloseSend()
}

// Reject returns the message to the tail of its queue and ends the
// transaction.
func (qt *QueueTransactionMessageResponse) Reject() error {
	if err := qt.transact(qt.request(kubemqpb.StreamRequestType_RejectMessage)); err != nil {
		return err
	}
	return qt.stream.CloseSend()
}

// ExtendVisibilitySeconds keeps the message invisible for value seconds
// from now.
func (qt *QueueTransactionMessageResponse) ExtendVisibilitySeconds(value int) error {
	r := qt.request(kubemqpb.StreamRequestType_ModifyVisibility)
	r.VisibilitySeconds = int32(value)
	return qt.transact(r)
}

// Resend moves the message to the queue channel and ends the transaction.
func (qt *QueueTransactionMessageResponse) Resend(channel string) error {
	r := qt.request(kubemqpb.StreamRequestType_ResendMessage)
	r.Channel = channel
	if err := qt.transact(r); err != nil {
		return err
	}
	return qt.stream.CloseSend()
}

// ResendNewMessage sends msg in place of the message and ends the
// transaction.
func (qt *QueueTransactionMessageResponse) ResendNewMessage(msg *QueueMessage) error {
	r := qt.request(kubemqpb.StreamRequestType_SendModifiedMessage)
	r.ModifiedMessage = msg.wire(qt.client.client)
	if err := qt.transact(r); err != nil {
		return err
	}
	return qt.stream.CloseSend()
}
