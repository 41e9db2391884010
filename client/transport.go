package client

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// transport is how a Client reaches the server. Every public method of the
// client builds the wire message and hands it to the transport; the
// transports differ only in how the message travels: grpcTransport calls
// the KubeMQ gRPC service, restTransport the REST and WebSocket API
// (rest.go, rest_ws.go).
//
// Both report errors as *Error values classified the same way, and both
// make their streams behave like gRPC streams: Recv returns io.EOF after a
// clean end (CloseSend answered), and a stream ends when its context does.
type transport interface {
	ping(ctx context.Context) (*kubemqpb.PingResult, error)
	sendEvent(ctx context.Context, e *kubemqpb.Event) (*kubemqpb.Result, error)
	// sendEventsStream opens a stream of events. Its results carry the id
	// of the event they answer; events are answered at least when refused
	// (gRPC answers stored events and refusals, REST every event).
	sendEventsStream(ctx context.Context) (bidiStream[kubemqpb.Event, kubemqpb.Result], error)
	subscribeToEvents(ctx context.Context, sub *kubemqpb.Subscribe) (recvStream[kubemqpb.EventReceive], error)
	subscribeToRequests(ctx context.Context, sub *kubemqpb.Subscribe) (recvStream[kubemqpb.Request], error)
	sendRequest(ctx context.Context, r *kubemqpb.Request) (*kubemqpb.Response, error)
	sendResponse(ctx context.Context, r *kubemqpb.Response) error
	sendQueueMessage(ctx context.Context, m *kubemqpb.QueueMessage) (*kubemqpb.SendQueueMessageResult, error)
	sendQueueMessagesBatch(ctx context.Context, b *kubemqpb.QueueMessagesBatchRequest) (*kubemqpb.QueueMessagesBatchResponse, error)
	receiveQueueMessages(ctx context.Context, r *kubemqpb.ReceiveQueueMessagesRequest) (*kubemqpb.ReceiveQueueMessagesResponse, error)
	ackAllQueueMessages(ctx context.Context, r *kubemqpb.AckAllQueueMessagesRequest) (*kubemqpb.AckAllQueueMessagesResponse, error)
	queuesInfo(ctx context.Context, r *kubemqpb.QueuesInfoRequest) (*kubemqpb.QueuesInfoResponse, error)
	// streamQueueMessage opens the stream of one queue transaction.
	streamQueueMessage(ctx context.Context) (bidiStream[kubemqpb.StreamQueueMessagesRequest, kubemqpb.StreamQueueMessagesResponse], error)
	// raw returns the generated gRPC client (ErrNotSupportedOverREST over
	// REST).
	raw() (kubemqpb.KubemqClient, error)
	// state reports whether the transport can reach the server now.
	state() ConnState
	// markDown records that a stream broke and is being re-opened; the
	// next call or stream that gets through clears it.
	markDown()
	close() error
}

// recvStream is the receiving side of a server stream.
type recvStream[T any] interface {
	Recv() (*T, error)
}

// bidiStream is a stream both ways; the generated gRPC streams are ones.
type bidiStream[Req, Res any] interface {
	Send(*Req) error
	Recv() (*Res, error)
	CloseSend() error
}

// ErrNotSupportedOverREST is returned for what the REST transport cannot
// do: the queue stream API of package queuesstream (QueuesUpstream and
// QueuesDownstream have no REST or WebSocket route) and GetGRPCRawClient.
var ErrNotSupportedOverREST = errors.New("client: not supported over the REST transport (TransportTypeRest); use the gRPC transport")

// grpcTransport calls the KubeMQ gRPC service.
type grpcTransport struct {
	conn *grpc.ClientConn
	wire *wireConn
	rpc  kubemqpb.KubemqClient
}

func (g *grpcTransport) ping(ctx context.Context) (*kubemqpb.PingResult, error) {
	return g.rpc.Ping(ctx, &kubemqpb.Empty{})
}

func (g *grpcTransport) sendEvent(ctx context.Context, e *kubemqpb.Event) (*kubemqpb.Result, error) {
	return g.rpc.SendEvent(ctx, e)
}

func (g *grpcTransport) sendEventsStream(ctx context.Context) (bidiStream[kubemqpb.Event, kubemqpb.Result], error) {
	s, err := g.rpc.SendEventsStream(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (g *grpcTransport) subscribeToEvents(ctx context.Context, sub *kubemqpb.Subscribe) (recvStream[kubemqpb.EventReceive], error) {
	s, err := g.rpc.SubscribeToEvents(ctx, sub)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (g *grpcTransport) subscribeToRequests(ctx context.Context, sub *kubemqpb.Subscribe) (recvStream[kubemqpb.Request], error) {
	s, err := g.rpc.SubscribeToRequests(ctx, sub)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (g *grpcTransport) sendRequest(ctx context.Context, r *kubemqpb.Request) (*kubemqpb.Response, error) {
	return g.rpc.SendRequest(ctx, r)
}

func (g *grpcTransport) sendResponse(ctx context.Context, r *kubemqpb.Response) error {
	_, err := g.rpc.SendResponse(ctx, r)
	return err
}

func (g *grpcTransport) sendQueueMessage(ctx context.Context, m *kubemqpb.QueueMessage) (*kubemqpb.SendQueueMessageResult, error) {
	return g.rpc.SendQueueMessage(ctx, m)
}

func (g *grpcTransport) sendQueueMessagesBatch(ctx context.Context, b *kubemqpb.QueueMessagesBatchRequest) (*kubemqpb.QueueMessagesBatchResponse, error) {
	return g.rpc.SendQueueMessagesBatch(ctx, b)
}

func (g *grpcTransport) receiveQueueMessages(ctx context.Context, r *kubemqpb.ReceiveQueueMessagesRequest) (*kubemqpb.ReceiveQueueMessagesResponse, error) {
	return g.rpc.ReceiveQueueMessages(ctx, r)
}

func (g *grpcTransport) ackAllQueueMessages(ctx context.Context, r *kubemqpb.AckAllQueueMessagesRequest) (*kubemqpb.AckAllQueueMessagesResponse, error) {
	return g.rpc.AckAllQueueMessages(ctx, r)
}

func (g *grpcTransport) queuesInfo(ctx context.Context, r *kubemqpb.QueuesInfoRequest) (*kubemqpb.QueuesInfoResponse, error) {
	return g.rpc.QueuesInfo(ctx, r)
}

func (g *grpcTransport) streamQueueMessage(ctx context.Context) (bidiStream[kubemqpb.StreamQueueMessagesRequest, kubemqpb.StreamQueueMessagesResponse], error) {
	s, err := g.rpc.StreamQueueMessage(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (g *grpcTransport) raw() (kubemqpb.KubemqClient, error) { return g.rpc, nil }

func (g *grpcTransport) close() error { return g.conn.Close() }

func (g *grpcTransport) markDown() { g.wire.down.Store(true) }

func (g *grpcTransport) state() ConnState {
	if g.wire.down.Load() {
		return StateReconnecting
	}
	switch g.conn.GetState() {
	case connectivity.Connecting, connectivity.TransientFailure:
		return StateReconnecting
	case connectivity.Shutdown:
		return StateClosed
	}
	return StateConnected // Ready, or Idle: nothing failed
}
