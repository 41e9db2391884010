package client

import (
	"context"
	"fmt"
	"time"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// Command is a request that a responder executes; the answer says whether it
// was executed, not what it returned.
type Command struct {
	Id       string
	Channel  string
	Metadata string
	Body     []byte
	Timeout  time.Duration // how long the server waits for a response (sent in ms)
	ClientId string
	Tags     map[string]string

	client *Client
	trace  *Trace
}

// NewCommand returns an empty command that is not bound to a client: send it
// with CommandsClient.Send or bind it with Client.SetCommand.
func NewCommand() *Command { return &Command{} }

// SetId sets the request id; the server generates one when it is empty.
func (c *Command) SetId(id string) *Command {
	c.Id = id
	return c
}

// SetClientId sets the sender's client id (default: the client's).
func (c *Command) SetClientId(clientId string) *Command {
	c.ClientId = clientId
	return c
}

// SetChannel sets the channel (no wildcards).
func (c *Command) SetChannel(channel string) *Command {
	c.Channel = channel
	return c
}

// SetMetadata sets the metadata; a command needs metadata or a body.
func (c *Command) SetMetadata(metadata string) *Command {
	c.Metadata = metadata
	return c
}

// SetBody sets the body; a command needs metadata or a body.
func (c *Command) SetBody(body []byte) *Command {
	c.Body = body
	return c
}

// SetTimeout sets how long the server waits for a response; after it Send
// fails with ErrTimeout ("Error 301"). It must be at least 1 ms.
func (c *Command) SetTimeout(timeout time.Duration) *Command {
	c.Timeout = timeout
	return c
}

// SetTags replaces the tags with a copy of tags.
func (c *Command) SetTags(tags map[string]string) *Command {
	c.Tags = copyTags(tags)
	return c
}

// AddTag adds one tag.
func (c *Command) AddTag(key, value string) *Command {
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	c.Tags[key] = value
	return c
}

// AddTrace attaches a trace description to the command (kept for kubemq-go
// compatibility): with WithTracerProvider, the span of its send takes the
// trace's name and attributes; without, it is ignored.
func (c *Command) AddTrace(name string) *Trace {
	c.trace = CreateTrace(name)
	return c.trace
}

// Send sends the command and waits for the first response, or until its
// timeout (ErrTimeout) or ctx ends.
func (c *Command) Send(ctx context.Context) (*CommandResponse, error) {
	if c.client == nil {
		return nil, ErrNoTransportDefined
	}
	return c.client.sendCommand(ctx, c)
}

// CommandReceive is a command delivered to a responder.
type CommandReceive struct {
	Id         string
	ClientId   string // the sender's
	Channel    string
	Metadata   string
	Body       []byte
	ResponseTo string // give it to Response.SetResponseTo
	Tags       map[string]string
}

func (cr *CommandReceive) String() string {
	if cr == nil {
		return "<nil>"
	}
	return fmt.Sprintf("Id: %s, ClientId: %s, Channel: %s, Metadata: %s, Body: %s, ResponseTo: %s, Tags: %v", cr.Id, cr.ClientId, cr.Channel, cr.Metadata, string(cr.Body), cr.ResponseTo, cr.Tags)
}

// CommandResponse is the responder's answer to a command.
type CommandResponse struct {
	CommandId        string
	ResponseClientId string
	Executed         bool
	ExecutedAt       time.Time
	Error            string // the responder's error text, when it failed
	Tags             map[string]string
}

func (cr *CommandResponse) String() string {
	if cr == nil {
		return "<nil>"
	}
	return fmt.Sprintf("CommandId: %s, ResponseClientId: %s, Executed: %v, ExecutedAt: %s, Error: %s, Tags: %v", cr.CommandId, cr.ResponseClientId, cr.Executed, cr.ExecutedAt.String(), cr.Error, cr.Tags)
}

// timeoutMS converts a request timeout to the milliseconds on the wire.
func timeoutMS(d time.Duration) int32 {
	ms := d.Milliseconds()
	if d > 0 && ms == 0 {
		ms = 1
	}
	if ms > 1<<31-1 {
		ms = 1<<31 - 1
	}
	return int32(ms)
}

// executedAt reads Response.Timestamp, which responders fill in different
// units: Unix seconds (kubemq-go v1.9.0, Herald's SDK), or nanoseconds (the
// v2 and Python SDKs); milliseconds are recognised too.
func executedAt(ts int64) time.Time {
	switch {
	case ts <= 0:
		return time.Unix(0, 0)
	case ts < 1e11:
		return time.Unix(ts, 0)
	case ts < 1e14:
		return time.UnixMilli(ts)
	case ts < 1e17:
		return time.UnixMicro(ts)
	default:
		return time.Unix(0, ts)
	}
}

func (c *Client) sendCommand(ctx context.Context, cmd *Command) (*CommandResponse, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	req := &kubemqpb.Request{
		RequestID: cmd.Id, RequestTypeData: kubemqpb.Request_Command, ClientID: c.clientID(cmd.ClientId),
		Channel: cmd.Channel, Metadata: cmd.Metadata, Body: cmd.Body, Timeout: timeoutMS(cmd.Timeout), Tags: cmd.Tags,
	}
	ctx, tags, span := c.startSend(ctx, sendSpan{op: "send", channel: req.Channel, clientID: req.ClientID, id: req.RequestID,
		bodySize: len(req.Body), trace: cmd.trace}, req.Tags)
	req.Tags = tags
	res, err := c.t.sendRequest(ctx, req)
	if err != nil {
		endSpan(span, err)
		return nil, err
	}
	linkTags(span, res.Tags)
	endSpan(span, textErr(res.Error))
	return &CommandResponse{
		CommandId: res.RequestID, ResponseClientId: res.ClientID, Executed: res.Executed,
		ExecutedAt: executedAt(res.Timestamp), Error: res.Error, Tags: res.Tags,
	}, nil
}
