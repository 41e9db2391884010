package grpctransport

import (
	"context"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/internal/auth"
)

// The methods below let another front (REST and WebSocket) serve the same
// handlers, so that every semantic, validation and error placement lives in
// one place.

// Gate returns the error a call to method gets before it runs: not ready
// (Unavailable) or shutting down (Error 409), as the gRPC interceptors do.
func (s *Server) Gate(method string) error {
	return s.gate("/" + kubemqpb.WireServiceName + "/" + method)
}

// Life ends when the server shuts down; long-lived streams end with it.
func (s *Server) Life() context.Context { return s.life }

// AuthorizeSubscribe checks the caller of ctx and its grant for the
// subscription in, as SubscribeToEvents and SubscribeToRequests do first,
// for fronts that must answer before they open a stream. Its errors are
// statuses (Unauthenticated, PermissionDenied, or Internal for an empty
// client id); a subscribe type that is not valid is left to validation.
func (s *Server) AuthorizeSubscribe(ctx context.Context, in *kubemqpb.Subscribe) error {
	c, err := s.caller(ctx)
	if err != nil {
		return err
	}
	var res auth.Resource
	switch in.SubscribeTypeData {
	case kubemqpb.Subscribe_Events:
		res = auth.Events
	case kubemqpb.Subscribe_EventsStore:
		res = auth.EventsStore
	case kubemqpb.Subscribe_Commands:
		res = auth.Commands
	case kubemqpb.Subscribe_Queries:
		res = auth.Queries
	default:
		return nil
	}
	return statusOf(s.authorize(c, res, in.ClientID, in.Channel, auth.Read))
}
