package queuesstream

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client/internal/queuemsg"
)

// QueueMessage is a message to send, or a message received by Poll. It
// embeds the wire message (msg.MessageID, msg.Body, msg.Attributes.Sequence,
// …) and, for received messages, its transaction.
type QueueMessage struct {
	*kubemqpb.QueueMessage
	*responseHandler

	mu                 sync.Mutex
	visibilityDuration time.Duration
	visibilityTimer    *time.Timer
	isCompleted        atomic.Bool
	completeReason     string
}

// NewQueueMessage returns an empty message to send.
func NewQueueMessage() *QueueMessage {
	return &QueueMessage{QueueMessage: &kubemqpb.QueueMessage{Tags: map[string]string{}, Policy: &kubemqpb.QueueMessagePolicy{}}}
}

func newQueueMessageFrom(m *kubemqpb.QueueMessage) *QueueMessage {
	return &QueueMessage{QueueMessage: m}
}

func (qm *QueueMessage) setResponseHandler(h *responseHandler) *QueueMessage {
	qm.responseHandler = h
	qm.visibilityDuration = time.Duration(h.visibilitySeconds) * time.Second
	if h.isAutoAck {
		qm.isCompleted.Store(true)
		qm.completeReason = "auto ack"
	}
	return qm
}

func (qm *QueueMessage) pb() *kubemqpb.QueueMessage { return queuemsg.Of(&qm.QueueMessage) }

// wire returns the message to send with the client id filled in.
func (qm *QueueMessage) wire(clientID string) *kubemqpb.QueueMessage {
	return queuemsg.Wire(qm.pb(), clientID)
}

func (qm *QueueMessage) sequence() uint64 {
	if qm.QueueMessage == nil || qm.Attributes == nil {
		return 0
	}
	return qm.Attributes.Sequence
}

// set applies f to the wire message; the setters return its result.
func (qm *QueueMessage) set(f queuemsg.Field) *QueueMessage {
	queuemsg.Set(&qm.QueueMessage, f)
	return qm
}

// SetId sets the message id; the server generates one when it is empty.
func (qm *QueueMessage) SetId(id string) *QueueMessage {
	return qm.set(queuemsg.ID(id))
}

// SetClientId sets the sender's client id (default: the client's).
func (qm *QueueMessage) SetClientId(clientId string) *QueueMessage {
	return qm.set(queuemsg.ClientID(clientId))
}

// SetChannel sets the queue.
func (qm *QueueMessage) SetChannel(channel string) *QueueMessage {
	return qm.set(queuemsg.Channel(channel))
}

// SetMetadata sets the metadata; a message needs metadata or a body.
func (qm *QueueMessage) SetMetadata(metadata string) *QueueMessage {
	return qm.set(queuemsg.Metadata(metadata))
}

// SetBody sets the body; a message needs metadata or a body.
func (qm *QueueMessage) SetBody(body []byte) *QueueMessage {
	return qm.set(queuemsg.Body(body))
}

// SetTags replaces the tags with a copy of tags.
func (qm *QueueMessage) SetTags(tags map[string]string) *QueueMessage {
	return qm.set(queuemsg.Tags(tags))
}

// AddTag adds one tag.
func (qm *QueueMessage) AddTag(key, value string) *QueueMessage {
	return qm.set(queuemsg.Tag(key, value))
}

// SetPolicyExpirationSeconds sets after how many seconds the message expires
// unreceived (0: never).
func (qm *QueueMessage) SetPolicyExpirationSeconds(sec int) *QueueMessage {
	return qm.set(queuemsg.ExpirationSeconds(sec))
}

// SetPolicyDelaySeconds sets how many seconds the message stays invisible
// after it is sent.
func (qm *QueueMessage) SetPolicyDelaySeconds(sec int) *QueueMessage {
	return qm.set(queuemsg.DelaySeconds(sec))
}

// SetPolicyMaxReceiveCount sets how many times the message may be delivered
// before it moves to MaxReceiveQueue (or is dropped without one).
func (qm *QueueMessage) SetPolicyMaxReceiveCount(max int) *QueueMessage {
	return qm.set(queuemsg.MaxReceiveCount(max))
}

// SetPolicyMaxReceiveQueue sets the dead-letter queue.
func (qm *QueueMessage) SetPolicyMaxReceiveQueue(channel string) *QueueMessage {
	return qm.set(queuemsg.MaxReceiveQueue(channel))
}

func (qm *QueueMessage) begin(reason string) error {
	if qm.responseHandler == nil {
		return errors.New("function not valid")
	}
	qm.mu.Lock()
	defer qm.mu.Unlock()
	if qm.isCompleted.Load() {
		return fmt.Errorf("message already completed, reason: %s", qm.completeReason)
	}
	qm.isCompleted.Store(true)
	qm.completeReason = reason
	if qm.visibilityTimer != nil {
		qm.visibilityTimer.Stop()
	}
	return nil
}

// Ack removes the message from its queue.
func (qm *QueueMessage) Ack() error {
	if err := qm.begin("ack"); err != nil {
		return err
	}
	return qm.responseHandler.AckOffsets(int64(qm.sequence()))
}

// NAck returns the message to the tail of its queue.
func (qm *QueueMessage) NAck() error {
	if err := qm.begin("nack"); err != nil {
		return err
	}
	return qm.responseHandler.NAckOffsets(int64(qm.sequence()))
}

// ReQueue moves the message to the queue channel.
func (qm *QueueMessage) ReQueue(channel string) error {
	if err := qm.begin("requeue"); err != nil {
		return err
	}
	return qm.responseHandler.ReQueueOffsets(channel, int64(qm.sequence()))
}

func (qm *QueueMessage) nackOnVisibility() {
	if err := qm.begin("visibility timeout"); err != nil {
		return
	}
	if err := qm.responseHandler.NAckOffsets(int64(qm.sequence())); err != nil {
		qm.responseHandler.sendError(fmt.Errorf("visibility expired, nack of message %d failed: %w", qm.sequence(), err))
	}
}

func (qm *QueueMessage) setCompleted(reason string) {
	qm.mu.Lock()
	defer qm.mu.Unlock()
	if !qm.isCompleted.Load() {
		qm.isCompleted.Store(true)
		qm.completeReason = reason
	}
	if qm.visibilityTimer != nil {
		qm.visibilityTimer.Stop()
	}
}

// ExtendVisibility gives the message visibilitySeconds more from now before
// it is NAcked; the poll must have set VisibilitySeconds.
func (qm *QueueMessage) ExtendVisibility(visibilitySeconds int) error {
	if qm.isCompleted.Load() {
		return errors.New("message already completed")
	}
	if visibilitySeconds < 1 {
		return invalidArgument(errors.New("visibility seconds must be greater than 0"))
	}
	qm.mu.Lock()
	defer qm.mu.Unlock()
	if qm.visibilityDuration == 0 || qm.visibilityTimer == nil {
		return errors.New("visibility timer not set for this message")
	}
	if !qm.visibilityTimer.Stop() {
		return errors.New("visibility timer already expired")
	}
	qm.visibilityTimer.Reset(time.Duration(visibilitySeconds) * time.Second)
	return nil
}

func (qm *QueueMessage) startVisibilityTimer() {
	qm.mu.Lock()
	defer qm.mu.Unlock()
	if qm.visibilityDuration == 0 || qm.isCompleted.Load() {
		return
	}
	qm.visibilityTimer = time.AfterFunc(qm.visibilityDuration, qm.nackOnVisibility)
}

func (qm *QueueMessage) String() string {
	m := qm.pb()
	return fmt.Sprintf("Id: %s, ClientId: %s, Channel: %s, Metadata: %s, Body: %s, Tags: %v, Policy: %s, Attributes: %s",
		m.MessageID, m.ClientID, m.Channel, m.Metadata, m.Body, m.Tags, policyToString(m.Policy), attributesToString(m.Attributes))
}

func policyToString(p *kubemqpb.QueueMessagePolicy) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("ExpirationSeconds: %d, DelaySeconds: %d, MaxReceiveCount: %d, MaxReceiveQueue: %s",
		p.ExpirationSeconds, p.DelaySeconds, p.MaxReceiveCount, p.MaxReceiveQueue)
}

func attributesToString(a *kubemqpb.QueueMessageAttributes) string {
	if a == nil {
		return ""
	}
	at := func(ns int64) string {
		if ns == 0 {
			return "-"
		}
		return time.Unix(0, ns).String()
	}
	return fmt.Sprintf("Sequence: %d, Timestamp: %s, ReceiveCount: %d, ReRouted: %t, ReRoutedFromQueue: %s, ExpirationAt: %s, DelayedTo: %s",
		a.Sequence, at(a.Timestamp), a.ReceiveCount, a.ReRouted, a.ReRoutedFromQueue, at(a.ExpirationAt), at(a.DelayedTo))
}
