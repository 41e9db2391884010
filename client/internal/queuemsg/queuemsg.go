// Package queuemsg fills the wire message of the SDK's two queue message
// types, client.QueueMessage and queuesstream.QueueMessage. Their setters
// chain, each returning its own type, so both types declare them: each
// setter applies one Field of this package with Set.
package queuemsg

import kubemqpb "github.com/heraldmq/herald/api/kubemq"

// Field sets fields of a wire queue message.
type Field func(m *kubemqpb.QueueMessage)

// Of returns *m, creating an empty message there first when it is nil (a
// public message type built without its constructor).
func Of(m **kubemqpb.QueueMessage) *kubemqpb.QueueMessage {
	if *m == nil {
		*m = &kubemqpb.QueueMessage{}
	}
	return *m
}

// Set applies f to the message in *m (see Of).
func Set(m **kubemqpb.QueueMessage, f Field) { f(Of(m)) }

// ID sets the message id.
func ID(id string) Field { return func(m *kubemqpb.QueueMessage) { m.MessageID = id } }

// ClientID sets the sender's client id.
func ClientID(id string) Field { return func(m *kubemqpb.QueueMessage) { m.ClientID = id } }

// Channel sets the queue.
func Channel(channel string) Field { return func(m *kubemqpb.QueueMessage) { m.Channel = channel } }

// Metadata sets the metadata.
func Metadata(metadata string) Field { return func(m *kubemqpb.QueueMessage) { m.Metadata = metadata } }

// Body sets the body.
func Body(body []byte) Field { return func(m *kubemqpb.QueueMessage) { m.Body = body } }

// Tags replaces the tags with a copy of tags (an empty map for nil).
func Tags(tags map[string]string) Field {
	return func(m *kubemqpb.QueueMessage) {
		m.Tags = make(map[string]string, len(tags))
		for k, v := range tags {
			m.Tags[k] = v
		}
	}
}

// Tag adds one tag.
func Tag(key, value string) Field {
	return func(m *kubemqpb.QueueMessage) {
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		m.Tags[key] = value
	}
}

// policy is a Field that sets fields of the message's policy, creating it
// when it is nil.
func policy(f func(p *kubemqpb.QueueMessagePolicy)) Field {
	return func(m *kubemqpb.QueueMessage) {
		if m.Policy == nil {
			m.Policy = &kubemqpb.QueueMessagePolicy{}
		}
		f(m.Policy)
	}
}

// ExpirationSeconds sets the policy's expiration.
func ExpirationSeconds(sec int) Field {
	return policy(func(p *kubemqpb.QueueMessagePolicy) { p.ExpirationSeconds = int32(sec) })
}

// DelaySeconds sets the policy's delay.
func DelaySeconds(sec int) Field {
	return policy(func(p *kubemqpb.QueueMessagePolicy) { p.DelaySeconds = int32(sec) })
}

// MaxReceiveCount sets the policy's receive limit.
func MaxReceiveCount(count int) Field {
	return policy(func(p *kubemqpb.QueueMessagePolicy) { p.MaxReceiveCount = int32(count) })
}

// MaxReceiveQueue sets the policy's dead-letter queue.
func MaxReceiveQueue(channel string) Field {
	return policy(func(p *kubemqpb.QueueMessagePolicy) { p.MaxReceiveQueue = channel })
}

// Wire returns the message to send: the sent fields of m, with clientID
// when m has no client id of its own.
func Wire(m *kubemqpb.QueueMessage, clientID string) *kubemqpb.QueueMessage {
	if m.ClientID != "" {
		clientID = m.ClientID
	}
	return &kubemqpb.QueueMessage{
		MessageID: m.MessageID, ClientID: clientID, Channel: m.Channel, Metadata: m.Metadata, Body: m.Body,
		Tags: m.Tags, Policy: m.Policy, Topic: m.Topic, Partition: m.Partition, PartitionKey: m.PartitionKey,
	}
}
