package queuesstream

import (
	"errors"
	"time"

	"github.com/heraldmq/herald/client"
)

// Option configures a QueuesStreamClient; pass them to
// NewQueuesStreamClient. They are the options of package client under the
// names kubemq-go's queues_stream package uses.
type Option interface {
	apply(*Options)
}

// Options is the configuration of a QueuesStreamClient.
type Options struct {
	clientOpts []client.Option
	host       string
	port       int
	clientID   string
	notify     func(msg string)
}

type funcOption func(*Options)

func (f funcOption) apply(o *Options) { f(o) }

func clientOption(opt client.Option) Option {
	return funcOption(func(o *Options) { o.clientOpts = append(o.clientOpts, opt) })
}

// GetDefaultOptions returns the options a client starts from.
func GetDefaultOptions() *Options {
	return &Options{clientID: client.DefaultClientID}
}

// Validate reports a missing host or port.
func (o *Options) Validate() error {
	if o.host == "" {
		return errors.New("invalid host")
	}
	if o.port <= 0 {
		return errors.New("invalid port")
	}
	return nil
}

// WithAddress sets the host and port of the server.
func WithAddress(host string, port int) Option {
	return funcOption(func(o *Options) {
		o.host, o.port = host, port
		o.clientOpts = append(o.clientOpts, client.WithAddress(host, port))
	})
}

// WithConnectionNotificationFunc sets a function told (on its own goroutine)
// when the upstream or downstream stream connects or disconnects.
func WithConnectionNotificationFunc(fn func(msg string)) Option {
	return funcOption(func(o *Options) { o.notify = fn })
}

// WithCredentials enables TLS with the CA certificate in certFile; see
// client.WithCredentials.
func WithCredentials(certFile, serverOverrideDomain string) Option {
	return clientOption(client.WithCredentials(certFile, serverOverrideDomain))
}

// WithCertificate enables TLS with the CA certificate given as PEM text.
func WithCertificate(certData, serverOverrideDomain string) Option {
	return clientOption(client.WithCertificate(certData, serverOverrideDomain))
}

// WithMTLS enables TLS with a client certificate; see client.WithMTLS.
func WithMTLS(certFile, keyFile, caFile string) Option {
	return clientOption(client.WithMTLS(certFile, keyFile, caFile))
}

// WithAuthToken sets the token sent as the "authorization" metadata.
func WithAuthToken(token string) Option { return clientOption(client.WithToken(token)) }

// WithToken is WithAuthToken.
func WithToken(token string) Option { return WithAuthToken(token) }

// WithClientId sets the client id of every request that has none.
func WithClientId(id string) Option {
	return funcOption(func(o *Options) {
		o.clientID = id
		o.clientOpts = append(o.clientOpts, client.WithClientId(id))
	})
}

// WithReceiveBufferSize is accepted for compatibility (see client.WithReceiveBufferSize).
func WithReceiveBufferSize(size int) Option {
	return clientOption(client.WithReceiveBufferSize(size))
}

// WithDefaultChannel is accepted for compatibility (see client.WithDefaultChannel).
func WithDefaultChannel(channel string) Option {
	return clientOption(client.WithDefaultChannel(channel))
}

// WithDefaultCacheTTL is accepted for compatibility (see client.WithDefaultCacheTTL).
func WithDefaultCacheTTL(ttl time.Duration) Option {
	return clientOption(client.WithDefaultCacheTTL(ttl))
}

// WithAutoReconnect: see client.WithAutoReconnect. The upstream and
// downstream streams are re-opened by the next Send or Poll after they broke.
func WithAutoReconnect(value bool) Option { return clientOption(client.WithAutoReconnect(value)) }

// WithReconnectInterval: see client.WithReconnectInterval.
func WithReconnectInterval(duration time.Duration) Option {
	return clientOption(client.WithReconnectInterval(duration))
}

// WithMaxReconnects: see client.WithMaxReconnects.
func WithMaxReconnects(value int) Option { return clientOption(client.WithMaxReconnects(value)) }

// WithCheckConnection makes NewQueuesStreamClient ping the server and fail
// when it does not answer.
func WithCheckConnection(value bool) Option { return clientOption(client.WithCheckConnection(value)) }

// WithKeepalive: see client.WithKeepalive.
func WithKeepalive(interval time.Duration) Option {
	return clientOption(client.WithKeepalive(interval))
}
