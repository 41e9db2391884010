package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/heraldmq/herald/internal/metrics"
)

// Default listen addresses and data directory.
const (
	DefaultDataDir  = "./herald-data"
	DefaultGRPCAddr = ":50000"
	DefaultRESTAddr = ":9090"
	DefaultHTTPAddr = ":8080"
	// RESTOff as Options.RESTAddr turns the REST front off.
	RESTOff = "off"
)

// Options configures a Server. The zero value of every field means its
// default; defaults are applied in one place (setDefaults) and checked in New.
type Options struct {
	// DataDir holds all stored data (default ./herald-data).
	DataDir string
	// GRPCAddr is the KubeMQ gRPC listen address (default :50000); port 0
	// picks a free port.
	GRPCAddr string
	// RESTAddr is the REST and WebSocket listen address (default :9090);
	// RESTOff serves no REST.
	RESTAddr string
	// RESTBodyLimit caps REST request bodies in bytes; larger ones get 413
	// (default 140 MiB: a 100 MiB message in base64 JSON).
	RESTBodyLimit int64
	// HTTPAddr is the listen address of the dashboard, /metrics, /health
	// and /ready (default :8080); HTTPOff serves none of them.
	HTTPAddr string
	// MetricsChannels bounds the channel series of the metrics: "all" (the
	// default), "none" (every channel summed under "_other") or "top:N"
	// (the N busiest keep their names).
	MetricsChannels string
	// NATSAddr, when set, opens the embedded NATS client port as a side door
	// (for example 127.0.0.1:4222). Empty: no NATS listener.
	NATSAddr string
	// Host is the node name Ping reports (default: the OS host name).
	Host string

	// MaxMessageSize limits gRPC messages both ways (default 100 MiB).
	MaxMessageSize int
	// SubscriberBuffer is how many events or requests wait for a slow
	// subscriber before the 2 s drop rule applies (default 100).
	SubscriberBuffer int

	// StoreMaxAge is how long events-store channels keep events (default
	// 24 h, as the reference's store.maxRetention; negative: forever).
	StoreMaxAge time.Duration
	// StoreMaxMessages and StoreMaxBytes cap each events-store channel; the
	// oldest events go first (0: unlimited).
	StoreMaxMessages int64
	StoreMaxBytes    int64
	// CursorIdle removes an events-store subscription cursor that has not
	// been used for this long (default 24 h).
	CursorIdle time.Duration
	// QueryCacheMaxTTL caps the CacheTTL of queries (default 24 h).
	QueryCacheMaxTTL time.Duration
	// RequestMaxTimeout caps the Timeout of commands and queries (default
	// 1 h); a request asking for longer times out (Error 301) after it.
	RequestMaxTimeout time.Duration
	// SyncAlways fsyncs every stored write (survives power loss; slower).
	SyncAlways bool
	// QueueShards and StoreShards are how many engine streams hold the
	// queue and events-store channels (default 4 each). They are fixed when
	// a data dir is first used; later values are ignored with a warning.
	QueueShards int
	StoreShards int
	// EngineStartTimeout bounds the engine's start, which recovers the
	// stored data (default 2 min).
	EngineStartTimeout time.Duration

	// Queue holds the queue limits (KubeMQ's queue.* settings).
	Queue QueueOptions
	// DedupWindow: a message id (queue MessageID, events-store EventID)
	// sent again to the same queue or events-store channel within this
	// window is stored once (default 2 min; negative: off, as KubeMQ, which
	// never deduplicates).
	DedupWindow time.Duration
	// QueueAckWait is how long a queue message leased by a node that died
	// stays invisible before it returns to its queue (default 30 s). Live
	// leases are kept alive by heartbeats, whatever their visibility.
	QueueAckWait time.Duration

	// Security configures TLS, authentication, authorization and CORS;
	// the zero value turns them all off.
	Security SecurityOptions

	// Tracing turns on OpenTelemetry spans and their export; the zero value
	// turns it off.
	Tracing TracingOptions

	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// QueueOptions are the queue limits; zero means the KubeMQ default.
type QueueOptions struct {
	MaxNumberOfMessages       int32 // per receive (1024)
	MaxWaitTimeoutSeconds     int32 // receive, ack-all and stream waits (3600)
	MaxExpirationSeconds      int32 // policy expiration (43200)
	MaxDelaySeconds           int32 // policy delay (43200)
	MaxReceiveCount           int32 // policy receive count, and the value used for 0 (1024)
	MaxVisibilitySeconds      int32 // stream visibility; also the longest a poll transaction may stay open (43200)
	DefaultVisibilitySeconds  int32 // visibility 0 (60)
	DefaultWaitTimeoutSeconds int32 // wait 0 (1)
}

func (o *Options) setDefaults() {
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.GRPCAddr == "" {
		o.GRPCAddr = DefaultGRPCAddr
	}
	if o.RESTAddr == "" {
		o.RESTAddr = DefaultRESTAddr
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = DefaultHTTPAddr
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = 104857600
	}
	if o.SubscriberBuffer == 0 {
		o.SubscriberBuffer = 100
	}
	if o.StoreMaxAge == 0 {
		o.StoreMaxAge = 24 * time.Hour
	}
	if o.CursorIdle == 0 {
		o.CursorIdle = 24 * time.Hour
	}
	if o.MetricsChannels == "" {
		o.MetricsChannels = "all"
	}
	if o.QueueShards == 0 {
		o.QueueShards = 4
	}
	if o.StoreShards == 0 {
		o.StoreShards = 4
	}
	if o.EngineStartTimeout == 0 {
		o.EngineStartTimeout = 2 * time.Minute
	}
	if o.QueryCacheMaxTTL == 0 {
		o.QueryCacheMaxTTL = 24 * time.Hour
	}
	if o.RequestMaxTimeout == 0 {
		o.RequestMaxTimeout = time.Hour
	}
	q := &o.Queue
	for _, f := range []struct {
		v *int32
		d int32
	}{
		{&q.MaxNumberOfMessages, 1024}, {&q.MaxWaitTimeoutSeconds, 3600}, {&q.MaxExpirationSeconds, 43200},
		{&q.MaxDelaySeconds, 43200}, {&q.MaxReceiveCount, 1024}, {&q.MaxVisibilitySeconds, 43200},
		{&q.DefaultVisibilitySeconds, 60}, {&q.DefaultWaitTimeoutSeconds, 1},
	} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	if o.QueueAckWait == 0 {
		o.QueueAckWait = 30 * time.Second
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = 2 * time.Minute
	}
	if o.Tracing.Protocol == "" {
		o.Tracing.Protocol = "grpc"
	}
	if o.Tracing.SampleRatio == 0 {
		o.Tracing.SampleRatio = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate reports every problem at once.
func (o *Options) validate() error {
	var errs []error
	for _, a := range []struct{ name, addr string }{
		{"grpc address", o.GRPCAddr}, {"rest address", o.RESTAddr},
		{"http address", o.HTTPAddr}, {"nats address", o.NATSAddr},
	} {
		if (a.addr == "" && a.name == "nats address") || (a.addr == RESTOff && a.name == "rest address") || (a.addr == HTTPOff && a.name == "http address") {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", a.name, a.addr, err))
		}
	}
	if _, err := metrics.ParsePolicy(o.MetricsChannels); err != nil {
		errs = append(errs, err)
	}
	if o.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("max message size %d: must not be negative", o.MaxMessageSize))
	}
	if o.RESTBodyLimit < 0 {
		errs = append(errs, fmt.Errorf("rest body limit %d: must not be negative", o.RESTBodyLimit))
	}
	if o.SubscriberBuffer < 0 {
		errs = append(errs, fmt.Errorf("subscriber buffer %d: must not be negative", o.SubscriberBuffer))
	}
	if o.StoreMaxMessages < 0 || o.StoreMaxBytes < 0 {
		errs = append(errs, errors.New("store limits must not be negative"))
	}
	q := o.Queue
	for _, v := range []int32{q.MaxNumberOfMessages, q.MaxWaitTimeoutSeconds, q.MaxExpirationSeconds, q.MaxDelaySeconds,
		q.MaxReceiveCount, q.MaxVisibilitySeconds, q.DefaultVisibilitySeconds, q.DefaultWaitTimeoutSeconds} {
		if v < 0 {
			errs = append(errs, errors.New("queue limits must not be negative"))
			break
		}
	}
	if o.QueueAckWait < 0 {
		errs = append(errs, errors.New("queue ack wait must not be negative"))
	} else if o.QueueAckWait < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("queue ack wait %v: must be at least 300ms", o.QueueAckWait))
	}
	if o.QueueShards < 0 || o.StoreShards < 0 || o.QueueShards > 1024 || o.StoreShards > 1024 {
		errs = append(errs, fmt.Errorf("shard counts %d and %d: must be between 1 and 1024", o.QueueShards, o.StoreShards))
	}
	if o.EngineStartTimeout < 0 {
		errs = append(errs, errors.New("engine start timeout must not be negative"))
	}
	if o.CursorIdle < 0 || o.QueryCacheMaxTTL < 0 || o.RequestMaxTimeout < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	errs = append(errs, o.Security.validate(), o.Tracing.validate())
	return errors.Join(errs...)
}
