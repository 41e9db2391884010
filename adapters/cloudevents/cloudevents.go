package cloudevents

import (
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/rs/xid"

	"github.com/heraldmq/herald/client"
)

// Event is the CloudEvents SDK's event type; this package uses it
// everywhere, so code that imported sdk-go for the type alone can import
// this package instead.
type Event = event.Event

// EventType is the type of an event ("org.cyverse.events.UserLoggedIn").
// It names the event's routing and must be a valid channel name part (see
// client.ValidateChannel) that does not begin with '_'.
type EventType string

// QueryOp is the type of a query: the operation a query listener serves.
// Same rules as EventType.
type QueryOp string

// TransactionID correlates a request event with its response events. It
// travels as the CloudEvents extension attribute "transactionid".
type TransactionID string

// ListenerID identifies a listener registered with an EventSource.
type ListenerID string

// Defaults and fixed names. The messaging2 names they replace are in the
// package documentation.
const (
	// DefaultAddress is the KubeMQ gRPC address used when Config.Address is empty.
	DefaultAddress = "localhost:50000"
	// DefaultStream is the events-store channel that holds the events when
	// Config.Stream is empty.
	DefaultStream = "cloudevents"
	// DefaultMaxReconnects is the number of consecutive failed reconnect
	// attempts after which a connection gives up.
	DefaultMaxReconnects = 6
	// DefaultReconnectWait is the wait between reconnect attempts.
	DefaultReconnectWait = 10 * time.Second
	// DefaultRequestTimeout is the query timeout when the context has no deadline.
	DefaultRequestTimeout = 5 * time.Second
	// MaxRequestTimeout clamps longer query deadlines.
	MaxRequestTimeout = 10 * time.Minute
	// DefaultAckWait is how long an event handler has before its event may be
	// redelivered (see InProgress).
	DefaultAckWait = 10 * time.Second
	// DefaultEventsTimeout is how long Publish waits for the store's confirmation.
	DefaultEventsTimeout = 10 * time.Second
	// DefaultDrainTimeout bounds a drain started by cancelling a Listen context.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultMaxDeliver is the number of attempts after which an event is
	// dead-lettered.
	DefaultMaxDeliver = 5
	// DefaultLookback is the window an EventSource starts back in time and
	// keeps in memory, so responses published just before a WaitForResponse
	// are still found.
	DefaultLookback = 10 * time.Second
	// AutoPopulateCloudEventSource as an event's source (or no source) is
	// replaced by Config.ClientID when the event is sent.
	AutoPopulateCloudEventSource = "AUTO_POPULATE"
	// TransactionIDExtension is the name of the CloudEvents extension
	// attribute that carries the transaction id.
	TransactionIDExtension = "transactionid"
)

// CreateCloudEvent returns a CloudEvent of the given type and source with id
// "cloudevent-<xid>", the current time in UTC, data marshalled to JSON
// (datacontenttype application/json) and a new transaction id.
func CreateCloudEvent[T EventType | QueryOp](data any, eventType T, source string) (Event, error) {
	return CreateCloudEventWithTransactionID(data, eventType, source, "")
}

// CreateCloudEventWithAutoSource is CreateCloudEvent with the source
// AutoPopulateCloudEventSource, replaced by the connection's ClientID when
// the event is sent.
func CreateCloudEventWithAutoSource[T EventType | QueryOp](data any, eventType T) (Event, error) {
	return CreateCloudEventWithTransactionID(data, eventType, AutoPopulateCloudEventSource, "")
}

// CreateCloudEventWithTransactionID is CreateCloudEvent with the given
// transaction id; "" gives a new one.
func CreateCloudEventWithTransactionID[T EventType | QueryOp](data any, eventType T, source string, transactionID TransactionID) (Event, error) {
	ce := event.New()
	ce.SetID(newEventID())
	ce.SetType(string(eventType))
	ce.SetSource(source)
	ce.SetTime(time.Now().UTC())
	if err := ce.SetData(event.ApplicationJSON, data); err != nil {
		return Event{}, fmt.Errorf("%w: data: %w", ErrInvalidEvent, err)
	}
	if transactionID == "" {
		transactionID = NewTransactionID()
	}
	SetTransactionID(&ce, transactionID)
	return ce, nil
}

// NewTransactionID returns a new transaction id, "tid-" followed by a
// 20-character xid.
func NewTransactionID() TransactionID { return TransactionID("tid-" + xid.New().String()) }

func newEventID() string { return "cloudevent-" + xid.New().String() }

// GetTransactionID returns the event's transaction id: its
// TransactionIDExtension attribute, or "" when that is absent or not a string.
func GetTransactionID(ce *Event) TransactionID {
	if ce == nil {
		return ""
	}
	v, ok := ce.Extensions()[TransactionIDExtension].(string)
	if !ok {
		return ""
	}
	return TransactionID(v)
}

// SetTransactionID sets the event's transaction id ("" removes it).
func SetTransactionID(ce *Event, transactionID TransactionID) {
	if ce == nil {
		return
	}
	if transactionID == "" {
		ce.SetExtension(TransactionIDExtension, nil)
		return
	}
	ce.SetExtension(TransactionIDExtension, string(transactionID))
}

// validName checks a channel name an adapter derives (§1.4 of the adapter
// specification): valid by client.ValidateChannel, not reserved.
func validName(ch string) error {
	if err := client.ValidateChannel(ch, false); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidName, ch, err)
	}
	if p := client.ReservedPrefix(ch); p != "" {
		return fmt.Errorf("%w %q: the prefix %s is reserved", ErrInvalidName, ch, p)
	}
	return nil
}

// validType checks an event type or query operation.
func validType(t string) error {
	if strings.HasPrefix(t, "_") {
		return fmt.Errorf("%w: %w: %q begins with '_'", ErrInvalidEventType, ErrInvalidName, t)
	}
	if err := validName(t); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEventType, err)
	}
	return nil
}
