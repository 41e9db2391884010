// Package tracing records Herald's spans with OpenTelemetry and carries W3C
// trace context (traceparent, tracestate) in the tags of KubeMQ messages.
//
// A message's trace context travels in its tags from the producer to every
// consumer unchanged: Herald reads it to start its own spans as children,
// and never writes, adds or removes a tag (see docs/tracing.md,
// "Tracing"). The spans:
//
//	send <channel>     SERVER    a send of an event, event to store, queue message or request
//	store <channel>    INTERNAL  the durable write of a send (events store, queues)
//	deliver <channel>  PRODUCER  a message handed to a subscriber or receiver
//	respond            SERVER    a responder's response to a command or query
//	settle <channel>   INTERNAL  a queue message acknowledged, rejected, re-queued, returned…
//
// A nil *Tracer records nothing and costs a nil check: tracing is off.
package tracing

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The tags of the W3C trace context, as W3C Trace Context names its headers.
const (
	TraceparentTag = "traceparent"
	TracestateTag  = "tracestate"
)

// System is the messaging.system of Herald's spans: the KubeMQ protocol.
// Clients cannot tell Herald from a KubeMQ server, so client and server
// spans name the same system; the server's spans carry service.name
// "herald" in their resource.
const System = "kubemq"

// ScopeName is the instrumentation scope of Herald's spans.
const ScopeName = "github.com/heraldmq/herald"

// The patterns, as the attribute herald.pattern names them.
const (
	Events      = "events"
	EventsStore = "events_store"
	Queues      = "queues"
	Commands    = "commands"
	Queries     = "queries"
)

// The settle actions, as the attribute herald.settle.action names them.
const (
	Ack        = "ack"         // removed: acknowledged, or received with auto-ack
	Reject     = "reject"      // settled negatively: back at the tail, or dead-lettered
	Requeue    = "requeue"     // moved to another queue (or re-sent, or replaced)
	Return     = "return"      // returned in place, not counted as a receive
	DeadLetter = "dead_letter" // its receive count was used up on delivery
	Expire     = "expire"      // its expiration passed before delivery
)

// Attribute keys; the messaging.* ones are OpenTelemetry's messaging
// semantic conventions.
const (
	attrSystem      = attribute.Key("messaging.system")
	attrOpName      = attribute.Key("messaging.operation.name")
	attrOpType      = attribute.Key("messaging.operation.type")
	attrDestination = attribute.Key("messaging.destination.name")
	attrMessageID   = attribute.Key("messaging.message.id")
	attrClientID    = attribute.Key("messaging.client.id")
	attrGroup       = attribute.Key("messaging.consumer.group.name")
	attrBodySize    = attribute.Key("messaging.message.body.size")
	attrBatchCount  = attribute.Key("messaging.batch.message_count")
	attrPattern     = attribute.Key("herald.pattern")
	attrAction      = attribute.Key("herald.settle.action")
	attrCacheHit    = attribute.Key("herald.cache_hit")
)

// Tags is a message's tags as a propagation carrier. Get matches the key
// exactly, else ignoring case, so a tag "Traceparent" set by hand counts.
type Tags map[string]string

// Get returns the value of key.
func (t Tags) Get(key string) string {
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

// Set sets key to value.
func (t Tags) Set(key, value string) { t[key] = value }

// Keys lists the keys.
func (t Tags) Keys() []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	return keys
}

// propagator reads the tags: W3C Trace Context, the format of the tags.
var propagator = propagation.TraceContext{}

// Extract returns ctx with the remote span context tags carry; ctx itself
// when they carry none or a malformed one (which is ignored).
func Extract(ctx context.Context, tags map[string]string) context.Context {
	if len(tags) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, Tags(tags))
}

// SpanContextOf is the span context tags carry (invalid when none).
func SpanContextOf(tags map[string]string) trace.SpanContext {
	return trace.SpanContextFromContext(Extract(context.Background(), tags))
}

// nopSpan is what a nil Tracer returns.
var nopSpan = trace.SpanFromContext(context.Background())

// Tracer starts Herald's spans. A nil *Tracer starts none.
type Tracer struct {
	t trace.Tracer
}

// New returns a Tracer over tp, or nil (tracing off) when tp is nil.
func New(tp trace.TracerProvider) *Tracer {
	if tp == nil {
		return nil
	}
	return &Tracer{t: tp.Tracer(ScopeName)}
}

// On reports whether t records spans (t is not nil), for callers that
// would otherwise prepare a span's data for nothing.
func (t *Tracer) On() bool { return t != nil }

// Message describes the message of a span.
type Message struct {
	Pattern  string
	Channel  string
	ClientID string
	ID       string
	Tags     map[string]string
	BodySize int
}

func (m *Message) attrs(op, opType string) []attribute.KeyValue {
	a := make([]attribute.KeyValue, 0, 8)
	a = append(a, attrSystem.String(System), attrOpName.String(op))
	if m.Pattern != "" {
		a = append(a, attrPattern.String(m.Pattern))
	}
	if opType != "" {
		a = append(a, attrOpType.String(opType))
	}
	if m.Channel != "" {
		a = append(a, attrDestination.String(m.Channel))
	}
	if m.ClientID != "" {
		a = append(a, attrClientID.String(m.ClientID))
	}
	if m.ID != "" {
		a = append(a, attrMessageID.String(m.ID))
	}
	a = append(a, attrBodySize.Int(m.BodySize))
	return a
}

func spanName(op, channel string) string {
	if channel == "" {
		return op
	}
	return op + " " + channel
}

// Send starts the span of a send received from a producer: a child of the
// trace context in the message's tags, or a new trace when they carry none.
// End it once the send is answered.
func (t *Tracer) Send(ctx context.Context, m Message) (context.Context, trace.Span) {
	if t == nil {
		return ctx, nopSpan
	}
	return t.t.Start(Extract(ctx, m.Tags), spanName("send", m.Channel),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(m.attrs("send", "send")...))
}

// SendBatch starts the span of a batch of queue messages: a child of the
// first trace context the messages carry, linked to the others. End it once
// the batch is answered.
func (t *Tracer) SendBatch(ctx context.Context, pattern string, channels []string, tags []map[string]string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, nopSpan
	}
	channel := ""
	for i, ch := range channels {
		if i == 0 {
			channel = ch
		} else if ch != channel {
			channel = "" // several destinations: none in the name
			break
		}
	}
	parent := ctx
	var links []trace.Link
	var first trace.SpanContext
	for _, tg := range tags {
		sc := SpanContextOf(tg)
		switch {
		case !sc.IsValid():
		case !first.IsValid():
			first = sc
			parent = trace.ContextWithRemoteSpanContext(ctx, sc)
		case !sc.Equal(first) && len(links) < maxLinks:
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	a := []attribute.KeyValue{attrSystem.String(System), attrOpName.String("send"), attrOpType.String("send"),
		attrPattern.String(pattern), attrBatchCount.Int(len(tags))}
	if channel != "" {
		a = append(a, attrDestination.String(channel))
	}
	return t.t.Start(parent, spanName("send", channel), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(a...), trace.WithLinks(links...))
}

// maxLinks bounds the links of one batch span.
const maxLinks = 128

// Deliver starts the span of a message handed to a consumer (a
// subscriber's push, a receiver's pull), in the message's trace; it starts
// none (a non-recording span) when the message carries no trace context.
// group is the subscription's group, if any. End it once the message was
// handed to the transport.
func (t *Tracer) Deliver(ctx context.Context, m Message, consumer, group string) trace.Span {
	if t == nil {
		return nopSpan
	}
	parent := Extract(ctx, m.Tags)
	if !trace.SpanContextFromContext(parent).IsValid() {
		return nopSpan
	}
	m.ClientID = consumer
	a := m.attrs("deliver", "")
	if group != "" {
		a = append(a, attrGroup.String(group))
	}
	_, span := t.t.Start(parent, spanName("deliver", m.Channel),
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(a...))
	return span
}

// Respond starts the span of a response sent by a responder: a child of
// the trace context in the response's tags, or a new trace when they carry
// none. The reply channel is temporary, so the span has no destination.
func (t *Tracer) Respond(ctx context.Context, clientID, requestID string, tags map[string]string, bodySize int) (context.Context, trace.Span) {
	if t == nil {
		return ctx, nopSpan
	}
	// A response does not say whether it answers a command or a query:
	// no pattern.
	m := Message{ClientID: clientID, ID: requestID, Tags: tags, BodySize: bodySize}
	a := m.attrs("respond", "send")
	return t.t.Start(Extract(ctx, tags), "respond", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(a...))
}

// Link adds to span a link to the trace context tags carry, if any: a
// request's span links to the response that answered it (which is in the
// responder's trace, or, served from the query cache, in the trace that
// filled the cache).
func Link(span trace.Span, tags map[string]string) {
	if !span.IsRecording() {
		return
	}
	if sc := SpanContextOf(tags); sc.IsValid() {
		span.AddLink(trace.Link{SpanContext: sc})
	}
}

// CacheHit marks a request's span as answered from the query cache.
func CacheHit(span trace.Span, hit bool) {
	if span.IsRecording() {
		span.SetAttributes(attrCacheHit.Bool(hit))
	}
}

// MessageID sets the message id of a span, for ids the server generated.
func MessageID(span trace.Span, id string) {
	if span.IsRecording() && id != "" {
		span.SetAttributes(attrMessageID.String(id))
	}
}

// End ends span, recording err as its status when not nil.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Fail records err as span's status (an in-band failure) without ending it.
func Fail(span trace.Span, text string) {
	if text != "" && span.IsRecording() {
		span.SetStatus(codes.Error, text)
	}
}

// Steps returns what records the store and settle spans of a pattern's own
// steps; the pattern packages declare the interface they need of it.
func (t *Tracer) Steps(pattern string) Steps { return Steps{t: t, pattern: pattern} }

// Steps records the spans of a pattern's store and settle steps.
type Steps struct {
	t       *Tracer
	pattern string
}

// step starts a span that belongs to a message. Its parent is the
// recording span ctx carries (a store's send, a re-queue's settle) or the
// trace context in tags, the one first that tagsFirst says; it starts none
// when there is neither.
func (s Steps) step(ctx context.Context, tagsFirst bool, op, channel string, tags map[string]string, a ...attribute.KeyValue) (context.Context, func(error)) {
	if s.t == nil {
		return ctx, nopEnd
	}
	parent := ctx
	fromCtx := trace.SpanFromContext(ctx).IsRecording()
	if tagsFirst || !fromCtx {
		parent = Extract(ctx, tags)
		if !trace.SpanContextFromContext(parent).IsRemote() {
			if !fromCtx {
				return ctx, nopEnd
			}
			parent = ctx
		}
	}
	a = append(a, attrSystem.String(System), attrOpName.String(op), attrPattern.String(s.pattern), attrDestination.String(channel))
	ctx, span := s.t.t.Start(parent, spanName(op, channel), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(a...))
	return ctx, func(err error) { End(span, err) }
}

func nopEnd(error) {}

// Store starts the span of the durable write of a message to channel: a
// child of the send (or settle) span in ctx, else of the message's trace.
func (s Steps) Store(ctx context.Context, channel string, tags map[string]string) (context.Context, func(error)) {
	return s.step(ctx, false, "store", channel, tags)
}

// Settle starts the span of a settlement (action: Ack, Reject…) of a
// message of channel, in the message's trace (or, when the message carries
// none, under the span ctx carries, if any).
func (s Steps) Settle(ctx context.Context, channel, action string, tags map[string]string) (context.Context, func(error)) {
	return s.step(ctx, true, "settle", channel, tags, attrOpType.String("settle"), attrAction.String(action))
}
