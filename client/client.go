package client

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// defaultRequestTimeout is the timeout of commands and queries built by C and Q.
const defaultRequestTimeout = 5 * time.Second

// ServerInfo is what Ping reports about the server.
type ServerInfo struct {
	Host                string
	Version             string
	ServerStartTime     int64 // Unix seconds
	ServerUpTimeSeconds int64
}

// Client is a connection to a Herald or KubeMQ server. It is safe for
// concurrent use. Build messages with its builders (E, ES, C, Q, R, QM, …),
// subscribe with its Subscribe… methods, and Close it when done.
type Client struct {
	// ServerInfo is the server's Ping answer when the client was built
	// with WithCheckConnection(true); otherwise it is empty.
	ServerInfo *ServerInfo

	opts   *Options
	t      transport // gRPC or REST
	closed atomic.Bool
	// life ends when the client closes; every goroutine of the client
	// watches it.
	life     context.Context
	stop     context.CancelFunc
	stopCtx  func() bool
	mu       sync.Mutex // orders starting goroutines against Close
	wg       sync.WaitGroup
	closeOne sync.Once
	closeErr error
}

// NewClient connects to the server the options name: over gRPC to
// WithAddress (the default), or over REST and WebSockets to WithUri with
// WithTransportType(TransportTypeRest). It does not wait for the server
// unless WithCheckConnection(true) is given: calls made while the server is
// unreachable fail with codes.Unavailable, and subscriptions keep retrying
// (see WithAutoReconnect).
//
// As in kubemq-go, the client closes itself when ctx ends: pass a context
// that lives as long as the client should (or context.Background() and call
// Close).
func NewClient(ctx context.Context, op ...Option) (*Client, error) {
	opts := GetDefaultOptions()
	for _, o := range op {
		if o != nil {
			o.apply(opts)
		}
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &Client{ServerInfo: &ServerInfo{}, opts: opts}
	if opts.transportType == TransportTypeRest {
		t, err := newRESTTransport(opts, c)
		if err != nil {
			return nil, err
		}
		c.t = t
	} else {
		conn, err := dial(opts)
		if err != nil {
			return nil, err
		}
		wire := &wireConn{cc: conn, token: opts.authToken, closed: &c.closed}
		c.t = &grpcTransport{conn: conn, wire: wire, rpc: kubemqpb.NewKubemqClient(wire)}
	}
	c.life, c.stop = context.WithCancel(context.Background())
	c.stopCtx = context.AfterFunc(ctx, func() { _ = c.Close() })
	if opts.checkConnection {
		si, err := c.Ping(ctx)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.ServerInfo = si
	}
	return c, nil
}

// Close closes the connection: running calls fail, subscriptions end and
// close their channels, and later calls return ErrClientClosed. It waits for
// the client's goroutines and is safe to call more than once.
func (c *Client) Close() error {
	c.closeOne.Do(func() {
		c.mu.Lock()
		c.closed.Store(true)
		c.mu.Unlock()
		c.stopCtx()
		c.stop()
		c.closeErr = c.t.close()
		c.wg.Wait()
	})
	return c.closeErr
}

// goroutine runs f on a goroutine the client waits for on Close; it reports
// false (and does not run f) once the client is closed.
func (c *Client) goroutine(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return false
	}
	c.wg.Go(f)
	return true
}

// check returns ErrClientClosed once the client is closed.
func (c *Client) check() error {
	if c.closed.Load() {
		return ErrClientClosed
	}
	return nil
}

// linked returns a context that ends with ctx or when the client closes.
func (c *Client) linked(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// ConnState is the state of a client's connection, as State reports it.
type ConnState int

const (
	// StateConnected: the server is reachable, or nothing has failed yet
	// (the client connects lazily).
	StateConnected ConnState = iota + 1
	// StateReconnecting: the last attempt to reach the server failed and
	// the client is trying again; calls fail with ErrUnavailable meanwhile
	// and subscriptions re-open when it is back.
	StateReconnecting
	// StateClosed: Close was called, or the context given to NewClient
	// ended.
	StateClosed
)

func (s ConnState) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return "ConnState(" + strconv.Itoa(int(s)) + ")"
}

// State reports the connection's state now. Over gRPC it follows the
// connection (connecting or failing = StateReconnecting); over REST it
// follows the last request or WebSocket dial. It does not block.
func (c *Client) State() ConnState {
	if c.closed.Load() {
		return StateClosed
	}
	return c.t.state()
}

// Ping asks the server who it is; it needs no client id.
func (c *Client) Ping(ctx context.Context) (*ServerInfo, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	res, err := c.t.ping(ctx)
	if err != nil {
		return nil, err
	}
	return &ServerInfo{
		Host:                res.Host,
		Version:             res.Version,
		ServerStartTime:     res.ServerStartTime,
		ServerUpTimeSeconds: res.ServerUpTimeSeconds,
	}, nil
}

// GetGRPCRawClient returns the generated gRPC client over the client's
// connection: it calls the wire method names (/kubemq.kubemq/…), sends the
// token, and its errors are *Error values like the client's own. Over the
// REST transport there is none: it returns ErrNotSupportedOverREST.
func (c *Client) GetGRPCRawClient() (kubemqpb.KubemqClient, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.t.raw()
}

// ClientID returns the client id the client sends when a message sets none
// (WithClientId).
func (c *Client) ClientID() string { return c.opts.clientID }

// clientID returns id, or the client's id when id is empty.
func (c *Client) clientID(id string) string {
	if id == "" {
		return c.opts.clientID
	}
	return id
}

// NewEvent returns an empty event bound to the client; see E.
func (c *Client) NewEvent() *Event { return c.E() }

// E returns an empty event bound to the client, on the default channel.
func (c *Client) E() *Event {
	return &Event{Channel: c.opts.defaultChannel, ClientId: c.opts.clientID, Tags: map[string]string{}, client: c}
}

// NewEventStore returns an empty events-store event bound to the client; see ES.
func (c *Client) NewEventStore() *EventStore { return c.ES() }

// ES returns an empty events-store event bound to the client, on the default
// channel.
func (c *Client) ES() *EventStore {
	return &EventStore{Channel: c.opts.defaultChannel, ClientId: c.opts.clientID, Tags: map[string]string{}, client: c}
}

// NewCommand returns an empty command bound to the client; see C.
func (c *Client) NewCommand() *Command { return c.C() }

// C returns an empty command bound to the client, on the default channel,
// with a 5 s timeout.
func (c *Client) C() *Command {
	return &Command{
		Channel: c.opts.defaultChannel, Timeout: defaultRequestTimeout, ClientId: c.opts.clientID,
		Tags: map[string]string{}, client: c,
	}
}

// NewQuery returns an empty query bound to the client; see Q.
func (c *Client) NewQuery() *Query { return c.Q() }

// Q returns an empty query bound to the client, on the default channel, with
// a 5 s timeout and the default cache TTL.
func (c *Client) Q() *Query {
	return &Query{
		Channel: c.opts.defaultChannel, Timeout: defaultRequestTimeout, ClientId: c.opts.clientID,
		CacheTTL: c.opts.defaultCacheTTL, Tags: map[string]string{}, client: c,
	}
}

// NewResponse returns an empty response bound to the client; see R.
func (c *Client) NewResponse() *Response { return c.R() }

// R returns an empty response to a command or query, bound to the client.
func (c *Client) R() *Response {
	return &Response{ClientId: c.opts.clientID, Tags: map[string]string{}, client: c}
}

// SetEvent binds e to the client and returns it.
func (c *Client) SetEvent(e *Event) *Event {
	e.client = c
	return e
}

// SetEventStore binds es to the client and returns it.
func (c *Client) SetEventStore(es *EventStore) *EventStore {
	es.client = c
	return es
}

// SetCommand binds cmd to the client and returns it.
func (c *Client) SetCommand(cmd *Command) *Command {
	cmd.client = c
	return cmd
}

// SetQuery binds query to the client and returns it.
func (c *Client) SetQuery(query *Query) *Query {
	query.client = c
	return query
}

// SetResponse binds response to the client and returns it.
func (c *Client) SetResponse(response *Response) *Response {
	response.client = c
	return response
}

// SetQueueMessage binds qm to the client and returns it.
func (c *Client) SetQueueMessage(qm *QueueMessage) *QueueMessage {
	qm.client = c
	qm.trace = nil
	return qm
}
