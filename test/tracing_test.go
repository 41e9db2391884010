package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	heraldclient "github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// traced is a Herald recording its spans, and a provider recording the
// test's and the SDK's, in one recorder.
type traced struct {
	srv *heraldtest.Server
	rec *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
}

func newTraced(t *testing.T) *traced {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	srv := heraldtest.NewServer(t, server.Options{Tracing: server.TracingOptions{TracerProvider: tp}})
	return &traced{srv: srv, rec: rec, tp: tp}
}

// client connects Herald's SDK, recording its spans.
func (tr *traced) client(t *testing.T, clientID string, opts ...heraldclient.Option) *heraldclient.Client {
	t.Helper()
	opts = append([]heraldclient.Option{
		heraldclient.WithAddress(tr.srv.Host, tr.srv.Port), heraldclient.WithClientId(clientID),
		heraldclient.WithTracerProvider(tr.tp),
	}, opts...)
	c, err := heraldclient.NewClient(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// root starts the test's own span, the root of the trace under test.
func (tr *traced) root(ctx context.Context, name string) (context.Context, trace.Span) {
	return tr.tp.Tracer("test").Start(ctx, name)
}

// span returns the ended span named name that satisfies ok, waiting for it.
func (tr *traced) span(t *testing.T, name string, ok func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	eventually(t, 5*time.Second, func() error {
		var names []string
		for _, s := range tr.rec.Ended() {
			if s.Name() == name && (ok == nil || ok(s)) {
				found = s
				return nil
			}
			names = append(names, s.Name())
		}
		return fmt.Errorf("no span %q among %q", name, names)
	})
	return found
}

// named returns the ended spans named name, now.
func (tr *traced) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tr.rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attrOf(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// wantChild fails unless child's parent is parent (same trace, parent's span id).
func wantChild(t *testing.T, child sdktrace.ReadOnlySpan, parent trace.SpanContext) {
	t.Helper()
	p := child.Parent()
	if p.TraceID() != parent.TraceID() || p.SpanID() != parent.SpanID() {
		t.Errorf("span %q: parent %s/%s, want %s/%s", child.Name(), p.TraceID(), p.SpanID(), parent.TraceID(), parent.SpanID())
	}
}

// inTraceOf matches the spans of root's trace.
func inTraceOf(root trace.Span) func(sdktrace.ReadOnlySpan) bool {
	id := root.SpanContext().TraceID()
	return func(s sdktrace.ReadOnlySpan) bool { return s.SpanContext().TraceID() == id }
}

// rejectNext takes the next message of ch in a queues_stream transaction
// and rejects it.
func rejectNext(t *testing.T, ctx context.Context, c *heraldclient.Client, ch string) {
	t.Helper()
	sqm := c.SQM().SetChannel(ch)
	defer sqm.Close()
	m, err := sqm.Next(ctx, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Reject(); err != nil {
		t.Fatal(err)
	}
}

// traceparentOf is the span context a traceparent tag names.
func traceparentOf(tags map[string]string) trace.SpanContext {
	return trace.SpanContextFromContext(heraldclient.ContextFromTags(context.Background(), tags))
}

func TestTracingQueryRoundTripIsOneTrace(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 20*time.Second)
	ch := uniq("trace.query")
	requester, responder := tr.client(t, "requester"), tr.client(t, "responder")

	queries, err := responder.SubscribeToQueries(ctx, ch, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for q := range queries {
			// The responder's handler joins the query's trace and answers in it.
			hctx, span := tr.tp.Tracer("responder").Start(heraldclient.ContextFromTags(ctx, q.Tags), "process "+q.Channel,
				trace.WithSpanKind(trace.SpanKindConsumer))
			_ = responder.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetBody([]byte("answer")).SetExecutedAt(time.Now()).Send(hctx)
			span.End()
		}
	}()
	waitQueryResponder(t, requester, ch)

	rctx, root := tr.root(ctx, "checkout")
	resp, err := requester.Q().SetChannel(ch).SetBody([]byte("question")).SetTimeout(5 * time.Second).Send(rctx)
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	trID := root.SpanContext().TraceID()
	inTrace := inTraceOf(root)

	clientSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindProducer })
	serverSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindServer })
	deliver := tr.span(t, "deliver "+ch, inTrace)
	process := tr.span(t, "process "+ch, inTrace)
	clientRespond := tr.span(t, "respond", func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindProducer })
	serverRespond := tr.span(t, "respond", func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindServer })

	wantChild(t, clientSend, root.SpanContext())
	wantChild(t, serverSend, clientSend.SpanContext())
	wantChild(t, deliver, clientSend.SpanContext()) // the query carries the requester's context unchanged
	wantChild(t, process, clientSend.SpanContext())
	wantChild(t, clientRespond, process.SpanContext())
	wantChild(t, serverRespond, clientRespond.SpanContext())
	if got := attrOf(serverSend, "herald.pattern"); got != "queries" {
		t.Errorf("server send: herald.pattern %q, want queries", got)
	}
	if got := attrOf(deliver, "messaging.client.id"); got != "responder" {
		t.Errorf("deliver: messaging.client.id %q, want responder", got)
	}
	// The reply reaches the requester in the same trace, carrying the
	// responder's context; both send spans link to it.
	if sc := traceparentOf(resp.Tags); sc.TraceID() != trID || sc.SpanID() != clientRespond.SpanContext().SpanID() {
		t.Errorf("response traceparent %v, want the responder's respond span", sc)
	}
	for _, s := range []sdktrace.ReadOnlySpan{clientSend, serverSend} {
		if !slices.ContainsFunc(s.Links(), func(l sdktrace.Link) bool { return l.SpanContext.SpanID() == clientRespond.SpanContext().SpanID() }) {
			t.Errorf("%v span %q: no link to the response", s.SpanKind(), s.Name())
		}
	}
}

// waitQueryResponder waits until a query on ch is answered.
func waitQueryResponder(t *testing.T, c *heraldclient.Client, ch string) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.Q().SetChannel(ch).SetMetadata("probe").SetTimeout(500 * time.Millisecond).Send(ctx)
		return err
	})
}

func TestTracingQueryCacheHitLinksTheCachedResponse(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 20*time.Second)
	ch := uniq("trace.cache")
	requester, responder := tr.client(t, "requester"), tr.client(t, "responder")
	queries, err := responder.SubscribeToQueries(ctx, ch, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for q := range queries {
			_ = responder.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetBody([]byte("v")).
				Send(heraldclient.ContextFromTags(ctx, q.Tags))
		}
	}()
	waitQueryResponder(t, requester, ch)
	ask := func(name string) (trace.SpanContext, *heraldclient.QueryResponse) {
		rctx, root := tr.root(ctx, name)
		defer root.End()
		resp, err := requester.Q().SetChannel(ch).SetBody([]byte("k")).SetCacheKey("k1").SetCacheTTL(time.Minute).
			SetTimeout(5 * time.Second).Send(rctx)
		if err != nil {
			t.Fatal(err)
		}
		return root.SpanContext(), resp
	}
	first, _ := ask("first")
	second, resp := ask("second")
	if !resp.CacheHit {
		t.Fatal("second query was not a cache hit")
	}
	hit := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanKind() == trace.SpanKindServer && s.SpanContext().TraceID() == second.TraceID()
	})
	if attrOf(hit, "herald.cache_hit") != "true" {
		t.Errorf("cache hit span: herald.cache_hit %q", attrOf(hit, "herald.cache_hit"))
	}
	// The cached response was made in the first query's trace: the hit
	// links to it, and no query reached the responder in the second trace.
	if !slices.ContainsFunc(hit.Links(), func(l sdktrace.Link) bool { return l.SpanContext.TraceID() == first.TraceID() }) {
		t.Errorf("cache hit span links %v, want one into the first trace", hit.Links())
	}
	for _, s := range tr.named("deliver " + ch) {
		if s.SpanContext().TraceID() == second.TraceID() {
			t.Error("a cache hit was delivered to the responder")
		}
	}
}

func TestTracingQueueSendReceiveAndSettleIsOneTrace(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 20*time.Second)
	c := tr.client(t, "worker")
	ch := uniq("trace.queue")

	sctx, root := tr.root(ctx, "enqueue")
	res, err := c.QM().SetChannel(ch).SetBody([]byte("job")).Send(sctx)
	root.End()
	if err != nil || res.IsError {
		t.Fatalf("send: %v %v", err, res)
	}
	rr, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(ctx)
	if err != nil || len(rr.Messages) != 1 {
		t.Fatalf("receive: %v %v", err, rr)
	}
	got := rr.Messages[0]
	inTrace := inTraceOf(root)

	clientSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindProducer })
	serverSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindServer })
	store := tr.span(t, "store "+ch, inTrace)
	deliver := tr.span(t, "deliver "+ch, inTrace)
	settle := tr.span(t, "settle "+ch, inTrace) // the receive's auto-ack
	wantChild(t, clientSend, root.SpanContext())
	wantChild(t, serverSend, clientSend.SpanContext())
	wantChild(t, store, serverSend.SpanContext())
	wantChild(t, deliver, clientSend.SpanContext())
	wantChild(t, settle, clientSend.SpanContext())
	if a := attrOf(settle, "herald.settle.action"); a != "ack" {
		t.Errorf("settle action %q, want ack", a)
	}
	if a := attrOf(serverSend, "messaging.message.id"); a != res.MessageID {
		t.Errorf("server send message id %q, want %q", a, res.MessageID)
	}
	// What the receiver got carries the producer's context.
	if sc := traceparentOf(got.Tags); sc.SpanID() != clientSend.SpanContext().SpanID() {
		t.Errorf("received traceparent %v, want the sender's span", sc)
	}
}

func TestTracingQueueStreamRejectAndPollNAckSettleInTheTrace(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 30*time.Second)
	c := tr.client(t, "worker")
	ch := uniq("trace.qstream")

	sctx, root := tr.root(ctx, "enqueue")
	if _, err := c.QM().SetChannel(ch).SetBody([]byte("job")).Send(sctx); err != nil {
		t.Fatal(err)
	}
	root.End()
	inTrace := inTraceOf(root)

	// A transaction rejects it: back at the tail, stored again in its trace.
	rejectNext(t, ctx, c, ch)
	reject := tr.span(t, "settle "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && attrOf(s, "herald.settle.action") == "reject" })
	tr.span(t, "store "+ch, func(s sdktrace.ReadOnlySpan) bool {
		return inTrace(s) && s.Parent().SpanID() == reject.SpanContext().SpanID()
	})

	// A poll over the downstream stream takes it again and NAcks it.
	qs, err := queuesstream.FromClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer qs.Close()
	pr, err := qs.Poll(ctx, queuesstream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(2000))
	if err != nil || len(pr.Messages) != 1 {
		t.Fatalf("poll: %v %v", err, pr)
	}
	if err := pr.NAckAll(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		n := 0
		for _, s := range tr.named("settle " + ch) {
			if inTrace(s) && attrOf(s, "herald.settle.action") == "reject" {
				n++
			}
		}
		if n < 2 {
			return fmt.Errorf("%d reject settlements in the trace, want 2", n)
		}
		return nil
	})
	if n := len(slices.DeleteFunc(tr.named("deliver "+ch), func(s sdktrace.ReadOnlySpan) bool { return !inTrace(s) })); n != 2 {
		t.Errorf("%d deliveries in the trace, want 2 (stream, poll)", n)
	}
}

func TestTracingEventsDeliveriesCarryTheTrace(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 20*time.Second)
	pub, sub := tr.client(t, "pub"), tr.client(t, "sub")
	prefix := uniq("trace.ev")
	ch := prefix + ".a"

	errCh := make(chan error, 4)
	wild, err := sub.SubscribeToEvents(ctx, prefix+".*", "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	grouped, err := sub.SubscribeToEvents(ctx, ch, "g1", errCh)
	if err != nil {
		t.Fatal(err)
	}
	// Until both subscriptions are in place, probes go unseen.
	var gotWild, gotGroup *heraldclient.Event
	eventually(t, 5*time.Second, func() error {
		_ = pub.E().SetChannel(ch).SetMetadata("probe").Send(ctx)
		for gotWild == nil || gotGroup == nil {
			select {
			case e := <-wild:
				gotWild = e
			case e := <-grouped:
				gotGroup = e
			case <-time.After(200 * time.Millisecond):
				return errors.New("subscriptions not ready")
			}
		}
		return nil
	})
	drain := func(c <-chan *heraldclient.Event) *heraldclient.Event {
		for {
			select {
			case e := <-c:
				if e.Metadata == "traced" {
					return e
				}
			case <-ctx.Done():
				t.Fatal("traced event not delivered")
			}
		}
	}
	sctx, root := tr.root(ctx, "publish")
	if err := pub.E().SetChannel(ch).SetMetadata("traced").Send(sctx); err != nil {
		t.Fatal(err)
	}
	root.End()
	w, g := drain(wild), drain(grouped)
	clientSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanKind() == trace.SpanKindProducer && s.Parent().SpanID() == root.SpanContext().SpanID()
	})
	for _, e := range []*heraldclient.Event{w, g} {
		if sc := traceparentOf(e.Tags); sc.SpanID() != clientSend.SpanContext().SpanID() {
			t.Errorf("delivered traceparent %v, want the publisher's span", sc)
		}
	}
	inTrace := inTraceOf(root)
	tr.span(t, "deliver "+ch, func(s sdktrace.ReadOnlySpan) bool {
		return inTrace(s) && attrOf(s, "messaging.consumer.group.name") == "g1"
	})
	tr.span(t, "deliver "+ch, func(s sdktrace.ReadOnlySpan) bool {
		return inTrace(s) && attrOf(s, "messaging.consumer.group.name") == ""
	})
	serverSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindServer })
	wantChild(t, serverSend, clientSend.SpanContext())
	if p := attrOf(serverSend, "herald.pattern"); p != "events" {
		t.Errorf("herald.pattern %q", p)
	}
}

func TestTracingEventsStoreDeliveryCarriesTheTrace(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 20*time.Second)
	c := tr.client(t, "es")
	ch := uniq("trace.es")

	sctx, root := tr.root(ctx, "store")
	if res, err := c.ES().SetChannel(ch).SetBody([]byte("e1")).Send(sctx); err != nil || !res.Sent {
		t.Fatalf("send: %v %v", err, res)
	}
	root.End()
	events, err := c.SubscribeToEventsStore(ctx, ch, "", nil, heraldclient.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	var got *heraldclient.EventStoreReceive
	select {
	case got = <-events:
	case <-ctx.Done():
		t.Fatal("no event")
	}
	inTrace := inTraceOf(root)
	clientSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindProducer })
	serverSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && s.SpanKind() == trace.SpanKindServer })
	wantChild(t, tr.span(t, "store "+ch, inTrace), serverSend.SpanContext())
	wantChild(t, tr.span(t, "deliver "+ch, inTrace), clientSend.SpanContext())
	if sc := traceparentOf(got.Tags); sc.SpanID() != clientSend.SpanContext().SpanID() {
		t.Errorf("delivered traceparent %v, want the sender's span", sc)
	}
	if p := attrOf(serverSend, "herald.pattern"); p != "events_store" {
		t.Errorf("herald.pattern %q", p)
	}
}

// An official SDK sets the traceparent tag by hand: Herald's spans join its
// trace, and the tag reaches the receiver unchanged.
func TestTracingOfficialSDKTraceparentTag(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 20*time.Second)
	c := newClient(t, tr.srv, "official")
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tags := map[string]string{"traceparent": tp, "tracestate": "vendor=1", "app": "x"}
	ch := uniq("trace.official")

	res, err := c.QM().SetChannel(ch).SetBody([]byte("b")).SetTags(tags).Send(ctx)
	if err != nil || res.IsError {
		t.Fatalf("send: %v %v", err, res)
	}
	rr, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(ctx)
	if err != nil || len(rr.Messages) != 1 {
		t.Fatalf("receive: %v %v", err, rr)
	}
	if got := rr.Messages[0].Tags; !equalMaps(got, tags) {
		t.Errorf("received tags %v, want %v unchanged", got, tags)
	}
	isTheirs := func(s sdktrace.ReadOnlySpan) bool {
		return s.Parent().TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" && s.Parent().SpanID().String() == "00f067aa0ba902b7"
	}
	for _, name := range []string{"send " + ch, "deliver " + ch, "settle " + ch} {
		s := tr.span(t, name, isTheirs)
		if ts := s.SpanContext().TraceState().String(); ts != "vendor=1" {
			t.Errorf("%s: tracestate %q, want vendor=1", name, ts)
		}
	}

	// Events store, over the official SDK's raw client too.
	es := uniq("trace.official.es")
	raw := pb.NewKubemqClient(rawConn(t, tr.srv))
	if r, err := raw.SendEvent(ctx, &pb.Event{ClientID: "official", Channel: es, Body: []byte("b"), Store: true, Tags: tags}); err != nil || !r.Sent {
		t.Fatalf("store: %v %v", err, r)
	}
	tr.span(t, "store "+es, func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanContext().TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736"
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestTracingMalformedTraceparentIsIgnored(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 20*time.Second)
	c := newClient(t, tr.srv, "official")
	ch := uniq("trace.bad")
	tags := map[string]string{"traceparent": "00-not-a-trace-01"}

	res, err := c.QM().SetChannel(ch).SetBody([]byte("b")).SetTags(tags).Send(ctx)
	if err != nil || res.IsError {
		t.Fatalf("a malformed traceparent failed the send: %v %v", err, res)
	}
	rr, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(ctx)
	if err != nil || len(rr.Messages) != 1 || !equalMaps(rr.Messages[0].Tags, tags) {
		t.Fatalf("receive: %v %v", err, rr)
	}
	// The send starts a trace of its own; the delivery and the settlement,
	// which belong to the message's trace, have none to join.
	send := tr.span(t, "send "+ch, nil)
	if send.Parent().IsValid() {
		t.Errorf("send span has parent %v, want none", send.Parent())
	}
	if _, err := c.QM().SetChannel(ch).SetBody([]byte("later")).Send(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(tr.named("send " + ch)); n != 2 { // every span of the first message has ended by now
		t.Fatalf("%d send spans, want 2", n)
	}
	if d := tr.named("deliver " + ch); len(d) != 0 {
		t.Errorf("deliver spans %v for a message without trace context", d)
	}
}

// With tracing off Herald records nothing, not even through the global
// provider, and the SDK adds no tags without a span in ctx.
func TestTracingOffRecordsNothing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) }()

	srv := heraldtest.NewServer(t)
	ctx := testCtx(t, 20*time.Second)
	c, err := heraldclient.NewClient(ctx, heraldclient.WithAddress(srv.Host, srv.Port), heraldclient.WithClientId("off"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch := uniq("trace.off")
	if _, err := c.QM().SetChannel(ch).SetBody([]byte("b")).AddTag("app", "x").Send(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(ctx)
	if err != nil || len(rr.Messages) != 1 {
		t.Fatalf("receive: %v %v", err, rr)
	}
	if got := rr.Messages[0].Tags; !equalMaps(got, map[string]string{"app": "x"}) {
		t.Errorf("tags %v, want only the sender's", got)
	}
	// A message with trace context passes through untouched, and records
	// nothing either.
	sctx, span := tp.Tracer("test").Start(ctx, "root")
	if _, err := c.QM().SetChannel(ch).SetBody([]byte("b")).Send(sctx); err != nil {
		t.Fatal(err)
	}
	span.End()
	rr, err = c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(ctx)
	if err != nil || len(rr.Messages) != 1 || traceparentOf(rr.Messages[0].Tags).SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("receive: %v %v", err, rr)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := rec.Ended(); len(s) != 1 || s[0].Name() != "root" {
		names := []string{}
		for _, x := range s {
			names = append(names, x.Name())
		}
		t.Errorf("spans %q, want only the test's root", names)
	}
}

// Herald started with an OTLP endpoint exports its spans there, the last
// ones when it shuts down.
func TestTracingExportsOverOTLPAndFlushesOnShutdown(t *testing.T) {
	var mu sync.Mutex
	var names []string
	var traceIDs []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := new(collectorpb.ExportTraceServiceRequest)
		if err := proto.Unmarshal(body, req); err != nil {
			t.Errorf("collector: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, service+": "+s.Name)
					traceIDs = append(traceIDs, fmt.Sprintf("%x", s.TraceId))
				}
			}
		}
	}))
	defer collector.Close()
	srv := heraldtest.NewServer(t, server.Options{Tracing: server.TracingOptions{Endpoint: collector.URL, Protocol: "http"}})
	ctx := testCtx(t, 20*time.Second)
	c := newClient(t, srv, "official")
	ch := uniq("trace.otlp")
	const tp = "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if _, err := c.ES().SetChannel(ch).SetBody([]byte("b")).SetTags(map[string]string{"traceparent": tp}).Send(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"herald: send " + ch, "herald: store " + ch} {
		i := slices.Index(names, want)
		if i < 0 {
			t.Errorf("collector got %q, want %q", names, want)
			continue
		}
		if !strings.HasPrefix(traceIDs[i], "5bf92f35") {
			t.Errorf("%s in trace %s, want the tag's", want, traceIDs[i])
		}
	}
}

// Over the REST transport the same context travels the same way.
func TestTracingRESTTransportCarriesTheTrace(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 20*time.Second)
	c := tr.client(t, "rest", heraldclient.WithTransportType(heraldclient.TransportTypeRest),
		heraldclient.WithUri("http://"+tr.srv.RESTAddr().String()))
	ch := uniq("trace.rest")
	sctx, root := tr.root(ctx, "rest")
	if res, err := c.QM().SetChannel(ch).SetBody([]byte("b")).Send(sctx); err != nil || res.IsError {
		t.Fatalf("send: %v %v", err, res)
	}
	root.End()
	clientSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == trace.SpanKindProducer })
	serverSend := tr.span(t, "send "+ch, func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == trace.SpanKindServer })
	wantChild(t, clientSend, root.SpanContext())
	wantChild(t, serverSend, clientSend.SpanContext())
}

// A message rejected once too often is dead-lettered in its trace, and
// delivered from the dead-letter queue in it; one that expires before
// delivery is settled as expired in it.
func TestTracingDeadLetterAndExpirySettleInTheTrace(t *testing.T) {
	tr := newTraced(t)
	ctx := testCtx(t, 30*time.Second)
	c := tr.client(t, "worker")
	ch, dlq := uniq("trace.dl"), uniq("trace.dlq")

	sctx, root := tr.root(ctx, "enqueue")
	if _, err := c.QM().SetChannel(ch).SetBody([]byte("poison")).SetPolicyMaxReceiveCount(1).SetPolicyMaxReceiveQueue(dlq).Send(sctx); err != nil {
		t.Fatal(err)
	}
	root.End()
	inTrace := inTraceOf(root)
	rejectNext(t, ctx, c, ch)
	reject := tr.span(t, "settle "+ch, func(s sdktrace.ReadOnlySpan) bool { return inTrace(s) && attrOf(s, "herald.settle.action") == "reject" })
	wantChild(t, tr.span(t, "store "+dlq, inTrace), reject.SpanContext())
	rr, err := c.RQM().SetChannel(dlq).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(ctx)
	if err != nil || len(rr.Messages) != 1 {
		t.Fatalf("dead letter: %v %v", err, rr)
	}
	tr.span(t, "deliver "+dlq, inTrace)

	ex := uniq("trace.expire")
	sctx, root = tr.root(ctx, "short-lived")
	res, err := c.QM().SetChannel(ex).SetBody([]byte("stale")).SetPolicyExpirationSeconds(1).Send(sctx)
	if err != nil {
		t.Fatal(err)
	}
	root.End()
	sleepUntil(time.Unix(0, res.ExpirationAt).Add(50 * time.Millisecond)) // received earlier, it would not expire
	eventually(t, 10*time.Second, func() error {
		r, err := c.RQM().SetChannel(ex).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).Send(ctx)
		if err != nil {
			return err
		}
		if r.MessagesExpired == 0 {
			return fmt.Errorf("not expired yet (%d received)", len(r.Messages))
		}
		return nil
	})
	exp := tr.span(t, "settle "+ex, func(s sdktrace.ReadOnlySpan) bool { return attrOf(s, "herald.settle.action") == "expire" })
	if exp.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Errorf("expiry settled in trace %s, want %s", exp.SpanContext().TraceID(), root.SpanContext().TraceID())
	}
}
