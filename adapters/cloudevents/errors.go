package cloudevents

import (
	"errors"
	"fmt"
)

// Conditions callers branch on with errors.Is. Errors of the client SDK are
// wrapped with %w as well, so errors.Is(err, client.ErrTimeout) and
// errors.Is(err, client.ErrUnavailable) work on what this package returns.
var (
	// ErrClosed: the connection, subscription, source or stream was closed.
	ErrClosed = errors.New("cloudevents: closed")
	// ErrInvalidEvent: the event fails the CloudEvents SDK's validation
	// after the missing id, source and time were filled in.
	ErrInvalidEvent = errors.New("cloudevents: invalid event")
	// ErrInvalidEventType: an event type or query operation is not a valid
	// channel name or begins with '_'. It also matches ErrInvalidName.
	ErrInvalidEventType = errors.New("cloudevents: invalid event type")
	// ErrInvalidName: a channel name derived from the configuration or an
	// event type is not valid (client.ValidateChannel refuses it; the
	// error wraps its refusal) or has a reserved prefix.
	ErrInvalidName = errors.New("cloudevents: invalid channel name")
	// ErrNotCloudEvent: a received message is not a CloudEvent in either
	// encoding.
	ErrNotCloudEvent = errors.New("cloudevents: not a cloudevent")
	// ErrNoHandlers: Listen got a nil or empty handler map.
	ErrNoHandlers = errors.New("cloudevents: no handlers")
	// ErrNilHandler: a handler in the map is nil.
	ErrNilHandler = errors.New("cloudevents: nil handler")
	// ErrInvalidOption: an option or argument is out of range (workerCount 0,
	// a negative buffer, …).
	ErrInvalidOption = errors.New("cloudevents: invalid option")
	// ErrAlreadyListening: a second Listen on one stream-routed connection
	// and group.
	ErrAlreadyListening = errors.New("cloudevents: already listening")
	// ErrDuplicateHandler: with RouteByType, a type that is already handled
	// on this connection.
	ErrDuplicateHandler = errors.New("cloudevents: duplicate handler")
	// ErrInvalidListener: a listener with a nil callback, or with neither an
	// event type nor a transaction id.
	ErrInvalidListener = errors.New("cloudevents: invalid listener")
	// ErrInvalidTransactionID: an empty transaction id where one is needed.
	ErrInvalidTransactionID = errors.New("cloudevents: invalid transaction id")
	// ErrNoResponseTypes: an empty list of response event types.
	ErrNoResponseTypes = errors.New("cloudevents: no response event types")
	// ErrUnsupported: the server or the configuration cannot give what was
	// asked (DeliveryAtLeastOnce without acked durable reads, a wildcard
	// event type with RouteByType).
	ErrUnsupported = errors.New("cloudevents: unsupported")
	// ErrTimeout: a request, response or publish ran out of time. When a
	// context deadline caused it, the error also matches
	// context.DeadlineExceeded; when the server's timeout did,
	// client.ErrTimeout.
	ErrTimeout = errors.New("cloudevents: timeout")
	// ErrNoResponders: the server said at once that nobody listens to the
	// operation. Herald and KubeMQ never do; such requests end with
	// ErrTimeout at their deadline.
	ErrNoResponders = errors.New("cloudevents: no responders")
	// ErrNotReady: Listen could not confirm within 5 s that its query
	// subscriptions were registered.
	ErrNotReady = errors.New("cloudevents: listener not ready")
	// ErrNoReply: the query handler returned without writing a reply.
	ErrNoReply = errors.New("cloudevents: no reply")
	// ErrReplyError: the responder failed (a panic, an undecodable
	// request); see ReplyError.
	ErrReplyError = errors.New("cloudevents: reply error")
	// ErrReplyAlreadySent: a second Write on a request that takes one reply.
	ErrReplyAlreadySent = errors.New("cloudevents: reply already sent")
	// ErrReplyStreamBroken: replies of a reply stream were lost.
	ErrReplyStreamBroken = errors.New("cloudevents: reply stream broken")
	// ErrPromiseClosed: Response on a promise that was closed.
	ErrPromiseClosed = errors.New("cloudevents: promise closed")
	// ErrNotAcked: InProgress outside a handler of an acknowledged listener.
	ErrNotAcked = errors.New("cloudevents: not an acknowledged delivery")
	// ErrDrainTimeout: a drain's deadline passed; see DrainError.
	ErrDrainTimeout = errors.New("cloudevents: drain timeout")
)

// ReplyError is a responder's failure reported to the requester: the
// handler panicked, or the request could not be decoded.
type ReplyError struct {
	Responder string // the responder's client id
	Message   string // its error text
}

func (e *ReplyError) Error() string {
	if e.Responder == "" {
		return "cloudevents: reply error: " + e.Message
	}
	return fmt.Sprintf("cloudevents: reply error from %s: %s", e.Responder, e.Message)
}

// Is reports whether target is ErrReplyError.
func (e *ReplyError) Is(target error) bool { return target == ErrReplyError }

// DrainError reports a drain whose deadline passed: Unfinished handlers
// were still running and had their contexts cancelled; their events were
// Returned to the group for redelivery (acknowledged listeners) or are Lost
// (the other listeners).
type DrainError struct {
	Unfinished, Returned, Lost int
}

func (e *DrainError) Error() string {
	return fmt.Sprintf("cloudevents: drain timeout: %d handler(s) unfinished, %d event(s) returned for redelivery, %d lost",
		e.Unfinished, e.Returned, e.Lost)
}

// Is reports whether target is ErrDrainTimeout.
func (e *DrainError) Is(target error) bool { return target == ErrDrainTimeout }
