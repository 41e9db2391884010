package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/client"
)

// BrokerConfig configures a Broker.
type BrokerConfig struct {
	// Address is the broker's KubeMQ gRPC address, host:port; required.
	Address string
	// ClientID names the dashboard's connections (default
	// "herald-dashboard"); events-store replays add a random suffix.
	ClientID string
	// ClientIDFor returns the pattern of client ids a token's holder may
	// declare, as the broker's authentication sees it ("*" matches any
	// run); "" or a nil ClientIDFor means any. A connection then declares
	// the pattern with its first "*" replaced by ClientID, or the pattern
	// itself when it has none (a literal identity:
	// events-store replays then take a fresh group instead of a fresh
	// client id, so that each replay starts where asked).
	ClientIDFor func(token string) string
	// Token is the broker token used for callers without one (when
	// Config.Authenticate is nil, for every caller).
	Token string
	// Info tells what the KubeMQ API cannot; nil: Nodes, Storage and
	// Traffic are derived from Ping, QueuesInfo and the channel lists.
	Info ServerInfo
	// Options are more SDK options for every connection (TLS, …).
	Options []client.Option
	// IdleTimeout closes a token's connection unused this long (default 5
	// min).
	IdleTimeout time.Duration
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
}

// Broker is the Backend that works on a KubeMQ-compatible broker through
// Herald's Go SDK, over gRPC. It keeps one SDK connection per caller token
// (see TokenFromContext), so the broker authorizes each dashboard user with
// their own token, and closes connections left unused. It is safe for
// concurrent use; Close it when done.
type Broker struct {
	cfg  BrokerConfig
	host string
	port int
	log  *slog.Logger

	mu     sync.Mutex
	conns  map[string]*conn
	closed bool
}

type conn struct {
	c        *client.Client
	ids      ids
	users    int
	lastUsed time.Time
}

var _ Backend = (*Broker)(nil)

// NewBroker returns a Broker for the broker at cfg.Address. It does not
// connect until the first call.
func NewBroker(cfg BrokerConfig) (*Broker, error) {
	host, p, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("dashboard: broker address %q: %w", cfg.Address, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("dashboard: broker address %q: bad port", cfg.Address)
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "herald-dashboard"
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Broker{cfg: cfg, host: host, port: port, log: cfg.Logger, conns: map[string]*conn{}}, nil
}

// Close closes every connection; later calls fail with client.ErrClientClosed.
func (b *Broker) Close() error {
	b.mu.Lock()
	conns := b.conns
	b.conns, b.closed = nil, true
	b.mu.Unlock()
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.c.Close())
	}
	return errors.Join(errs...)
}

// ids are the client ids one connection declares.
type ids struct {
	conn    string // the connection's
	pattern string // what the token allows, "" any
}

// clientIDs picks a connection's client id from base and the pattern its
// token allows.
func clientIDs(base, pattern string) ids {
	switch {
	case pattern == "" || pattern == "*":
		return ids{conn: base}
	case strings.Contains(pattern, "*"):
		return ids{conn: fillPattern(pattern, base), pattern: pattern}
	default:
		return ids{conn: pattern, pattern: pattern}
	}
}

// fillPattern replaces the first "*" of pattern with s and drops the
// others (a "*" also matches nothing).
func fillPattern(pattern, s string) string {
	return strings.ReplaceAll(strings.Replace(pattern, "*", s, 1), "*", "")
}

// replay returns the client id and group of a fresh events-store
// subscription: a fresh client id where the token allows any, else a
// fresh group under the one it allows.
func (i ids) replay(base string) (clientID, group string) {
	fresh := base + "-" + newID()[:12]
	switch {
	case i.pattern == "":
		return fresh, ""
	case strings.Contains(i.pattern, "*"):
		return fillPattern(i.pattern, fresh), ""
	default:
		return i.conn, fresh
	}
}

// client returns the connection for the caller's token; release gives it
// back. Connections idle for longer than IdleTimeout are closed here.
func (b *Broker) client(ctx context.Context) (c *client.Client, release func(), err error) {
	c, _, release, err = b.connection(ctx)
	return c, release, err
}

// connection is client with the client ids the connection declares.
func (b *Broker) connection(ctx context.Context) (c *client.Client, id ids, release func(), err error) {
	token := TokenFromContext(ctx)
	if token == "" {
		token = b.cfg.Token
	}
	now := time.Now()
	var idle []*client.Client
	defer func() {
		for _, c := range idle {
			_ = c.Close()
		}
	}()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ids{}, nil, client.ErrClientClosed
	}
	for t, e := range b.conns {
		if e.users == 0 && now.Sub(e.lastUsed) > b.cfg.IdleTimeout && t != token {
			idle = append(idle, e.c)
			delete(b.conns, t)
		}
	}
	e := b.conns[token]
	if e == nil {
		var pattern string
		if b.cfg.ClientIDFor != nil {
			pattern = b.cfg.ClientIDFor(token)
		}
		cids := clientIDs(b.cfg.ClientID, pattern)
		opts := append([]client.Option{
			client.WithAddress(b.host, b.port),
			client.WithClientId(cids.conn),
			client.WithTransportType(client.TransportTypeGRPC),
		}, b.cfg.Options...)
		if token != "" {
			opts = append(opts, client.WithAuthToken(token))
		}
		nc, err := client.NewClient(context.Background(), opts...)
		if err != nil {
			return nil, ids{}, nil, fmt.Errorf("dashboard: connect to %s: %w", b.cfg.Address, err)
		}
		e = &conn{c: nc, ids: cids}
		b.conns[token] = e
	}
	e.users++
	return e.c, e.ids, func() {
		b.mu.Lock()
		e.users--
		e.lastUsed = time.Now()
		b.mu.Unlock()
	}, nil
}

// newID returns a random id for messages and requests the caller left
// without one.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Nodes asks ServerInfo, or describes the one node Ping tells about.
func (b *Broker) Nodes(ctx context.Context) ([]Node, error) {
	if b.cfg.Info != nil {
		return b.cfg.Info.Nodes(ctx)
	}
	return b.pingNodes(ctx)
}

func (b *Broker) pingNodes(ctx context.Context) ([]Node, error) {
	c, release, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	si, err := c.Ping(ctx)
	if err != nil {
		return nil, err
	}
	n := Node{Host: si.Host, Version: si.Version, Role: "standalone", Clients: -1}
	if si.ServerStartTime > 0 {
		n.StartedAt = time.Unix(si.ServerStartTime, 0)
	}
	return []Node{n}, nil
}

// Storage asks ServerInfo, or adds up the queues' bytes (Partial) and
// counts the queue and events-store channels.
func (b *Broker) Storage(ctx context.Context) (Storage, error) {
	if b.cfg.Info != nil {
		return b.cfg.Info.Storage(ctx)
	}
	return b.queueStorage(ctx)
}

func (b *Broker) queueStorage(ctx context.Context) (Storage, error) {
	c, release, err := b.client(ctx)
	if err != nil {
		return Storage{}, err
	}
	defer release()
	qi, err := c.QueuesInfo(ctx, "")
	if err != nil {
		return Storage{}, err
	}
	st := Storage{Partial: true, Streams: len(qi.Queues)}
	for _, q := range qi.Queues {
		st.Bytes += uint64(max(q.Bytes, 0))
	}
	es, err := b.ListChannels(ctx, EventsStore, "")
	if err != nil {
		return Storage{}, err
	}
	st.Streams += len(es)
	return st, nil
}

// Traffic asks ServerInfo, or adds up the statistics of every channel.
func (b *Broker) Traffic(ctx context.Context) (Traffic, error) {
	if b.cfg.Info != nil {
		return b.cfg.Info.Traffic(ctx)
	}
	return b.channelTraffic(ctx)
}

func (b *Broker) channelTraffic(ctx context.Context) (Traffic, error) {
	var t Traffic
	for _, typ := range ChannelTypes {
		list, err := b.ListChannels(ctx, typ, "")
		if err != nil {
			return Traffic{}, err
		}
		for _, c := range list {
			t.MessagesIn += c.Incoming.Messages
			t.BytesIn += c.Incoming.Volume
			t.MessagesOut += c.Outgoing.Messages
			t.BytesOut += c.Outgoing.Volume
		}
	}
	return t, nil
}

// requestsChannel is where KubeMQ-compatible brokers answer channel
// management queries.
const requestsChannel = "kubemq.cluster.internal.requests"

// wireChannel is an item of a list-channels answer.
type wireChannel struct {
	Name         string       `json:"name"`
	Type         string       `json:"type"`
	LastActivity int64        `json:"lastActivity"` // Unix ms
	IsActive     bool         `json:"isActive"`
	Incoming     ChannelStats `json:"incoming"`
	Outgoing     ChannelStats `json:"outgoing"`
}

// ListChannels sends the list-channels query of KubeMQ channel management
// itself (rather than through the SDK's typed helpers) to keep all six
// statistics of every type.
func (b *Broker) ListChannels(ctx context.Context, typ ChannelType, search string) ([]Channel, error) {
	c, id, release, err := b.connection(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	tags := map[string]string{"channel_type": string(typ), "client_id": id.conn}
	if search != "" {
		tags["channel_search"] = search
	}
	resp, err := c.Q().SetId(newID()).SetChannel(requestsChannel).SetMetadata("list-channels").
		SetTags(tags).SetTimeout(10 * time.Second).Send(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s channels: %w", typ, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("list %s channels: %s", typ, resp.Error)
	}
	var wire []wireChannel
	if len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, &wire); err != nil {
			return nil, fmt.Errorf("list %s channels: the broker's answer: %w", typ, err)
		}
	}
	out := make([]Channel, 0, len(wire))
	for _, w := range wire {
		ch := Channel{Name: w.Name, Type: typ, IsActive: w.IsActive, Incoming: w.Incoming, Outgoing: w.Outgoing}
		if w.LastActivity > 0 {
			ch.LastActivity = time.UnixMilli(w.LastActivity)
		}
		out = append(out, ch)
	}
	return out, nil
}

// CreateChannel creates a channel through KubeMQ channel management.
func (b *Broker) CreateChannel(ctx context.Context, typ ChannelType, name string) error {
	c, release, err := b.client(ctx)
	if err != nil {
		return err
	}
	defer release()
	return c.CreateChannel(ctx, string(typ), name)
}

// DeleteChannel deletes a channel through KubeMQ channel management.
func (b *Broker) DeleteChannel(ctx context.Context, typ ChannelType, name string) error {
	c, release, err := b.client(ctx)
	if err != nil {
		return err
	}
	defer release()
	return c.DeleteChannel(ctx, string(typ), name)
}

// QueueInfo describes a queue with QueuesInfo.
func (b *Broker) QueueInfo(ctx context.Context, queue string) (QueueInfo, error) {
	c, release, err := b.client(ctx)
	if err != nil {
		return QueueInfo{}, err
	}
	defer release()
	qi, err := c.QueuesInfo(ctx, queue)
	if err != nil {
		return QueueInfo{}, err
	}
	for _, q := range qi.Queues {
		if q.Name == queue {
			return QueueInfo{
				Name: q.Name, Messages: q.Messages, Bytes: q.Bytes, FirstSequence: q.FirstSequence, LastSequence: q.LastSequence,
				Sent: q.Sent, Delivered: q.Delivered, Waiting: q.Waiting, Subscribers: q.Subscribers,
			}, nil
		}
	}
	return QueueInfo{}, fmt.Errorf("%w: queue %s", ErrNotFound, queue)
}

func unixNano(ns int64) time.Time {
	if ns <= 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// SendQueueMessage sends m with its policy.
func (b *Broker) SendQueueMessage(ctx context.Context, m QueueMessage) (QueueSendResult, error) {
	c, release, err := b.client(ctx)
	if err != nil {
		return QueueSendResult{}, err
	}
	defer release()
	if m.ID == "" {
		m.ID = newID()
	}
	qm := c.QM().SetId(m.ID).SetChannel(m.Channel).SetMetadata(m.Metadata).SetBody(m.Body).SetTags(m.Tags).
		SetPolicyDelaySeconds(int(m.Policy.DelaySeconds)).SetPolicyExpirationSeconds(int(m.Policy.ExpirationSeconds)).
		SetPolicyMaxReceiveCount(int(m.Policy.MaxReceiveCount)).SetPolicyMaxReceiveQueue(m.Policy.DeadLetterQueue)
	res, err := qm.Send(ctx)
	if err != nil {
		return QueueSendResult{}, err
	}
	if err := res.Err(); err != nil {
		return QueueSendResult{}, err
	}
	return QueueSendResult{
		MessageID: res.MessageID, SentAt: unixNano(res.SentAt), ExpiresAt: unixNano(res.ExpirationAt), DelayedTo: unixNano(res.DelayedTo),
	}, nil
}

func queueMessageOf(m *client.QueueMessage) QueueMessage {
	out := QueueMessage{ID: m.MessageID, Channel: m.Channel, ClientID: m.ClientID, Metadata: m.Metadata, Body: m.Body, Tags: m.Tags}
	if p := m.Policy; p != nil {
		out.Policy = QueuePolicy{
			DelaySeconds: p.DelaySeconds, ExpirationSeconds: p.ExpirationSeconds,
			MaxReceiveCount: p.MaxReceiveCount, DeadLetterQueue: p.MaxReceiveQueue,
		}
	}
	if a := m.Attributes; a != nil {
		out.Sequence, out.Timestamp, out.ReceiveCount = a.Sequence, unixNano(a.Timestamp), a.ReceiveCount
		out.ReRoutedFrom, out.ExpiresAt, out.DelayedTo = a.ReRoutedFromQueue, unixNano(a.ExpirationAt), unixNano(a.DelayedTo)
	}
	if out.Body == nil {
		out.Body = []byte{}
	}
	return out
}

func (b *Broker) receive(ctx context.Context, queue string, max int, peek bool) ([]QueueMessage, error) {
	c, release, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := c.RQM().SetId(newID()).SetChannel(queue).SetMaxNumberOfMessages(max).SetWaitTimeSeconds(1).SetIsPeak(peek).Send(ctx)
	if err != nil {
		return nil, err
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	out := make([]QueueMessage, 0, len(res.Messages))
	for _, m := range res.Messages {
		out = append(out, queueMessageOf(m))
	}
	return out, nil
}

// PeekQueue shows up to max messages (a receive with IsPeak).
func (b *Broker) PeekQueue(ctx context.Context, queue string, max int) ([]QueueMessage, error) {
	return b.receive(ctx, queue, max, true)
}

// PullQueue takes up to max messages (a receive).
func (b *Broker) PullQueue(ctx context.Context, queue string, max int) ([]QueueMessage, error) {
	return b.receive(ctx, queue, max, false)
}

// PurgeQueue acks every ready message.
func (b *Broker) PurgeQueue(ctx context.Context, queue string) (int64, error) {
	c, release, err := b.client(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	res, err := c.AQM().SetId(newID()).SetChannel(queue).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil {
		return 0, err
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	return int64(res.AffectedMessages), nil
}

// RequeueDeadLetters takes the dead letters one at a time in a queue
// transaction and resends each to the queue it came from, which removes it
// from dlq only once it is stored there. The broker keeps no policy with a
// dead letter, so a message moved back has none.
func (b *Broker) RequeueDeadLetters(ctx context.Context, dlq string, max int) (RequeueResult, error) {
	res := RequeueResult{To: map[string]int{}}
	info, err := b.QueueInfo(ctx, dlq)
	if errors.Is(err, ErrNotFound) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	c, release, err := b.client(ctx)
	if err != nil {
		return res, err
	}
	defer release()
	for n := min(int64(max), info.Waiting); n > 0; n-- {
		sqm := c.SQM().SetId(newID()).SetChannel(dlq)
		m, err := sqm.Next(ctx, 30, 1)
		if err != nil {
			sqm.Close()
			if res.Moved > 0 && ctx.Err() == nil {
				res.Stopped = fmt.Sprintf("no more messages could be taken: %v", err) // emptied meanwhile
				break
			}
			return res, fmt.Errorf("take a dead letter from %s: %w", dlq, err)
		}
		origin := ""
		if m.Attributes != nil {
			origin = m.Attributes.ReRoutedFromQueue
		}
		if origin == "" || origin == dlq {
			// Not a dead letter: back it goes (to the tail; the broker has
			// no way to put it back in place).
			_ = m.Reject()
			sqm.Close()
			res.Stopped = fmt.Sprintf("message %s (sequence %d) has no origin queue", m.MessageID, m.Attributes.GetSequence())
			break
		}
		if err := m.Resend(origin); err != nil {
			sqm.Close()
			return res, fmt.Errorf("move message %s to %s: %w", m.MessageID, origin, err)
		}
		sqm.Close()
		res.Moved++
		res.To[origin]++
	}
	return res, nil
}

// SendEvent sends an event or an events-store event.
func (b *Broker) SendEvent(ctx context.Context, e Event) (EventResult, error) {
	c, release, err := b.client(ctx)
	if err != nil {
		return EventResult{}, err
	}
	defer release()
	if e.ID == "" {
		e.ID = newID()
	}
	if !e.Store {
		err := c.E().SetId(e.ID).SetChannel(e.Channel).SetMetadata(e.Metadata).SetBody(e.Body).SetTags(e.Tags).Send(ctx)
		return EventResult{ID: e.ID}, err
	}
	res, err := c.ES().SetId(e.ID).SetChannel(e.Channel).SetMetadata(e.Metadata).SetBody(e.Body).SetTags(e.Tags).Send(ctx)
	if err != nil {
		return EventResult{}, err
	}
	if res.Err != nil {
		return EventResult{}, res.Err
	}
	id := res.Id
	if id == "" {
		id = e.ID
	}
	return EventResult{ID: id}, nil
}

// pump hands what a subscription delivers to deliver, one at a time, until
// ctx ends, deliver fails or the subscription ends. It returns the
// subscription's last error when it ended by itself.
func pump[T any](ctx context.Context, log *slog.Logger, ch <-chan T, errCh <-chan error, deliver func(T) error) error {
	var last error
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errCh:
			if errors.Is(err, client.ErrSubscriptionInterrupted) {
				log.Debug("dashboard subscription interrupted", "err", err)
				continue
			}
			last = err
		case v, open := <-ch:
			if !open {
				if ctx.Err() != nil {
					return nil
				}
				select {
				case err := <-errCh:
					last = err
				default:
				}
				if last == nil {
					last = errors.New("the subscription ended")
				}
				return last
			}
			if err := deliver(v); err != nil {
				return err
			}
		}
	}
}

// TailEvents subscribes to events, or to an events store from t.Start.
// Events-store subscriptions are durable on the broker, keyed by client id,
// so every tail uses a fresh one (the broker drops the cursor after its
// idle time).
func (b *Broker) TailEvents(ctx context.Context, t Tail, deliver func(Event) error) error {
	c, id, release, err := b.connection(ctx)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errCh := make(chan error, 8)
	if !t.Store {
		ch, err := c.SubscribeToEventsWithRequest(ctx, &client.EventsSubscription{Channel: t.Channel}, errCh)
		if err != nil {
			return err
		}
		return pump(ctx, b.log, ch, errCh, func(e *client.Event) error {
			return deliver(Event{ID: e.Id, Channel: e.Channel, ClientID: e.ClientId, Metadata: e.Metadata, Body: orEmpty(e.Body), Tags: e.Tags, Timestamp: time.Now()})
		})
	}
	var start client.SubscriptionOption
	switch t.Start {
	case StartFirst:
		start = client.StartFromFirstEvent()
	case StartLast:
		start = client.StartFromLastEvent()
	case StartSequence:
		start = client.StartFromSequence(int(t.Sequence))
	case StartTime:
		start = client.StartFromTime(t.Time)
	default:
		start = client.StartFromNewEvents()
	}
	clientID, group := id.replay(b.cfg.ClientID)
	ch, err := c.SubscribeToEventsStoreWithRequest(ctx, &client.EventsStoreSubscription{
		Channel: t.Channel, Group: group, ClientId: clientID, SubscriptionType: start,
	}, errCh)
	if err != nil {
		return err
	}
	return pump(ctx, b.log, ch, errCh, func(e *client.EventStoreReceive) error {
		return deliver(Event{
			ID: e.Id, Channel: e.Channel, Store: true, Metadata: e.Metadata, Body: orEmpty(e.Body), Tags: e.Tags,
			Sequence: e.Sequence, Timestamp: e.Timestamp,
		})
	})
}

func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SendRequest sends a command or a query and waits for its response.
func (b *Broker) SendRequest(ctx context.Context, r Request) (Response, error) {
	c, release, err := b.client(ctx)
	if err != nil {
		return Response{}, err
	}
	defer release()
	if r.ID == "" {
		r.ID = newID()
	}
	if r.Type == Commands {
		res, err := c.C().SetId(r.ID).SetChannel(r.Channel).SetMetadata(r.Metadata).SetBody(r.Body).SetTags(r.Tags).SetTimeout(r.Timeout).Send(ctx)
		if err != nil {
			return Response{}, err
		}
		return Response{
			RequestID: orString(res.CommandId, r.ID), ResponderID: res.ResponseClientId, Executed: res.Executed,
			ExecutedAt: nonZeroTime(res.ExecutedAt), Error: res.Error, Tags: res.Tags,
		}, nil
	}
	res, err := c.Q().SetId(r.ID).SetChannel(r.Channel).SetMetadata(r.Metadata).SetBody(r.Body).SetTags(r.Tags).SetTimeout(r.Timeout).Send(ctx)
	if err != nil {
		return Response{}, err
	}
	return Response{
		RequestID: orString(res.QueryId, r.ID), ResponderID: res.ResponseClientId, Executed: res.Executed,
		ExecutedAt: nonZeroTime(res.ExecutedAt), Error: res.Error, Metadata: res.Metadata, Body: res.Body,
		Tags: res.Tags, CacheHit: res.CacheHit,
	}, nil
}

func orString(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func nonZeroTime(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t
}

// MonitorRequests subscribes without a group and never responds, so
// responders still answer every request.
func (b *Broker) MonitorRequests(ctx context.Context, typ ChannelType, channel string, deliver func(Request) error) error {
	c, release, err := b.client(ctx)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errCh := make(chan error, 8)
	if typ == Commands {
		ch, err := c.SubscribeToCommands(ctx, channel, "", errCh)
		if err != nil {
			return err
		}
		return pump(ctx, b.log, ch, errCh, func(r *client.CommandReceive) error {
			return deliver(Request{ID: r.Id, Type: Commands, Channel: r.Channel, ClientID: r.ClientId, Metadata: r.Metadata,
				Body: orEmpty(r.Body), Tags: r.Tags, ReceivedAt: time.Now()})
		})
	}
	ch, err := c.SubscribeToQueries(ctx, channel, "", errCh)
	if err != nil {
		return err
	}
	return pump(ctx, b.log, ch, errCh, func(r *client.QueryReceive) error {
		return deliver(Request{ID: r.Id, Type: Queries, Channel: r.Channel, ClientID: r.ClientId, Metadata: r.Metadata,
			Body: orEmpty(r.Body), Tags: r.Tags, ReceivedAt: time.Now()})
	})
}

// ProcessNode describes the running process as a Node, with its memory,
// goroutines and CPU cores from the Go runtime: a start for a server's
// ServerInfo.Nodes. clients is the number of connected clients (-1:
// unknown).
func ProcessNode(host, version, role string, startedAt time.Time, clients int) Node {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Node{
		Host: host, Version: version, Role: role, StartedAt: startedAt,
		MemoryUsed: ms.Sys, MemoryHeap: ms.HeapAlloc, Goroutines: runtime.NumGoroutine(), CPUCores: runtime.NumCPU(),
		Clients: clients,
	}
}
