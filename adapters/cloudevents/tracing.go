package cloudevents

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldmq/herald/client"
)

// The attributes of the CloudEvents distributed-tracing extension: the W3C
// trace context of the event's creation.
const (
	TraceparentExtension = "traceparent"
	TracestateExtension  = "tracestate"
)

// ContextFromEvent returns ctx carrying the trace context of ce's
// distributed-tracing extension (traceparent, tracestate), for the span of
// its handling; ctx itself when ce has none, or a malformed one. Handlers
// and the Protocol's received messages get this context already.
func ContextFromEvent(ctx context.Context, ce Event) context.Context {
	tp, _ := ce.Extensions()[TraceparentExtension].(string)
	if tp == "" {
		return ctx
	}
	ts, _ := ce.Extensions()[TracestateExtension].(string)
	return client.ContextFromTags(ctx, map[string]string{client.TraceparentTag: tp, client.TracestateTag: ts})
}

// withTraceContext returns ce with the trace context of ctx's span as its
// distributed-tracing extension: a copy, and only when ce has none (a
// creation context the event already carries is kept).
func withTraceContext(ctx context.Context, ce Event) Event {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ce
	}
	if _, ok := ce.Extensions()[TraceparentExtension]; ok {
		return ce
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	ce = ce.Clone()
	for _, k := range []string{TraceparentExtension, TracestateExtension} {
		if v := carrier[k]; v != "" {
			ce.SetExtension(k, v)
		}
	}
	return ce
}

// traceTags copies ce's distributed-tracing extension into the plain
// traceparent and tracestate tags, where Herald and KubeMQ clients that are
// not CloudEvents-aware read the trace context.
func traceTags(ce Event, tags map[string]string) {
	for _, k := range []string{TraceparentExtension, TracestateExtension} {
		if v, ok := ce.Extensions()[k].(string); ok && v != "" {
			tags[k] = v
		}
	}
}

// traceFromTags sets ce's distributed-tracing extension from the plain
// traceparent and tracestate tags, when ce has none: the context a
// producer's SDK or a KubeMQ client put in the message.
func traceFromTags(ce *Event, tags map[string]string) {
	if _, ok := ce.Extensions()[TraceparentExtension]; ok {
		return
	}
	tp := tags[client.TraceparentTag]
	if tp == "" || !trace.SpanContextFromContext(client.ContextFromTags(context.Background(), tags)).IsValid() {
		return // absent or malformed: nothing to carry
	}
	ce.SetExtension(TraceparentExtension, tp)
	if ts := tags[client.TracestateTag]; ts != "" {
		ce.SetExtension(TracestateExtension, ts)
	}
}
