package client

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The tags that carry W3C trace context (traceparent and tracestate, as
// W3C Trace Context names its headers). Herald reads them to put its spans
// in the message's trace; KubeMQ servers pass them on as any tag.
const (
	TraceparentTag = "traceparent"
	TracestateTag  = "tracestate"
)

// tracingScope is the instrumentation scope of the SDK's spans.
const tracingScope = "github.com/heraldmq/herald/client"

// WithTracerProvider makes the client record a span of every send, request
// and response with tp: "send <channel>" (kind producer) for events,
// events-store events, queue messages and batches, commands and queries
// (covering the wait for the response), and "respond" for responses. The
// span's context is the one the message carries. Without it the client
// records no spans, but still puts the caller's trace context in the tags
// (see WithPropagator).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return funcOption(func(o *Options) {
		o.tracer = nil
		if tp != nil {
			o.tracer = tp.Tracer(tracingScope)
		}
	})
}

// WithPropagator sets how the client writes the trace context of a send's
// ctx into the message's tags. The default writes W3C Trace Context
// (traceparent, tracestate), the format Herald reads; a composite with
// propagation.Baggage adds baggage; an empty composite
// (propagation.NewCompositeTextMapPropagator()) writes nothing.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return funcOption(func(o *Options) {
		o.propagator = p
	})
}

// tagCarrier is a message's tags as a propagation carrier. Get matches the
// key exactly, else ignoring case.
type tagCarrier map[string]string

func (t tagCarrier) Get(key string) string {
	if v, ok := t[key]; ok {
		return v
	}
	for k, v := range t {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func (t tagCarrier) Set(key, value string) { t[key] = value }

func (t tagCarrier) Keys() []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	return keys
}

// ContextFromTags returns ctx carrying the trace context of a received
// message's tags (W3C traceparent and tracestate), so that the handler's
// span joins the message's trace:
//
//	ctx, span := tracer.Start(client.ContextFromTags(ctx, msg.Tags), "process orders",
//		trace.WithSpanKind(trace.SpanKindConsumer))
//
// Tags without trace context, or with a malformed traceparent, give ctx
// back unchanged.
func ContextFromTags(ctx context.Context, tags map[string]string) context.Context {
	if len(tags) == 0 {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, tagCarrier(tags))
}

// InjectTags returns tags with the trace context of ctx's span added as W3C
// traceparent and tracestate tags: a copy, so tags itself is never changed.
// It returns tags unchanged when ctx has no span, or when tags already
// carry a traceparent (a creation context the caller chose is kept). The
// client does this on every send; InjectTags is for messages sent by other
// means, such as per message on a stream.
func InjectTags(ctx context.Context, tags map[string]string) map[string]string {
	return injectTags(ctx, nil, tags)
}

// injectTags writes ctx's trace context into a copy of tags with p (nil:
// W3C Trace Context), unless tags already carry a traceparent.
func injectTags(ctx context.Context, p propagation.TextMapPropagator, tags map[string]string) map[string]string {
	if p == nil {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return tags // the common case, without tracing: nothing to do
		}
		p = propagation.TraceContext{}
	}
	if tagCarrier(tags).Get(TraceparentTag) != "" {
		return tags
	}
	add := tagCarrier{}
	p.Inject(ctx, add)
	if len(add) == 0 {
		return tags
	}
	out := make(map[string]string, len(tags)+len(add))
	for k, v := range tags {
		out[k] = v
	}
	for k, v := range add {
		out[k] = v
	}
	return out
}

// sendSpan is what startSend describes.
type sendSpan struct {
	op, channel, clientID, id string
	bodySize, batch           int
	kind                      trace.SpanKind
	trace                     *Trace // kubemq-go's description: its name and attributes
}

var nopSpan = trace.SpanFromContext(context.Background())

// startSend starts the client's span of a send when WithTracerProvider is
// set, and returns the context to send with and the tags to send: tags,
// or a copy carrying the trace context. End the span with endSpan.
func (c *Client) startSend(ctx context.Context, s sendSpan, tags map[string]string) (context.Context, map[string]string, trace.Span) {
	span := nopSpan
	if tr := c.opts.tracer; tr != nil {
		name := s.op
		if s.channel != "" {
			name += " " + s.channel
		}
		attrs := []attribute.KeyValue{
			attribute.String("messaging.system", "kubemq"),
			attribute.String("messaging.operation.name", s.op),
			attribute.String("messaging.operation.type", "send"),
		}
		if s.channel != "" {
			attrs = append(attrs, attribute.String("messaging.destination.name", s.channel))
		}
		if s.clientID != "" {
			attrs = append(attrs, attribute.String("messaging.client.id", s.clientID))
		}
		if s.id != "" {
			attrs = append(attrs, attribute.String("messaging.message.id", s.id))
		}
		if s.batch > 0 {
			attrs = append(attrs, attribute.Int("messaging.batch.message_count", s.batch))
		} else {
			attrs = append(attrs, attribute.Int("messaging.message.body.size", s.bodySize))
		}
		if s.trace != nil {
			if s.trace.Name != "" {
				name = s.trace.Name
			}
			attrs = append(attrs, s.trace.otelAttributes()...)
		}
		kind := s.kind
		if kind == trace.SpanKindUnspecified {
			kind = trace.SpanKindProducer
		}
		ctx, span = tr.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	}
	return ctx, injectTags(ctx, c.opts.propagator, tags), span
}

// endSpan ends span, recording err (a call's error, or an in-band one) as
// its status.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// linkTags links span to the trace context tags carry: a request's span
// to the response that answered it.
func linkTags(span trace.Span, tags map[string]string) {
	if !span.IsRecording() {
		return
	}
	if sc := trace.SpanContextFromContext(ContextFromTags(context.Background(), tags)); sc.IsValid() {
		span.AddLink(trace.Link{SpanContext: sc})
	}
}

// textErr is an in-band error text as an error, nil when empty.
func textErr(text string) error {
	if text == "" {
		return nil
	}
	return inBandError(text)
}
