package cloudevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/client"
)

// Config configures a QueryConn or an EventConn. The zero value (plus an
// Address) is usable: every zero field takes its default. It replaces
// messaging2's NatsConfig, StanConfig and NatsStanMsgConfig.
type Config struct {
	// Address is the server's gRPC address, host:port; "" → DefaultAddress.
	Address string
	// ClientID is the KubeMQ client id and the source given to events whose
	// source is empty or AutoPopulateCloudEventSource; "" → "ce-<hostname>-<pid>".
	ClientID string
	// Token is sent as the "authorization" metadata.
	Token string
	// CertFile, when set, enables TLS with this CA certificate; ServerName
	// overrides the name checked against the server's certificate.
	CertFile   string
	ServerName string
	// Client, when set, is borrowed: the connection uses it and never closes
	// it, and Address, Token, CertFile, ServerName, MaxReconnects and
	// ReconnectWait are ignored.
	Client *client.Client
	// QueueGroup is the group of query listeners, and of event listeners
	// when DurableName is empty.
	QueueGroup string
	// DurableName is the durable group of event listeners.
	DurableName string
	// Stream is the events-store channel of events; "" → DefaultStream.
	Stream string
	// EventRouting: RouteByStream (default) or RouteByType.
	EventRouting Routing
	// QueryPrefix is put before a query operation to make its channel.
	QueryPrefix string
	// Encoding: Structured (default) or Binary.
	Encoding Encoding
	// Delivery asked of durable event listeners (see Delivery).
	Delivery Delivery
	// MaxReconnects: consecutive failed reconnect attempts before the
	// connection gives up; ≤ 0 → DefaultMaxReconnects.
	MaxReconnects int
	// ReconnectWait: the wait between reconnect attempts; ≤ 0 → DefaultReconnectWait.
	ReconnectWait time.Duration
	// RequestTimeout: query timeout when the context has no deadline; ≤ 0 → DefaultRequestTimeout.
	RequestTimeout time.Duration
	// EventsTimeout: how long Publish waits for the store; ≤ 0 → DefaultEventsTimeout.
	EventsTimeout time.Duration
	// AckWait: how long an event handler has before redelivery; ≤ 0 → DefaultAckWait.
	// Acknowledged listeners round it up to whole seconds.
	AckWait time.Duration
	// MaxDeliver: attempts before dead-lettering; 0 → DefaultMaxDeliver; -1 → never.
	MaxDeliver int
	// DrainTimeout bounds the drain started by cancelling Listen's context;
	// 0 → DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Lookback is the event source's window; 0 → DefaultLookback; at least 1 s.
	Lookback time.Duration
	// AssumeHerald overrides the Ping probe for Herald's server features
	// (nil: probe once when an EventConn is made).
	AssumeHerald *bool
	// Logger receives the connection's logs; nil discards them.
	Logger *slog.Logger
}

// settings is a Config with its defaults applied and validated.
type settings struct {
	Config
	host string
	port int
}

func (c Config) settings() (settings, error) {
	s := settings{Config: c}
	var errs []error
	if s.Address == "" {
		s.Address = DefaultAddress
	}
	if s.Client == nil {
		host, portText, err := net.SplitHostPort(s.Address)
		port, perr := strconv.Atoi(portText)
		if err != nil || perr != nil || port <= 0 || port > 65535 {
			errs = append(errs, fmt.Errorf("%w: address %q: want host:port", ErrInvalidOption, s.Address))
		}
		s.host, s.port = host, port
	}
	if s.ClientID == "" {
		if s.Client != nil {
			s.ClientID = s.Client.ClientID()
		} else {
			host, _ := os.Hostname()
			if host == "" {
				host = "localhost"
			}
			s.ClientID = fmt.Sprintf("ce-%s-%d", host, os.Getpid())
		}
	}
	if s.Stream == "" {
		s.Stream = DefaultStream
	}
	if err := validName(s.Stream); err != nil {
		errs = append(errs, fmt.Errorf("stream: %w", err))
	}
	if s.QueryPrefix != "" {
		if err := validName(s.QueryPrefix + "x"); err != nil {
			errs = append(errs, fmt.Errorf("query prefix: %w", err))
		}
	}
	for _, g := range []string{s.QueueGroup, s.DurableName} {
		if g != "" && strings.IndexFunc(g, func(r rune) bool { return r == 0 }) >= 0 {
			errs = append(errs, fmt.Errorf("%w: group %q", ErrInvalidOption, g))
		}
	}
	if s.EventRouting != RouteByStream && s.EventRouting != RouteByType {
		errs = append(errs, fmt.Errorf("%w: event routing %d", ErrInvalidOption, s.EventRouting))
	}
	if s.Encoding != Structured && s.Encoding != Binary {
		errs = append(errs, fmt.Errorf("%w: encoding %d", ErrInvalidOption, s.Encoding))
	}
	if s.Delivery < DeliveryAuto || s.Delivery > DeliveryAtMostOnce {
		errs = append(errs, fmt.Errorf("%w: delivery %d", ErrInvalidOption, s.Delivery))
	}
	if s.MaxDeliver < -1 {
		errs = append(errs, fmt.Errorf("%w: MaxDeliver %d: want -1, 0 or more", ErrInvalidOption, s.MaxDeliver))
	}
	if s.MaxReconnects <= 0 {
		s.MaxReconnects = DefaultMaxReconnects
	}
	if s.ReconnectWait <= 0 {
		s.ReconnectWait = DefaultReconnectWait
	}
	if s.RequestTimeout <= 0 {
		s.RequestTimeout = DefaultRequestTimeout
	}
	if s.RequestTimeout > MaxRequestTimeout {
		s.RequestTimeout = MaxRequestTimeout
	}
	if s.EventsTimeout <= 0 {
		s.EventsTimeout = DefaultEventsTimeout
	}
	if s.AckWait <= 0 {
		s.AckWait = DefaultAckWait
	}
	if s.MaxDeliver == 0 {
		s.MaxDeliver = DefaultMaxDeliver
	}
	if s.DrainTimeout <= 0 {
		s.DrainTimeout = DefaultDrainTimeout
	}
	if s.Lookback <= 0 {
		s.Lookback = DefaultLookback
	}
	s.Lookback = max(time.Second, s.Lookback.Round(time.Second))
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s, errors.Join(errs...)
}

// group is the group of event listeners: DurableName, else QueueGroup.
func (s *settings) group() string {
	if s.DurableName != "" {
		return s.DurableName
	}
	return s.QueueGroup
}

// eventsChannel is the events-store channel of an event type.
func (s *settings) eventsChannel(t EventType) string {
	if s.EventRouting == RouteByType {
		return s.Stream + "." + string(t)
	}
	return s.Stream
}

func (s *settings) dlqChannel(group string) string {
	if group == "" {
		group = "_ephemeral"
	}
	if name := s.Stream + ".dlq." + group; validName(name) == nil {
		return name
	}
	return s.Stream + ".dlq." + client.GroupToken(group)
}

// ackVisibility is AckWait in whole seconds, at least 1.
func (s *settings) ackVisibility() int {
	return max(1, int((s.AckWait+time.Second-1)/time.Second))
}

// dial returns the configured client: the borrowed one, or a new one the
// caller owns.
func (s *settings) dial() (*client.Client, bool, error) {
	if s.Client != nil {
		return s.Client, false, nil
	}
	opts := []client.Option{
		client.WithAddress(s.host, s.port),
		client.WithClientId(s.ClientID),
		client.WithReconnectInterval(s.ReconnectWait),
		client.WithMaxReconnects(s.MaxReconnects),
	}
	if s.Token != "" {
		opts = append(opts, client.WithToken(s.Token))
	}
	if s.CertFile != "" {
		opts = append(opts, client.WithCredentials(s.CertFile, s.ServerName))
	}
	// The client closes itself when the context given to NewClient ends;
	// the connection's lifetime is Close, not the constructor's context.
	cl, err := client.NewClient(context.Background(), opts...)
	if err != nil {
		return nil, false, fmt.Errorf("cloudevents: connect %s: %w", s.Address, err)
	}
	return cl, true, nil
}

// ConfigFromEnv reads a Config from HERALD_<FIELD> variables (upper snake
// case: HERALD_ADDRESS, HERALD_CLIENT_ID, HERALD_QUEUE_GROUP,
// HERALD_ACK_WAIT, HERALD_EVENT_ROUTING, …). For the fields messaging2 had,
// except the address, it falls back to messaging2's NATS_* variable
// (NATS_CLIENT_ID, NATS_QUEUE_GROUP, NATS_DURABLE_NAME, NATS_JS_ACK_WAIT,
// NATS_EVENTS_TIMEOUT, NATS_MAX_RECONNECTS, NATS_RECONNECT_WAIT,
// NATS_REQUEST_TIMEOUT). Durations take Go syntax ("10s") or plain
// seconds. EventRouting is "stream" or "type"; Encoding "structured" or
// "binary"; Delivery "auto", "at-least-once" or "at-most-once";
// AssumeHerald a boolean. Unset variables leave fields zero (default).
func ConfigFromEnv() (Config, error) {
	var c Config
	var errs []error
	get := func(names ...string) (string, string) {
		for _, n := range names {
			if v, ok := os.LookupEnv(n); ok && v != "" {
				return v, n
			}
		}
		return "", ""
	}
	str := func(dst *string, names ...string) { *dst, _ = get(names...) }
	integer := func(dst *int, names ...string) {
		if v, n := get(names...); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s=%q: not an integer", ErrInvalidOption, n, v))
			}
			*dst = i
		}
	}
	duration := func(dst *time.Duration, names ...string) {
		if v, n := get(names...); v != "" {
			if secs, err := strconv.ParseFloat(v, 64); err == nil {
				*dst = time.Duration(secs * float64(time.Second))
				return
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s=%q: not a duration", ErrInvalidOption, n, v))
			}
			*dst = d
		}
	}
	choice := func(names []string, values map[string]int, set func(int)) {
		if v, n := get(names...); v != "" {
			i, ok := values[strings.ToLower(v)]
			if !ok {
				errs = append(errs, fmt.Errorf("%w: %s=%q", ErrInvalidOption, n, v))
			}
			set(i)
		}
	}
	str(&c.Address, "HERALD_ADDRESS")
	str(&c.ClientID, "HERALD_CLIENT_ID", "NATS_CLIENT_ID")
	str(&c.Token, "HERALD_TOKEN")
	str(&c.CertFile, "HERALD_CERT_FILE")
	str(&c.ServerName, "HERALD_SERVER_NAME")
	str(&c.QueueGroup, "HERALD_QUEUE_GROUP", "NATS_QUEUE_GROUP")
	str(&c.DurableName, "HERALD_DURABLE_NAME", "NATS_DURABLE_NAME")
	str(&c.Stream, "HERALD_STREAM")
	str(&c.QueryPrefix, "HERALD_QUERY_PREFIX")
	choice([]string{"HERALD_EVENT_ROUTING"}, map[string]int{"stream": int(RouteByStream), "type": int(RouteByType)},
		func(i int) { c.EventRouting = Routing(i) })
	choice([]string{"HERALD_ENCODING"}, map[string]int{"structured": int(Structured), "binary": int(Binary)},
		func(i int) { c.Encoding = Encoding(i) })
	choice([]string{"HERALD_DELIVERY"}, map[string]int{"auto": int(DeliveryAuto), "at-least-once": int(DeliveryAtLeastOnce), "at-most-once": int(DeliveryAtMostOnce)},
		func(i int) { c.Delivery = Delivery(i) })
	integer(&c.MaxReconnects, "HERALD_MAX_RECONNECTS", "NATS_MAX_RECONNECTS")
	duration(&c.ReconnectWait, "HERALD_RECONNECT_WAIT", "NATS_RECONNECT_WAIT")
	duration(&c.RequestTimeout, "HERALD_REQUEST_TIMEOUT", "NATS_REQUEST_TIMEOUT")
	duration(&c.EventsTimeout, "HERALD_EVENTS_TIMEOUT", "NATS_EVENTS_TIMEOUT")
	duration(&c.AckWait, "HERALD_ACK_WAIT", "NATS_JS_ACK_WAIT")
	integer(&c.MaxDeliver, "HERALD_MAX_DELIVER")
	duration(&c.DrainTimeout, "HERALD_DRAIN_TIMEOUT")
	duration(&c.Lookback, "HERALD_LOOKBACK")
	if v, n := get("HERALD_ASSUME_HERALD"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s=%q: not a boolean", ErrInvalidOption, n, v))
		}
		c.AssumeHerald = &b
	}
	return c, errors.Join(errs...)
}

// ConnectQuery is NewQueryConnection(ctx, c).
func (c Config) ConnectQuery(ctx context.Context) (*QueryConn, error) {
	return NewQueryConnection(ctx, c)
}

// ConnectEvents is NewEventConnection(ctx, c).
func (c Config) ConnectEvents(ctx context.Context) (*EventConn, error) {
	return NewEventConnection(ctx, c)
}

// isHerald reports whether the server has Herald's features: cfg's
// AssumeHerald, else Ping's version.
func isHerald(ctx context.Context, s *settings, cl *client.Client) (bool, error) {
	if s.AssumeHerald != nil {
		return *s.AssumeHerald, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.RequestTimeout)
	defer cancel()
	info, err := cl.Ping(ctx)
	if err != nil {
		return false, fmt.Errorf("cloudevents: ping %s: %w", s.Address, err)
	}
	return strings.Contains(info.Version, "+herald."), nil
}

// createDurable creates the acked durable view of channel for group (§1.6)
// with the start "new"; it is idempotent.
func createDurable(ctx context.Context, s *settings, cl *client.Client, group, channel string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.RequestTimeout)
	defer cancel()
	name, err := cl.CreateESGroup(ctx, group, channel, "new")
	if err != nil {
		if errors.Is(err, client.ErrTimeout) {
			err = fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return "", fmt.Errorf("cloudevents: %w", err)
	}
	return name, nil
}

// Provision creates ahead of use what the configuration's event listeners
// need: the events-store channel(s) (the stream, or with RouteByType one per
// given event type), and, with a DurableName on Herald, the acked durable
// of each channel (starting at the next event) and its dead-letter queue.
// Everything is otherwise created on first use; Provision is idempotent.
func Provision(ctx context.Context, cfg Config, eventTypes ...EventType) error {
	s, err := cfg.settings()
	if err != nil {
		return err
	}
	channels := []string{s.Stream}
	if s.EventRouting == RouteByType {
		channels = channels[:0]
		for _, t := range eventTypes {
			if err := validType(string(t)); err != nil {
				return err
			}
			channels = append(channels, s.eventsChannel(t))
		}
	}
	cl, owned, err := s.dial()
	if err != nil {
		return err
	}
	if owned {
		defer cl.Close()
	}
	for _, ch := range channels {
		if err := cl.CreateChannel(ctx, client.ChannelTypeEventsStore, ch); err != nil {
			return fmt.Errorf("cloudevents: provision %s: %w", ch, err)
		}
	}
	if s.DurableName == "" {
		return nil
	}
	herald, err := isHerald(ctx, &s, cl)
	if err != nil || !herald {
		return err
	}
	for _, ch := range channels {
		if _, err := createDurable(ctx, &s, cl, s.DurableName, ch); err != nil {
			return err
		}
	}
	if err := cl.CreateChannel(ctx, client.ChannelTypeQueues, s.dlqChannel(s.DurableName)); err != nil {
		return fmt.Errorf("cloudevents: provision the dead-letter queue: %w", err)
	}
	return nil
}
