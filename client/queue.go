package client

import (
	"context"
	"errors"
	"fmt"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client/internal/queuemsg"
)

// QueueMessage is a message of a queue: stored until one receiver takes it.
// It embeds the wire message, so its fields read as in kubemq-go
// (msg.MessageID, msg.Body, msg.Attributes.Sequence, msg.Policy, …);
// Attributes are filled on received messages only.
//
// A message received through a StreamQueueMessage is settled with Ack,
// Reject, Resend or ExtendVisibility; those fail on other messages.
type QueueMessage struct {
	*kubemqpb.QueueMessage

	client *Client
	trace  *Trace
	stream *StreamQueueMessage
}

// NewQueueMessage returns an empty queue message that is not bound to a
// client: send it with QueuesClient.Send or bind it with
// Client.SetQueueMessage.
func NewQueueMessage() *QueueMessage {
	return &QueueMessage{QueueMessage: &kubemqpb.QueueMessage{}}
}

func (qm *QueueMessage) pb() *kubemqpb.QueueMessage { return queuemsg.Of(&qm.QueueMessage) }

// set applies f to the wire message; the setters return its result.
func (qm *QueueMessage) set(f queuemsg.Field) *QueueMessage {
	queuemsg.Set(&qm.QueueMessage, f)
	return qm
}

// SetId sets the message id; the server generates one when it is empty.
// Herald stores a message sent twice with the same id to the same queue once
// within its dedup window.
func (qm *QueueMessage) SetId(id string) *QueueMessage {
	return qm.set(queuemsg.ID(id))
}

// SetClientId sets the sender's client id (default: the client's).
func (qm *QueueMessage) SetClientId(clientId string) *QueueMessage {
	return qm.set(queuemsg.ClientID(clientId))
}

// SetChannel sets the queue.
func (qm *QueueMessage) SetChannel(channel string) *QueueMessage {
	return qm.set(queuemsg.Channel(channel))
}

// SetMetadata sets the metadata; a message needs metadata or a body.
func (qm *QueueMessage) SetMetadata(metadata string) *QueueMessage {
	return qm.set(queuemsg.Metadata(metadata))
}

// SetBody sets the body; a message needs metadata or a body.
func (qm *QueueMessage) SetBody(body []byte) *QueueMessage {
	return qm.set(queuemsg.Body(body))
}

// SetTags replaces the tags with a copy of tags.
func (qm *QueueMessage) SetTags(tags map[string]string) *QueueMessage {
	return qm.set(queuemsg.Tags(tags))
}

// AddTag adds one tag.
func (qm *QueueMessage) AddTag(key, value string) *QueueMessage {
	return qm.set(queuemsg.Tag(key, value))
}

// SetPolicyExpirationSeconds sets after how many seconds the message expires
// unreceived (0: never; at most 43200 by default).
func (qm *QueueMessage) SetPolicyExpirationSeconds(sec int) *QueueMessage {
	return qm.set(queuemsg.ExpirationSeconds(sec))
}

// SetPolicyDelaySeconds sets how many seconds the message stays invisible
// after it is sent (0: none; at most 43200 by default).
func (qm *QueueMessage) SetPolicyDelaySeconds(sec int) *QueueMessage {
	return qm.set(queuemsg.DelaySeconds(sec))
}

// SetPolicyMaxReceiveCount sets how many times the message may be delivered;
// the delivery after the last failed one moves it to MaxReceiveQueue, or
// drops it when none is set (0: the server's maximum, 1024 by default).
func (qm *QueueMessage) SetPolicyMaxReceiveCount(max int) *QueueMessage {
	return qm.set(queuemsg.MaxReceiveCount(max))
}

// SetPolicyMaxReceiveQueue sets the dead-letter queue (see
// SetPolicyMaxReceiveCount).
func (qm *QueueMessage) SetPolicyMaxReceiveQueue(channel string) *QueueMessage {
	return qm.set(queuemsg.MaxReceiveQueue(channel))
}

// AddTrace attaches a trace description to the message (kept for kubemq-go
// compatibility): with WithTracerProvider, the span of Client.SendQueueMessage
// takes the trace's name and attributes; without, it is ignored.
func (qm *QueueMessage) AddTrace(name string) *Trace {
	qm.trace = CreateTrace(name)
	return qm.trace
}

// Send stores the message in its queue. A message the server refuses is
// reported in the result (IsError, Error; Err returns it as an error), as in
// kubemq-go; the error return is for failed calls.
func (qm *QueueMessage) Send(ctx context.Context) (*SendQueueMessageResult, error) {
	if qm.client == nil {
		return nil, ErrNoTransportDefined
	}
	return qm.client.SendQueueMessage(ctx, qm)
}

var errNotStreamMessage = errors.New("non-stream mode queue message ")

// Ack removes a message received with StreamQueueMessage.Next from its queue.
func (qm *QueueMessage) Ack() error {
	if qm.stream == nil {
		return errNotStreamMessage
	}
	return qm.stream.ack()
}

// Reject returns a message received with StreamQueueMessage.Next to the tail
// of its queue (its receive count grows; see SetPolicyMaxReceiveCount).
func (qm *QueueMessage) Reject() error {
	if qm.stream == nil {
		return errNotStreamMessage
	}
	return qm.stream.reject()
}

// ExtendVisibility restarts the visibility timer of a message received with
// StreamQueueMessage.Next: it stays invisible to others for value seconds
// from now.
func (qm *QueueMessage) ExtendVisibility(value int32) error {
	if qm.stream == nil {
		return errNotStreamMessage
	}
	return qm.stream.extendVisibility(value)
}

// Resend moves a message received with StreamQueueMessage.Next to the queue
// channel.
func (qm *QueueMessage) Resend(channel string) error {
	if qm.stream == nil {
		return errNotStreamMessage
	}
	return qm.stream.resend(channel)
}

func (qm *QueueMessage) String() string {
	m := qm.pb()
	return fmt.Sprintf("Id: %s, ClientId: %s, Channel: %s, Metadata: %s, Body: %s, Tags: %v, Policy: %v, Attributes: %v",
		m.MessageID, m.ClientID, m.Channel, m.Metadata, m.Body, m.Tags, m.Policy, m.Attributes)
}

// wire returns the message to send, with the client id filled in.
func (qm *QueueMessage) wire(c *Client) *kubemqpb.QueueMessage {
	return queuemsg.Wire(qm.pb(), c.opts.clientID)
}

// QueueMessages is a batch of queue messages sent in one call.
type QueueMessages struct {
	Messages []*QueueMessage

	client *Client
}

// Add appends msg to the batch.
func (qma *QueueMessages) Add(msg *QueueMessage) *QueueMessages {
	qma.Messages = append(qma.Messages, msg)
	return qma
}

// Send stores the batch: one result per message, in order. Messages may go to
// different queues; each is validated on its own (see QueueMessage.Send).
func (qma *QueueMessages) Send(ctx context.Context) ([]*SendQueueMessageResult, error) {
	if qma.client == nil {
		return nil, ErrNoTransportDefined
	}
	return qma.client.SendQueueMessages(ctx, qma.Messages)
}

// QueueMessageAttributes are the fields the server fills on a delivered
// message (kubemq-go declares them; received messages carry the wire type in
// QueueMessage.Attributes).
type QueueMessageAttributes struct {
	Timestamp         int64 // Unix ns when this copy entered the queue
	Sequence          uint64
	MD5OfBody         string
	ReceiveCount      int32
	ReRouted          bool
	ReRoutedFromQueue string
	ExpirationAt      int64 // Unix ns, or 0
	DelayedTo         int64
}

// QueueMessagePolicy is the delivery policy of a queue message (kubemq-go
// declares it; messages carry the wire type in QueueMessage.Policy).
type QueueMessagePolicy struct {
	ExpirationSeconds int32
	DelaySeconds      int32
	MaxReceiveCount   int32
	MaxReceiveQueue   string
}

// SendQueueMessageResult is the server's answer to one queue message.
type SendQueueMessageResult struct {
	MessageID    string
	SentAt       int64 // Unix ns
	ExpirationAt int64 // Unix ns, or 0
	DelayedTo    int64 // Unix ns, or 0
	IsError      bool
	Error        string
}

// Err returns the refusal of the message as an error (nil when it was
// stored).
func (r *SendQueueMessageResult) Err() error {
	if !r.IsError {
		return nil
	}
	return inBandError(r.Error)
}

func (r *SendQueueMessageResult) String() string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("MessageID: %s, SentAt: %d, ExpirationAt: %d, DelayedTo: %d, IsError: %t, Error: %s",
		r.MessageID, r.SentAt, r.ExpirationAt, r.DelayedTo, r.IsError, r.Error)
}

func sendResultFromPB(r *kubemqpb.SendQueueMessageResult) *SendQueueMessageResult {
	return &SendQueueMessageResult{
		MessageID: r.MessageID, SentAt: r.SentAt, ExpirationAt: r.ExpirationAt, DelayedTo: r.DelayedTo,
		IsError: r.IsError, Error: r.Error,
	}
}

// NewQueueMessage returns an empty queue message bound to the client; see QM.
func (c *Client) NewQueueMessage() *QueueMessage { return c.QM() }

// QM returns an empty queue message bound to the client.
func (c *Client) QM() *QueueMessage {
	return &QueueMessage{
		QueueMessage: &kubemqpb.QueueMessage{
			ClientID: c.opts.clientID, Tags: map[string]string{}, Policy: &kubemqpb.QueueMessagePolicy{},
		},
		client: c,
	}
}

// NewQueueMessages returns an empty batch bound to the client; see QMB.
func (c *Client) NewQueueMessages() *QueueMessages { return c.QMB() }

// QMB returns an empty batch of queue messages bound to the client.
func (c *Client) QMB() *QueueMessages {
	return &QueueMessages{Messages: []*QueueMessage{}, client: c}
}

// SendQueueMessage stores msg; see QueueMessage.Send.
func (c *Client) SendQueueMessage(ctx context.Context, msg *QueueMessage) (*SendQueueMessageResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	pb := msg.wire(c)
	ctx, tags, span := c.startSend(ctx, sendSpan{op: "send", channel: pb.Channel, clientID: pb.ClientID, id: pb.MessageID,
		bodySize: len(pb.Body), trace: msg.trace}, pb.Tags)
	pb.Tags = tags
	res, err := c.t.sendQueueMessage(ctx, pb)
	if err != nil {
		endSpan(span, err)
		return nil, err
	}
	out := sendResultFromPB(res)
	endSpan(span, out.Err())
	return out, nil
}

// SendQueueMessages stores a batch; see QueueMessages.Send. An empty batch
// is refused by the server ("empty messages batch").
func (c *Client) SendQueueMessages(ctx context.Context, msgs []*QueueMessage) ([]*SendQueueMessageResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	batch := &kubemqpb.QueueMessagesBatchRequest{BatchID: newID(), Messages: make([]*kubemqpb.QueueMessage, 0, len(msgs))}
	channel := ""
	for i, m := range msgs {
		pb := m.wire(c)
		batch.Messages = append(batch.Messages, pb)
		if i == 0 || pb.Channel == channel {
			channel = pb.Channel
		} else {
			channel = "" // several queues: no destination in the span's name
		}
	}
	ctx, _, span := c.startSend(ctx, sendSpan{op: "send", channel: channel, clientID: c.opts.clientID, id: batch.BatchID, batch: len(msgs)}, nil)
	for _, pb := range batch.Messages {
		pb.Tags = injectTags(ctx, c.opts.propagator, pb.Tags)
	}
	res, err := c.t.sendQueueMessagesBatch(ctx, batch)
	if err != nil {
		endSpan(span, err)
		return nil, err
	}
	out := make([]*SendQueueMessageResult, 0, len(res.Results))
	var failed error
	for _, r := range res.Results {
		out = append(out, sendResultFromPB(r))
		if r.IsError && failed == nil {
			failed = inBandError(r.Error)
		}
	}
	endSpan(span, failed)
	return out, nil
}

// ReceiveQueueMessagesRequest takes (or, with IsPeak, shows) messages of a
// queue.
type ReceiveQueueMessagesRequest struct {
	RequestID           string
	ClientID            string
	Channel             string
	MaxNumberOfMessages int32 // 1…1024
	WaitTimeSeconds     int32 // 0 means 1 s
	IsPeak              bool

	client *Client
	trace  *Trace
}

// NewReceiveQueueMessagesRequest returns an empty receive request that is
// not bound to a client (use Client.RQM for one that is).
func NewReceiveQueueMessagesRequest() *ReceiveQueueMessagesRequest {
	return &ReceiveQueueMessagesRequest{}
}

// SetId sets the request id; the server generates one when it is empty.
func (req *ReceiveQueueMessagesRequest) SetId(id string) *ReceiveQueueMessagesRequest {
	req.RequestID = id
	return req
}

// SetClientId sets the receiver's client id (default: the client's).
func (req *ReceiveQueueMessagesRequest) SetClientId(clientId string) *ReceiveQueueMessagesRequest {
	req.ClientID = clientId
	return req
}

// SetChannel sets the queue.
func (req *ReceiveQueueMessagesRequest) SetChannel(channel string) *ReceiveQueueMessagesRequest {
	req.Channel = channel
	return req
}

// SetMaxNumberOfMessages sets how many messages to take at most.
func (req *ReceiveQueueMessagesRequest) SetMaxNumberOfMessages(max int) *ReceiveQueueMessagesRequest {
	req.MaxNumberOfMessages = int32(max)
	return req
}

// SetWaitTimeSeconds sets how long the server waits to fill the request: it
// answers when it holds MaxNumberOfMessages messages or when the wait is
// over, whichever comes first.
func (req *ReceiveQueueMessagesRequest) SetWaitTimeSeconds(wait int) *ReceiveQueueMessagesRequest {
	req.WaitTimeSeconds = int32(wait)
	return req
}

// SetIsPeak makes the request show messages without taking them.
func (req *ReceiveQueueMessagesRequest) SetIsPeak(value bool) *ReceiveQueueMessagesRequest {
	req.IsPeak = value
	return req
}

// AddTrace attaches a trace description to the request (kept for kubemq-go
// compatibility; ignored: the SDK records no receive spans).
func (req *ReceiveQueueMessagesRequest) AddTrace(name string) *Trace {
	req.trace = CreateTrace(name)
	return req.trace
}

// Send receives (or peeks). Taken messages are removed from the queue; a
// request the server refuses is reported in the response (IsError, Error;
// Err returns it as an error). Give ctx more time than WaitTimeSeconds.
func (req *ReceiveQueueMessagesRequest) Send(ctx context.Context) (*ReceiveQueueMessagesResponse, error) {
	if req.client == nil {
		return nil, ErrNoTransportDefined
	}
	return req.client.ReceiveQueueMessages(ctx, req)
}

// Complete fills ClientID from opts when it is empty.
func (req *ReceiveQueueMessagesRequest) Complete(opts *Options) *ReceiveQueueMessagesRequest {
	if req.ClientID == "" {
		req.ClientID = opts.clientID
	}
	return req
}

// Validate reports a missing channel or client id, and a wait or maximum
// below 1.
func (req *ReceiveQueueMessagesRequest) Validate() error {
	switch {
	case req.Channel == "":
		return invalidArgument("request must have a channel")
	case req.ClientID == "":
		return invalidArgument("request must have a clientId")
	case req.WaitTimeSeconds <= 0:
		return invalidArgument("request must have a wait time seconds >0")
	case req.MaxNumberOfMessages <= 0:
		return invalidArgument("request must have a max number of messages >0")
	}
	return nil
}

// ReceiveQueueMessagesResponse holds the messages a receive took (or a peek
// showed), in queue order.
type ReceiveQueueMessagesResponse struct {
	RequestID        string
	Messages         []*QueueMessage
	MessagesReceived int32
	MessagesExpired  int32
	IsPeak           bool
	IsError          bool
	Error            string
}

// Err returns the refusal of the request as an error (nil when it succeeded).
func (r *ReceiveQueueMessagesResponse) Err() error {
	if !r.IsError {
		return nil
	}
	return inBandError(r.Error)
}

// NewReceiveQueueMessagesRequest returns an empty receive request bound to
// the client; see RQM.
func (c *Client) NewReceiveQueueMessagesRequest() *ReceiveQueueMessagesRequest { return c.RQM() }

// RQM returns an empty receive request bound to the client.
func (c *Client) RQM() *ReceiveQueueMessagesRequest {
	return &ReceiveQueueMessagesRequest{ClientID: c.opts.clientID, client: c}
}

// ReceiveQueueMessages receives or peeks; see ReceiveQueueMessagesRequest.Send.
func (c *Client) ReceiveQueueMessages(ctx context.Context, req *ReceiveQueueMessagesRequest) (*ReceiveQueueMessagesResponse, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	res, err := c.t.receiveQueueMessages(ctx, &kubemqpb.ReceiveQueueMessagesRequest{
		RequestID: req.RequestID, ClientID: c.clientID(req.ClientID), Channel: req.Channel,
		MaxNumberOfMessages: req.MaxNumberOfMessages, WaitTimeSeconds: req.WaitTimeSeconds, IsPeak: req.IsPeak,
	})
	if err != nil {
		return nil, err
	}
	out := &ReceiveQueueMessagesResponse{
		RequestID: res.RequestID, Messages: make([]*QueueMessage, 0, len(res.Messages)),
		MessagesReceived: res.MessagesReceived, MessagesExpired: res.MessagesExpired, IsPeak: res.IsPeak,
		IsError: res.IsError, Error: res.Error,
	}
	for _, m := range res.Messages {
		out.Messages = append(out.Messages, &QueueMessage{QueueMessage: m, client: c})
	}
	return out, nil
}

// AckAllQueueMessagesRequest removes every ready message of a queue.
type AckAllQueueMessagesRequest struct {
	RequestID       string
	ClientID        string
	Channel         string
	WaitTimeSeconds int32

	client *Client
	trace  *Trace
}

// SetId sets the request id; the server generates one when it is empty.
func (req *AckAllQueueMessagesRequest) SetId(id string) *AckAllQueueMessagesRequest {
	req.RequestID = id
	return req
}

// SetClientId sets the client id (default: the client's).
func (req *AckAllQueueMessagesRequest) SetClientId(clientId string) *AckAllQueueMessagesRequest {
	req.ClientID = clientId
	return req
}

// SetChannel sets the queue.
func (req *AckAllQueueMessagesRequest) SetChannel(channel string) *AckAllQueueMessagesRequest {
	req.Channel = channel
	return req
}

// SetWaitTimeSeconds sets the wait KubeMQ drains the queue for (Herald
// purges at once and only checks the value: 0…3600).
func (req *AckAllQueueMessagesRequest) SetWaitTimeSeconds(wait int) *AckAllQueueMessagesRequest {
	req.WaitTimeSeconds = int32(wait)
	return req
}

// AddTrace attaches a trace description to the request (kept for kubemq-go
// compatibility; ignored: the SDK records no receive spans).
func (req *AckAllQueueMessagesRequest) AddTrace(name string) *Trace {
	req.trace = CreateTrace(name)
	return req.trace
}

// Send removes the queue's ready messages; messages held by receivers and
// delayed messages stay.
func (req *AckAllQueueMessagesRequest) Send(ctx context.Context) (*AckAllQueueMessagesResponse, error) {
	if req.client == nil {
		return nil, ErrNoTransportDefined
	}
	return req.client.AckAllQueueMessages(ctx, req)
}

// Complete fills ClientID from opts when it is empty.
func (req *AckAllQueueMessagesRequest) Complete(opts *Options) *AckAllQueueMessagesRequest {
	if req.ClientID == "" {
		req.ClientID = opts.clientID
	}
	return req
}

// Validate reports a missing channel or client id, and a wait below 1.
func (req *AckAllQueueMessagesRequest) Validate() error {
	switch {
	case req.Channel == "":
		return invalidArgument("ack all must have a channel")
	case req.ClientID == "":
		return invalidArgument("ack all must have a clientId")
	case req.WaitTimeSeconds <= 0:
		return invalidArgument("queues subscription must have a wait time seconds >0")
	}
	return nil
}

// AckAllQueueMessagesResponse tells how many messages were removed.
type AckAllQueueMessagesResponse struct {
	RequestID        string
	AffectedMessages uint64
	IsError          bool
	Error            string
}

// Err returns the refusal of the request as an error (nil when it succeeded).
func (r *AckAllQueueMessagesResponse) Err() error {
	if !r.IsError {
		return nil
	}
	return inBandError(r.Error)
}

// NewAckAllQueueMessagesRequest returns an empty ack-all request bound to the
// client; see AQM.
func (c *Client) NewAckAllQueueMessagesRequest() *AckAllQueueMessagesRequest { return c.AQM() }

// AQM returns an empty ack-all request bound to the client.
func (c *Client) AQM() *AckAllQueueMessagesRequest {
	return &AckAllQueueMessagesRequest{ClientID: c.opts.clientID, client: c}
}

// AckAllQueueMessages removes a queue's ready messages; see
// AckAllQueueMessagesRequest.Send.
func (c *Client) AckAllQueueMessages(ctx context.Context, req *AckAllQueueMessagesRequest) (*AckAllQueueMessagesResponse, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	res, err := c.t.ackAllQueueMessages(ctx, &kubemqpb.AckAllQueueMessagesRequest{
		RequestID: req.RequestID, ClientID: c.clientID(req.ClientID), Channel: req.Channel, WaitTimeSeconds: req.WaitTimeSeconds,
	})
	if err != nil {
		return nil, err
	}
	return &AckAllQueueMessagesResponse{
		RequestID: res.RequestID, AffectedMessages: res.AffectedMessages, IsError: res.IsError, Error: res.Error,
	}, nil
}

// QueueInfo describes one queue.
type QueueInfo struct {
	Name          string `json:"name"`
	Messages      int64  `json:"messages"` // in the queue now: ready and held
	Bytes         int64  `json:"bytes"`
	FirstSequence int64  `json:"first_sequence"`
	LastSequence  int64  `json:"last_sequence"`
	Sent          int64  `json:"sent"` // ever appended
	Subscribers   int    `json:"subscribers"`
	Waiting       int64  `json:"waiting"` // ready, not delivered yet
	Delivered     int64  `json:"delivered"`
}

// QueuesInfo describes the queues and their totals.
type QueuesInfo struct {
	TotalQueues int          `json:"total_queues"`
	Sent        int64        `json:"sent"`
	Waiting     int64        `json:"waiting"`
	Delivered   int64        `json:"delivered"`
	Queues      []*QueueInfo `json:"queues"`
}

// queuesInfoFromPB converts the wire QueuesInfo.
func queuesInfoFromPB(info *kubemqpb.QueuesInfo) *QueuesInfo {
	q := &QueuesInfo{}
	if info == nil {
		return q
	}
	q.TotalQueues, q.Sent, q.Waiting, q.Delivered = int(info.TotalQueue), info.Sent, info.Waiting, info.Delivered
	for _, queue := range info.Queues {
		q.Queues = append(q.Queues, &QueueInfo{
			Name: queue.Name, Messages: queue.Messages, Bytes: queue.Bytes, FirstSequence: queue.FirstSequence,
			LastSequence: queue.LastSequence, Sent: queue.Sent, Subscribers: int(queue.Subscribers),
			Waiting: queue.Waiting, Delivered: queue.Delivered,
		})
	}
	return q
}

// QueuesInfo describes the queues whose names filter lists (";"-separated
// exact names; empty: every queue).
func (c *Client) QueuesInfo(ctx context.Context, filter string) (*QueuesInfo, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	res, err := c.t.queuesInfo(ctx, &kubemqpb.QueuesInfoRequest{RequestID: newID(), QueueName: filter})
	if err != nil {
		return nil, err
	}
	return queuesInfoFromPB(res.Info), nil
}
