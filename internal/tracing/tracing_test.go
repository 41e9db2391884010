package tracing

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	parentTP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	traceID  = "0af7651916cd43dd8448eb211c80319c"
	spanID   = "b7ad6b7169203331"
)

func recorder(t *testing.T) (*Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return New(tp), rec
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func TestTagsCarrierMatchesKeysIgnoringCase(t *testing.T) {
	tags := Tags{"Traceparent": parentTP, "other": "x"}
	if got := tags.Get(TraceparentTag); got != parentTP {
		t.Fatalf("Get(traceparent) = %q, want the Traceparent tag", got)
	}
	if sc := SpanContextOf(tags); sc.TraceID().String() != traceID || sc.SpanID().String() != spanID || !sc.IsSampled() {
		t.Fatalf("span context %v, want the tag's", sc)
	}
}

func TestExtractIgnoresMalformedTraceparent(t *testing.T) {
	for _, tp := range []string{
		"", "garbage", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01", // zero trace id
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", // zero span id
		"zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
	} {
		ctx := context.Background()
		if got := Extract(ctx, map[string]string{TraceparentTag: tp}); got != ctx {
			t.Errorf("traceparent %q: Extract changed the context", tp)
		}
	}
}

func TestNilTracerRecordsNothing(t *testing.T) {
	var tr *Tracer
	tags := map[string]string{TraceparentTag: parentTP}
	ctx := context.Background()
	if c, sp := tr.Send(ctx, Message{Tags: tags}); c != ctx || sp.IsRecording() {
		t.Fatal("Send of a nil tracer started a span")
	}
	if sp := tr.Deliver(ctx, Message{Tags: tags}, "c", ""); sp.IsRecording() {
		t.Fatal("Deliver of a nil tracer started a span")
	}
	if c, end := tr.Steps(Queues).Settle(ctx, "q", Ack, tags); c != ctx || end == nil {
		t.Fatal("Settle of a nil tracer changed the context")
	}
	if tr.On() {
		t.Fatal("a nil tracer is on")
	}
}

func TestSendIsChildOfTheMessageTrace(t *testing.T) {
	tr, rec := recorder(t)
	_, sp := tr.Send(context.Background(), Message{Pattern: Queues, Channel: "q1", ClientID: "c1", ID: "m1",
		Tags: map[string]string{TraceparentTag: parentTP}, BodySize: 3})
	End(sp, errors.New("refused"))
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "send q1" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want send q1, server", s.Name(), s.SpanKind())
	}
	if s.Parent().TraceID().String() != traceID || s.Parent().SpanID().String() != spanID || !s.Parent().IsRemote() {
		t.Errorf("parent %v, want the tags' context", s.Parent())
	}
	if s.Status().Code != codes.Error {
		t.Errorf("status %v, want an error", s.Status())
	}
	for k, want := range map[string]string{"messaging.system": "kubemq", "messaging.destination.name": "q1",
		"messaging.message.id": "m1", "messaging.client.id": "c1", "herald.pattern": "queues", "messaging.operation.name": "send"} {
		if got := attr(s, k).AsString(); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestSendWithoutTraceContextStartsATrace(t *testing.T) {
	tr, rec := recorder(t)
	_, sp := tr.Send(context.Background(), Message{Pattern: Events, Channel: "e", Tags: map[string]string{"a": "b"}})
	sp.End()
	if s := rec.Ended(); len(s) != 1 || s[0].Parent().IsValid() {
		t.Fatalf("want one root span, got %v", s)
	}
}

func TestDeliverOnlyInTheMessageTrace(t *testing.T) {
	tr, rec := recorder(t)
	if sp := tr.Deliver(context.Background(), Message{Channel: "e", Tags: map[string]string{TraceparentTag: "bad"}}, "c", "g"); sp.IsRecording() {
		t.Fatal("a message without trace context got a deliver span")
	}
	sp := tr.Deliver(context.Background(), Message{Pattern: Events, Channel: "e", Tags: map[string]string{TraceparentTag: parentTP}}, "sub", "g1")
	sp.End()
	s := rec.Ended()
	if len(s) != 1 || s[0].Name() != "deliver e" || s[0].SpanKind() != trace.SpanKindProducer || s[0].Parent().SpanID().String() != spanID {
		t.Fatalf("want deliver e, producer, child of the tags: %v", s)
	}
	if attr(s[0], "messaging.client.id").AsString() != "sub" || attr(s[0], "messaging.consumer.group.name").AsString() != "g1" {
		t.Errorf("consumer attributes missing: %v", s[0].Attributes())
	}
}

func TestStoreIsChildOfTheSendAndSettleOfTheMessage(t *testing.T) {
	tr, rec := recorder(t)
	steps := tr.Steps(Queues)
	ctx, send := tr.Send(context.Background(), Message{Channel: "q"}) // a new trace
	_, end := steps.Store(ctx, "q", map[string]string{TraceparentTag: parentTP})
	end(nil)
	// A settle inside another span still belongs to the message's trace.
	_, end = steps.Settle(ctx, "q", Ack, map[string]string{TraceparentTag: parentTP})
	end(nil)
	send.End()
	// Without trace context, a settle belongs to nothing.
	if _, end := steps.Settle(context.Background(), "q", Ack, nil); end == nil {
		t.Fatal("nil end")
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = s
	}
	if len(byName) != 3 {
		t.Fatalf("spans %v, want send, store, settle", byName)
	}
	sendSC := byName["send q"].SpanContext()
	if p := byName["store q"].Parent(); p.SpanID() != sendSC.SpanID() {
		t.Errorf("store's parent %v, want the send span", p)
	}
	st := byName["settle q"]
	if st.Parent().SpanID().String() != spanID || attr(st, "herald.settle.action").AsString() != Ack {
		t.Errorf("settle: parent %v, attributes %v", st.Parent(), st.Attributes())
	}
}

func TestSendBatchLinksTheOtherTraces(t *testing.T) {
	tr, rec := recorder(t)
	other := "00-11111111111111111111111111111111-2222222222222222-01"
	_, sp := tr.SendBatch(context.Background(), Queues, []string{"a", "b", "a"},
		[]map[string]string{nil, {TraceparentTag: parentTP}, {TraceparentTag: other}})
	sp.End()
	s := rec.Ended()
	if len(s) != 1 || s[0].Name() != "send" || s[0].Parent().SpanID().String() != spanID {
		t.Fatalf("want one span named send, child of the first context: %v", s)
	}
	if l := s[0].Links(); len(l) != 1 || l[0].SpanContext.TraceID().String() != "11111111111111111111111111111111" {
		t.Errorf("links %v, want the second trace", l)
	}
	if attr(s[0], "messaging.batch.message_count").AsInt64() != 3 {
		t.Errorf("batch count missing: %v", s[0].Attributes())
	}
}
