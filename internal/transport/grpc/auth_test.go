package grpctransport

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/internal/auth"
)

func newGuardedServer(t *testing.T) *Server {
	t.Helper()
	g, err := auth.New(auth.Config{JWT: auth.JWTConfig{Algorithm: "HS256", Key: "a secret of at least thirty-two bytes"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	s := New(Config{Guard: g}, Services{}) // no services: a call that got past authentication would panic
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	s.SetReady()
	return s
}

// Every method the server answers, present or future, authenticates its
// caller, however grpc-go dispatches it (ReceiveQueueMessages is a stream
// handler): only Ping answers without a token.
func TestEveryServedMethodAuthenticates(t *testing.T) {
	s := newGuardedServer(t)
	conn, err := grpc.NewClient("passthrough:///inprocess", grpc.WithContextDialer(s.DialInProcess),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	methods := s.grpc.GetServiceInfo()[kubemqpb.WireServiceName].Methods
	if len(methods) != 15 {
		t.Fatalf("%d methods served", len(methods))
	}
	for _, m := range methods {
		t.Run(m.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			desc := &grpc.StreamDesc{StreamName: m.Name, ServerStreams: true, ClientStreams: true}
			st, err := conn.NewStream(ctx, desc, "/"+kubemqpb.WireServiceName+"/"+m.Name)
			if err != nil {
				t.Fatal(err)
			}
			_ = st.SendMsg(&kubemqpb.Empty{}) // decodes as an empty request of any type
			_ = st.CloseSend()
			err = st.RecvMsg(&kubemqpb.Empty{})
			if m.Name == "Ping" {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated || st.Message() != "Authorization token is not supplied" {
				t.Fatalf("%v, want Unauthenticated", err)
			}
		})
	}
}

// A front that calls a handler with a context carrying neither gRPC
// metadata nor a token is refused, not let in.
func TestHandlerWithoutCredentialContext(t *testing.T) {
	s := newGuardedServer(t)
	_, err := s.SendEvent(context.Background(), &kubemqpb.Event{ClientID: "a", Channel: "b"})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() != "Retrieving metadata is failed" {
		t.Fatalf("%v, want InvalidArgument", err)
	}
	_, err = s.SendEvent(ContextWithToken(context.Background(), "garbage"), &kubemqpb.Event{ClientID: "a", Channel: "b"})
	if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated {
		t.Fatalf("%v, want Unauthenticated", err)
	}
}
