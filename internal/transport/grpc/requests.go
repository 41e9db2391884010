package grpctransport

import (
	"context"
	"time"

	"google.golang.org/grpc"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/requests"
)

// SendRequest sends a command or query and waits for its response. Every
// failure, the timeout (Error 301) included, ends the call with status Internal.
// A request still waiting when the server shuts down ends with Error 409:
// its responders' subscriptions end with the server, nobody can answer it.
func (s *Server) SendRequest(ctx context.Context, in *kubemqpb.Request) (*kubemqpb.Response, error) {
	ctx, cancel := s.streamContext(ctx)
	defer cancel()
	resp, err := s.svc.Requests.Send(ctx, &requests.Request{
		ID: in.RequestID, Kind: kindFromPB(in.RequestTypeData), ClientID: in.ClientID,
		Channel: in.Channel, Metadata: in.Metadata, Body: in.Body, Timeout: time.Duration(in.Timeout) * time.Millisecond,
		CacheKey: in.CacheKey, CacheTTL: time.Duration(in.CacheTTL) * time.Second, Span: in.Span, Tags: in.Tags,
	})
	if err != nil {
		if s.life.Err() != nil && ctx.Err() != nil {
			return nil, shutdownErr("SendRequest", true)
		}
		return nil, internalErr(err)
	}
	return &kubemqpb.Response{
		ClientID: resp.ClientID, RequestID: resp.RequestID, Metadata: resp.Metadata, Body: resp.Body,
		CacheHit: resp.CacheHit, Timestamp: resp.Timestamp, Executed: resp.Executed, Error: resp.Error,
		Span: resp.Span, Tags: resp.Tags,
	}, nil
}

// SendResponse hands a responder's response to the waiting requester.
func (s *Server) SendResponse(_ context.Context, in *kubemqpb.Response) (*kubemqpb.Empty, error) {
	err := s.svc.Requests.Respond(&requests.Response{
		ClientID: in.ClientID, RequestID: in.RequestID, ReplyChannel: in.ReplyChannel,
		Metadata: in.Metadata, Body: in.Body, CacheHit: in.CacheHit, Timestamp: in.Timestamp,
		Executed: in.Executed, Error: in.Error, Span: in.Span, Tags: in.Tags,
	})
	if err != nil {
		return nil, internalErr(err)
	}
	return &kubemqpb.Empty{}, nil
}

// SubscribeToRequests streams commands (type Commands) or queries (type
// Queries) to a responder until it cancels.
func (s *Server) SubscribeToRequests(in *kubemqpb.Subscribe, stream grpc.ServerStreamingServer[kubemqpb.Request]) error {
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	sub, err := requestsSubFromPB(in)
	if err != nil {
		return internalErr(err)
	}
	return internalErr(s.svc.Requests.Subscribe(ctx, sub, func(r *requests.Request) error {
		return stream.Send(&kubemqpb.Request{
			RequestID: r.ID, RequestTypeData: kindToPB(r.Kind), ClientID: r.ClientID,
			Channel: r.Channel, Metadata: r.Metadata, Body: r.Body, ReplyChannel: r.ReplyChannel,
			Timeout: int32(r.Timeout / time.Millisecond), CacheKey: r.CacheKey, CacheTTL: int32(r.CacheTTL / time.Second),
			Span: r.Span, Tags: r.Tags,
		})
	}))
}

func requestsSubFromPB(in *kubemqpb.Subscribe) (*requests.Subscription, error) {
	var kind requests.Kind
	switch in.SubscribeTypeData {
	case kubemqpb.Subscribe_Commands:
		kind = requests.Command
	case kubemqpb.Subscribe_Queries:
		kind = requests.Query
	default:
		return nil, kmq.ErrSubscribeType
	}
	return &requests.Subscription{Kind: kind, ClientID: in.ClientID, Channel: in.Channel, Group: in.Group}, nil
}

// ValidateSubscribeToRequests checks a SubscribeToRequests request as the
// handler would, without subscribing.
func ValidateSubscribeToRequests(in *kubemqpb.Subscribe) error {
	sub, err := requestsSubFromPB(in)
	if err == nil {
		err = sub.Validate()
	}
	return internalErr(err)
}

// kindFromPB maps the wire's request type; unknown values give the zero
// Kind, which the service refuses with Error 105.
func kindFromPB(t kubemqpb.Request_RequestType) requests.Kind {
	switch t {
	case kubemqpb.Request_Command:
		return requests.Command
	case kubemqpb.Request_Query:
		return requests.Query
	}
	return 0
}

func kindToPB(k requests.Kind) kubemqpb.Request_RequestType {
	if k == requests.Command {
		return kubemqpb.Request_Command
	}
	return kubemqpb.Request_Query
}
