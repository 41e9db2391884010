package grpctransport

import (
	"context"
	"time"

	"google.golang.org/grpc"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/requests"
	"github.com/heraldmq/herald/internal/tracing"
)

// SendRequest sends a command or query and waits for its response. Every
// failure, the timeout (Error 301) included, ends the call with status Internal.
// A request still waiting when the server shuts down ends with Error 409:
// its responders' subscriptions end with the server, nobody can answer it.
func (s *Server) SendRequest(ctx context.Context, in *kubemqpb.Request) (*kubemqpb.Response, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(c, requestResource(kindFromPB(in.RequestTypeData)), in.ClientID, in.Channel, auth.Write); err != nil {
		return nil, statusOf(err)
	}
	ctx, cancel := s.streamContext(ctx)
	defer cancel()
	ctx, span := s.tr.Send(ctx, tracing.Message{Pattern: requestPattern(in.RequestTypeData), Channel: in.Channel,
		ClientID: in.ClientID, ID: in.RequestID, Tags: in.Tags, BodySize: len(in.Body)})
	resp, err := s.svc.Requests.Send(ctx, &requests.Request{
		ID: in.RequestID, Kind: kindFromPB(in.RequestTypeData), ClientID: in.ClientID,
		Channel: in.Channel, Metadata: in.Metadata, Body: in.Body, Timeout: time.Duration(in.Timeout) * time.Millisecond,
		CacheKey: in.CacheKey, CacheTTL: time.Duration(in.CacheTTL) * time.Second, Span: in.Span, Tags: in.Tags,
	})
	if err == nil {
		tracing.CacheHit(span, resp.CacheHit)
		tracing.Link(span, resp.Tags)
		tracing.Fail(span, resp.Error)
	}
	tracing.End(span, err)
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
// Whoever received a request may answer it (auth.Responses): only the
// client id the response declares is checked.
func (s *Server) SendResponse(ctx context.Context, in *kubemqpb.Response) (*kubemqpb.Empty, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(c, auth.Responses, in.ClientID, in.ReplyChannel, auth.Write); err != nil {
		return nil, statusOf(err)
	}
	_, span := s.tr.Respond(ctx, in.ClientID, in.RequestID, in.Tags, len(in.Body))
	err = s.svc.Requests.Respond(&requests.Response{
		ClientID: in.ClientID, RequestID: in.RequestID, ReplyChannel: in.ReplyChannel,
		Metadata: in.Metadata, Body: in.Body, CacheHit: in.CacheHit, Timestamp: in.Timestamp,
		Executed: in.Executed, Error: in.Error, Span: in.Span, Tags: in.Tags,
	})
	tracing.End(span, err)
	if err != nil {
		return nil, internalErr(err)
	}
	return &kubemqpb.Empty{}, nil
}

// SubscribeToRequests streams commands (type Commands) or queries (type
// Queries) to a responder until it cancels.
func (s *Server) SubscribeToRequests(in *kubemqpb.Subscribe, stream grpc.ServerStreamingServer[kubemqpb.Request]) error {
	c, err := s.caller(stream.Context())
	if err != nil {
		return err
	}
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	sub, err := requestsSubFromPB(in)
	if err != nil {
		return internalErr(err)
	}
	res := requestResource(sub.Kind)
	if err := s.authorize(c, res, in.ClientID, in.Channel, auth.Read); err != nil {
		return statusOf(err)
	}
	// The grant is checked again before every request and at every reload.
	check := func() error {
		_, err := s.recheck(c, res, in.ClientID, in.Channel, auth.Read)
		return err
	}
	ctx, stop := s.live(ctx, check)
	defer stop()
	err = s.svc.Requests.Subscribe(ctx, sub, func(r *requests.Request) error {
		if err := check(); err != nil {
			return err
		}
		span := s.tr.Deliver(ctx, tracing.Message{Pattern: requestPattern(kindToPB(r.Kind)), Channel: r.Channel, ID: r.ID,
			Tags: r.Tags, BodySize: len(r.Body)}, in.ClientID, in.Group)
		err := stream.Send(&kubemqpb.Request{
			RequestID: r.ID, RequestTypeData: kindToPB(r.Kind), ClientID: r.ClientID,
			Channel: r.Channel, Metadata: r.Metadata, Body: r.Body, ReplyChannel: r.ReplyChannel,
			Timeout: int32(r.Timeout / time.Millisecond), CacheKey: r.CacheKey, CacheTTL: int32(r.CacheTTL / time.Second),
			Span: r.Span, Tags: r.Tags,
		})
		tracing.End(span, err)
		return err
	})
	return statusOf(ended(ctx, err))
}

// requestPattern names the pattern of a request type for its spans.
func requestPattern(t kubemqpb.Request_RequestType) string {
	if t == kubemqpb.Request_Command {
		return tracing.Commands
	}
	return tracing.Queries
}

// requestResource is what a request of kind k is, for the list ("" for an
// unknown kind, which no rule grants).
func requestResource(k requests.Kind) auth.Resource {
	switch k {
	case requests.Command:
		return auth.Commands
	case requests.Query:
		return auth.Queries
	}
	return ""
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
