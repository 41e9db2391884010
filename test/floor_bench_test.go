package test

// Transport floors for the throughput benchmarks: the same kubemq-go calls as
// the Herald benchmarks, answered by a bare gRPC server that stores nothing
// (batch send and streamed stores are answered at once, receives return
// ready-made messages, events go from the publisher's stream to the
// subscriber's through a Go channel). What these cost is gRPC, protobuf and
// the SDK alone, the part of a Herald figure no engine work can remove, as
// Ping is for the unary latencies.

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

type floorServer struct {
	kubemqpb.UnimplementedKubemqServer
	events   chan *kubemqpb.EventReceive
	requests chan *kubemqpb.Request
	ready    []*kubemqpb.QueueMessage

	mu      sync.Mutex
	waiting map[string]chan *kubemqpb.Response
}

func (f *floorServer) Ping(context.Context, *kubemqpb.Empty) (*kubemqpb.PingResult, error) {
	return &kubemqpb.PingResult{Host: "floor"}, nil
}

func (f *floorServer) SendEvent(_ context.Context, in *kubemqpb.Event) (*kubemqpb.Result, error) {
	select {
	case f.events <- &kubemqpb.EventReceive{EventID: in.EventID, Channel: in.Channel, Metadata: in.Metadata, Body: in.Body}:
	default: // nobody listens: dropped, as events are
	}
	return &kubemqpb.Result{EventID: in.EventID, Sent: true}, nil
}

func (f *floorServer) SendQueueMessage(_ context.Context, in *kubemqpb.QueueMessage) (*kubemqpb.SendQueueMessageResult, error) {
	return &kubemqpb.SendQueueMessageResult{MessageID: in.MessageID, SentAt: time.Now().UnixNano()}, nil
}

// SendRequest hands the request to the responder's stream and waits for its
// SendResponse, as a command or query does.
func (f *floorServer) SendRequest(ctx context.Context, in *kubemqpb.Request) (*kubemqpb.Response, error) {
	in.ReplyChannel = in.RequestID
	wait := make(chan *kubemqpb.Response, 1)
	f.mu.Lock()
	f.waiting[in.RequestID] = wait
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.waiting, in.RequestID)
		f.mu.Unlock()
	}()
	timeout := time.NewTimer(time.Duration(in.Timeout) * time.Millisecond)
	defer timeout.Stop()
	select {
	case f.requests <- in:
	case <-timeout.C:
		return nil, status.Error(codes.DeadlineExceeded, "timeout for request message")
	}
	select {
	case r := <-wait:
		return r, nil
	case <-timeout.C:
		return nil, status.Error(codes.DeadlineExceeded, "timeout for request message")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *floorServer) SendResponse(_ context.Context, in *kubemqpb.Response) (*kubemqpb.Empty, error) {
	f.mu.Lock()
	wait := f.waiting[in.RequestID]
	f.mu.Unlock()
	if wait != nil {
		wait <- in
	}
	return &kubemqpb.Empty{}, nil
}

func (f *floorServer) SubscribeToRequests(_ *kubemqpb.Subscribe, stream grpc.ServerStreamingServer[kubemqpb.Request]) error {
	return forward(f.requests, stream)
}

// forward sends what arrives on from to the subscriber's stream until the
// subscriber goes away.
func forward[T any](from <-chan *T, stream grpc.ServerStreamingServer[T]) error {
	for {
		select {
		case m := <-from:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

// StreamQueueMessage serves one transaction: a ready-made message, then an
// ack, after which the stream ends (as Herald's does).
func (f *floorServer) StreamQueueMessage(stream grpc.BidiStreamingServer[kubemqpb.StreamQueueMessagesRequest, kubemqpb.StreamQueueMessagesResponse]) error {
	for {
		in, err := stream.Recv()
		if err != nil {
			return nil
		}
		out := &kubemqpb.StreamQueueMessagesResponse{RequestID: in.RequestID, StreamRequestTypeData: in.StreamRequestTypeData}
		if in.StreamRequestTypeData == kubemqpb.StreamRequestType_ReceiveMessage {
			out.Message = f.ready[0]
		}
		if err := stream.Send(out); err != nil || in.StreamRequestTypeData != kubemqpb.StreamRequestType_ReceiveMessage {
			return err
		}
	}
}

func (f *floorServer) SendQueueMessagesBatch(_ context.Context, in *kubemqpb.QueueMessagesBatchRequest) (*kubemqpb.QueueMessagesBatchResponse, error) {
	out := &kubemqpb.QueueMessagesBatchResponse{BatchID: in.BatchID, Results: make([]*kubemqpb.SendQueueMessageResult, len(in.Messages))}
	now := time.Now().UnixNano()
	for i, m := range in.Messages {
		out.Results[i] = &kubemqpb.SendQueueMessageResult{MessageID: m.MessageID, SentAt: now}
	}
	return out, nil
}

func (f *floorServer) ReceiveQueueMessages(_ context.Context, in *kubemqpb.ReceiveQueueMessagesRequest) (*kubemqpb.ReceiveQueueMessagesResponse, error) {
	n := min(int(in.MaxNumberOfMessages), len(f.ready))
	return &kubemqpb.ReceiveQueueMessagesResponse{RequestID: in.RequestID, Messages: f.ready[:n], MessagesReceived: int32(n)}, nil
}

func (f *floorServer) SendEventsStream(stream grpc.BidiStreamingServer[kubemqpb.Event, kubemqpb.Result]) error {
	for {
		in, err := stream.Recv()
		if err != nil {
			return nil
		}
		if in.Store {
			if err := stream.Send(&kubemqpb.Result{EventID: in.EventID, Sent: true}); err != nil {
				return err
			}
			continue
		}
		select {
		case f.events <- &kubemqpb.EventReceive{EventID: in.EventID, Channel: in.Channel, Metadata: in.Metadata, Body: in.Body, Tags: in.Tags}:
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (f *floorServer) SubscribeToEvents(_ *kubemqpb.Subscribe, stream grpc.ServerStreamingServer[kubemqpb.EventReceive]) error {
	return forward(f.events, stream)
}

// floorClient starts a bare server on loopback, with Herald's gRPC server
// options, and connects kubemq-go to it.
func floorClient(b *testing.B) (*kubemq.Client, context.Context) {
	b.Helper()
	f := &floorServer{events: make(chan *kubemqpb.EventReceive, 1024), requests: make(chan *kubemqpb.Request),
		waiting: make(map[string]chan *kubemqpb.Response)}
	for i := range 100 {
		f.ready = append(f.ready, &kubemqpb.QueueMessage{MessageID: strconv.Itoa(i), Channel: "floor.q", Body: payload,
			Attributes: &kubemqpb.QueueMessageAttributes{Timestamp: time.Now().UnixNano(), Sequence: uint64(i + 1), ReceiveCount: 1}})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(104857600), grpc.MaxSendMsgSize(104857600))
	desc := kubemqpb.Kubemq_ServiceDesc
	desc.ServiceName = kubemqpb.WireServiceName
	gs.RegisterService(&desc, f)
	go func() { _ = gs.Serve(lis) }()
	b.Cleanup(gs.Stop)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	addr := lis.Addr().(*net.TCPAddr)
	c, err := kubemq.NewClient(ctx, kubemq.WithAddress("127.0.0.1", addr.Port), kubemq.WithClientId("floor"),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c, ctx
}

// BenchmarkFloor runs the Herald benchmarks' bodies against the bare server;
// BENCHMARKS.md sets each Herald figure against its floor.
func BenchmarkFloor(b *testing.B) {
	for _, bc := range []struct {
		name string
		run  func(*testing.B, context.Context, *kubemq.Client)
	}{
		{"Ping", benchPing},
		{"EventSend", benchEventSend},
		{"EventStream", benchEventStream},
		{"EventsStoreStream", benchEventsStoreStream},
		{"Command", func(b *testing.B, ctx context.Context, c *kubemq.Client) { benchRequests(b, ctx, c, false) }},
		{"QueueSend", benchQueueSend},
		{"QueueBatchSend", benchQueueBatchSend},
		{"QueueBatchReceive", func(b *testing.B, ctx context.Context, c *kubemq.Client) {
			benchQueueBatchReceive(b, ctx, c, "floor.q")
		}},
		{"QueueStreamReceiveAck", func(b *testing.B, ctx context.Context, c *kubemq.Client) {
			benchQueueStreamReceiveAck(b, ctx, c, "floor.q")
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, ctx := floorClient(b)
			bc.run(b, ctx, c)
		})
	}
}
