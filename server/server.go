// Package server embeds a Herald broker: the JetStream engine, the pattern
// services and the KubeMQ-compatible gRPC front, in one value.
//
//	srv, err := server.New(server.Options{DataDir: dir, GRPCAddr: "127.0.0.1:0"})
//	if err != nil { return err }
//	if err := srv.Start(); err != nil { return err } // returns once ready
//	defer srv.Shutdown(context.Background())
//	fmt.Println("gRPC on", srv.GRPCAddr())
//
// For tests, server/heraldtest starts one on a free port with a temporary
// data directory.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/metrics"
	"github.com/heraldmq/herald/internal/pattern/channels"
	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/internal/pattern/registry"
	"github.com/heraldmq/herald/internal/pattern/requests"
	"github.com/heraldmq/herald/internal/pattern/stats"
	"github.com/heraldmq/herald/internal/tlsconf"
	"github.com/heraldmq/herald/internal/tracing"
	grpctransport "github.com/heraldmq/herald/internal/transport/grpc"
	"github.com/heraldmq/herald/internal/transport/rest"
)

// Version is Herald's own version; release builds set it with -ldflags.
var Version = "0.1.0-dev"

// KubeMQVersion is the KubeMQ API version Herald is compatible with. Ping
// reports KubeMQVersion+"+herald."+Version, which KubeMQ SDKs accept as 2.x.
const KubeMQVersion = "2.4.0"

// Server is an embedded Herald broker.
type Server struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	started  bool
	eng      *engine.Engine
	reg      *registry.Registry
	qlog     *engine.Log
	eslog    *engine.Log
	sealed   *engine.Log
	cursors  *engine.KV
	queues   *queues.Service
	store    *eventsstore.Service
	stats    *stats.Registry
	statsKV  *engine.KV
	stop     chan struct{}
	bg       sync.WaitGroup
	grpc     *grpctransport.Server
	grpcLis  net.Listener
	rest     *rest.Server
	restLis  net.Listener
	front    atomic.Pointer[grpctransport.Server] // s.grpc, for DialInProcess without s.mu
	guard    atomic.Pointer[auth.Guard]
	tls      atomic.Pointer[tlsconf.Server]
	restErr  chan error
	serveErr chan error

	startAt time.Time // when Start began
	ready   atomic.Bool
	metrics *metrics.Metrics
	http    *httpFront

	metricsPolicy metrics.Policy
	tp            *sdktrace.TracerProvider // built from Options.Tracing.Endpoint; nil otherwise

	shutdownOnce sync.Once
	shutdownErr  error

	done     chan struct{} // closed when a listener failed
	doneErr  error
	failOnce sync.Once
}

// New checks opts and returns a server that is not started yet.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("server: invalid options: %w", err)
	}
	if err := opts.Security.load(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if opts.Host == "" {
		opts.Host, _ = os.Hostname()
	}
	policy, _ := metrics.ParsePolicy(opts.MetricsChannels) // checked by validate
	return &Server{opts: opts, log: opts.Logger, done: make(chan struct{}), metricsPolicy: policy}, nil
}

// Options returns the options in effect, defaults applied.
func (s *Server) Options() Options { return s.opts }

// Start opens the engine and the listeners and returns once the server
// accepts calls. On error everything already opened is closed again.
func (s *Server) Start() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: already started")
	}
	s.started = true
	start := time.Now()
	s.startAt = start
	if err := s.openSecurity(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.closeSecurity()
		}
	}()
	s.eng, err = engine.Open(engine.Config{
		DataDir: s.opts.DataDir, ServerName: s.opts.Host, ClientAddr: s.opts.NATSAddr,
		SyncAlways: s.opts.SyncAlways, Logger: s.log, ReadyTimeout: s.opts.EngineStartTimeout,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	defer func() {
		if err != nil {
			if s.stop != nil {
				close(s.stop)
				s.bg.Wait()
				s.stop = nil
			}
			s.closeStores()
			_ = s.eng.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := s.openTracing(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.closeTracing(context.Background())
		}
	}()
	var queueSteps queues.Tracer
	var storeSteps eventsstore.Tracer
	if tr.On() {
		queueSteps, storeSteps = tr.Steps(tracing.Queues), tr.Steps(tracing.EventsStore)
	}
	cache, err := s.eng.OpenKV(ctx, "HERALD_QCACHE", s.opts.QueryCacheMaxTTL)
	if err != nil {
		return fmt.Errorf("server: query cache: %w", err)
	}
	if err := s.openStats(ctx); err != nil {
		return err
	}
	if err := s.openStores(ctx); err != nil {
		return err
	}
	q := s.opts.Queue
	var store *eventsstore.Service
	s.queues = queues.New(s.qlog, s.eng, s.reg, queues.Config{
		Groups: &queues.GroupViews{
			LogOf:         func(channel string) queues.GroupLog { return store.LogOf(channel) },
			EnsureChannel: func(ctx context.Context, channel string) error { return store.Create(ctx, channel) },
		},
		Limits: queues.Limits{
			MaxNumberOfMessages: q.MaxNumberOfMessages, MaxWaitSeconds: q.MaxWaitTimeoutSeconds,
			MaxExpiration: q.MaxExpirationSeconds, MaxDelay: q.MaxDelaySeconds, MaxReceiveCount: q.MaxReceiveCount,
			MaxVisibility: q.MaxVisibilitySeconds, DefaultVisibility: q.DefaultVisibilitySeconds, DefaultWait: q.DefaultWaitTimeoutSeconds,
		},
		DedupWindow: max(s.opts.DedupWindow, 0), AckWait: s.opts.QueueAckWait, Stats: s.stats, MaxReplyBytes: s.opts.MaxMessageSize - 1<<20, Logger: s.log,
		Tracer: queueSteps,
	})
	defer func() {
		if err != nil {
			s.queues.Close()
		}
	}()
	svc := grpctransport.Services{
		Queues: s.queues,
		Events: events.New(s.eng, events.Config{Buffer: s.opts.SubscriberBuffer, Logger: s.log, Stats: s.stats}),
		Store: eventsstore.New(s.eslog, s.sealed, s.reg, s.cursors, eventsstore.Config{
			CursorIdle: s.opts.CursorIdle, Logger: s.log, Stats: s.stats, DedupWindow: max(s.opts.DedupWindow, 0),
			Tracer: storeSteps,
		}),
		Requests: requests.New(s.eng, cache, requests.Config{
			Buffer: s.opts.SubscriberBuffer, CacheMaxTTL: s.opts.QueryCacheMaxTTL, MaxTimeout: s.opts.RequestMaxTimeout,
			Logger: s.log, Stats: s.stats,
		}),
	}
	s.store, store = svc.Store, svc.Store
	defer func() {
		if err != nil {
			s.store.Close()
		}
	}()
	if err := s.store.Recover(ctx); err != nil {
		return fmt.Errorf("server: finish sealing channels: %w", err)
	}
	s.metrics = s.newMetrics(svc.Events)
	mgr := &channels.Manager{Queues: svc.Queues, Store: svc.Store, Stats: s.stats, ClientID: "herald@" + s.opts.Host,
		Allowed: s.channelAllowed()}
	svc.Requests.Handle(channels.RequestsChannel, mgr.Handle)
	s.grpcLis, err = net.Listen("tcp", s.opts.GRPCAddr)
	if err != nil {
		return fmt.Errorf("server: grpc listener: %w", err)
	}
	gcfg := grpctransport.Config{
		Host: s.opts.Host, Version: KubeMQVersion + "+herald." + Version,
		StartTime: start, MaxMessageSize: s.opts.MaxMessageSize, Logger: s.log, Guard: s.guard.Load(), Observer: s.metrics,
		Tracer: tr,
	}
	if ts := s.tls.Load(); ts != nil {
		gcfg.TLS = ts.TLSConfig("h2")
	}
	s.grpc = grpctransport.New(gcfg, svc)
	if s.opts.RESTAddr != RESTOff {
		if s.restLis, err = net.Listen("tcp", s.opts.RESTAddr); err != nil {
			_ = s.grpcLis.Close()
			return fmt.Errorf("server: rest listener: %w", err)
		}
		s.rest = rest.New(rest.Config{
			Host: s.opts.Host, Version: KubeMQVersion + "+herald." + Version, BodyLimit: s.opts.RESTBodyLimit,
			AllowOrigins: s.opts.Security.CORSOrigins, Logger: s.log, Observer: s.metrics,
		}, s.grpc)
		restLis := s.restLis
		if ts := s.tls.Load(); ts != nil {
			// HTTP/1.1 only: WebSockets need it.
			restLis = tls.NewListener(restLis, ts.TLSConfig("http/1.1"))
		}
		s.restErr = make(chan error, 1)
		go func() {
			err := s.rest.Serve(restLis)
			if err != nil {
				s.failed(fmt.Errorf("server: rest: %w", err))
			}
			s.restErr <- err
		}()
	}
	s.serveErr = make(chan error, 1)
	go func() {
		err := s.grpc.Serve(s.grpcLis)
		if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.failed(fmt.Errorf("server: grpc: %w", err))
		}
		s.serveErr <- err
	}()
	s.front.Store(s.grpc)
	if err := s.startHTTP(); err != nil {
		s.grpc.Shutdown(ctx)
		<-s.serveErr
		if s.rest != nil {
			_ = s.rest.Shutdown(ctx)
			<-s.restErr
		}
		return err
	}
	s.grpc.SetReady() // the listeners are open: Start returns a server that answers
	s.ready.Store(true)
	s.logSecurity()
	s.log.Info("herald started", "grpc", s.grpcLis.Addr().String(), "rest", s.RESTAddr(), "data_dir", s.opts.DataDir, "version", Version)
	return nil
}

// clientIdle is how long a client's metrics series outlive its last
// activity and subscription.
const clientIdle = 10 * time.Minute

// statsKey is where the channel statistics are kept between runs.
const statsKey = "channels"

// openStats loads the channel statistics of the last run and saves them
// every few seconds while anything changes (and at shutdown).
func (s *Server) openStats(ctx context.Context) (err error) {
	s.stats = stats.New()
	if s.statsKV, err = s.eng.OpenKV(ctx, "HERALD_STATS", 0); err != nil {
		return fmt.Errorf("server: stats: %w", err)
	}
	if data, ok, err := s.statsKV.Get(ctx, statsKey); err == nil && ok {
		if err := s.stats.Load(data); err != nil {
			s.log.Warn("channel statistics of the last run unreadable; starting from zero", "err", err)
		}
	}
	s.stop = make(chan struct{})
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.saveStats()
				s.stats.Sweep(clientIdle) // gone clients leave no series behind
			}
		}
	}()
	return nil
}

func (s *Server) saveStats() {
	data, changed := s.stats.Marshal()
	if !changed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.statsKV.Put(ctx, statsKey, data); err != nil {
		s.log.Warn("saving channel statistics failed", "err", err)
	}
}

func (s *Server) failed(err error) {
	s.failOnce.Do(func() {
		s.doneErr = err
		close(s.done)
	})
}

// RESTAddr is the address of the REST and WebSocket front, or nil when it
// is off or not started.
func (s *Server) RESTAddr() net.Addr {
	if s.restLis == nil {
		return nil
	}
	return s.restLis.Addr()
}

// Done is closed when the server stopped serving by itself (a listener
// failed); Err then says why. It is not closed by Shutdown.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the reason the server stopped serving by itself, after Done.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.doneErr
	default:
		return nil
	}
}

// GRPCAddr is the address the gRPC front listens on (nil before Start).
func (s *Server) GRPCAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grpcLis == nil {
		return nil
	}
	return s.grpcLis.Addr()
}

// DialInProcess connects to the gRPC front through memory, for clients in
// this process such as the HTTP front's dashboard:
// client.WithDialer(srv.DialInProcess), without TLS options. Such
// connections skip TLS (and so client certificates), nothing else: their
// calls carry a token and are authorized like any other. It fails before
// Start.
func (s *Server) DialInProcess(ctx context.Context, addr string) (net.Conn, error) {
	g := s.front.Load()
	if g == nil {
		return nil, errors.New("server: not started")
	}
	return g.DialInProcess(ctx, addr)
}

// NATSURL is the embedded NATS client URL, or "" when Options.NATSAddr is empty.
func (s *Server) NATSURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eng == nil {
		return ""
	}
	return s.eng.ClientURL()
}

// Shutdown stops accepting calls (new ones get Error 409), ends
// subscriptions and long polls (receives answer with what they have),
// waits for running calls, then closes the engine. With a deadline on ctx
// the calls get three quarters of the time left (at most all but 5 s), so
// that closing the engine fits too: Shutdown returns within the deadline,
// unless the engine itself is stuck. It is safe to call more than once and
// before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.ready.Store(false) // /ready answers 500 while the fronts drain
		if dl, ok := ctx.Deadline(); ok {
			reserve := min(time.Until(dl)/4, 5*time.Second)
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
			defer cancel()
		}
		if s.queues != nil {
			s.queues.StopWaits()
		}
		if s.grpc != nil {
			// Both fronts stop accepting at once. REST waits for its running
			// requests; the streams WebSockets run on end with gRPC's.
			var fronts sync.WaitGroup
			if s.rest != nil {
				fronts.Go(func() {
					_ = s.rest.Shutdown(ctx)
					<-s.restErr
				})
			}
			s.grpc.Shutdown(ctx)
			<-s.serveErr
			fronts.Wait()
		}
		if s.queues != nil {
			s.queues.Close()
		}
		s.stopHTTP(ctx)
		if s.store != nil {
			s.store.Close()
		}
		s.closeStores()
		if s.stop != nil {
			close(s.stop)
			s.bg.Wait()
			s.saveStats()
		}
		if s.eng != nil {
			s.shutdownErr = s.eng.Close()
		}
		s.closeTracing(ctx) // the spans of everything above are ended: export them
		s.closeSecurity()
		s.log.Info("herald stopped")
	})
	return s.shutdownErr
}
