package netchan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
)

// DefaultPort is the port used for an address given without one.
const DefaultPort = 50000

// Defaults of the client options.
const (
	DefaultChannelPrefix  = "netchan."
	DefaultPublishTimeout = 30 * time.Second
)

// connectTimeout bounds the Ping that checks one address.
const connectTimeout = 5 * time.Second

// Option configures a Client; pass them to Dial.
type Option func(*options) error

type options struct {
	addresses      []string
	borrowed       *client.Client
	clientID       string
	token          string
	tlsCert        string
	tlsServerName  string
	prefix         string
	publishTimeout time.Duration
	assumeHerald   *bool
	logger         *slog.Logger
}

// WithAddresses sets the broker addresses, "host:port" (port default
// 50000), tried in order. Default: localhost:50000.
func WithAddresses(hostPorts ...string) Option {
	return func(o *options) error {
		for _, hp := range hostPorts {
			if _, _, err := splitAddress(hp); err != nil {
				return err
			}
		}
		o.addresses = append([]string(nil), hostPorts...)
		return nil
	}
}

// WithClient makes the Client borrow cl instead of connecting itself: cl
// is not closed by Close, and the address, token and TLS options are
// ignored.
func WithClient(cl *client.Client) Option {
	return func(o *options) error {
		if cl == nil {
			return fmt.Errorf("%w: WithClient(nil)", ErrInvalidOption)
		}
		o.borrowed = cl
		return nil
	}
}

// WithClientID sets the KubeMQ client id (default "netchan-" and a random
// suffix).
func WithClientID(id string) Option {
	return func(o *options) error {
		if id == "" {
			return fmt.Errorf("%w: empty client id", ErrInvalidOption)
		}
		o.clientID = id
		return nil
	}
}

// WithToken sets the authentication token sent with every call.
func WithToken(token string) Option {
	return func(o *options) error { o.token = token; return nil }
}

// WithTLS enables TLS, trusting the CA certificate in certFile; serverName
// overrides the name checked in the server's certificate ("" = the host).
func WithTLS(certFile, serverName string) Option {
	return func(o *options) error {
		if certFile == "" {
			return fmt.Errorf("%w: WithTLS needs a certificate file", ErrInvalidOption)
		}
		o.tlsCert, o.tlsServerName = certFile, serverName
		return nil
	}
}

// WithChannelPrefix sets the prefix of every KubeMQ channel netchan uses
// (default "netchan."); it must end with a dot.
func WithChannelPrefix(p string) Option {
	return func(o *options) error {
		if !strings.HasSuffix(p, ".") || validateChannel(p+"x") != nil {
			return fmt.Errorf("%w: channel prefix %q must be a valid name ending with a dot", ErrInvalidOption, p)
		}
		o.prefix = p
		return nil
	}
}

// WithPublishTimeout bounds how long a publish is retried until the broker
// confirms it (default 30 s).
func WithPublishTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: publish timeout %v", ErrInvalidOption, d)
		}
		o.publishTimeout = d
		return nil
	}
}

// AssumeHerald skips the Ping probe: true uses the Herald-only features
// (server-side seal, acked durable reads, listing before DeleteTopic),
// false the portable fallbacks.
func AssumeHerald(b bool) Option {
	return func(o *options) error { o.assumeHerald = &b; return nil }
}

// WithLogger sets the logger; nil (the default) discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

func splitAddress(hp string) (string, int, error) {
	if hp == "" {
		return "", 0, fmt.Errorf("%w: empty address", ErrInvalidOption)
	}
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(hp, "[]"), DefaultPort, nil
		}
		return "", 0, fmt.Errorf("%w: address %q: %w", ErrInvalidOption, hp, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%w: address %q: bad port", ErrInvalidOption, hp)
	}
	return host, port, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Client is a connection to a broker, from which network channels and
// topics are opened. It is safe for concurrent use. Close closes every
// handle it opened, then the connection (unless it was borrowed with
// WithClient).
type Client struct {
	opts options
	log  *slog.Logger

	cfgErr error // a bad address given to NewMessagingClient

	mu      sync.Mutex
	cl      *client.Client
	herald  bool
	qs      *queuesstream.QueuesStreamClient
	closed  bool
	handles map[io.Closer]struct{}
}

// MessagingClient is the name of the SeaweedFS messaging client's type.
type MessagingClient = Client

// NewMessagingClient returns a client for the given brokers ("host:port",
// port default 50000; none given → localhost:50000). It connects lazily:
// the addresses are tried in order at the first operation, whose error
// reports a failure (a *ConnectError when none answers). An invalid address
// is reported the same way.
func NewMessagingClient(brokers ...string) *Client {
	c, err := newClient([]Option{WithAddresses(brokers...)})
	if err != nil {
		c, _ = newClient(nil)
		c.cfgErr = err // reported by every call
	}
	return c
}

func newClient(opts []Option) (*Client, error) {
	o := options{prefix: DefaultChannelPrefix, publishTimeout: DefaultPublishTimeout}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(o.addresses) == 0 {
		o.addresses = []string{"localhost:" + strconv.Itoa(DefaultPort)}
	}
	if o.clientID == "" {
		if o.borrowed != nil {
			o.clientID = o.borrowed.ClientID()
		} else {
			o.clientID = "netchan-" + newID()[:12]
		}
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{opts: o, log: log.With("client_id", o.clientID), handles: map[io.Closer]struct{}{}}, nil
}

// Dial connects at once: it tries the addresses in order and returns the
// first that answers a Ping, or a *ConnectError listing every failure.
func Dial(ctx context.Context, opts ...Option) (*Client, error) {
	c, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// connHerald is conn, and whether the broker it reached is Herald.
func (c *Client) connHerald(ctx context.Context) (*client.Client, bool, error) {
	cl, err := c.conn(ctx)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return cl, c.herald, nil
}

// conn returns the connected SDK client, connecting on first use.
func (c *Client) conn(ctx context.Context) (*client.Client, error) {
	if c.cfgErr != nil {
		return nil, c.cfgErr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.cl != nil {
		return c.cl, nil
	}
	if c.opts.borrowed != nil {
		cl := c.opts.borrowed
		herald, err := c.detect(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("netchan: ping: %w", err)
		}
		c.cl, c.herald = cl, herald
		return cl, nil
	}
	ce := &ConnectError{}
	for _, addr := range c.opts.addresses {
		host, port, err := splitAddress(addr)
		if err != nil {
			return nil, err
		}
		copts := []client.Option{
			client.WithAddress(host, port),
			client.WithClientId(c.opts.clientID),
			client.WithReconnectInterval(time.Second),
		}
		if c.opts.token != "" {
			copts = append(copts, client.WithToken(c.opts.token))
		}
		if c.opts.tlsCert != "" {
			copts = append(copts, client.WithCredentials(c.opts.tlsCert, c.opts.tlsServerName))
		}
		cl, err := client.NewClient(context.Background(), copts...)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, connectTimeout)
			var si *client.ServerInfo
			si, err = cl.Ping(pctx)
			cancel()
			if err == nil {
				c.cl = cl
				c.herald = c.isHerald(si)
				c.log.Debug("netchan: connected", "address", addr, "version", si.Version, "herald", c.herald)
				return cl, nil
			}
			_ = cl.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("netchan: connect: %w", ctx.Err())
		}
		ce.Addresses = append(ce.Addresses, addr)
		ce.Errs = append(ce.Errs, err)
	}
	return nil, ce
}

func (c *Client) detect(ctx context.Context, cl *client.Client) (bool, error) {
	if c.opts.assumeHerald != nil {
		return *c.opts.assumeHerald, nil
	}
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	si, err := cl.Ping(pctx)
	if err != nil {
		return false, err
	}
	return c.isHerald(si), nil
}

func (c *Client) isHerald(si *client.ServerInfo) bool {
	if c.opts.assumeHerald != nil {
		return *c.opts.assumeHerald
	}
	return si != nil && strings.Contains(si.Version, "+herald.")
}

// queues returns the queue-stream client over the connection.
func (c *Client) queues(ctx context.Context) (*queuesstream.QueuesStreamClient, error) {
	cl, err := c.conn(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.qs == nil {
		qs, err := queuesstream.FromClient(cl)
		if err != nil {
			return nil, fmt.Errorf("netchan: queue streams: %w", err)
		}
		c.qs = qs
	}
	return c.qs, nil
}

// track registers an open handle, closed by Client.Close; it fails once
// the client is closed.
func (c *Client) track(h io.Closer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.handles[h] = struct{}{}
	return nil
}

func (c *Client) untrack(h io.Closer) {
	c.mu.Lock()
	delete(c.handles, h)
	c.mu.Unlock()
}

// Close closes every handle opened through the client (PubChannels are
// released, not sealed), then the connection unless it was borrowed. It is
// idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	handles := make([]io.Closer, 0, len(c.handles))
	for h := range c.handles {
		handles = append(handles, h)
	}
	c.mu.Unlock()
	for _, h := range handles {
		if p, ok := h.(*PubChannel); ok {
			_ = p.Release()
			continue
		}
		_ = h.Close()
	}
	c.mu.Lock()
	qs, cl := c.qs, c.cl
	c.qs, c.cl = nil, nil
	c.mu.Unlock()
	var err error
	if qs != nil {
		err = qs.Close()
	}
	if cl != nil && c.opts.borrowed == nil {
		err = errors.Join(err, cl.Close())
	}
	return err
}

// timeoutCtx applies the default timeout to a call without a context.
func (c *Client) timeoutCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.opts.publishTimeout)
}

// deleteChannel deletes one events-store channel.
func (c *Client) deleteChannel(ctx context.Context, ch string) error {
	cl, err := c.conn(ctx)
	if err != nil {
		return err
	}
	if err := cl.DeleteChannel(ctx, client.ChannelTypeEventsStore, ch); err != nil {
		if ctx.Err() == nil && errors.Is(err, client.ErrTimeout) {
			return fmt.Errorf("netchan: delete %s: %w: %w", ch, ErrUnsupported, err)
		}
		return fmt.Errorf("netchan: delete %s: %w", ch, err)
	}
	return nil
}

// DeleteChannel deletes the network channel name and its messages, with
// the publish timeout as deadline.
func (c *Client) DeleteChannel(name string) error {
	ctx, cancel := c.timeoutCtx()
	defer cancel()
	return c.DeleteChannelContext(ctx, name)
}

// DeleteChannelContext deletes the network channel name and its messages.
// Live readers end with ErrChannelDeleted. On a server without channel
// management the error matches ErrUnsupported.
func (c *Client) DeleteChannelContext(ctx context.Context, name string) error {
	ch, err := channelName(c.opts.prefix, name)
	if err != nil {
		return err
	}
	return c.deleteChannel(ctx, ch)
}
