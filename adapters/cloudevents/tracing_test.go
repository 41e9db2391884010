package cloudevents_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldmq/herald/adapters/cloudevents"
)

const ceTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// The distributed-tracing extension is also a plain traceparent tag, which
// Herald and KubeMQ clients read; a plain tag alone becomes the extension.
func TestCETraceContextInTagsAndExtension(t *testing.T) {
	for _, enc := range []cloudevents.Encoding{cloudevents.Structured, cloudevents.Binary} {
		ce := newEvent(t, "org.test.Traced", "x")
		ce.SetExtension(cloudevents.TraceparentExtension, ceTraceparent)
		ce.SetExtension(cloudevents.TracestateExtension, "v=1")
		w, err := cloudevents.Encode(ce, enc)
		if err != nil {
			t.Fatal(err)
		}
		if w.Tags["traceparent"] != ceTraceparent || w.Tags["tracestate"] != "v=1" {
			t.Errorf("encoding %d: tags %v lack the trace context", enc, w.Tags)
		}
		back, err := cloudevents.Decode(w)
		if err != nil {
			t.Fatal(err)
		}
		if back.Extensions()[cloudevents.TraceparentExtension] != ceTraceparent {
			t.Errorf("encoding %d: decoded extensions %v", enc, back.Extensions())
		}

		// A message whose producer put the context in the tag only.
		plain := newEvent(t, "org.test.Traced", "x")
		w, err = cloudevents.Encode(plain, enc)
		if err != nil {
			t.Fatal(err)
		}
		w.Tags["traceparent"] = ceTraceparent
		back, err = cloudevents.Decode(w)
		if err != nil {
			t.Fatal(err)
		}
		sc := trace.SpanContextFromContext(cloudevents.ContextFromEvent(context.Background(), back))
		if sc.SpanID().String() != "b7ad6b7169203331" {
			t.Errorf("encoding %d: context from the tag %v", enc, sc)
		}
		w.Tags["traceparent"] = "00-garbage"
		if back, _ = cloudevents.Decode(w); back.Extensions()[cloudevents.TraceparentExtension] != nil {
			t.Errorf("encoding %d: a malformed traceparent became the extension", enc)
		}
	}
}

// A query carries the requester's trace context to the handler, whose
// reply comes back in the same trace.
func TestCEQueryHandlerRunsInTheRequestersTrace(t *testing.T) {
	srv := newServer(t)
	responder := queryConn(t, config(srv, "traced-responder"))
	seen := make(chan trace.SpanContext, 1)
	listenQueries(t, responder, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{
		"org.test.Traced": func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
			seen <- trace.SpanContextFromContext(ctx)
			reply := newEvent(nil, "org.test.Reply", "ok")
			_ = w.Write(reply)
		}})
	requester := queryConn(t, config(srv, "traced-requester"))
	caller := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(ctxFor(t, 10*time.Second), caller)
	req := newEvent(t, "org.test.Traced", "q")
	reply, err := requester.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := req.Extensions()[cloudevents.TraceparentExtension]; ok {
		t.Error("Request changed the caller's event")
	}
	if got := <-seen; got.TraceID() != caller.TraceID() || got.SpanID() != caller.SpanID() {
		t.Errorf("handler context %v, want the requester's %v", got, caller)
	}
	if got := trace.SpanContextFromContext(cloudevents.ContextFromEvent(context.Background(), reply)); got.TraceID() != caller.TraceID() {
		t.Errorf("reply in trace %v, want %v", got.TraceID(), caller.TraceID())
	}
}
