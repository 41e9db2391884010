package netchan

import (
	"errors"
	"fmt"
	"strings"
)

// Conditions callers can test with errors.Is. Errors from the broker are
// wrapped with %w, so errors.Is(err, client.ErrTimeout) and
// errors.Is(err, client.ErrUnavailable) work as well.
var (
	// ErrClosed: the handle (Client, PubChannel, SubChannel, Publisher,
	// Subscriber) was closed; sends, reads and subscriptions are refused.
	ErrClosed = errors.New("netchan: closed")
	// ErrInvalidName: a channel name, namespace or topic is empty, reserved,
	// or gives a KubeMQ channel name the broker would refuse (the error then
	// wraps the refusal of client.ValidateChannel).
	ErrInvalidName = errors.New("netchan: invalid name")
	// ErrInvalidPartition: a partition id outside [-1, P) or a partition
	// count outside [1, 1024].
	ErrInvalidPartition = errors.New("netchan: invalid partition")
	// ErrInvalidOption: an option value out of range (FromSequence(0),
	// WithAsync(0), WithBuffer(-1), …).
	ErrInvalidOption = errors.New("netchan: invalid option")
	// ErrInvalidHeader: a header name that is empty or not valid UTF-8.
	ErrInvalidHeader = errors.New("netchan: invalid header")
	// ErrNilMessage: Publisher.Publish(nil).
	ErrNilMessage = errors.New("netchan: nil message")
	// ErrChannelClosed: the network channel was closed (sealed) by a
	// publisher and takes no more messages.
	ErrChannelClosed = errors.New("netchan: channel is closed")
	// ErrChannelDeleted: the channel was deleted while it was being read.
	ErrChannelDeleted = errors.New("netchan: channel deleted")
	// ErrCanceled: the SubChannel was stopped by Cancel or Close.
	ErrCanceled = errors.New("netchan: canceled")
	// ErrViewInUse: the other view of a SubChannel was asked for first.
	ErrViewInUse = errors.New("netchan: the other view of the subchannel is in use")
	// ErrAlreadySubscribed: Subscribe was called twice on one Subscriber.
	ErrAlreadySubscribed = errors.New("netchan: already subscribed")
	// ErrPartitionMismatch: a message was published with another partition
	// count than the subscriber's; see PartitionMismatchError.
	ErrPartitionMismatch = errors.New("netchan: partition count mismatch")
	// ErrChecksumMismatch: WithVerify found that the payloads read do not
	// hash to the MD5 the closing publisher recorded.
	ErrChecksumMismatch = errors.New("netchan: checksum mismatch")
	// ErrUnsupported: the broker lacks what the call needs (channel
	// management, or acked durable reads for an explicit request).
	ErrUnsupported = errors.New("netchan: not supported by the server")
	// ErrConnect: no broker address could be reached; see ConnectError.
	ErrConnect = errors.New("netchan: cannot connect")
)

// PartitionMismatchError reports a message published with another
// partition count: Want is the subscriber's, Got the message's. The
// message is not delivered and the subscriber stops.
type PartitionMismatchError struct{ Want, Got int }

func (e *PartitionMismatchError) Error() string {
	return fmt.Sprintf("netchan: partition count mismatch: subscriber uses %d, message was published with %d", e.Want, e.Got)
}

// Is matches ErrPartitionMismatch.
func (e *PartitionMismatchError) Is(target error) bool { return target == ErrPartitionMismatch }

// ConnectError lists why each broker address failed.
type ConnectError struct {
	Addresses []string
	Errs      []error
}

func (e *ConnectError) Error() string {
	var b strings.Builder
	b.WriteString("netchan: cannot connect to any broker")
	for i, a := range e.Addresses {
		if i < len(e.Errs) {
			fmt.Fprintf(&b, "; %s: %v", a, e.Errs[i])
		}
	}
	return b.String()
}

// Is matches ErrConnect.
func (e *ConnectError) Is(target error) bool { return target == ErrConnect }

// Unwrap returns the per-address errors.
func (e *ConnectError) Unwrap() []error { return e.Errs }

// closedError is what SubChannel.Err reports after Close: the view was
// canceled because the handle was closed. It matches ErrCanceled and
// ErrClosed.
type closedError struct{}

func (closedError) Error() string { return "netchan: canceled: subchannel closed" }

func (closedError) Is(target error) bool { return target == ErrCanceled || target == ErrClosed }
