package client

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// The generated client calls /herald.kubemq.v1.kubemq/<Method>; every KubeMQ
// server, Herald included, answers /kubemq.kubemq/<Method>.
const (
	generatedPrefix = "/herald.kubemq.v1.kubemq/"
	wirePrefix      = "/" + kubemqpb.WireServiceName + "/"
)

func wireMethod(method string) string {
	if rest, ok := strings.CutPrefix(method, generatedPrefix); ok {
		return wirePrefix + rest
	}
	return method
}

// wireConn is the grpc.ClientConnInterface given to the generated client: it
// renames methods to their wire names, adds the token and turns errors into
// *Error.
type wireConn struct {
	cc     *grpc.ClientConn
	token  string
	closed *atomic.Bool
	// down is set when a call or stream failed because the server could
	// not be reached, and cleared by the next call, stream or message that
	// got through (gRPC's own state is Idle right after a lost connection).
	down atomic.Bool
}

func (w *wireConn) up() {
	if w.down.Load() {
		w.down.Store(false)
	}
}

func (w *wireConn) outgoing(ctx context.Context) context.Context {
	if w.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, authTokenHeader, w.token)
	}
	return ctx
}

func (w *wireConn) wrap(err error) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.Unavailable {
		w.down.Store(true)
	}
	return wrapError(err, w.closed.Load())
}

func (w *wireConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if w.closed.Load() {
		return ErrClientClosed
	}
	err := w.cc.Invoke(w.outgoing(ctx), wireMethod(method), args, reply, opts...)
	if err == nil {
		w.up()
	}
	return w.wrap(err)
}

func (w *wireConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if w.closed.Load() {
		return nil, ErrClientClosed
	}
	s, err := w.cc.NewStream(w.outgoing(ctx), desc, wireMethod(method), opts...)
	if err != nil {
		return nil, w.wrap(err)
	}
	w.up()
	return &wireStream{ClientStream: s, w: w}, nil
}

type wireStream struct {
	grpc.ClientStream
	w *wireConn
}

func (s *wireStream) SendMsg(m any) error { return s.w.wrap(s.ClientStream.SendMsg(m)) }
func (s *wireStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.w.up()
	}
	return s.w.wrap(err)
}
func (s *wireStream) CloseSend() error { return s.w.wrap(s.ClientStream.CloseSend()) }
func (s *wireStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	return md, s.w.wrap(err)
}

// dial builds the gRPC connection; it does not wait for the server.
func dial(o *Options) (*grpc.ClientConn, error) {
	maxDelay := o.reconnectInterval
	if maxDelay < 100*time.Millisecond {
		maxDelay = 100 * time.Millisecond
	}
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxDelay},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if o.keepalive > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: o.keepalive, Timeout: 5 * time.Second, PermitWithoutStream: true,
		}))
	}
	if o.dialer != nil {
		opts = append(opts, grpc.WithContextDialer(o.dialer))
	}
	if !o.isSecured {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tc, err := clientTLS(o)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	target := net.JoinHostPort(o.host, strconv.Itoa(o.port))
	return grpc.NewClient(target, opts...)
}

// backoffDelay is the wait before reconnect attempt n (1, 2, …): 100 ms
// doubling up to max, ±20 % jitter.
func backoffDelay(n int, max time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	jitter := time.Duration(rand.Int64N(int64(d)/5 + 1))
	if rand.IntN(2) == 0 {
		return d - jitter
	}
	return d + jitter
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
