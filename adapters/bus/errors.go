package bus

import (
	"errors"
	"fmt"
	"strings"
)

// Conditions callers branch on with errors.Is. Errors of the client SDK are
// wrapped, so errors.Is(err, client.ErrTimeout) and friends hold as well.
var (
	// ErrClosed: the handle was disconnected (Disconnect, Close, Drain).
	ErrClosed = errors.New("bus: closed")
	// ErrInvalidConfig: the configuration was refused; see ConfigError.
	ErrInvalidConfig = errors.New("bus: invalid configuration")
	// ErrInvalidName: a topic, group or dead-letter topic is not a valid
	// channel name (it also matches ErrInvalidConfig when Connect reports
	// it). A refused topic wraps the refusal of client.ValidateChannel.
	ErrInvalidName = errors.New("bus: invalid name")
	// ErrUnsupported: the server lacks what the configuration requires
	// (DeliveryAtLeastOnce on a server other than Herald).
	ErrUnsupported = errors.New("bus: not supported by the server")
	// ErrConnect: the initial connection failed; see ConnectError.
	ErrConnect = errors.New("bus: cannot connect")
	// ErrWrongDirection: a writer called a read method or a reader a write
	// method.
	ErrWrongDirection = errors.New("bus: wrong direction for this handle")
	// ErrEmptyMessage: MessageWrite("") (KubeMQ refuses empty messages).
	ErrEmptyMessage = errors.New("bus: empty message")
	// ErrWriteBufferFull: a NonBlocking write found the write buffer full.
	ErrWriteBufferFull = errors.New("bus: write buffer full")
	// ErrWriteFailed: NonBlocking writes failed after they were queued; see
	// WriteError.
	ErrWriteFailed = errors.New("bus: write failed")
	// ErrWouldBlock: a NonBlocking read found nothing buffered.
	ErrWouldBlock = errors.New("bus: no message available")
	// ErrNilCallback: RegisterCB(nil).
	ErrNilCallback = errors.New("bus: nil callback")
	// ErrCallbackRegistered: RegisterCB while a callback is registered, or a
	// read while one is.
	ErrCallbackRegistered = errors.New("bus: a callback is registered")
	// ErrChannelDeleted: the topic was deleted under a reader; the handle is
	// closed.
	ErrChannelDeleted = errors.New("bus: channel deleted")
)

// ConfigError lists every problem found in a MsgBusConfig. It matches
// ErrInvalidConfig, and each problem through errors.Is / errors.As (a bad
// name matches ErrInvalidName).
type ConfigError struct {
	Problems []error
}

// Error lists the problems.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("bus: invalid configuration: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Unwrap returns the problems.
func (e *ConfigError) Unwrap() []error { return e.Problems }

// ConnectError reports a failed initial connection: the number of attempts
// made and the last failure. It matches ErrConnect and wraps Last.
type ConnectError struct {
	Attempts int
	Last     error
}

// Error names the attempts and the last failure.
func (e *ConnectError) Error() string {
	return fmt.Sprintf("bus: cannot connect after %d attempt(s): %v", e.Attempts, e.Last)
}

// Is reports whether target is ErrConnect.
func (e *ConnectError) Is(target error) bool { return target == ErrConnect }

// Unwrap returns the last failure.
func (e *ConnectError) Unwrap() error { return e.Last }

// WriteError reports NonBlocking writes that were queued but could not be
// sent: how many failed since the last Flush and the first failure. It
// matches ErrWriteFailed and wraps First.
type WriteError struct {
	Failed int
	First  error
}

// Error names the count and the first failure.
func (e *WriteError) Error() string {
	return fmt.Sprintf("bus: %d queued write(s) failed, the first: %v", e.Failed, e.First)
}

// Is reports whether target is ErrWriteFailed.
func (e *WriteError) Is(target error) bool { return target == ErrWriteFailed }

// Unwrap returns the first failure.
func (e *WriteError) Unwrap() error { return e.First }
