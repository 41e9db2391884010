package auth

import (
	"errors"

	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// Error is a token that failed verification. Cause says why in the words
// the reference appends to its Error 421 text, e.g. "token is expired" or
// "signature is invalid".
type Error struct {
	Cause string
	err   error // the underlying error, when there is one
}

func (e *Error) Error() string { return "auth: authentication verification failed, " + e.Cause }

// Unwrap returns the error behind Cause (for example one of golang-jwt's),
// or nil.
func (e *Error) Unwrap() error { return e.err }

// KubeMQ renders e as the reference does, for the transports to send:
// "Error 421: authentication verification failed, <cause>".
func (e *Error) KubeMQ() *kmq.Error { return kmq.AuthenticationFailed(e.Cause) }

func failed(cause string, err error) *Error { return &Error{Cause: cause, err: err} }

// Errors of Authenticate and Authorize that callers branch on.
var (
	// ErrNoToken: Authenticate was given an empty token while
	// authentication is on. The transports answer it before calling, with
	// kmq.ErrNoAuthToken (gRPC) or kmq.ErrAuthHeader (REST).
	ErrNoToken = errors.New("auth: no token")
	// ErrClientIDNotAllowed: the request declares a client id its caller's
	// identity may not use (impersonation).
	ErrClientIDNotAllowed = errors.New("auth: client id not allowed for this identity")
	// ErrAccessDenied: no rule of the access-control list grants the request.
	ErrAccessDenied = errors.New("auth: access denied")
)

// Causes of verification failures; most are golang-jwt v4's texts, which
// the reference passed through.
const (
	causeTooLong         = "token is too long"
	causeUnknownToken    = "token is not known"
	causeMalformed       = "token is malformed"
	causeSignature       = "signature is invalid"
	causeExpired         = "token is expired"
	causeNotValidYet     = "token is not valid yet"
	causeUsedBeforeIssue = "token used before issued"
	causeIssuer          = "token has invalid issuer"
	causeAudience        = "token has invalid audience"
	causeUnexpectedAlg   = "unexpected signing method: "
	causeUnknownKID      = "no key for the token's kid"
	causeNoKID           = "token has no kid and the key set has several keys"
	causeCrit            = "token has critical header extensions, none of which are supported"
	causeNoIdentity      = "token has no %s claim"
	causeBadIdentity     = "the %s claim is not a usable client id"
)
