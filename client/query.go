package client

import (
	"context"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// Query is a request that a responder answers with data. With a cache key,
// Herald answers repeated queries from its cache for CacheTTL.
type Query struct {
	Id       string
	Channel  string
	Metadata string
	Body     []byte
	Timeout  time.Duration // how long the server waits for a response (sent in ms)
	ClientId string
	CacheKey string
	CacheTTL time.Duration // sent in seconds, see SetCacheTTL
	Tags     map[string]string

	client *Client
	trace  *Trace
}

// NewQuery returns an empty query that is not bound to a client: send it
// with QueriesClient.Send or bind it with Client.SetQuery.
func NewQuery() *Query { return &Query{} }

// SetId sets the request id; the server generates one when it is empty.
func (q *Query) SetId(id string) *Query {
	q.Id = id
	return q
}

// SetClientId sets the sender's client id (default: the client's).
func (q *Query) SetClientId(clientId string) *Query {
	q.ClientId = clientId
	return q
}

// SetChannel sets the channel (no wildcards).
func (q *Query) SetChannel(channel string) *Query {
	q.Channel = channel
	return q
}

// SetMetadata sets the metadata; a query needs metadata or a body.
func (q *Query) SetMetadata(metadata string) *Query {
	q.Metadata = metadata
	return q
}

// SetBody sets the body; a query needs metadata or a body.
func (q *Query) SetBody(body []byte) *Query {
	q.Body = body
	return q
}

// SetTags replaces the tags with a copy of tags.
func (q *Query) SetTags(tags map[string]string) *Query {
	q.Tags = copyTags(tags)
	return q
}

// AddTag adds one tag.
func (q *Query) AddTag(key, value string) *Query {
	if q.Tags == nil {
		q.Tags = map[string]string{}
	}
	q.Tags[key] = value
	return q
}

// SetTimeout sets how long the server waits for a response; after it Send
// fails with ErrTimeout ("Error 301"). It must be at least 1 ms.
func (q *Query) SetTimeout(timeout time.Duration) *Query {
	q.Timeout = timeout
	return q
}

// SetCacheKey sets the key under which the response is cached: a later query
// on the same channel with the same key is answered from the cache
// (QueryResponse.CacheHit) without reaching a responder.
func (q *Query) SetCacheKey(cacheKey string) *Query {
	q.CacheKey = cacheKey
	return q
}

// SetCacheTTL sets how long a cached response is kept (default 15 min, see
// WithDefaultCacheTTL). It is sent in whole seconds, rounded up, which is
// what Herald, KubeMQ's documentation and its v2 and Python SDKs use
// (kubemq-go v1.9.0 sends milliseconds).
func (q *Query) SetCacheTTL(ttl time.Duration) *Query {
	q.CacheTTL = ttl
	return q
}

// AddTrace attaches a trace description to the query (kept for kubemq-go
// compatibility): with WithTracerProvider, the span of its send takes the
// trace's name and attributes; without, it is ignored.
func (q *Query) AddTrace(name string) *Trace {
	q.trace = CreateTrace(name)
	return q.trace
}

// Send sends the query and waits for the first response (or the cached
// one), or until its timeout (ErrTimeout) or ctx ends.
func (q *Query) Send(ctx context.Context) (*QueryResponse, error) {
	if q.client == nil {
		return nil, ErrNoTransportDefined
	}
	return q.client.sendQuery(ctx, q)
}

// QueryReceive is a query delivered to a responder.
type QueryReceive struct {
	Id         string
	Channel    string
	ClientId   string // the sender's
	Metadata   string
	Body       []byte
	ResponseTo string // give it to Response.SetResponseTo
	Tags       map[string]string
}

func (qr *QueryReceive) String() string {
	if qr == nil {
		return "<nil>"
	}
	return fmt.Sprintf("Id: %s, ClientId: %s, Channel: %s, Metadata: %s, Body: %s, ResponseTo: %s, Tags: %v", qr.Id, qr.ClientId, qr.Channel, qr.Metadata, string(qr.Body), qr.ResponseTo, qr.Tags)
}

// QueryResponse is the responder's (or the cache's) answer to a query.
type QueryResponse struct {
	QueryId          string
	Executed         bool
	ExecutedAt       time.Time
	Metadata         string
	ResponseClientId string
	Body             []byte
	CacheHit         bool
	Error            string // the responder's error text, when it failed
	Tags             map[string]string
}

func (qr *QueryResponse) String() string {
	if qr == nil {
		return "<nil>"
	}
	return fmt.Sprintf("QueryId: %s, Executed: %v, ExecutedAt: %s, Metadata: %s, ResponseClientId: %s, Body: %s, CacheHit: %v, Error: %s, Tags: %v", qr.QueryId, qr.Executed, qr.ExecutedAt.String(), qr.Metadata, qr.ResponseClientId, string(qr.Body), qr.CacheHit, qr.Error, qr.Tags)
}

// cacheTTLSeconds converts a cache TTL to the whole seconds on the wire.
func cacheTTLSeconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	s := math.Ceil(d.Seconds())
	if s > math.MaxInt32 {
		s = math.MaxInt32
	}
	return int32(s)
}

func (c *Client) sendQuery(ctx context.Context, q *Query) (*QueryResponse, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	req := &kubemqpb.Request{
		RequestID: q.Id, RequestTypeData: kubemqpb.Request_Query, ClientID: c.clientID(q.ClientId),
		Channel: q.Channel, Metadata: q.Metadata, Body: q.Body, Timeout: timeoutMS(q.Timeout), Tags: q.Tags,
	}
	if q.CacheKey != "" {
		ttl := q.CacheTTL
		if ttl == 0 {
			ttl = c.opts.defaultCacheTTL
		}
		req.CacheKey, req.CacheTTL = q.CacheKey, cacheTTLSeconds(ttl)
	}
	ctx, tags, span := c.startSend(ctx, sendSpan{op: "send", channel: req.Channel, clientID: req.ClientID, id: req.RequestID,
		bodySize: len(req.Body), trace: q.trace}, req.Tags)
	req.Tags = tags
	res, err := c.t.sendRequest(ctx, req)
	if err != nil {
		endSpan(span, err)
		return nil, err
	}
	linkTags(span, res.Tags)
	if span.IsRecording() {
		span.SetAttributes(attribute.Bool("herald.cache_hit", res.CacheHit))
	}
	endSpan(span, textErr(res.Error))
	return &QueryResponse{
		QueryId: res.RequestID, Executed: res.Executed, ExecutedAt: executedAt(res.Timestamp), Metadata: res.Metadata,
		ResponseClientId: res.ClientID, Body: res.Body, CacheHit: res.CacheHit, Error: res.Error, Tags: res.Tags,
	}, nil
}
