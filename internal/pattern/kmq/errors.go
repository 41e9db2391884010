// Package kmq holds the rules every KubeMQ pattern shares: the error
// catalogue with the reference server's codes and texts, channel-name and
// client-id validation, and generated ids.
package kmq

import "fmt"

// Error is a KubeMQ error: a numeric code (0 for the texts that have none)
// and its text. Error() renders them the way KubeMQ clients expect them,
// e.g. "Error 101: invalid clientID value, cannot be empty".
type Error struct {
	Code int
	Text string
	// Invalid marks a refusal of input that has no KubeMQ code (Herald's
	// own rules): the transport reports it as InvalidArgument, so clients
	// do not retry it.
	Invalid bool
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return e.Text
	}
	return fmt.Sprintf("Error %d: %s", e.Code, e.Text)
}

// Is reports whether target is an *Error with the same code (and, for
// code-less errors, the same text), so errors.Is works against the catalogue.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if e.Code != 0 || t.Code != 0 {
		return e.Code == t.Code
	}
	return e.Text == t.Text
}

// New returns an error with a code of the catalogue and a text of its own,
// for cases Herald refuses that the reference had no text for.
func New(code int, text string) *Error { return &Error{Code: code, Text: text} }

// Invalid returns a code-less refusal of input (see Error.Invalid).
func Invalid(text string) *Error { return &Error{Text: text, Invalid: true} }

// The catalogue (byte-exact texts of the reference server, typos included).
var (
	ErrEmptyClientID        = New(101, "invalid clientID value, cannot be empty")
	ErrEmptyChannel         = New(102, "invalid channel value, cannot be empty")
	ErrUnmarshalUnknown     = New(105, "error on unmarshal of unknown type")
	ErrWildcards            = New(107, "invalid channel value, no wildcards are allowed")
	ErrWhiteSpace           = New(108, "invalid channel value, no white spaces are allowed")
	ErrTimeout              = New(109, "invalid set timeout value, cannot be 0 or negative")
	ErrEmptyMessage         = New(110, "invalid message, cannot be empty")
	ErrUndefinedStoreType   = New(111, "invalid subscription type, cannot be undefined or 0")
	ErrStartSequence        = New(112, "invalid subscription type start at sequence value, cannot by 0 or negative")
	ErrStartTime            = New(113, "invalid subscription type start at time value, cannot by 0 or negative")
	ErrStartTimeDelta       = New(114, "invalid subscription type start at time delta value, cannot by 0 or negative")
	ErrEmptyRequest         = New(115, "invalid request, cannot be empty")
	ErrCacheTTL             = New(116, "invalid cache ttl value, cannot be 0 or negative")
	ErrEmptyRequestID       = New(117, "invalid request id, cannot be empty")
	ErrStoreParamsNotStore  = New(118, "event store parameters were set but subscribe type is not event store")
	ErrChannelEndsWithDot   = New(119, "invalid channel value, cannot end with `.`")
	ErrInvalidQueueName     = New(120, "invalid queue name value, cannot be empty, contains wildcards ,white spaces and end with dot")
	ErrCannotSubscribeQueue = New(121, "cannot subscribe to a queue")
	ErrMaxMessages          = New(122, "max messages should be between 1 and max message setting in kubemq config  ")
	ErrCannotAck            = New(123, "cannot ack the current message")
	ErrNoActiveMsgToAck     = New(124, "no active message to ack")
	ErrAckSequence          = New(125, "ack sequence cannot be 0 or negative")
	ErrNoActiveMsgToSend    = New(126, "no active message to send")
	ErrVisibility           = New(127, "invalid visibility time, cannot be negative or exceed setting in kubemq config")
	ErrSubscriptionActive   = New(128, "subscription to queue is already active")
	ErrVisibilityExpired    = New(129, "current visibility timer expired")
	ErrSendToQueue          = New(130, "error during send message to queue")
	ErrInvalidQueueMessage  = New(131, "invalid queue message")
	ErrStreamRequestType    = New(132, "invalid stream queue messages request type")
	ErrExpiration           = New(133, "invalid expiration seconds, exceed max expiration seconds setting in kubemq config")
	ErrMaxReceiveCount      = New(134, "invalid max received count, cannot be negative or exceed max receive count setting in kubemq config")
	ErrDelay                = New(135, "invalid delay seconds, exceed max delay seconds setting in kubemq config")
	ErrWaitTimeout          = New(136, "invalid wait timeout, value cannot be negative or exceed max wait timeout seconds setting in kubemq config")
	ErrNoActiveMsgToReject  = New(137, "no active message to reject")
	ErrNoNewMessage         = New(138, "no new message in queue, wait time expired")
	ErrRequestType          = New(206, "invalid request type")
	ErrSubscribeType        = New(207, "invalid subscribe type")
	ErrRequestTimeout       = New(301, "timeout for request message")
	ErrConnectionNotReady   = New(302, "connection not available, please retry")
	ErrInvalidResponse      = New(303, "invalid response format")
	ErrShutdown             = New(409, "server is in shutdown mode")
	ErrAccessDenied         = New(412, "access denied to resource")
	ErrAuthentication       = New(421, "authentication verification failed")
)

// AuthenticationFailed is Error 421 with the cause the reference appends,
// e.g. "Error 421: authentication verification failed, token is expired".
// errors.Is matches it against ErrAuthentication.
func AuthenticationFailed(cause string) *Error {
	return New(421, "authentication verification failed, "+cause)
}

// The code-less texts the reference (v2.3.7) sends when a call carries no
// usable credential at all, before any token is verified.
var (
	// ErrNoAuthToken: gRPC metadata without an "authorization" key.
	ErrNoAuthToken = &Error{Text: "Authorization token is not supplied"}
	// ErrNoMetadata: a gRPC call with no incoming metadata at all.
	ErrNoMetadata = &Error{Text: "Retrieving metadata is failed"}
	// ErrAuthHeader: REST or WebSocket without "Authorization: Bearer <token>".
	ErrAuthHeader = &Error{Text: "invalid authentication header"}
)

// Texts of the QueuesDownstream protocol, which carry no code (byte-exact,
// trailing spaces and typos included).
var (
	ErrTxNotFound       = New(0, "transaction is completed or transaction id not found")
	ErrRequestUnknown   = New(0, "request unknown")
	ErrAckClosed        = New(0, "cannot ack messages with closed response ")
	ErrNackClosed       = New(0, "cannot nack messages with closed response ")
	ErrRequeueClosed    = New(0, "cannot requeue messages with closed response ")
	ErrOffsetsClosed    = New(0, "cannot get active offsets with closed response ")
	ErrAckEmpty         = New(0, "cannot ack empty list of of offsets")
	ErrNackEmpty        = New(0, "cannot nack empty list of of offsets")
	ErrRequeueEmpty     = New(0, "cannot requeue empty list of of offsets")
	ErrRequeueNoChannel = New(0, "cannot requeue messages with empty channel destination ")
	ErrPollCanceled     = New(0, "context canceled during poll process")
)

// ErrInvalidAckSeq and ErrInvalidNackSeq name a sequence a downstream range
// settlement does not hold.
func ErrInvalidAckSeq(seq int64) *Error {
	return New(0, fmt.Sprintf("invalid ack sequence id %d", seq))
}

// ErrInvalidNackSeq: see ErrInvalidAckSeq.
func ErrInvalidNackSeq(seq int64) *Error {
	return New(0, fmt.Sprintf("invalid nack sequence id %d", seq))
}

// ErrNackFailed and ErrRequeueFailed report a downstream settlement that
// could not store the message's copy.
func ErrNackFailed(seq uint64, err error) *Error {
	return New(0, fmt.Sprintf("nack message with seq %d failed, %v", seq, err))
}

// ErrRequeueFailed: see ErrNackFailed.
func ErrRequeueFailed(seq uint64, err error) *Error {
	return New(0, fmt.Sprintf("re-queue message with seq %d failed, %v", seq, err))
}
