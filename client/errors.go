package client

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Conditions callers can test with errors.Is. Errors returned by the client
// wrap the server's error (see Error), so err.Error() keeps the server's text
// while errors.Is(err, ErrTimeout) and friends tell what kind it is.
var (
	// ErrTimeout: the call or the request ran out of time — a command or
	// query nobody answered within its timeout ("Error 301"), or a deadline
	// that expired (codes.DeadlineExceeded, which also matches
	// context.DeadlineExceeded).
	ErrTimeout = errors.New("client: timeout")
	// ErrNoResponder: the server said explicitly that no responder is
	// subscribed. KubeMQ and Herald do not: a command or query without a
	// responder fails with Error 301 after its timeout, i.e. ErrTimeout.
	ErrNoResponder = errors.New("client: no responder")
	// ErrNoResponders is ErrNoResponder under the name the adapters'
	// specification uses.
	ErrNoResponders = ErrNoResponder
	// ErrUnavailable: the server could not be reached (codes.Unavailable,
	// over REST also a failed connection or HTTP 502/503/504). The call may
	// be retried; a send that failed this way may or may not have arrived.
	ErrUnavailable = errors.New("client: server unavailable")
	// ErrUnauthorized: the token was refused or does not grant the call
	// (codes.Unauthenticated, codes.PermissionDenied, Error 412–415, 421).
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrInvalidArgument: the server (or the client, before sending)
	// refused the input — codes.InvalidArgument and the KubeMQ validation
	// errors 101–120, 122, 125, 127, 131–136, 206 and 207.
	ErrInvalidArgument = errors.New("client: invalid argument")
	// ErrChannelSealed: the channel no longer accepts messages.
	ErrChannelSealed = errors.New("client: channel is sealed")
	// ErrChannelDeleted: the channel was deleted (channel management) while
	// a subscription read it; the subscription ends instead of reconnecting,
	// which would create the channel again.
	ErrChannelDeleted = errors.New("client: channel deleted")
	// ErrClientClosed: the client was closed (Close, or the end of the
	// context given to NewClient).
	ErrClientClosed = errors.New("client: client closed")
	// ErrSubscriptionInterrupted is sent on a subscription's or stream's
	// error channel when its stream broke and it is being re-opened; the
	// error also wraps the cause.
	ErrSubscriptionInterrupted = errors.New("client: subscription interrupted, reconnecting")
)

// ErrNoTransportDefined is returned by Send on a message built without a
// client (the package-level NewEvent, NewCommand, …) that was not attached
// with Client.SetEvent and friends.
var ErrNoTransportDefined = errors.New("no transport layer defined, create object with client instance")

// ErrNoTransportConnection is kubemq-go's error for a client without a
// transport; NewClient never returns such a client.
var ErrNoTransportConnection = errors.New("no transport layer established, aborting")

// Error is an error reported by the server, either as a gRPC status or
// in-band in a response (Result.Error, SendQueueMessageResult.Error, …).
// Error() returns the original text; Unwrap gives the conditions above (for
// errors.Is) and the original error.
type Error struct {
	// Code is the gRPC status code, or codes.OK for an in-band error. Over
	// the REST transport it is the code Herald's gRPC front gives the same
	// error (Internal, or Unknown for queue calls), or the one the HTTP
	// status means (503 Unavailable, 401 Unauthenticated, 404 Unimplemented,
	// …); a server that cannot be reached is Unavailable on both.
	Code codes.Code
	// HTTPStatus is the HTTP status of a REST answer; 0 over gRPC, for
	// in-band errors, for errors a WebSocket reported, and when no answer
	// came.
	HTTPStatus int
	// Message is the server's text, e.g. "Error 301: timeout for request message".
	Message string

	kinds []error
	cause error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.cause.Error()
	}
	return e.Message
}

// Unwrap returns the conditions the error matches and the original error.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, len(e.kinds)+1)
	out = append(out, e.kinds...)
	if e.cause != nil {
		out = append(out, e.cause)
	}
	return out
}

// GRPCStatus makes status.FromError and status.Code work on the error; it is
// nil for in-band errors.
func (e *Error) GRPCStatus() *status.Status {
	if e.Code == codes.OK {
		return nil
	}
	return status.New(e.Code, e.Message)
}

var kubemqCode = regexp.MustCompile(`Error (\d{3}):`)

// kindsOf classifies a server error by its status code and text.
func kindsOf(code codes.Code, msg string) []error {
	var kinds []error
	add := func(err error) {
		for _, k := range kinds {
			if k == err {
				return
			}
		}
		kinds = append(kinds, err)
	}
	switch code {
	case codes.DeadlineExceeded:
		add(ErrTimeout)
		add(context.DeadlineExceeded)
	case codes.Canceled:
		add(context.Canceled)
	case codes.Unauthenticated, codes.PermissionDenied:
		add(ErrUnauthorized)
	case codes.InvalidArgument:
		add(ErrInvalidArgument)
	case codes.Unavailable:
		add(ErrUnavailable)
	}
	if m := kubemqCode.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		switch {
		case n == 301:
			add(ErrTimeout)
		case n >= 412 && n <= 415, n == 421:
			add(ErrUnauthorized)
		case validationCode(n):
			add(ErrInvalidArgument)
		}
	}
	lower := strings.ToLower(msg)
	if strings.HasPrefix(lower, "invalid ") {
		// Herald's own refusals without a KubeMQ code ("invalid group
		// value, …"), as the REST transport carries them: text only.
		add(ErrInvalidArgument)
	}
	if strings.Contains(lower, "no responders") || strings.Contains(lower, "no responder ") {
		add(ErrNoResponder)
	}
	if strings.Contains(lower, "channel is sealed") {
		add(ErrChannelSealed)
	}
	if strings.Contains(lower, " was removed") {
		add(ErrChannelDeleted)
	}
	return kinds
}

// validationCode reports whether a KubeMQ error code means the input was
// refused (as opposed to a state, like "no active message to ack").
func validationCode(n int) bool {
	switch {
	case n >= 101 && n <= 120:
		return n != 104 && n != 105 && n != 106
	case n == 122, n == 125, n == 127:
		return true
	case n >= 131 && n <= 136:
		return true
	case n == 206, n == 207:
		return true
	}
	return false
}

// wrapError turns an error of a gRPC call into an *Error; io.EOF, nil and
// errors already wrapped pass through unchanged. closed reports whether the
// client was closed, which turns "connection is closing" into
// ErrClientClosed.
func wrapError(err error, closed bool) error {
	if err == nil || err == io.EOF {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return &Error{Code: codes.Unknown, Message: err.Error(), kinds: kindsOf(codes.Unknown, err.Error()), cause: err}
	}
	out := &Error{Code: st.Code(), Message: st.Message(), kinds: kindsOf(st.Code(), st.Message()), cause: err}
	if closed && (st.Code() == codes.Canceled || st.Code() == codes.Unavailable) {
		out.kinds = append(out.kinds, ErrClientClosed)
	}
	return out
}

// contextError is the *Error for a call that ended with its context, as
// gRPC reports it: codes.DeadlineExceeded (ErrTimeout) or codes.Canceled,
// plus ErrClientClosed when the client was closed.
func contextError(ctxErr, cause error, closed bool) error {
	code, kinds := codes.Canceled, []error{context.Canceled}
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		code, kinds = codes.DeadlineExceeded, []error{ErrTimeout, context.DeadlineExceeded}
	}
	if closed {
		kinds = append(kinds, ErrClientClosed)
	}
	if cause == nil {
		cause = ctxErr
	}
	return &Error{Code: code, Message: ctxErr.Error(), kinds: kinds, cause: cause}
}

// InBandError returns the *Error for an error text a server reported in a
// response field (Result.Error, QueuesDownstreamResponse.Error, …), classified
// like the errors the client returns. It is for users of the raw client
// (GetGRPCRawClient).
func InBandError(text string) error {
	return &Error{Code: codes.OK, Message: text, kinds: kindsOf(codes.OK, text)}
}

func inBandError(text string) error { return InBandError(text) }

// invalidArgument is an input the client refuses before sending it.
func invalidArgument(text string) error {
	return &Error{Code: codes.OK, Message: text, kinds: []error{ErrInvalidArgument}}
}

// permanent reports whether retrying err cannot help: the input or the
// credentials were refused, or the server does not know the call.
func permanent(err error) bool {
	if errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrClientClosed) ||
		errors.Is(err, ErrChannelDeleted) {
		return true
	}
	return status.Code(err) == codes.Unimplemented
}
