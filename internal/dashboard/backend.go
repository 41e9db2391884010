package dashboard

import (
	"context"
	"fmt"
	"time"
)

// Backend is everything the dashboard shows and does. Broker is the
// implementation on Herald's Go SDK; tests may supply others.
//
// Contract, for every method:
//   - ctx comes first and bounds the call; a method returns soon after ctx
//     ends. The caller's identity travels in ctx: TokenFromContext gives the
//     token Config.Authenticate returned for the request ("" when auth is
//     off), and an implementation acts on the broker with that token, so the
//     broker's own authorization applies to dashboard users.
//   - Methods are safe for concurrent use.
//   - Errors describe the failure for a person; a Backend may wrap the SDK's
//     conditions (client.ErrInvalidArgument, client.ErrUnauthorized,
//     client.ErrTimeout, client.ErrUnavailable), which the handler turns
//     into HTTP statuses 400, 403, 504 and 502. ErrNotFound gives 404.
//   - Returned values belong to the caller.
type Backend interface {
	ServerInfo

	// ListChannels returns the channels of a type whose names contain
	// search ("" = all), by name, with their statistics.
	ListChannels(ctx context.Context, typ ChannelType, search string) ([]Channel, error)
	// CreateChannel creates a channel; creating one that exists is not an
	// error.
	CreateChannel(ctx context.Context, typ ChannelType, name string) error
	// DeleteChannel deletes a channel, for queues and events store with
	// every stored message.
	DeleteChannel(ctx context.Context, typ ChannelType, name string) error

	// QueueInfo describes one queue; ErrNotFound when it does not exist.
	QueueInfo(ctx context.Context, queue string) (QueueInfo, error)
	// SendQueueMessage stores m in queue m.Channel with m.Policy. The
	// broker-filled fields of m (Sequence, Timestamp, …) are ignored.
	SendQueueMessage(ctx context.Context, m QueueMessage) (QueueSendResult, error)
	// PeekQueue returns up to max messages from the head of a queue without
	// taking them. It may wait about a second when the queue is empty.
	PeekQueue(ctx context.Context, queue string, max int) ([]QueueMessage, error)
	// PullQueue takes up to max messages from the head of a queue: they are
	// gone from the queue when it returns.
	PullQueue(ctx context.Context, queue string, max int) ([]QueueMessage, error)
	// PurgeQueue removes every ready message of a queue and says how many.
	PurgeQueue(ctx context.Context, queue string) (int64, error)
	// RequeueDeadLetters moves up to max messages from the head of the
	// dead-letter queue dlq back to the queues they were dead-lettered
	// from. It stops at the first message without an origin queue, which
	// stays in dlq.
	RequeueDeadLetters(ctx context.Context, dlq string, max int) (RequeueResult, error)

	// SendEvent publishes e: to live subscribers only, or, with e.Store, to
	// the events store.
	SendEvent(ctx context.Context, e Event) (EventResult, error)
	// TailEvents subscribes as t describes and calls deliver with each
	// event, one at a time, until ctx ends (then it returns nil), deliver
	// returns an error (returned), or the subscription fails for good.
	TailEvents(ctx context.Context, t Tail, deliver func(Event) error) error

	// SendRequest sends a command or query and waits up to r.Timeout for
	// the response. A request nobody answered in time fails with an error
	// matching client.ErrTimeout.
	SendRequest(ctx context.Context, r Request) (Response, error)
	// MonitorRequests subscribes to a commands or queries channel without a
	// group, so it sees every request without taking it from responders,
	// and calls deliver with each, as TailEvents does. It never responds.
	MonitorRequests(ctx context.Context, typ ChannelType, channel string, deliver func(Request) error) error
}

// ServerInfo tells what the KubeMQ API cannot: the broker's nodes, its
// storage and its traffic. The embedding server implements it (Broker falls
// back to what the API tells when it has none). Methods are safe for
// concurrent use, cheap (the overview calls them every two seconds), and
// return soon after ctx ends.
type ServerInfo interface {
	// Nodes describes the broker's nodes, the one answering first.
	Nodes(ctx context.Context) ([]Node, error)
	// Storage describes what the broker stores.
	Storage(ctx context.Context) (Storage, error)
	// Traffic returns the broker's message counters. They only grow (the
	// dashboard derives rates from successive calls), except that a
	// restart may start them again.
	Traffic(ctx context.Context) (Traffic, error)
}

// Node is one broker node.
type Node struct {
	Host    string `json:"host"`
	Version string `json:"version"`
	// Role is the node's part in a cluster: "standalone", "leader", …
	Role       string    `json:"role"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	MemoryUsed uint64    `json:"memoryUsed"` // bytes the process holds from the OS
	MemoryHeap uint64    `json:"memoryHeap"` // bytes of live heap objects
	Goroutines int       `json:"goroutines"`
	CPUCores   int       `json:"cpuCores"`
	// Clients is the number of connected clients; -1 when unknown.
	Clients int `json:"clients"`
}

// Storage is what a broker stores.
type Storage struct {
	Bytes   uint64 `json:"bytes"`
	Streams int    `json:"streams"` // queue and events-store channels (and internal streams)
	// Partial says Bytes counts queues only (a broker without ServerInfo).
	Partial bool `json:"partial,omitempty"`
}

// Traffic are cumulative message counters.
type Traffic struct {
	MessagesIn  int64 `json:"messagesIn"`
	BytesIn     int64 `json:"bytesIn"`
	MessagesOut int64 `json:"messagesOut"`
	BytesOut    int64 `json:"bytesOut"`
	// Clients counts the subscribers and receivers connected now, by
	// channel type; nil when unknown.
	Clients map[ChannelType]int `json:"clients,omitempty"`
}

// ChannelType is a KubeMQ channel type.
type ChannelType string

// The channel types, in the order the dashboard lists them.
const (
	Queues      ChannelType = "queues"
	Events      ChannelType = "events"
	EventsStore ChannelType = "events_store"
	Commands    ChannelType = "commands"
	Queries     ChannelType = "queries"
)

// ChannelTypes lists every channel type.
var ChannelTypes = []ChannelType{Queues, Events, EventsStore, Commands, Queries}

// ParseChannelType checks a channel type name.
func ParseChannelType(s string) (ChannelType, error) {
	for _, t := range ChannelTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w: channel type %q: want queues, events, events_store, commands or queries", errBadRequest, s)
}

// Channel is a channel with its statistics, as KubeMQ channel management
// lists it.
type Channel struct {
	Name         string       `json:"name"`
	Type         ChannelType  `json:"type"`
	LastActivity time.Time    `json:"lastActivity,omitzero"`
	IsActive     bool         `json:"isActive"` // has subscribers or receivers now
	Incoming     ChannelStats `json:"incoming"`
	Outgoing     ChannelStats `json:"outgoing"`
}

// ChannelStats are the counters of one direction of a channel.
type ChannelStats struct {
	Messages  int64 `json:"messages"`
	Volume    int64 `json:"volume"` // bytes
	Responses int64 `json:"responses"`
	Waiting   int64 `json:"waiting"`
	Expired   int64 `json:"expired"`
	Delayed   int64 `json:"delayed"`
}

// QueueInfo describes a queue now.
type QueueInfo struct {
	Name          string `json:"name"`
	Messages      int64  `json:"messages"` // in the queue: ready and held
	Bytes         int64  `json:"bytes"`
	FirstSequence int64  `json:"firstSequence"`
	LastSequence  int64  `json:"lastSequence"`
	Sent          int64  `json:"sent"` // ever stored
	Delivered     int64  `json:"delivered"`
	Waiting       int64  `json:"waiting"` // ready, not delivered yet
	Subscribers   int    `json:"subscribers"`
}

// QueueMessage is a queue message: one to send, or one peeked or pulled.
type QueueMessage struct {
	ID       string            `json:"id,omitempty"`
	Channel  string            `json:"channel"`
	ClientID string            `json:"clientId,omitempty"`
	Metadata string            `json:"metadata,omitempty"`
	Body     []byte            `json:"body"` // base64 in JSON
	Tags     map[string]string `json:"tags,omitempty"`
	Policy   QueuePolicy       `json:"policy,omitzero"`

	// Filled by the broker on messages peeked or pulled.
	Sequence     uint64    `json:"sequence,omitempty"`
	Timestamp    time.Time `json:"timestamp,omitzero"` // when it entered the queue
	ReceiveCount int32     `json:"receiveCount,omitempty"`
	ReRoutedFrom string    `json:"reRoutedFrom,omitempty"` // the queue it was dead-lettered from
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	DelayedTo    time.Time `json:"delayedTo,omitzero"`
}

// QueuePolicy is the delivery policy of a queue message; zero fields mean
// the broker's defaults.
type QueuePolicy struct {
	DelaySeconds      int32  `json:"delaySeconds,omitempty"`
	ExpirationSeconds int32  `json:"expirationSeconds,omitempty"`
	MaxReceiveCount   int32  `json:"maxReceiveCount,omitempty"`
	DeadLetterQueue   string `json:"deadLetterQueue,omitempty"`
}

// QueueSendResult is the broker's answer to a queue send.
type QueueSendResult struct {
	MessageID string    `json:"messageId"`
	SentAt    time.Time `json:"sentAt,omitzero"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	DelayedTo time.Time `json:"delayedTo,omitzero"`
}

// RequeueResult reports a RequeueDeadLetters.
type RequeueResult struct {
	Moved int `json:"moved"`
	// To counts the messages moved, by origin queue.
	To map[string]int `json:"to,omitempty"`
	// Stopped, when not empty, says why fewer than max moved although the
	// dead-letter queue was not empty.
	Stopped string `json:"stopped,omitempty"`
}

// Event is an events or events-store message: one to send, or one received.
type Event struct {
	ID       string            `json:"id,omitempty"`
	Channel  string            `json:"channel"`
	Store    bool              `json:"store,omitempty"` // events store rather than events
	ClientID string            `json:"clientId,omitempty"`
	Metadata string            `json:"metadata,omitempty"`
	Body     []byte            `json:"body"`
	Tags     map[string]string `json:"tags,omitempty"`

	// Filled on received events: Sequence for the events store only;
	// Timestamp is when the event was stored, or for plain events when
	// the dashboard received it.
	Sequence  uint64    `json:"sequence,omitempty"`
	Timestamp time.Time `json:"timestamp,omitzero"`
}

// EventResult is the broker's answer to SendEvent.
type EventResult struct {
	ID string `json:"id"`
}

// Start is where an events tail starts.
type Start string

// Tail start positions. Plain events only have StartNew.
const (
	StartNew      Start = "new"      // events sent from now on
	StartFirst    Start = "first"    // the first stored event, then on
	StartLast     Start = "last"     // the last stored event, then on
	StartSequence Start = "sequence" // Tail.Sequence, then on
	StartTime     Start = "time"     // the first event stored at or after Tail.Time, then on
)

// Tail describes a subscription that watches a channel.
type Tail struct {
	Channel  string
	Store    bool // an events-store channel
	Start    Start
	Sequence uint64
	Time     time.Time
}

// Request is a command or a query: one to send, or one a monitor saw.
type Request struct {
	ID       string            `json:"id,omitempty"`
	Type     ChannelType       `json:"type"` // Commands or Queries
	Channel  string            `json:"channel"`
	ClientID string            `json:"clientId,omitempty"`
	Metadata string            `json:"metadata,omitempty"`
	Body     []byte            `json:"body"`
	Tags     map[string]string `json:"tags,omitempty"`
	// Timeout is how long the broker waits for a responder (sending only).
	Timeout time.Duration `json:"-"`
	// ReceivedAt is when a monitor saw it.
	ReceivedAt time.Time `json:"receivedAt,omitzero"`
}

// Response is the answer to a command or query.
type Response struct {
	RequestID   string            `json:"requestId"`
	ResponderID string            `json:"responderId,omitempty"`
	Executed    bool              `json:"executed"`
	ExecutedAt  time.Time         `json:"executedAt,omitzero"`
	Error       string            `json:"error,omitempty"` // the responder's error text
	Metadata    string            `json:"metadata,omitempty"`
	Body        []byte            `json:"body,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	CacheHit    bool              `json:"cacheHit,omitempty"`
}
