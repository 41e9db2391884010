// Package requests is request/reply for the two KubeMQ request patterns,
// commands and queries. A request goes to every responder without a group
// and to one member of each group; the first response wins; a requester that
// gets no response within its timeout gets Error 301. Queries may carry a
// cache key: a successful response is then kept for its CacheTTL and
// later queries with the same channel and key are answered from the cache.
package requests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/envelope"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// Kind tells commands from queries; they never reach each other's responders.
// The zero Kind is invalid (Validate refuses it).
type Kind int32

// The two request kinds. Their values are stored in the engine's envelope.
const (
	Command Kind = 1
	Query   Kind = 2
)

func (k Kind) statsKind() string {
	if k == Command {
		return stats.Commands
	}
	return stats.Queries
}

func (k Kind) subject(channel string) string {
	if k == Command {
		return "c." + channel
	}
	return "r." + channel
}

// Request is a command or query.
type Request struct {
	ID           string
	Kind         Kind
	ClientID     string
	Channel      string
	Metadata     string
	Body         []byte
	ReplyChannel string // set by the service on delivery; responders echo it
	Timeout      time.Duration
	CacheKey     string
	CacheTTL     time.Duration
	Span         []byte
	Tags         map[string]string
}

// Validate checks a request to send, in the reference server's order.
func (r *Request) Validate() error {
	if r.Kind != Command && r.Kind != Query {
		return kmq.ErrRequestType
	}
	if err := kmq.ValidateClientID(r.ClientID); err != nil {
		return err
	}
	if err := kmq.ValidateChannel(r.Channel, false); err != nil {
		return err
	}
	if r.Timeout <= 0 {
		return kmq.ErrTimeout
	}
	if r.Metadata == "" && len(r.Body) == 0 {
		return kmq.ErrEmptyRequest
	}
	if r.CacheKey != "" && r.CacheTTL <= 0 {
		return kmq.ErrCacheTTL
	}
	return nil
}

func (r *Request) encode() []byte {
	w := envelope.NewWriter(len(r.Metadata) + len(r.Body) + len(r.Channel) + 96)
	w.String(r.ID)
	w.Int(int64(r.Kind))
	w.String(r.ClientID)
	w.String(r.Channel)
	w.String(r.Metadata)
	w.Blob(r.Body)
	w.Int(r.Timeout.Milliseconds())
	w.String(r.CacheKey)
	w.Int(int64(r.CacheTTL / time.Second))
	w.Blob(r.Span)
	w.Map(r.Tags)
	return w.Bytes()
}

func (r *Request) decode(b []byte) error {
	d := envelope.NewReader(b)
	r.ID = d.String()
	r.Kind = Kind(d.Int())
	r.ClientID = d.String()
	r.Channel = d.String()
	r.Metadata = d.String()
	r.Body = d.Blob()
	r.Timeout = time.Duration(d.Int()) * time.Millisecond
	r.CacheKey = d.String()
	r.CacheTTL = time.Duration(d.Int()) * time.Second
	r.Span = d.Blob()
	r.Tags = d.Map()
	return d.Err()
}

// Response answers a request.
type Response struct {
	ClientID     string
	RequestID    string
	ReplyChannel string
	Metadata     string
	Body         []byte
	CacheHit     bool
	Timestamp    int64 // as the responder sent it
	Executed     bool
	Error        string
	Span         []byte
	Tags         map[string]string
}

// Validate checks a response in the reference server's order.
func (r *Response) Validate() error {
	if err := kmq.ValidateClientID(r.ClientID); err != nil {
		return err
	}
	if err := kmq.ValidateChannel(r.ReplyChannel, false); err != nil {
		return err
	}
	if r.RequestID == "" {
		return kmq.ErrEmptyRequestID
	}
	return nil
}

func (r *Response) encode() []byte {
	w := envelope.NewWriter(len(r.Metadata) + len(r.Body) + 96)
	w.String(r.ClientID)
	w.String(r.RequestID)
	w.String(r.Metadata)
	w.Blob(r.Body)
	w.Bool(r.CacheHit)
	w.Int(r.Timestamp)
	w.Bool(r.Executed)
	w.String(r.Error)
	w.Blob(r.Span)
	w.Map(r.Tags)
	return w.Bytes()
}

func (r *Response) decode(b []byte) error {
	d := envelope.NewReader(b)
	r.ClientID = d.String()
	r.RequestID = d.String()
	r.Metadata = d.String()
	r.Body = d.Blob()
	r.CacheHit = d.Bool()
	r.Timestamp = d.Int()
	r.Executed = d.Bool()
	r.Error = d.String()
	r.Span = d.Blob()
	r.Tags = d.Map()
	return d.Err()
}

// Subscription registers a responder.
type Subscription struct {
	Kind     Kind
	ClientID string
	Channel  string // may hold `*` and `>`
	Group    string
}

// Validate checks a subscription in the reference server's order.
func (s *Subscription) Validate() error {
	if s.Kind != Command && s.Kind != Query {
		return kmq.ErrSubscribeType
	}
	if err := kmq.ValidateClientID(s.ClientID); err != nil {
		return err
	}
	if err := kmq.ValidateChannel(s.Channel, true); err != nil {
		return err
	}
	return kmq.ValidateGroup(s.Group)
}

// Engine is what the requests pattern needs from the engine.
type Engine interface {
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
	Reply(reply string, data []byte) error
	Subscribe(subject, queue string, fn func(engine.Msg)) (engine.Sub, error)
}

// Cache keeps query responses; *engine.KV implements it.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Config tunes the service.
type Config struct {
	Buffer    int           // requests waiting for a slow responder (default 100)
	WriteWait time.Duration // wait for room before a request is dropped (default 2 s)
	// CacheMaxTTL caps a query's CacheTTL (default 24 h).
	CacheMaxTTL time.Duration
	// MaxTimeout caps a request's Timeout (default 1 h): a request asking
	// for longer gets Error 301 once MaxTimeout has passed.
	MaxTimeout time.Duration
	Logger     *slog.Logger
	Stats      *stats.Registry // nil: no counters
}

// DefaultMaxTimeout is Config.MaxTimeout's default.
const DefaultMaxTimeout = time.Hour

// Service routes requests to responders and responses back.
type Service struct {
	eng   Engine
	cache Cache
	cfg   Config
	log   *slog.Logger

	internal map[string]Handler // reserved channels answered by Herald itself
}

// Handler answers requests sent to a reserved channel.
type Handler func(ctx context.Context, req *Request) *Response

// Handle makes Herald itself answer the queries sent to channel (such as
// KubeMQ's kubemq.cluster.internal.requests); they never reach subscribers,
// so no client can take the channel over. Call it before serving.
func (s *Service) Handle(channel string, h Handler) {
	if s.internal == nil {
		s.internal = make(map[string]Handler)
	}
	s.internal[channel] = h
}

// New returns a requests service; cache may be nil (no query cache).
func New(eng Engine, cache Cache, cfg Config) *Service {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 100
	}
	if cfg.WriteWait <= 0 {
		cfg.WriteWait = 2 * time.Second
	}
	if cfg.CacheMaxTTL <= 0 {
		cfg.CacheMaxTTL = 24 * time.Hour
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{eng: eng, cache: cache, cfg: cfg, log: log}
}

func cacheKey(channel, key string) string {
	sum := sha256.Sum256([]byte(channel + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// Send delivers req to the channel's responders and waits up to its timeout
// (at most Config.MaxTimeout, which responders then see as its timeout) for
// the first response. Validation failures and the timeout are *kmq.Error; a
// cancelled ctx returns ctx.Err().
func (s *Service) Send(ctx context.Context, req *Request) (*Response, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	req.Timeout = min(req.Timeout, s.cfg.MaxTimeout)
	if req.ID == "" {
		req.ID = kmq.NewID()
	}
	if h := s.internal[req.Channel]; h != nil && req.Kind == Query {
		resp := h(ctx, req)
		resp.RequestID = req.ID
		return resp, nil
	}
	kind := req.Kind.statsKind()
	s.cfg.Stats.In(kind, req.Channel, req.ClientID, len(req.Body))
	cached := req.Kind == Query && req.CacheKey != "" && s.cache != nil
	var key string
	if cached {
		key = cacheKey(req.Channel, req.CacheKey)
		if b, ok, err := s.cache.Get(ctx, key); err == nil && ok {
			var resp Response
			if resp.decode(b) == nil {
				resp.CacheHit = true
				s.cfg.Stats.Response(kind, req.Channel, "")
				return &resp, nil
			}
		} else if err != nil {
			s.log.Warn("query cache read failed", "channel", req.Channel, "err", err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	b, err := s.eng.Request(wctx, req.Kind.subject(req.Channel), req.encode())
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.cfg.Stats.Error(kind, stats.Send, req.Channel, req.ClientID)
		if errors.Is(err, engine.ErrNoReply) {
			return nil, kmq.ErrRequestTimeout
		}
		return nil, err
	}
	resp := &Response{}
	if err := resp.decode(b); err != nil {
		return nil, kmq.ErrInvalidResponse
	}
	s.cfg.Stats.Response(kind, req.Channel, resp.ClientID)
	if !resp.Executed || resp.Error != "" {
		s.cfg.Stats.Error(kind, stats.Send, req.Channel, req.ClientID)
	}
	if req.Kind == Command {
		resp.Metadata, resp.Body, resp.CacheHit = "", nil, false
	} else if cached && resp.Executed && resp.Error == "" {
		ttl := min(req.CacheTTL, s.cfg.CacheMaxTTL)
		if err := s.cache.Create(ctx, key, b, ttl); err != nil {
			s.log.Warn("query cache write failed", "channel", req.Channel, "err", err)
		}
	}
	return resp, nil
}

// Respond routes a responder's response to the waiting requester. A reply
// channel that no requester waits on is accepted and ignored.
func (s *Service) Respond(resp *Response) error {
	if err := resp.Validate(); err != nil {
		return err
	}
	return s.eng.Reply(resp.ReplyChannel, resp.encode())
}

// Subscribe delivers requests to send until ctx ends (then it returns nil)
// or send fails. A request that cannot enter a full buffer within
// Config.WriteWait is dropped (its requester times out).
func (s *Service) Subscribe(ctx context.Context, sub *Subscription, send func(*Request) error) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	buf := kmq.NewBuffer(s.cfg.Buffer, s.cfg.WriteWait, func(req *Request, first bool) {
		if first { // once per stall, not once per request
			s.log.Warn("request dropped due to slow responder; dropping until it catches up", "channel", req.Channel, "client_id", sub.ClientID)
		}
	})
	defer buf.Close()
	es, err := s.eng.Subscribe(sub.Kind.subject(sub.Channel), sub.Group, func(m engine.Msg) {
		req := &Request{}
		if err := req.decode(m.Data); err != nil {
			s.log.Warn("undecodable request dropped", "subject", m.Subject)
			return
		}
		req.ReplyChannel = m.Reply
		buf.Put(req)
	})
	if err != nil {
		if errors.Is(err, engine.ErrBadSubject) {
			return kmq.ErrWhiteSpace
		}
		return err
	}
	defer func() {
		n := es.Dropped()
		es.Unsubscribe()
		if n += buf.Dropped(); n > 0 {
			s.log.Warn("requests dropped due to slow responder", "channel", sub.Channel, "client_id", sub.ClientID, "dropped", n)
		}
	}()
	kind := sub.Kind.statsKind()
	defer s.cfg.Stats.Subscribed(kind, sub.Channel, sub.ClientID)()
	return buf.Drain(ctx, func(req *Request) error {
		if err := send(req); err != nil {
			return err
		}
		s.cfg.Stats.Out(kind, req.Channel, sub.ClientID, len(req.Body))
		return nil
	})
}
