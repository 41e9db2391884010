package queues

import (
	"time"

	"github.com/heraldmq/herald/internal/pattern/envelope"
	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// Policy is a message's delivery policy. Expiration and Delay are whole
// seconds on the wire and in the store.
type Policy struct {
	Expiration      time.Duration // 0 = never
	Delay           time.Duration
	MaxReceiveCount int32  // 0 on send means the server maximum
	MaxReceiveQueue string // dead-letter queue; "" drops the message instead
}

// Attributes are filled by the server on delivery.
type Attributes struct {
	Timestamp         int64 // Unix ns this copy entered the queue
	Sequence          uint64
	ReceiveCount      int32
	ReRouted          bool
	ReRoutedFromQueue string
	ExpirationAt      int64 // Unix ns, 0 = never
	DelayedTo         int64 // always 0 on delivery
}

// Message is a queue message.
type Message struct {
	ID           string
	ClientID     string
	Channel      string
	Metadata     string
	Body         []byte
	Tags         map[string]string
	Policy       Policy
	Topic        string
	Partition    int32
	PartitionKey string
	Attributes   Attributes

	// stored state, kept in the envelope
	receiveCount int32 // deliveries counted so far (shown +1 on the next one)
}

// Result reports a send.
type Result struct {
	MessageID    string
	SentAt       int64 // Unix ns, 0 on error
	ExpirationAt int64
	DelayedTo    int64
	Err          error
}

// Limits are the server's caps on queue requests (KubeMQ's queue.* settings).
type Limits struct {
	MaxNumberOfMessages int32 // per receive (default 1024)
	MaxWaitSeconds      int32 // receive/ack-all/stream wait (default 3600)
	MaxExpiration       int32 // seconds (default 43200)
	MaxDelay            int32 // seconds (default 43200)
	MaxReceiveCount     int32 // also the value stored for 0 (default 1024)
	MaxVisibility       int32 // seconds (default 43200)
	DefaultVisibility   int32 // seconds, for 0 (default 60)
	DefaultWait         int32 // seconds, for 0 (default 1)
}

func (l *Limits) setDefaults() {
	def := func(v *int32, d int32) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxNumberOfMessages, 1024)
	def(&l.MaxWaitSeconds, 3600)
	def(&l.MaxExpiration, 43200)
	def(&l.MaxDelay, 43200)
	def(&l.MaxReceiveCount, 1024)
	def(&l.MaxVisibility, 43200)
	def(&l.DefaultVisibility, 60)
	def(&l.DefaultWait, 1)
}

// validate checks a message to send in the reference's order (§8.1) and
// normalises its policy.
func (l *Limits) validate(m *Message) error {
	if err := kmq.ValidateClientID(m.ClientID); err != nil {
		return err
	}
	if err := kmq.ValidateQueueChannel(m.Channel); err != nil {
		return err
	}
	if m.Metadata == "" && len(m.Body) == 0 {
		return kmq.ErrEmptyMessage
	}
	p := &m.Policy
	if p.Expiration < 0 || p.Expiration > seconds(l.MaxExpiration) {
		return kmq.ErrExpiration
	}
	if p.MaxReceiveCount < 0 || p.MaxReceiveCount > l.MaxReceiveCount {
		return kmq.ErrMaxReceiveCount
	}
	if p.Delay < 0 || p.Delay > seconds(l.MaxDelay) {
		return kmq.ErrDelay
	}
	if p.MaxReceiveQueue != "" {
		if err := kmq.ValidateQueueChannel(p.MaxReceiveQueue); err != nil {
			return err
		}
	}
	if p.MaxReceiveCount == 0 {
		p.MaxReceiveCount = l.MaxReceiveCount
	}
	return nil
}

func seconds(n int32) time.Duration { return time.Duration(n) * time.Second }

// wait checks a receive's wait: 0 means the default.
func (l *Limits) wait(d time.Duration) (time.Duration, error) {
	if d < 0 || d > seconds(l.MaxWaitSeconds) {
		return 0, kmq.ErrWaitTimeout
	}
	if d == 0 {
		d = seconds(l.DefaultWait)
	}
	return d, nil
}

// visibility checks a stream transaction's visibility: 0 means the default.
func (l *Limits) visibility(d time.Duration) (time.Duration, error) {
	if d < 0 || d > seconds(l.MaxVisibility) {
		return 0, kmq.ErrVisibility
	}
	if d == 0 {
		d = seconds(l.DefaultVisibility)
	}
	return d, nil
}

// maxVisibility is the longest any message may be held.
func (l *Limits) maxVisibility() time.Duration { return seconds(l.MaxVisibility) }

// stamp sets the times a send reports and stores.
func (m *Message) stamp(now time.Time) (delayedTo, expirationAt int64) {
	if m.Policy.Delay > 0 {
		delayedTo = now.Add(m.Policy.Delay).UnixNano()
	}
	if m.Policy.Expiration > 0 {
		expirationAt = now.Add(m.Policy.Expiration + m.Policy.Delay).UnixNano()
	}
	m.Attributes.ExpirationAt = expirationAt
	return delayedTo, expirationAt
}

func (m *Message) encode() []byte {
	w := envelope.NewWriter(len(m.Body) + len(m.Metadata) + len(m.ID) + len(m.ClientID) + 64 + 32*len(m.Tags))
	w.String(m.ID)
	w.String(m.ClientID)
	w.String(m.Metadata)
	w.Blob(m.Body)
	w.Map(m.Tags)
	w.Int(int64(m.Policy.Expiration / time.Second))
	w.Int(int64(m.Policy.Delay / time.Second))
	w.Int(int64(m.Policy.MaxReceiveCount))
	w.String(m.Policy.MaxReceiveQueue)
	w.String(m.Topic)
	w.Int(int64(m.Partition))
	w.String(m.PartitionKey)
	w.Int(int64(m.receiveCount))
	w.Bool(m.Attributes.ReRouted)
	w.String(m.Attributes.ReRoutedFromQueue)
	w.Int(m.Attributes.ExpirationAt)
	return w.Bytes()
}

func (m *Message) decode(b []byte) error {
	r := envelope.NewReader(b)
	m.ID = r.String()
	m.ClientID = r.String()
	m.Metadata = r.String()
	m.Body = r.Blob()
	m.Tags = r.Map()
	m.Policy.Expiration = time.Duration(r.Int()) * time.Second
	m.Policy.Delay = time.Duration(r.Int()) * time.Second
	m.Policy.MaxReceiveCount = int32(r.Int())
	m.Policy.MaxReceiveQueue = r.String()
	m.Topic = r.String()
	m.Partition = int32(r.Int())
	m.PartitionKey = r.String()
	m.receiveCount = int32(r.Int())
	m.Attributes.ReRouted = r.Bool()
	m.Attributes.ReRoutedFromQueue = r.String()
	m.Attributes.ExpirationAt = r.Int()
	return r.Err()
}

// expired reports whether the message has expired at now.
func (m *Message) expired(now time.Time) bool {
	return m.Attributes.ExpirationAt != 0 && now.UnixNano() >= m.Attributes.ExpirationAt
}
