package client

import (
	"context"
	"fmt"
	"time"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// Response is a responder's answer to a command or query.
type Response struct {
	RequestId  string // the request's Id
	ResponseTo string // the request's ResponseTo
	Metadata   string // queries only
	Body       []byte // queries only
	ClientId   string // default: the client's
	ExecutedAt time.Time
	Err        error // the execution failed: sent as Executed = false and the error's text
	Tags       map[string]string

	client *Client
	trace  *Trace
}

// NewResponse returns an empty response that is not bound to a client: send
// it with CommandsClient.Response or QueriesClient.Response, or bind it
// with Client.SetResponse.
func NewResponse() *Response { return &Response{} }

// SetRequestId sets the id of the request answered (CommandReceive.Id,
// QueryReceive.Id).
func (r *Response) SetRequestId(id string) *Response {
	r.RequestId = id
	return r
}

// SetResponseTo sets where the response goes (CommandReceive.ResponseTo,
// QueryReceive.ResponseTo).
func (r *Response) SetResponseTo(channel string) *Response {
	r.ResponseTo = channel
	return r
}

// SetMetadata sets the metadata of a query response.
func (r *Response) SetMetadata(metadata string) *Response {
	r.Metadata = metadata
	return r
}

// SetBody sets the body of a query response.
func (r *Response) SetBody(body []byte) *Response {
	r.Body = body
	return r
}

// SetTags sets the tags.
func (r *Response) SetTags(tags map[string]string) *Response {
	r.Tags = tags
	return r
}

// AddTag adds one tag.
func (r *Response) AddTag(key, value string) *Response {
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	r.Tags[key] = value
	return r
}

// SetClientId sets the responder's client id (default: the client's).
func (r *Response) SetClientId(clientId string) *Response {
	r.ClientId = clientId
	return r
}

// SetError marks the request as failed with err's text.
func (r *Response) SetError(err error) *Response {
	r.Err = err
	return r
}

// SetExecutedAt sets when the request was executed (sent in Unix seconds, as
// kubemq-go v1.9.0 sends it).
func (r *Response) SetExecutedAt(executedAt time.Time) *Response {
	r.ExecutedAt = executedAt
	return r
}

// AddTrace attaches a trace description to the response (kept for kubemq-go
// compatibility): with WithTracerProvider, the span of its send takes the
// trace's name and attributes; without, it is ignored.
func (r *Response) AddTrace(name string) *Trace {
	r.trace = CreateTrace(name)
	return r.trace
}

// Send sends the response. The server accepts it even when the requester has
// stopped waiting; only the first response to a request counts.
func (r *Response) Send(ctx context.Context) error {
	if r.client == nil {
		return ErrNoTransportDefined
	}
	return r.client.sendResponse(ctx, r)
}

func (r *Response) String() string {
	if r == nil {
		return "<nil>"
	}
	errText := ""
	if r.Err != nil {
		errText = r.Err.Error()
	}
	return fmt.Sprintf("Response: RequestId: %s, ResponseTo: %s, Metadata: %s, Body: %s, ClientId: %s, ExecutedAt: %s, Err: %s", r.RequestId, r.ResponseTo, r.Metadata, r.Body, r.ClientId, r.ExecutedAt.String(), errText)
}

func (c *Client) sendResponse(ctx context.Context, r *Response) error {
	if err := c.check(); err != nil {
		return err
	}
	res := &kubemqpb.Response{
		ClientID: c.clientID(r.ClientId), RequestID: r.RequestId, ReplyChannel: r.ResponseTo,
		Metadata: r.Metadata, Body: r.Body, Executed: true, Tags: r.Tags,
	}
	if !r.ExecutedAt.IsZero() {
		res.Timestamp = r.ExecutedAt.Unix()
	}
	if r.Err != nil {
		res.Executed, res.Error = false, r.Err.Error()
	}
	ctx, tags, span := c.startSend(ctx, sendSpan{op: "respond", clientID: res.ClientID, id: res.RequestID,
		bodySize: len(res.Body), trace: r.trace}, res.Tags)
	res.Tags = tags
	err := c.t.sendResponse(ctx, res)
	endSpan(span, err)
	return err
}
