package client

import (
	"context"
	"net"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// authTokenHeader is the gRPC metadata key KubeMQ servers read the token from.
const authTokenHeader = "authorization"

// Defaults of the options; they are the kubemq-go v1.9.0 defaults unless noted.
const (
	// DefaultClientID is the client id used when WithClientId is not given.
	DefaultClientID = "ClientId"
	// DefaultReceiveBufferSize is the length of every subscription channel.
	DefaultReceiveBufferSize = 10
	// DefaultCacheTTL is the query cache TTL used when a query sets a cache
	// key but no TTL.
	DefaultCacheTTL = 15 * time.Minute
	// DefaultReconnectInterval is the longest wait between two reconnect
	// attempts of a subscription or stream.
	DefaultReconnectInterval = 5 * time.Second
	// DefaultKeepalive is the interval of gRPC keepalive pings (Herald
	// permits 10 s; see WithKeepalive for the KubeMQ reference server).
	DefaultKeepalive = 10 * time.Second
	// MaxMessageSize is the gRPC message limit both ways (100 MiB), as KubeMQ.
	MaxMessageSize = 100 * 1024 * 1024
)

// Option configures a Client; pass them to NewClient.
type Option interface {
	apply(*Options)
}

// TransportType selects how the client talks to the server.
type TransportType int

// The transports: gRPC (WithAddress, port 50000) and REST with WebSockets
// (WithUri, port 9090). They offer the same API, except the queue stream
// API of package queuesstream and GetGRPCRawClient, which need gRPC (see
// ErrNotSupportedOverREST).
const (
	TransportTypeGRPC TransportType = iota
	TransportTypeRest
)

// Options is the configuration a Client was built with. Its fields are set
// through the With… functions; GetDefaultOptions returns the defaults.
type Options struct {
	host                 string
	port                 int
	isSecured            bool
	certFile             string
	certData             string
	clientCertFile       string
	clientKeyFile        string
	dialer               func(context.Context, string) (net.Conn, error)
	serverOverrideDomain string
	authToken            string
	clientID             string
	receiveBufferSize    int
	defaultChannel       string
	defaultCacheTTL      time.Duration
	transportType        TransportType
	restURI              string
	autoReconnect        bool
	reconnectInterval    time.Duration
	maxReconnect         int
	checkConnection      bool
	keepalive            time.Duration
	tracer               trace.Tracer                  // WithTracerProvider; nil: no spans
	propagator           propagation.TextMapPropagator // WithPropagator; nil: W3C Trace Context
}

type funcOption func(*Options)

func (f funcOption) apply(o *Options) { f(o) }

// WithAddress sets the host and port of the server (Herald and KubeMQ listen
// on 50000 for gRPC).
func WithAddress(host string, port int) Option {
	return funcOption(func(o *Options) {
		o.host = host
		o.port = port
	})
}

// WithUri sets the address of the REST transport (see TransportTypeRest),
// e.g. http://localhost:9090, or https://… for TLS (WithCredentials and
// WithCertificate then name the CA). WebSockets go to the same address
// with ws:// or wss://. A path is kept as a prefix of every route.
func WithUri(uri string) Option {
	return funcOption(func(o *Options) {
		o.restURI = uri
	})
}

// WithCredentials enables TLS with the CA certificate in certFile (PEM).
// serverOverrideDomain, when not empty, is the host name the server
// certificate is checked against instead of the dialled host.
func WithCredentials(certFile, serverOverrideDomain string) Option {
	return funcOption(func(o *Options) {
		o.isSecured = true
		o.certFile = certFile
		o.serverOverrideDomain = serverOverrideDomain
	})
}

// WithMTLS enables TLS with a client certificate, for servers that verify
// clients (Herald with --tls-client-ca): certFile and keyFile hold the
// client's certificate chain and private key (PEM), caFile the CAs that
// sign the server's certificate ("" trusts the system's roots). The
// certificate files are read again at each new connection, so a renewed
// certificate is picked up without a restart. Combine it with
// WithCredentials or WithCertificate to set a server name override.
func WithMTLS(certFile, keyFile, caFile string) Option {
	return funcOption(func(o *Options) {
		o.isSecured = true
		o.clientCertFile, o.clientKeyFile = certFile, keyFile
		if caFile != "" {
			o.certFile = caFile
		}
	})
}

// WithCertificate enables TLS with the CA certificate given as PEM text.
func WithCertificate(certData, serverOverrideDomain string) Option {
	return funcOption(func(o *Options) {
		o.isSecured = true
		o.certData = certData
		o.serverOverrideDomain = serverOverrideDomain
	})
}

// WithToken sets the token sent with every call as the gRPC metadata
// "authorization", as KubeMQ clients send it; over REST it is the header
// "Authorization: Bearer <token>" of every request and WebSocket dial.
func WithToken(token string) Option {
	return funcOption(func(o *Options) {
		o.authToken = token
	})
}

// WithAuthToken is WithToken under the kubemq-go name.
func WithAuthToken(token string) Option { return WithToken(token) }

// WithClientId sets the client id used by every message, request and
// subscription that does not set its own (default "ClientId").
func WithClientId(id string) Option {
	return funcOption(func(o *Options) {
		o.clientID = id
	})
}

// WithReceiveBufferSize sets the length of the channels subscriptions
// deliver on (default 10).
func WithReceiveBufferSize(size int) Option {
	return funcOption(func(o *Options) {
		o.receiveBufferSize = size
	})
}

// WithDefaultChannel sets the channel of the messages the builders (E, ES,
// C, Q) create.
func WithDefaultChannel(channel string) Option {
	return funcOption(func(o *Options) {
		o.defaultChannel = channel
	})
}

// WithDefaultCacheTTL sets the cache TTL of queries that set a cache key but
// no TTL (default 15 min). It is sent in seconds (see Query.SetCacheTTL).
func WithDefaultCacheTTL(ttl time.Duration) Option {
	return funcOption(func(o *Options) {
		o.defaultCacheTTL = ttl
	})
}

// WithAutoReconnect turns automatic re-subscription and stream re-opening on
// or off. Herald's SDK defaults to on (kubemq-go: off); with it off, a
// subscription ends at the first stream error, reporting it on its error
// channel.
func WithAutoReconnect(value bool) Option {
	return funcOption(func(o *Options) {
		o.autoReconnect = value
	})
}

// WithReconnectInterval sets the longest wait between two reconnect attempts
// (default 5 s). Attempts start 100 ms after a failure and back off
// exponentially, with jitter, up to this interval.
func WithReconnectInterval(duration time.Duration) Option {
	return funcOption(func(o *Options) {
		o.reconnectInterval = duration
	})
}

// WithMaxReconnects bounds the consecutive failed reconnect attempts of a
// subscription or stream; 0 (the default) retries for ever.
func WithMaxReconnects(value int) Option {
	return funcOption(func(o *Options) {
		o.maxReconnect = value
	})
}

// WithTransportType selects gRPC (the default) or REST.
func WithTransportType(transportType TransportType) Option {
	return funcOption(func(o *Options) {
		o.transportType = transportType
	})
}

// WithCheckConnection makes NewClient ping the server and fail when it does
// not answer; the answer is kept in Client.ServerInfo.
func WithCheckConnection(value bool) Option {
	return funcOption(func(o *Options) {
		o.checkConnection = value
	})
}

// WithKeepalive sets the interval of gRPC keepalive pings (default 10 s,
// which Herald permits; gRPC raises shorter intervals to 10 s). 0 or less
// turns pings off. Over REST it is the interval of the WebSocket pings of
// subscriptions and streams: a socket that stays silent for 5 s after a
// ping (or the interval, when shorter) counts as lost, and a subscription
// then reconnects. The KubeMQ reference server tolerates a ping only every
// 5 minutes; the connection then recovers on its own (gRPC doubles the
// interval when told "too_many_pings"), but turning pings off avoids the
// interruptions.
func WithKeepalive(interval time.Duration) Option {
	return funcOption(func(o *Options) {
		o.keepalive = interval
	})
}

// WithDialer makes gRPC connections with dial instead of TCP, e.g. to reach
// a server in the same process over an in-memory pipe. The address given
// by WithAddress is still what dial is called with.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return funcOption(func(o *Options) {
		o.dialer = dial
	})
}

// GetDefaultOptions returns the options a client starts from.
func GetDefaultOptions() *Options {
	return &Options{
		clientID:          DefaultClientID,
		receiveBufferSize: DefaultReceiveBufferSize,
		defaultCacheTTL:   DefaultCacheTTL,
		transportType:     TransportTypeGRPC,
		autoReconnect:     true,
		reconnectInterval: DefaultReconnectInterval,
		keepalive:         DefaultKeepalive,
	}
}

// Validate reports the first problem of the options.
func (o *Options) Validate() error {
	switch o.transportType {
	case TransportTypeGRPC:
		if o.host == "" {
			return invalidArgument("invalid host")
		}
		if o.port <= 0 {
			return invalidArgument("invalid port")
		}
	case TransportTypeRest:
		if o.restURI == "" {
			return invalidArgument("invalid address uri")
		}
	default:
		return invalidArgument("no transport type was set")
	}
	if o.receiveBufferSize < 0 {
		return invalidArgument("invalid receive buffer size")
	}
	return nil
}
