package queuesstream

import "fmt"

// AckAllRequest removes the ready messages of a queue.
type AckAllRequest struct {
	requestID       string
	ClientID        string
	Channel         string
	WaitTimeSeconds int32
}

// NewAckAllRequest returns an empty ack-all request.
func NewAckAllRequest() *AckAllRequest {
	return &AckAllRequest{requestID: newID()}
}

// SetClientId sets the client id (default: the client's).
func (req *AckAllRequest) SetClientId(clientId string) *AckAllRequest {
	req.ClientID = clientId
	return req
}

// SetChannel sets the queue.
func (req *AckAllRequest) SetChannel(channel string) *AckAllRequest {
	req.Channel = channel
	return req
}

// SetWaitTimeSeconds sets the wait (at least 1; see client.AckAllQueueMessagesRequest).
func (req *AckAllRequest) SetWaitTimeSeconds(wait int) *AckAllRequest {
	req.WaitTimeSeconds = int32(wait)
	return req
}

func (req *AckAllRequest) validateAndComplete(clientId string) error {
	if req.ClientID == "" {
		req.ClientID = clientId
	}
	switch {
	case req.Channel == "":
		return invalidArgument(fmt.Errorf("ack all must have a channel"))
	case req.ClientID == "":
		return invalidArgument(fmt.Errorf("ack all must have a clientId"))
	case req.WaitTimeSeconds <= 0:
		return invalidArgument(fmt.Errorf("queues subscription must have a wait time seconds >0"))
	}
	return nil
}

// AckAllResponse tells how many messages were removed.
type AckAllResponse struct {
	RequestID        string
	AffectedMessages uint64
	IsError          bool
	Error            string
}
