// Package grpctransport serves the KubeMQ gRPC API (service kubemq.kubemq)
// over Herald's pattern services. It converts wire messages to domain values
// and back, and decides, per RPC as the reference server does, whether an
// error travels as a gRPC status or in-band in the response. Its handlers
// also authenticate and authorize every call (see auth.go), so every front
// that calls them is covered.
package grpctransport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/internal/pattern/requests"
	"github.com/heraldmq/herald/internal/tracing"
)

// DefaultMaxMessageSize is the gRPC message limit both ways (100 MiB), as the
// reference server's grpc.bodyLimit.
const DefaultMaxMessageSize = 104857600

// Services are the pattern services the gRPC front serves.
type Services struct {
	Events   *events.Service
	Store    *eventsstore.Service
	Requests *requests.Service
	Queues   *queues.Service
}

// Observer is told about connections, streams and request times (the
// metrics); nil observes nothing.
type Observer interface {
	ObserveRequest(transport, rpc string, d time.Duration)
	Connected() (done func())
	StreamOpened(rpc string) (done func())
}

// Config configures the gRPC front.
type Config struct {
	Host           string    // reported by Ping
	Version        string    // reported by Ping
	StartTime      time.Time // reported by Ping
	MaxMessageSize int
	// Guard authenticates callers and authorizes their requests; nil lets
	// every caller do everything.
	Guard *auth.Guard
	// TLS, when set, serves TLS (it must offer ALPN "h2").
	TLS    *tls.Config
	Logger *slog.Logger
	// Observer is told about connections, streams and request times.
	Observer Observer
	// Tracer records the spans of sends, deliveries and responses; nil
	// records none.
	Tracer *tracing.Tracer
}

// Server is the gRPC front end.
type Server struct {
	kubemqpb.UnimplementedKubemqServer
	cfg   Config
	svc   Services
	log   *slog.Logger
	guard *auth.Guard
	grpc  *grpc.Server
	// inproc is the in-memory listener of DialInProcess.
	inproc     *bufconn.Listener
	inprocOnce sync.Once
	inprocDone chan struct{} // closed when serving it ended; nil if it never began
	obs        Observer
	hs         *health.Server
	tr         *tracing.Tracer

	ready    atomic.Bool
	draining atomic.Bool
	// life ends every long-lived stream when the server shuts down.
	life   context.Context
	cancel context.CancelFunc
	// handlers counts the method handlers running, for Shutdown to wait
	// for them also after it cut the connections.
	handlers sync.WaitGroup
}

// New builds the gRPC front; Serve starts it.
func New(cfg Config, svc Services) *Server {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, svc: svc, log: log, guard: cfg.Guard, obs: cfg.Observer, tr: cfg.Tracer}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	s.life, s.cancel = context.WithCancel(context.Background())
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxMessageSize),
		grpc.MaxSendMsgSize(cfg.MaxMessageSize),
		grpc.ForceServerCodecV2(newGuardedCodec(MaxRequestElements)),
		// The v2 and Python SDKs ping every 10 s, also without active calls.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 3 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.unaryGate),
		grpc.ChainStreamInterceptor(s.streamGate),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(inProcessCreds{credentials.NewTLS(cfg.TLS)}))
	}
	s.grpc = grpc.NewServer(opts...)
	s.grpc.RegisterService(s.serviceDesc(), s)
	// The standard health service answers probes: NOT_SERVING until
	// SetReady, and again from the start of Shutdown.
	s.hs = health.NewServer()
	s.hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.hs)
	s.inproc = bufconn.Listen(inProcessBuffer)
	return s
}

// serviceDesc is the generated service under the wire name kubemq.kubemq,
// with ReceiveQueueMessages moved from the unary to the stream handlers (see
// receiveQueueMessagesStream); clients still call it as a unary method.
func (s *Server) serviceDesc() *grpc.ServiceDesc {
	desc := kubemqpb.Kubemq_ServiceDesc
	desc.ServiceName = kubemqpb.WireServiceName
	desc.Methods = nil
	for _, m := range kubemqpb.Kubemq_ServiceDesc.Methods {
		if m.MethodName == "ReceiveQueueMessages" {
			continue
		}
		desc.Methods = append(desc.Methods, m)
	}
	desc.Streams = append(slices.Clone(kubemqpb.Kubemq_ServiceDesc.Streams), grpc.StreamDesc{
		StreamName: "ReceiveQueueMessages",
		Handler:    s.receiveQueueMessagesStream,
	})
	return &desc
}

// SetReady lets calls in; before it every call but Ping is answered
// Unavailable. The embedding server calls it once its listeners are open.
func (s *Server) SetReady() {
	s.ready.Store(true)
	s.hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.hs.SetServingStatus(kubemqpb.WireServiceName, healthpb.HealthCheckResponse_SERVING)
}

// Serve accepts connections on lis, and in-process ones (DialInProcess),
// until Shutdown.
func (s *Server) Serve(lis net.Listener) error {
	s.inprocOnce.Do(func() {
		s.inprocDone = make(chan struct{})
		go func() {
			defer close(s.inprocDone)
			s.serveInProcess()
		}()
	})
	return s.grpc.Serve(countedListener{lis, s.obs})
}

// Shutdown refuses new calls with Error 409, ends subscriptions and streams,
// and waits for running calls until ctx ends, then closes what is left and
// waits up to handlerGrace more for the handlers it cut off to return (they
// return what they hold, such as leased queue messages).
func (s *Server) Shutdown(ctx context.Context) {
	s.draining.Store(true)
	s.hs.Shutdown() // every service NOT_SERVING from now on
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
	s.inprocOnce.Do(func() {}) // no in-process serving may begin now
	if s.inprocDone != nil {
		<-s.inprocDone
	}
	returned := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(returned)
	}()
	t := time.NewTimer(handlerGrace)
	defer t.Stop()
	select {
	case <-returned:
	case <-t.C:
		s.log.Warn("handlers still running after the shutdown deadline", "waited", handlerGrace)
	}
}

// handlerGrace bounds the wait for handlers after connections were cut.
const handlerGrace = 2 * time.Second

// unaryQueueRPCs report server-level errors as status Unknown; every other
// RPC uses Internal.
var unaryQueueRPCs = map[string]bool{
	"SendQueueMessage": true, "SendQueueMessagesBatch": true, "ReceiveQueueMessages": true,
	"AckAllQueueMessages": true, "QueuesInfo": true,
}

// reconnectRPCs are the streams that end with Unavailable when the server
// shuts down under them: every SDK reconnects on it.
var reconnectRPCs = map[string]bool{"QueuesDownstream": true, "QueuesUpstream": true}

// shutdownErr is Error 409 as method reports it: as the method's other
// server-level errors when a call starts during shutdown, and, for a
// stream the shutdown ends, Unavailable where the SDKs reconnect on it.
func shutdownErr(method string, open bool) error {
	switch {
	case unaryQueueRPCs[method]:
		return status.Error(codes.Unknown, kmq.ErrShutdown.Error())
	case open && reconnectRPCs[method]:
		return status.Error(codes.Unavailable, kmq.ErrShutdown.Error())
	}
	return status.Error(codes.Internal, kmq.ErrShutdown.Error())
}

func methodName(full string) string { return full[strings.LastIndexByte(full, '/')+1:] }

func (s *Server) gate(full string) error {
	m := methodName(full)
	if m == "Ping" || strings.HasPrefix(full, "/grpc.health.v1.Health/") {
		return nil
	}
	if !s.ready.Load() {
		return status.Error(codes.Unavailable, "grpc server is not ready to accept requests")
	}
	if s.draining.Load() {
		return shutdownErr(m, false)
	}
	return nil
}

// endStream is what a stream handler returns when its loop stops, because
// its context ended (recvErr nil) or receiving failed: nil when the client
// ended the stream (half-close or cancel), Error 409 when the server shuts
// down, and the receive error otherwise.
func (s *Server) endStream(method string, ctx context.Context, recvErr error) error {
	switch {
	case errors.Is(recvErr, io.EOF):
		return nil
	case s.life.Err() != nil:
		return shutdownErr(method, true)
	case recvErr == nil || ctx.Err() != nil:
		return nil
	}
	return internalErr(recvErr)
}

func (s *Server) recovered(method string, r any) error {
	s.log.Error("handler panic recovered", "method", method, "panic", r, "stack", string(debug.Stack()))
	return status.Error(codes.Unknown, fmt.Sprintf(" value: %v: Error 200: server crushed and recovered", r))
}

func (s *Server) unaryGate(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	if err := s.gate(info.FullMethod); err != nil {
		return nil, err
	}
	s.handlers.Add(1)
	defer s.handlers.Done()
	defer s.observe(info.FullMethod, time.Now())
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, s.recovered(info.FullMethod, r)
		}
	}()
	return h(ctx, req)
}

func (s *Server) streamGate(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	if err := s.gate(info.FullMethod); err != nil {
		return err
	}
	s.handlers.Add(1)
	defer s.handlers.Done()
	defer s.observe(info.FullMethod, time.Now())
	if m := methodName(info.FullMethod); m != "ReceiveQueueMessages" { // a unary call on the wire
		defer s.obs.StreamOpened(m)()
	}
	defer func() {
		if r := recover(); r != nil {
			err = s.recovered(info.FullMethod, r)
		}
	}()
	return h(srv, ss)
}

// settleTimeout bounds the wait for stores a stream had already taken when
// it ended.
const settleTimeout = 10 * time.Second

// settleContext is for finishing the work a stream already took: unlike
// ctx it does not end when the stream does (a store whose result was
// dropped would be reported failed although it was stored), but
// settleTimeout later, or when stop is called.
func settleContext(ctx context.Context) (settle context.Context, stop func()) {
	settle, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := time.AfterFunc(settleTimeout, cancel) // armed once ctx ends
	t.Stop()
	unwatch := context.AfterFunc(ctx, func() { t.Reset(settleTimeout) })
	return settle, func() { unwatch(); t.Stop(); cancel() }
}

// streamContext ends when the client goes away or the server shuts down.
func (s *Server) streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// internalErr renders err as the status Internal the event, request and
// subscription RPCs use; context errors keep their own codes.
func internalErr(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if ke := (*kmq.Error)(nil); errors.As(err, &ke) && ke.Invalid {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// Ping reports the node and its version; it never fails.
func (s *Server) Ping(context.Context, *kubemqpb.Empty) (*kubemqpb.PingResult, error) {
	return &kubemqpb.PingResult{
		Host:                s.cfg.Host,
		Version:             s.cfg.Version,
		ServerStartTime:     s.cfg.StartTime.Unix(),
		ServerUpTimeSeconds: int64(time.Since(s.cfg.StartTime).Seconds()),
	}, nil
}

// observe reports a call of full that started at start.
func (s *Server) observe(full string, start time.Time) {
	s.obs.ObserveRequest("grpc", methodName(full), time.Since(start))
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(string, string, time.Duration) {}
func (nopObserver) Connected() func()                            { return func() {} }
func (nopObserver) StreamOpened(string) func()                   { return func() {} }

// countedListener tells the observer about the connections it accepts,
// each from its acceptance until it is closed. (A gRPC stats handler would
// see them too, but costs some ten allocations on every call.)
type countedListener struct {
	net.Listener
	obs Observer
}

func (l countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, done: l.obs.Connected()}, nil
}

type countedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}
