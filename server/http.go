package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/internal/dashboard"
	"github.com/heraldmq/herald/internal/metrics"
	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// HTTPOff as Options.HTTPAddr serves no HTTP front (no dashboard, metrics
// or health endpoints).
const HTTPOff = "off"

// httpFront is the HTTP port (:8080): Prometheus metrics, liveness and
// readiness, and the dashboard.
type httpFront struct {
	srv    *http.Server
	lis    net.Listener
	broker *dashboard.Broker
	cancel context.CancelFunc
	done   chan error
}

// newMetrics builds the metrics over the running services.
func (s *Server) newMetrics(ev *events.Service) *metrics.Metrics {
	return metrics.New(metrics.Sources{
		Node:   s.opts.Host,
		Stats:  s.stats,
		Policy: s.metricsPolicy,
		Queues: func(ctx context.Context) ([]metrics.QueueState, error) {
			cs, err := s.queues.Channels(ctx)
			out := make([]metrics.QueueState, 0, len(cs))
			for _, c := range cs {
				q := metrics.QueueState{Channel: c.Channel, Messages: c.Messages, InFlight: c.Messages - c.Waiting, Delayed: c.Delayed}
				if e := s.stats.Lookup(queues.Kind, c.Channel); e != nil {
					q.DeadLettered = e.DeadLettered.Load()
				}
				out = append(out, q)
			}
			return out, err
		},
		Engine: func() (metrics.EngineUsage, error) {
			u, err := s.eng.Usage()
			return metrics.EngineUsage{StoreBytes: u.StoreBytes, MemoryBytes: u.MemoryBytes, Messages: u.Messages,
				Streams: u.Streams, Consumers: u.Consumers, APIRequests: u.APIRequests, APIErrors: u.APIErrors}, err
		},
		Dropped: func() map[string]int64 { return map[string]int64{"events": ev.Dropped()} },
		Channels: func() map[string]int {
			out := map[string]int{queues.Kind: len(s.reg.List(queues.Kind)), eventsstore.Kind: len(s.reg.List(eventsstore.Kind))}
			for _, k := range []string{stats.Events, stats.Commands, stats.Queries} {
				out[k] = len(s.stats.Entries(k))
			}
			return out
		},
		Logger: s.log,
	})
}

// startHTTP opens the HTTP front, unless it is off.
func (s *Server) startHTTP() error {
	if s.opts.HTTPAddr == HTTPOff {
		return nil
	}
	lis, err := net.Listen("tcp", s.opts.HTTPAddr)
	if err != nil {
		return fmt.Errorf("server: http listener: %w", err)
	}
	// The dashboard reaches the gRPC front in memory: no TLS or client
	// certificate needed, each user's token still checked there.
	broker, err := dashboard.NewBroker(dashboard.BrokerConfig{
		Address: s.grpcLis.Addr().String(), Info: dashInfo{s}, Logger: s.log,
		Options:     []client.Option{client.WithDialer(s.DialInProcess)},
		ClientIDFor: s.clientIDsOf,
	})
	if err != nil {
		_ = lis.Close()
		return fmt.Errorf("server: dashboard: %w", err)
	}
	// Probes stay open; the rest asks for the API's credential when
	// authentication is on.
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.authenticated(s.metrics.Handler()))
	mux.Handle("GET /config", s.authenticated(http.HandlerFunc(s.config)))
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /ready", s.readiness)
	dash := dashboard.Config{Backend: broker, Logger: s.log}
	if s.opts.Security.AuthenticationEnabled() {
		dash.Authenticate = s.AuthenticateHTTP
	}
	mux.Handle("/", dashboard.New(dash))
	ctx, cancel := context.WithCancel(context.Background())
	f := &httpFront{lis: lis, broker: broker, cancel: cancel, done: make(chan error, 1)}
	f.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// Live streams end with the front: Shutdown does not wait for them.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	serveLis := lis
	if tc := s.HTTPTLSConfig(); tc != nil {
		serveLis = tls.NewListener(lis, tc)
	}
	go func() {
		err := f.srv.Serve(serveLis)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			s.failed(fmt.Errorf("server: http: %w", err))
		}
		f.done <- err
	}()
	s.http = f
	return nil
}

// stopHTTP stops the HTTP front: live streams end, running requests may
// finish until ctx ends.
func (s *Server) stopHTTP(ctx context.Context) {
	f := s.http
	if f == nil {
		return
	}
	f.cancel()
	_ = f.srv.Shutdown(ctx)
	<-f.done
	_ = f.broker.Close()
}

// clientIDsOf is the pattern of client ids token's holder may declare, ""
// for any (authentication off, or a token that fails: its calls do too).
func (s *Server) clientIDsOf(token string) string {
	g := s.guard.Load()
	if g == nil {
		return ""
	}
	id, err := g.Authenticate(token)
	if err != nil {
		return ""
	}
	return id.ClientIDs
}

// HTTPAddr is the address of the HTTP front (dashboard, metrics, health),
// or nil when it is off or not started.
func (s *Server) HTTPAddr() net.Addr {
	if s.http == nil {
		return nil
	}
	return s.http.lis.Addr()
}

// authenticated lets a request through when it carries the API's
// credential (or authentication is off); 401 otherwise.
func (s *Server) authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.AuthenticateHTTP(r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// config serves the options in effect, with every key and certificate
// replaced by "[redacted]".
func (s *Server) config(w http.ResponseWriter, _ *http.Request) {
	o := s.opts.Redacted()
	o.Logger = nil
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(o)
}

// health answers liveness: the process and the engine's loop respond.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.alive() {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("not healthy"))
		return
	}
	_, _ = w.Write([]byte("healthy"))
}

func (s *Server) alive() bool { return s.eng != nil && s.eng.Alive(2*time.Second) }

// readiness answers whether the server takes calls: started, engine and
// its store available, listeners open, not shutting down.
func (s *Server) readiness(w http.ResponseWriter, _ *http.Request) {
	alive := s.alive()
	ready := alive && s.ready.Load() && s.eng.Ready()
	w.Header().Set("Content-Type", "application/json")
	if !ready {
		w.WriteHeader(http.StatusInternalServerError)
	}
	_ = json.NewEncoder(w).Encode(struct {
		Healthy bool `json:"is_healthy"`
		Ready   bool `json:"is_ready"`
	}{alive, ready})
}

// dashInfo tells the dashboard what the KubeMQ API cannot.
type dashInfo struct{ s *Server }

func (d dashInfo) Nodes(context.Context) ([]dashboard.Node, error) {
	n := 0
	for _, e := range d.s.stats.Entries("") {
		n += int(e.Active)
	}
	return []dashboard.Node{dashboard.ProcessNode(d.s.opts.Host, KubeMQVersion+"+herald."+Version, "standalone", d.s.startAt, n)}, nil
}

func (d dashInfo) Storage(context.Context) (dashboard.Storage, error) {
	u, err := d.s.eng.Usage()
	return dashboard.Storage{Bytes: u.StoreBytes, Streams: u.Streams}, err
}

func (d dashInfo) Traffic(context.Context) (dashboard.Traffic, error) {
	t := dashboard.Traffic{Clients: map[dashboard.ChannelType]int{}}
	for _, e := range d.s.stats.Entries("") {
		t.MessagesIn += e.InMessages
		t.BytesIn += e.InBytes
		t.MessagesOut += e.OutMessages
		t.BytesOut += e.OutBytes
		t.Clients[dashboard.ChannelType(e.Kind)] += int(e.Active)
	}
	return t, nil
}
