package grpctransport

import (
	"errors"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

func TestCountElements(t *testing.T) {
	batch := func(n, tags int) proto.Message {
		ms := make([]*kubemqpb.QueueMessage, n)
		for i := range ms {
			ms[i] = &kubemqpb.QueueMessage{ClientID: "c", Channel: "q", Body: []byte("b")}
			if tags > 0 {
				ms[i].Tags = map[string]string{}
				for j := range tags {
					ms[i].Tags[string(rune('a'+j))] = "v"
				}
			}
		}
		return &kubemqpb.QueueMessagesBatchRequest{BatchID: "b", Messages: ms}
	}
	for _, tc := range []struct {
		name string
		m    proto.Message
		want int
	}{
		{"empty batch", &kubemqpb.QueueMessagesBatchRequest{}, 0},
		{"batch of 3", batch(3, 0), 3},
		{"batch of 3 with 2 tags each", batch(3, 2), 9},
		{"empty messages of a batch", &kubemqpb.QueueMessagesBatchRequest{Messages: []*kubemqpb.QueueMessage{{}, {}}}, 2},
		{"packed sequences", &kubemqpb.QueuesDownstreamRequest{SequenceRange: []int64{1, 300, -1, 1 << 40}}, 4},
		{"upstream", &kubemqpb.QueuesUpstreamRequest{RequestID: "r", Messages: []*kubemqpb.QueueMessage{{Tags: map[string]string{"k": "v"}}}}, 2},
		{"event tags", &kubemqpb.Event{Channel: "c", Tags: map[string]string{"a": "1", "b": "2"}}, 2},
		{"single message field", &kubemqpb.QueueMessage{Policy: &kubemqpb.QueueMessagePolicy{DelaySeconds: 1}}, 0},
	} {
		b, err := proto.Marshal(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		if got := CountElements(b, tc.m.ProtoReflect().Descriptor(), 1000); got != tc.want {
			t.Errorf("%s: %d elements, want %d", tc.name, got, tc.want)
		}
	}
}

func TestGuardedCodecRefusesTooManyElements(t *testing.T) {
	c := newGuardedCodec(10)
	ms := make([]*kubemqpb.QueueMessage, 11)
	for i := range ms {
		ms[i] = &kubemqpb.QueueMessage{}
	}
	b, _ := proto.Marshal(&kubemqpb.QueueMessagesBatchRequest{Messages: ms})
	var out kubemqpb.QueueMessagesBatchRequest
	var tooMany *ErrTooManyElements
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &out); !errors.As(err, &tooMany) || len(out.Messages) != 0 {
		t.Fatalf("11 elements, limit 10: err %v, decoded %d", err, len(out.Messages))
	}
	b, _ = proto.Marshal(&kubemqpb.QueueMessagesBatchRequest{Messages: ms[:10]})
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &out); err != nil || len(out.Messages) != 10 {
		t.Fatalf("10 elements, limit 10: err %v, decoded %d", err, len(out.Messages))
	}
}

// decodedElements counts the repeated elements of a decoded message, as
// CountElements counts them on the wire.
func decodedElements(m protoreflect.Message) int {
	n := 0
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			n += v.Map().Len()
		case fd.IsList():
			l := v.List()
			n += l.Len()
			if fd.Message() != nil {
				for i := range l.Len() {
					n += decodedElements(l.Get(i).Message())
				}
			}
		case fd.Message() != nil:
			n += decodedElements(v.Message())
		}
		return true
	})
	return n
}

// FuzzCountElements: the count on the wire never panics and is never below
// what decoding creates, so the guard cannot be passed by a request that
// decodes into more elements than it was counted for.
func FuzzCountElements(f *testing.F) {
	for _, m := range []proto.Message{
		&kubemqpb.QueueMessagesBatchRequest{Messages: []*kubemqpb.QueueMessage{{Tags: map[string]string{"k": "v"}}, {}}},
		&kubemqpb.QueuesDownstreamRequest{SequenceRange: []int64{1, 2, 300}},
		&kubemqpb.QueuesUpstreamRequest{Messages: []*kubemqpb.QueueMessage{{Policy: &kubemqpb.QueueMessagePolicy{}}}},
		&kubemqpb.Event{Tags: map[string]string{"a": "b"}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []proto.Message{
			&kubemqpb.QueueMessagesBatchRequest{}, &kubemqpb.QueuesDownstreamRequest{},
			&kubemqpb.QueuesUpstreamRequest{}, &kubemqpb.Event{}, &kubemqpb.Request{},
		} {
			counted := CountElements(b, m.ProtoReflect().Descriptor(), 1<<30)
			if proto.Unmarshal(b, m) != nil {
				continue
			}
			if got := decodedElements(m.ProtoReflect()); got > counted {
				t.Fatalf("%T: decoded %d elements, counted %d", m, got, counted)
			}
		}
	})
}
