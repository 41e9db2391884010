package grpctransport

import (
	"context"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
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
