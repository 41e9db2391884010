package queuesstream

import (
	"errors"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// PollRequest asks for messages of a queue in one transaction.
type PollRequest struct {
	Channel           string `json:"channel"`
	MaxItems          int    `json:"max_items"`          // 0: as many as the server gives
	WaitTimeout       int    `json:"wait_timeout"`       // milliseconds; below 1000 the server waits 1000
	AutoAck           bool   `json:"auto_ack"`           // remove the messages at once
	VisibilitySeconds int    `json:"visibility_seconds"` // NAck a message not settled within this time (0: never)
	OnErrorFunc       func(err error)
	OnComplete        func()
}

// NewPollRequest returns an empty poll request.
func NewPollRequest() *PollRequest { return &PollRequest{} }

// SetOnErrorFunc sets the function told about errors of the transaction that
// no call returns (a failed visibility NAck, a broken stream).
func (p *PollRequest) SetOnErrorFunc(onErrorFunc func(err error)) *PollRequest {
	p.OnErrorFunc = onErrorFunc
	return p
}

// SetOnComplete sets the function called once the transaction has ended.
func (p *PollRequest) SetOnComplete(onComplete func()) *PollRequest {
	p.OnComplete = onComplete
	return p
}

// SetChannel sets the queue.
func (p *PollRequest) SetChannel(channel string) *PollRequest {
	p.Channel = channel
	return p
}

// SetMaxItems sets how many messages to take at most.
func (p *PollRequest) SetMaxItems(maxItems int) *PollRequest {
	p.MaxItems = maxItems
	return p
}

// SetWaitTimeout sets how long, in milliseconds, the server waits to fill
// the request: it answers when it holds MaxItems messages or when the wait
// is over.
func (p *PollRequest) SetWaitTimeout(waitTimeout int) *PollRequest {
	p.WaitTimeout = waitTimeout
	return p
}

// SetAutoAck makes the poll remove the messages at once.
func (p *PollRequest) SetAutoAck(autoAck bool) *PollRequest {
	p.AutoAck = autoAck
	return p
}

// SetVisibilitySeconds sets how long a message may stay unsettled: then the
// client NAcks it (QueueMessage.ExtendVisibility pushes this back).
func (p *PollRequest) SetVisibilitySeconds(visibilitySeconds int) *PollRequest {
	p.VisibilitySeconds = visibilitySeconds
	return p
}

func (p *PollRequest) validateAndComplete(clientID string) (*kubemqpb.QueuesDownstreamRequest, error) {
	switch {
	case p.Channel == "":
		return nil, invalidArgument(errors.New("request channel cannot be empty"))
	case p.MaxItems < 0:
		return nil, invalidArgument(errors.New("request max items cannot be negative"))
	case p.WaitTimeout < 0:
		return nil, invalidArgument(errors.New("request wait timeout cannot be negative"))
	case p.VisibilitySeconds < 0:
		return nil, invalidArgument(errors.New("request visibility seconds cannot be negative"))
	case p.AutoAck && p.VisibilitySeconds > 0:
		return nil, invalidArgument(errors.New("request visibility seconds cannot be set with auto ack"))
	}
	if clientID == "" {
		clientID = newID()
	}
	return &kubemqpb.QueuesDownstreamRequest{
		RequestID: newID(), ClientID: clientID, RequestTypeData: kubemqpb.QueuesDownstreamRequestType_Get,
		Channel: p.Channel, MaxItems: int32(p.MaxItems), WaitTimeout: int32(p.WaitTimeout), AutoAck: p.AutoAck,
	}, nil
}

// PollResponse holds the messages of a poll transaction; settle them through
// its methods (AckAll, NAckAll, ReQueueAll, AckOffsets, NAckOffsets,
// ReQueueOffsets, Close) or one by one.
type PollResponse struct {
	Messages []*QueueMessage
	*responseHandler
}

func newPollResponse(messages []*kubemqpb.QueueMessage, h *responseHandler) *PollResponse {
	p := &PollResponse{responseHandler: h}
	for _, m := range messages {
		p.Messages = append(p.Messages, newQueueMessageFrom(m).setResponseHandler(h))
	}
	h.isEmptyResponse = len(p.Messages) == 0
	h.handlerMessages = p.Messages
	return p
}

// HasMessages reports whether the poll returned messages.
func (p *PollResponse) HasMessages() bool { return len(p.Messages) > 0 }
