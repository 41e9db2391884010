package client_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
)

const testTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// spanCtx returns a context holding a sampled span, and the span.
func spanCtx(t *testing.T) (context.Context, trace.Span, *tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "root")
	t.Cleanup(func() { span.End() })
	return ctx, span, rec, tp
}

func TestInjectTagsCopiesAndKeepsACallersTraceparent(t *testing.T) {
	ctx, span, _, _ := spanCtx(t)
	tags := map[string]string{"a": "1"}
	out := client.InjectTags(ctx, tags)
	if len(tags) != 1 {
		t.Fatalf("InjectTags changed its input: %v", tags)
	}
	if sc := trace.SpanContextFromContext(client.ContextFromTags(context.Background(), out)); sc.SpanID() != span.SpanContext().SpanID() || out["a"] != "1" {
		t.Fatalf("injected %v, want the span's context and the tag a", out)
	}
	own := map[string]string{"Traceparent": testTraceparent}
	if got := client.InjectTags(ctx, own); got["Traceparent"] != testTraceparent || len(got) != 1 {
		t.Errorf("a traceparent the caller set was replaced: %v", got)
	}
	if got := client.InjectTags(context.Background(), tags); len(got) != 1 {
		t.Errorf("a context without span added tags: %v", got)
	}
}

func TestContextFromTagsIgnoresMalformedTraceparent(t *testing.T) {
	ctx := context.Background()
	for _, tp := range []string{"", "x", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "01-zz"} {
		if got := client.ContextFromTags(ctx, map[string]string{client.TraceparentTag: tp}); got != ctx {
			t.Errorf("traceparent %q changed the context", tp)
		}
	}
	sc := trace.SpanContextFromContext(client.ContextFromTags(ctx, map[string]string{
		client.TraceparentTag: testTraceparent, client.TracestateTag: "v=1"}))
	if !sc.IsRemote() || sc.SpanID().String() != "b7ad6b7169203331" || sc.TraceState().String() != "v=1" {
		t.Errorf("span context %v", sc)
	}
}

func TestSendsCarryTheCallersTraceContext(t *testing.T) {
	srv := newServer(t)
	ctx, span, rec, tp := spanCtx(t)
	c := newClient(t, srv, client.WithTracerProvider(tp))
	ch := uniq("trace.q")
	msg := c.QM().SetChannel(ch).SetBody([]byte("b")).AddTag("k", "v")
	if _, err := msg.Send(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := msg.Tags[client.TraceparentTag]; ok {
		t.Error("Send changed the message's own tags")
	}
	// A batch and the queue stream carry it too.
	if _, err := c.QMB().Add(c.QM().SetChannel(ch).SetBody([]byte("b2"))).Send(ctx); err != nil {
		t.Fatal(err)
	}
	qs, err := queuesstream.FromClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer qs.Close()
	if _, err := qs.Send(ctx, queuesstream.NewQueueMessage().SetChannel(ch).SetBody([]byte("b3"))); err != nil {
		t.Fatal(err)
	}
	rr, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(3).SetWaitTimeSeconds(2).Send(testCtx(t, 10*time.Second))
	if err != nil || len(rr.Messages) != 3 {
		t.Fatalf("receive: %v %v", err, rr)
	}
	// The SDK's send spans are the messages' creation context; the stream,
	// which records no span, carries the caller's.
	sends := map[trace.SpanID]bool{}
	for _, s := range rec.Ended() {
		if s.Name() == "send "+ch && s.SpanKind() == trace.SpanKindProducer && s.Parent().SpanID() == span.SpanContext().SpanID() {
			sends[s.SpanContext().SpanID()] = true
		}
	}
	if len(sends) != 2 {
		t.Fatalf("%d send spans under the caller's, want 2", len(sends))
	}
	for i, m := range rr.Messages {
		sc := trace.SpanContextFromContext(client.ContextFromTags(context.Background(), m.Tags))
		if sc.TraceID() != span.SpanContext().TraceID() {
			t.Errorf("message %d: traceparent %q, want the caller's trace", i, m.Tags[client.TraceparentTag])
		}
		if i < 2 && !sends[sc.SpanID()] {
			t.Errorf("message %d: parent %s is not a send span", i, sc.SpanID())
		}
		if i == 2 && sc.SpanID() != span.SpanContext().SpanID() {
			t.Errorf("stream message: parent %s, want the caller's span", sc.SpanID())
		}
	}
	if rr.Messages[0].Tags["k"] != "v" {
		t.Errorf("tags %v lost the sender's", rr.Messages[0].Tags)
	}
}

func TestWithPropagatorEmptyWritesNoTraceContext(t *testing.T) {
	srv := newServer(t)
	ctx, _, _, _ := spanCtx(t)
	c := newClient(t, srv, client.WithPropagator(propagation.NewCompositeTextMapPropagator()))
	ch := uniq("trace.noprop")
	if _, err := c.QM().SetChannel(ch).SetBody([]byte("b")).Send(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(testCtx(t, 10*time.Second))
	if err != nil || len(rr.Messages) != 1 {
		t.Fatalf("receive: %v %v", err, rr)
	}
	if len(rr.Messages[0].Tags) != 0 {
		t.Errorf("tags %v, want none", rr.Messages[0].Tags)
	}
}

// kubemq-go's AddTrace names the span of the send and gives it attributes.
func TestAddTraceNamesTheSpan(t *testing.T) {
	srv := newServer(t)
	ctx, _, rec, tp := spanCtx(t)
	c := newClient(t, srv, client.WithTracerProvider(tp))
	msg := c.QM().SetChannel(uniq("trace.named")).SetBody([]byte("b"))
	msg.AddTrace("enqueue-order").AddStringAttribute("order", "42")
	if _, err := msg.Send(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.Ended() {
		if s.Name() == "enqueue-order" {
			for _, kv := range s.Attributes() {
				if kv.Key == "order" && kv.Value.AsString() == "42" {
					return
				}
			}
			t.Fatalf("attributes %v lack order=42", s.Attributes())
		}
	}
	t.Fatal("no span named enqueue-order")
}
