// Package queuesstream is the queue stream API of Herald's Go SDK, under the
// names of kubemq-go's queues_stream package: sends go over one upstream
// stream (QueuesUpstream), and Poll takes messages in transactions over one
// downstream stream (QueuesDownstream) that are settled as a whole (AckAll,
// NAckAll, ReQueueAll) or by message or sequence range. It speaks gRPC only:
// the KubeMQ REST API has no queue streams (see client.ErrNotSupportedOverREST).
//
// Code written for kubemq-go compiles by changing the import to
//
//	queues_stream "github.com/heraldmq/herald/client/queuesstream"
//
// Differences from kubemq-go: settlements (Ack, NAck, ReQueue and the …All
// and …Offsets methods) return once the server has applied them, with the
// server's error if it refused; Poll returns when its context ends, and a
// poll answered after its caller left is closed at once so that its
// messages return to the queue; the streams open on first use (no 1 s
// pause) and re-open on the next Send or Poll after they broke;
// PollRequest.WaitTimeout is in milliseconds, as kubemq-go sends it (its
// README says seconds); errors are the typed errors of package client;
// QueuesStreamClient does not embed a sync.Mutex.
package queuesstream

import (
	"context"
	"fmt"
	"sync"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/common"
)

// QueuesStreamClient sends and receives queue messages over streams. It is
// safe for concurrent use.
type QueuesStreamClient struct {
	c        *client.Client
	rpc      kubemqpb.KubemqClient
	clientID string
	notify   func(string)
	borrowed bool // c belongs to the caller of FromClient

	mu         sync.Mutex
	wg         sync.WaitGroup
	closed     bool
	upstream   *upstream
	downstream *downstream
}

// NewQueuesStreamClient connects to the server (see client.NewClient; as
// there, the client closes when ctx ends). The streams open on first use.
func NewQueuesStreamClient(ctx context.Context, op ...Option) (*QueuesStreamClient, error) {
	opts := GetDefaultOptions()
	for _, o := range op {
		if o != nil {
			o.apply(opts)
		}
	}
	c, err := client.NewClient(ctx, opts.clientOpts...)
	if err != nil {
		return nil, err
	}
	rpc, err := c.GetGRPCRawClient()
	if err != nil { // the REST transport has no queue streams
		_ = c.Close()
		return nil, fmt.Errorf("queuesstream: the queue stream API needs the gRPC transport: %w", err)
	}
	q := &QueuesStreamClient{c: c, rpc: rpc, clientID: opts.clientID, notify: opts.notify}
	q.upstream = &upstream{q: q, pending: map[string]chan upResult{}}
	q.downstream = &downstream{q: q, waiters: map[string]chan dsResult{}, handlers: map[string]*responseHandler{}}
	return q, nil
}

// FromClient returns a QueuesStreamClient that runs its streams over c's
// connection, with c's client id. Close ends the streams but leaves c open:
// it belongs to the caller. c must use the gRPC transport.
func FromClient(c *client.Client) (*QueuesStreamClient, error) {
	rpc, err := c.GetGRPCRawClient()
	if err != nil {
		return nil, fmt.Errorf("queuesstream: the queue stream API needs the gRPC transport: %w", err)
	}
	q := &QueuesStreamClient{c: c, rpc: rpc, clientID: c.ClientID(), borrowed: true}
	q.upstream = &upstream{q: q, pending: map[string]chan upResult{}}
	q.downstream = &downstream{q: q, waiters: map[string]chan dsResult{}, handlers: map[string]*responseHandler{}}
	return q, nil
}

// GlobalClientId returns the client id of requests that set none.
func (q *QueuesStreamClient) GlobalClientId() string { return q.clientID }

func (q *QueuesStreamClient) connectionState(msg string) {
	if q.notify != nil {
		go q.notify(msg)
	}
}

// goroutine runs f on a goroutine Close waits for; false once closed.
func (q *QueuesStreamClient) goroutine(f func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.wg.Go(f)
	return true
}

// Send stores messages (one or more, possibly to different queues) over the
// upstream stream and returns one result per message, in order. A message
// the server refuses is reported in its result (IsError, Error).
func (q *QueuesStreamClient) Send(ctx context.Context, messages ...*QueueMessage) (*SendResult, error) {
	if len(messages) == 0 {
		return nil, fmt.Errorf("no messages to send")
	}
	list := make([]*kubemqpb.QueueMessage, 0, len(messages))
	for _, m := range messages {
		pb := m.wire(q.clientID)
		pb.Tags = client.InjectTags(ctx, pb.Tags) // the caller's trace context, W3C
		list = append(list, pb)
	}
	resp, err := q.upstream.send(ctx, &kubemqpb.QueuesUpstreamRequest{RequestID: newID(), Messages: list})
	if err != nil {
		return nil, err
	}
	return newSendResult(resp.Results), nil
}

// Poll takes up to request.MaxItems messages of request.Channel in one
// transaction, waiting up to request.WaitTimeout ms to fill it. Settle the
// messages through the response (AckAll, NAckAll, ReQueueAll, …) or one by
// one (QueueMessage.Ack, NAck, ReQueue). With AutoAck the messages are
// removed at once. A response without messages needs no settlement.
func (q *QueuesStreamClient) Poll(ctx context.Context, request *PollRequest) (*PollResponse, error) {
	return q.downstream.poll(ctx, request, q.clientID)
}

// AckAll removes the ready messages of a queue (see client.AckAllQueueMessagesRequest).
func (q *QueuesStreamClient) AckAll(ctx context.Context, request *AckAllRequest) (*AckAllResponse, error) {
	if err := request.validateAndComplete(q.clientID); err != nil {
		return nil, err
	}
	res, err := q.c.AQM().SetId(request.requestID).SetClientId(request.ClientID).SetChannel(request.Channel).
		SetWaitTimeSeconds(int(request.WaitTimeSeconds)).Send(ctx)
	if err != nil {
		return nil, err
	}
	return &AckAllResponse{RequestID: res.RequestID, AffectedMessages: res.AffectedMessages, IsError: res.IsError, Error: res.Error}, nil
}

// QueuesInfo describes the queues whose names filter lists (";"-separated
// exact names; empty: every queue).
func (q *QueuesStreamClient) QueuesInfo(ctx context.Context, filter string) (*QueuesInfo, error) {
	return q.c.QueuesInfo(ctx, filter)
}

// Create creates a queue (see client.CreateChannel).
func (q *QueuesStreamClient) Create(ctx context.Context, channel string) error {
	return client.CreateChannel(ctx, q.c, q.clientID, channel, client.ChannelTypeQueues)
}

// Delete deletes a queue and its messages (see client.DeleteChannel).
func (q *QueuesStreamClient) Delete(ctx context.Context, channel string) error {
	return client.DeleteChannel(ctx, q.c, q.clientID, channel, client.ChannelTypeQueues)
}

// List lists the queues whose names contain search.
func (q *QueuesStreamClient) List(ctx context.Context, search string) ([]*common.QueuesChannel, error) {
	return client.ListQueuesChannels(ctx, q.c, q.clientID, search)
}

// Close ends both streams (messages of open transactions return to their
// queues) and closes the connection.
func (q *QueuesStreamClient) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.upstream.close()
	q.downstream.close()
	q.wg.Wait()
	if q.borrowed {
		return nil
	}
	return q.c.Close()
}

// QueueInfo describes one queue.
type QueueInfo = client.QueueInfo

// QueuesInfo describes queues and their totals.
type QueuesInfo = client.QueuesInfo
