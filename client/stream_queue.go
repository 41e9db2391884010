package client

import (
	"context"
	"errors"
	"io"
	"sync"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// StreamQueueMessage receives queue messages one at a time, each in its own
// transaction: Next takes a message and keeps it invisible to other
// receivers for its visibility time, until the message is settled with Ack,
// Reject, Resend (or ResendWithNewMessage) — or the visibility expires, the
// context given to Next ends, or Close is called, which all return it to the
// queue. Then Next can be called again.
//
// A StreamQueueMessage is safe for concurrent use, but it holds one message
// at a time. Unlike kubemq-go, a client may run any number of them at once.
type StreamQueueMessage struct {
	RequestID string
	ClientID  string
	Channel   string

	client *Client
	trace  *Trace

	mu  sync.Mutex
	st  *sqmStream
	msg *QueueMessage
}

// sqmStream is the stream of one message.
type sqmStream struct {
	stream bidiStream[kubemqpb.StreamQueueMessagesRequest, kubemqpb.StreamQueueMessagesResponse]
	cancel context.CancelFunc
	res    chan *kubemqpb.StreamQueueMessagesResponse
	done   chan struct{} // closed when the stream ended; err says why
	err    error
}

// NewStreamQueueMessage returns a stream receiver bound to the client; see SQM.
func (c *Client) NewStreamQueueMessage() *StreamQueueMessage { return c.SQM() }

// SQM returns a stream receiver bound to the client.
func (c *Client) SQM() *StreamQueueMessage {
	return &StreamQueueMessage{ClientID: c.opts.clientID, client: c}
}

// SetId sets the request id sent with each request.
func (req *StreamQueueMessage) SetId(id string) *StreamQueueMessage {
	req.RequestID = id
	return req
}

// SetClientId sets the receiver's client id (default: the client's).
func (req *StreamQueueMessage) SetClientId(clientId string) *StreamQueueMessage {
	req.ClientID = clientId
	return req
}

// SetChannel sets the queue.
func (req *StreamQueueMessage) SetChannel(channel string) *StreamQueueMessage {
	req.Channel = channel
	return req
}

// AddTrace attaches a trace description (kept for kubemq-go compatibility;
// ignored: the SDK records no receive spans).
func (req *StreamQueueMessage) AddTrace(name string) *Trace {
	req.trace = CreateTrace(name)
	return req.trace
}

// Close ends the current transaction: a message held and not settled goes
// back to the tail of its queue (its receive count grows).
func (req *StreamQueueMessage) Close() {
	req.mu.Lock()
	defer req.mu.Unlock()
	req.end()
}

// end closes the stream; req.mu is held.
func (req *StreamQueueMessage) end() {
	if req.st != nil {
		req.st.cancel()
		req.st = nil
	}
	req.msg = nil
}

// Next waits up to wait seconds (0: 1 s) for a message and holds it for
// visibility seconds (0: 60 s). It fails with the server's "Error 138: no
// new message in queue, wait time expired" when none came, and with ctx's
// error when ctx ends first. The message stays held while ctx lives: a
// context that ends returns it to the queue.
func (req *StreamQueueMessage) Next(ctx context.Context, visibility, wait int32) (*QueueMessage, error) {
	c := req.client
	if c == nil {
		return nil, ErrNoTransportDefined
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	req.mu.Lock()
	defer req.mu.Unlock()
	if req.msg != nil {
		return nil, errors.New("active queue message wait for ack/reject")
	}
	req.end()
	sctx, cancel := c.linked(ctx)
	stream, err := c.t.streamQueueMessage(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	st := &sqmStream{stream: stream, cancel: cancel, res: make(chan *kubemqpb.StreamQueueMessagesResponse, 4), done: make(chan struct{})}
	if !c.goroutine(func() {
		defer close(st.done)
		for {
			r, err := stream.Recv()
			if err != nil {
				st.err = err
				return
			}
			select {
			case st.res <- r:
			case <-sctx.Done():
				st.err = sctx.Err()
				return
			}
		}
	}) {
		cancel()
		return nil, ErrClientClosed
	}
	req.st = st
	res, err := req.exchange(ctx, &kubemqpb.StreamQueueMessagesRequest{
		RequestID: req.RequestID, ClientID: c.clientID(req.ClientID), Channel: req.Channel,
		StreamRequestTypeData: kubemqpb.StreamRequestType_ReceiveMessage,
		VisibilitySeconds:     visibility, WaitTimeSeconds: wait,
	})
	if err != nil {
		req.end()
		return nil, err
	}
	if res.Message == nil {
		req.end()
		return nil, errors.New("no new queue message available")
	}
	req.msg = &QueueMessage{QueueMessage: res.Message, client: c, stream: req}
	return req.msg, nil
}

// exchange sends r on the open stream and waits for the next response, or
// until ctx ends. req.mu is held.
func (req *StreamQueueMessage) exchange(ctx context.Context, r *kubemqpb.StreamQueueMessagesRequest) (*kubemqpb.StreamQueueMessagesResponse, error) {
	st := req.st
	if st == nil {
		return nil, errors.New("no active stream, call Next first")
	}
	if err := st.stream.Send(r); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	select {
	case res := <-st.res:
		if res.IsError {
			return nil, inBandError(res.Error)
		}
		return res, nil
	case <-st.done:
		select {
		case res := <-st.res: // answered just before the stream ended
			if res.IsError {
				return nil, inBandError(res.Error)
			}
			return res, nil
		default:
		}
		if st.err == nil || st.err == io.EOF {
			return nil, errors.New("client: queue stream ended by the server")
		}
		return nil, st.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// settle sends a settlement for qm; final settlements end the transaction.
func (req *StreamQueueMessage) settle(qm *QueueMessage, r *kubemqpb.StreamQueueMessagesRequest, final bool) error {
	req.mu.Lock()
	defer req.mu.Unlock()
	if req.msg == nil || (qm != nil && req.msg != qm) {
		return errors.New("no active message, call Next first")
	}
	r.RequestID = req.RequestID
	r.ClientID = req.client.clientID(req.ClientID)
	_, err := req.exchange(context.Background(), r) // bounded by the stream's own context
	st := req.st
	ended := false
	if st != nil {
		select {
		case <-st.done:
			ended = true
		default:
		}
	}
	// A settlement that succeeded ends the transaction; so does an expired
	// visibility (the server has already requeued the message).
	if (err == nil && final) || ended || isVisibilityExpired(err) {
		req.end()
	}
	return err
}

func isVisibilityExpired(err error) bool {
	var e *Error
	return errors.As(err, &e) && kubemqCode.FindString(e.Message) == "Error 129:"
}

func (req *StreamQueueMessage) current() *QueueMessage {
	req.mu.Lock()
	defer req.mu.Unlock()
	return req.msg
}

func (req *StreamQueueMessage) ack() error {
	return req.ackMsg(req.current())
}

func (req *StreamQueueMessage) ackMsg(qm *QueueMessage) error {
	if qm == nil {
		return errors.New("no active message to ack, call Next first")
	}
	return req.settle(qm, &kubemqpb.StreamQueueMessagesRequest{
		StreamRequestTypeData: kubemqpb.StreamRequestType_AckMessage, Channel: req.Channel, RefSequence: qm.sequence(),
	}, true)
}

func (req *StreamQueueMessage) reject() error {
	qm := req.current()
	if qm == nil {
		return errors.New("no active message to reject, call Next first")
	}
	return req.settle(qm, &kubemqpb.StreamQueueMessagesRequest{
		StreamRequestTypeData: kubemqpb.StreamRequestType_RejectMessage, Channel: req.Channel, RefSequence: qm.sequence(),
	}, true)
}

func (req *StreamQueueMessage) extendVisibility(value int32) error {
	qm := req.current()
	if qm == nil {
		return errors.New("no active message to extend visibility, call Next first")
	}
	return req.settle(qm, &kubemqpb.StreamQueueMessagesRequest{
		StreamRequestTypeData: kubemqpb.StreamRequestType_ModifyVisibility, Channel: req.Channel, VisibilitySeconds: value,
	}, false)
}

func (req *StreamQueueMessage) resend(channel string) error {
	qm := req.current()
	if qm == nil {
		return errors.New("no active message to resend, call Next first")
	}
	return req.settle(qm, &kubemqpb.StreamQueueMessagesRequest{
		StreamRequestTypeData: kubemqpb.StreamRequestType_ResendMessage, Channel: channel,
	}, true)
}

// ResendWithNewMessage settles the held message by sending msg in its place
// (to msg's channel, with msg's policy) and removing the held one.
func (req *StreamQueueMessage) ResendWithNewMessage(msg *QueueMessage) error {
	qm := req.current()
	if qm == nil {
		return errors.New("no active message to resend, call Next first")
	}
	if msg == nil {
		return invalidArgument("no message to send")
	}
	return req.settle(qm, &kubemqpb.StreamQueueMessagesRequest{
		StreamRequestTypeData: kubemqpb.StreamRequestType_SendModifiedMessage, ModifiedMessage: msg.wire(req.client),
	}, true)
}

func (qm *QueueMessage) sequence() uint64 {
	if qm.QueueMessage == nil || qm.Attributes == nil {
		return 0
	}
	return qm.Attributes.Sequence
}
