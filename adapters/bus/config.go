package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldmq/herald/client"
)

// MsgBusIO is the interface of hms-msgbus: one handle on one topic. *Conn
// implements it.
type MsgBusIO interface {
	// Disconnect stops reading, flushes a NonBlocking writer and releases
	// the connection. It is idempotent.
	Disconnect() error
	// MessageWrite sends msg to the topic (see BlockingMode).
	MessageWrite(msg string) error
	// MessageRead returns the next message of the topic (see BlockingMode).
	MessageRead() (string, error)
	// MessageAvailable is the number of messages received and buffered,
	// not yet read; 0 for writers.
	MessageAvailable() int
	// RegisterCB hands every message, the buffered ones first, to cbfunc.
	RegisterCB(cbfunc CBFunc) error
	// UnregisterCB stops handing messages to the callback.
	UnregisterCB() error
	// Status is StatusOpen, StatusReconnecting or StatusClosed.
	Status() int
}

type (
	// MsgBusTech selects the broker technology; both values mean Herald.
	MsgBusTech int
	// BlockingMode selects whether writes wait for the broker and reads
	// wait for a message.
	BlockingMode int
	// BusStatus is what Status returns (as an int, as in hms-msgbus).
	BusStatus int
	// BusDir is the direction of a handle.
	BusDir int
	// SubscriptionToken is declared by hms-msgbus and used by no function;
	// kept so that code mentioning it compiles.
	SubscriptionToken int
	// CallbackToken is declared by hms-msgbus and used by no function;
	// kept so that code mentioning it compiles.
	CallbackToken int
	// CBFunc receives one message; see RegisterCB.
	CBFunc func(msg string)
	// Pattern is the KubeMQ pattern a topic is carried on.
	Pattern int
	// StartAt is where a reader without a group, or a group's first
	// member, starts.
	StartAt int
	// Delivery chooses the guarantee of group readers of
	// PatternEventsStore.
	Delivery int
)

// Broker technologies. BusTechKafka is kept so that existing
// configurations run unchanged; it selects Herald too.
const (
	BusTechKafka  MsgBusTech = 1
	BusTechHerald MsgBusTech = 2
)

// Blocking modes. Blocking (the default): MessageWrite returns once the
// broker has the message and MessageRead waits for one. NonBlocking:
// MessageWrite queues locally and MessageRead returns ErrWouldBlock when
// nothing is buffered.
const (
	NonBlocking BlockingMode = 1
	Blocking    BlockingMode = 2
)

// Statuses.
const (
	StatusOpen         BusStatus = 1
	StatusClosed       BusStatus = 2
	StatusReconnecting BusStatus = 3 // the connection is down; the SDK reconnects
)

// Directions.
const (
	BusWriter     BusDir = 1
	BusReader     BusDir = 2
	BusReadWriter BusDir = 3 // both; reads what anyone writes, its own writes included
)

// Patterns.
const (
	// PatternEventsStore (default): a persistent events-store channel,
	// Kafka-like.
	PatternEventsStore Pattern = iota
	// PatternEvents: fire-and-forget events, nothing stored.
	PatternEvents
	// PatternQueue: a work queue; each message to exactly one reader, with
	// acknowledgement.
	PatternQueue
)

// Start positions.
const (
	// StartNewest (default): messages stored from the moment the reader
	// (or group) started, plus up to one second before for readers
	// without a group.
	StartNewest StartAt = iota
	// StartOldest: every stored message still retained.
	StartOldest
)

// Delivery guarantees of PatternEventsStore group readers.
const (
	// DeliveryAuto: at least once on Herald, at most once elsewhere.
	DeliveryAuto Delivery = iota
	// DeliveryAtLeastOnce requires Herald; elsewhere Connect fails with
	// ErrUnsupported.
	DeliveryAtLeastOnce
	// DeliveryAtMostOnce: an events-store group subscription everywhere.
	DeliveryAtMostOnce
)

// Defaults of MsgBusConfig.
const (
	DefaultPort            = 50000
	DefaultReadBufferSize  = 1000
	DefaultWriteBufferSize = 1000
	DefaultWriteTimeout    = 10 * time.Second
	DefaultVisibility      = 30 * time.Second
)

// MsgBusConfig is the configuration of a handle: the fields of hms-msgbus
// and Herald's additions. The zero value of each addition means its default.
type MsgBusConfig struct {
	// BusTech: 0 → BusTechHerald; BusTechKafka also means Herald.
	BusTech MsgBusTech
	// Host of the broker's gRPC port; "" → "localhost".
	Host string
	// Port: 0 → DefaultPort (50000; a Kafka port such as 9092 must change).
	Port int
	// Blocking: 0 → Blocking (hms-msgbus's documented default).
	Blocking BlockingMode
	// Direction is required: BusWriter, BusReader or BusReadWriter.
	Direction BusDir
	// ConnectRetries: attempts at the initial connection, one second
	// apart; 0 → unlimited.
	ConnectRetries int
	// Topic is the channel name; required.
	Topic string
	// GroupId: readers sharing it split the messages; "" → each reader
	// gets every message. Not allowed with PatternQueue.
	GroupId string

	// Pattern: 0 → PatternEventsStore.
	Pattern Pattern
	// ClientID: "" → "bus-<hostname>-<pid>".
	ClientID string
	// Token is sent as the gRPC "authorization" metadata.
	Token string
	// CertFile enables TLS with this CA or server certificate (PEM).
	CertFile string
	// ServerName is the name the server certificate is checked against.
	ServerName string
	// Client, when set, is the connection to use: Host, Port, Token,
	// CertFile, ServerName and ConnectRetries are ignored, and the bus
	// never closes it.
	Client *client.Client
	// ReadBufferSize: 0 → DefaultReadBufferSize.
	ReadBufferSize int
	// WriteBufferSize (NonBlocking writers): 0 → DefaultWriteBufferSize.
	WriteBufferSize int
	// WriteTimeout bounds Blocking writes (with their retries) and the
	// flush in Disconnect; 0 → DefaultWriteTimeout.
	WriteTimeout time.Duration
	// StartAt: readers without a group, and a group's first member.
	StartAt StartAt
	// Delivery: group readers of PatternEventsStore.
	Delivery Delivery
	// Visibility (acked reads): how long a handed-out message may stay
	// unsettled before it is redelivered; whole seconds, rounded up;
	// 0 → DefaultVisibility.
	Visibility time.Duration
	// MaxDeliver (acked reads): deliveries before a failing message is
	// dead-lettered; 0 → unlimited.
	MaxDeliver int
	// DeadLetterTopic (acked reads): the queue channel of dead letters;
	// "" → Topic + ".dlq".
	DeadLetterTopic string
	// AssumeHerald: nil → detect with Ping; true or false skips the probe.
	AssumeHerald *bool
	// Logger: nil → the package default (SetLogger), else discard.
	Logger *slog.Logger
}

var defaultLogger atomic.Pointer[slog.Logger]

// SetLogger sets the logger of handles whose MsgBusConfig.Logger is nil; nil
// restores discarding. It is the package's one piece of mutable state, kept
// because hms-msgbus users look for it; prefer MsgBusConfig.Logger.
func SetLogger(l *slog.Logger) { defaultLogger.Store(l) }

func (c *MsgBusConfig) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	if l := defaultLogger.Load(); l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// withDefaults returns cfg with every zero field that has a default set.
func withDefaults(cfg MsgBusConfig) MsgBusConfig {
	if cfg.BusTech == 0 {
		cfg.BusTech = BusTechHerald
	}
	if cfg.Host == "" {
		cfg.Host = "localhost"
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Blocking == 0 {
		cfg.Blocking = Blocking
	}
	if cfg.ClientID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		cfg.ClientID = "bus-" + host + "-" + strconv.Itoa(os.Getpid())
	}
	if cfg.ReadBufferSize == 0 {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	if cfg.WriteBufferSize == 0 {
		cfg.WriteBufferSize = DefaultWriteBufferSize
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Visibility == 0 {
		cfg.Visibility = DefaultVisibility
	}
	if cfg.Visibility%time.Second != 0 {
		cfg.Visibility = cfg.Visibility.Truncate(time.Second) + time.Second
	}
	if cfg.DeadLetterTopic == "" && cfg.Topic != "" {
		cfg.DeadLetterTopic = cfg.Topic + ".dlq"
	}
	return cfg
}

// validate returns every problem of cfg (before defaults) as one
// *ConfigError, or nil.
func validate(cfg MsgBusConfig) error {
	var p []error
	add := func(format string, args ...any) { p = append(p, fmt.Errorf(format, args...)) }
	switch cfg.BusTech {
	case 0, BusTechKafka, BusTechHerald:
	default:
		add("unknown BusTech %d", cfg.BusTech)
	}
	switch cfg.Blocking {
	case 0, Blocking, NonBlocking:
	default:
		add("unknown Blocking mode %d", cfg.Blocking)
	}
	switch cfg.Direction {
	case BusWriter, BusReader, BusReadWriter:
	case 0:
		add("missing Direction")
	default:
		add("unknown Direction %d", cfg.Direction)
	}
	switch cfg.Pattern {
	case PatternEventsStore, PatternEvents, PatternQueue:
	default:
		add("unknown Pattern %d", cfg.Pattern)
	}
	switch cfg.StartAt {
	case StartNewest, StartOldest:
	default:
		add("unknown StartAt %d", cfg.StartAt)
	}
	switch cfg.Delivery {
	case DeliveryAuto, DeliveryAtLeastOnce, DeliveryAtMostOnce:
	default:
		add("unknown Delivery %d", cfg.Delivery)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		add("Port %d out of range", cfg.Port)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"ConnectRetries", cfg.ConnectRetries}, {"ReadBufferSize", cfg.ReadBufferSize},
		{"WriteBufferSize", cfg.WriteBufferSize}, {"MaxDeliver", cfg.MaxDeliver}} {
		if f.v < 0 {
			add("negative %s %d", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"WriteTimeout", cfg.WriteTimeout}, {"Visibility", cfg.Visibility}} {
		if f.v < 0 {
			add("negative %s %v", f.name, f.v)
		}
	}
	if cfg.Topic == "" {
		p = append(p, &nameError{name: "", reason: errors.New("missing topic")})
	} else if err := validName(cfg.Topic); err != nil {
		p = append(p, fmt.Errorf("Topic: %w", err))
	}
	if cfg.GroupId != "" {
		if err := validGroup(cfg.GroupId); err != nil {
			p = append(p, fmt.Errorf("GroupId: %w", err))
		}
		if cfg.Pattern == PatternQueue {
			add("GroupId is not allowed with PatternQueue (a queue already gives each message to one reader)")
		}
	}
	if cfg.DeadLetterTopic != "" {
		if err := validName(cfg.DeadLetterTopic); err != nil {
			p = append(p, fmt.Errorf("DeadLetterTopic: %w", err))
		}
	}
	if len(p) == 0 {
		return nil
	}
	return &ConfigError{Problems: p}
}

// nameError is a refused name: it matches ErrInvalidName and its reason
// (for a channel name, the refusal of client.ValidateChannel).
type nameError struct {
	name   string
	reason error
}

func (e *nameError) Error() string {
	return fmt.Sprintf("bus: invalid name %q: %v", e.name, e.reason)
}

func (e *nameError) Is(target error) bool { return target == ErrInvalidName }

func (e *nameError) Unwrap() error { return e.reason }

// validName checks a channel name by the KubeMQ rules (§1.4 of the
// adapters specification; client.ValidateChannel) and refuses reserved
// names.
func validName(name string) error {
	if err := client.ValidateChannel(name, false); err != nil {
		return &nameError{name: name, reason: err}
	}
	if p := client.ReservedPrefix(name); p != "" {
		return &nameError{name: name, reason: errors.New("the prefix " + p + " is reserved")}
	}
	return nil
}

// validGroup checks a group name as KubeMQ does for subscription groups:
// UTF-8 without white space or control characters. Everything else ('.',
// '%', '*', '>' included) is carried, percent-encoded in the name of an
// acked durable read (client.GroupToken).
func validGroup(group string) error {
	bad := func(reason string) error { return &nameError{name: group, reason: errors.New(reason)} }
	switch {
	case !utf8.ValidString(group):
		return bad("not valid UTF-8")
	case strings.IndexFunc(group, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return bad("contains white space or a control character")
	}
	return nil
}
