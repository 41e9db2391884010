package queuemsg

import (
	"testing"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

func TestSetFillsAMessageBuiltWithoutConstructor(t *testing.T) {
	var m *kubemqpb.QueueMessage
	tags := map[string]string{"a": "1"}
	for _, f := range []Field{ID("id"), ClientID("me"), Channel("q"), Metadata("md"), Body([]byte("b")), Tags(tags),
		Tag("b", "2"), ExpirationSeconds(60), DelaySeconds(5), MaxReceiveCount(3), MaxReceiveQueue("q.dlq")} {
		Set(&m, f)
	}
	tags["a"] = "changed"
	if m.MessageID != "id" || m.ClientID != "me" || m.Channel != "q" || m.Metadata != "md" || string(m.Body) != "b" ||
		len(m.Tags) != 2 || m.Tags["a"] != "1" || m.Tags["b"] != "2" {
		t.Errorf("message %v", m)
	}
	if p := m.Policy; p.ExpirationSeconds != 60 || p.DelaySeconds != 5 || p.MaxReceiveCount != 3 || p.MaxReceiveQueue != "q.dlq" {
		t.Errorf("policy %v", p)
	}
	var empty *kubemqpb.QueueMessage
	if Set(&empty, Tags(nil)); empty.Tags == nil || len(empty.Tags) != 0 {
		t.Errorf("Tags(nil) gave %v, want an empty map", empty.Tags)
	}
}

func TestWireFillsTheClientID(t *testing.T) {
	m := &kubemqpb.QueueMessage{Channel: "q", Attributes: &kubemqpb.QueueMessageAttributes{Sequence: 7}}
	if w := Wire(m, "default"); w.ClientID != "default" || w.Channel != "q" || w.Attributes != nil || m.ClientID != "" {
		t.Errorf("wire %v of %v", w, m)
	}
	m.ClientID = "own"
	if w := Wire(m, "default"); w.ClientID != "own" {
		t.Errorf("wire client id %q, want the message's own", w.ClientID)
	}
}
