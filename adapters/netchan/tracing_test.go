package netchan_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
)

func publisherSpan(b byte) (context.Context, trace.SpanContext) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x0a, b}, SpanID: trace.SpanID{0xb7, b}, TraceFlags: trace.FlagsSampled,
	})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

func sameSpan(got, want trace.SpanContext) bool {
	return got.TraceID() == want.TraceID() && got.SpanID() == want.SpanID()
}

// A network channel's messages carry the publisher's trace context, sync
// and async, without showing it as a header.
func TestNetchanChannelCarriesTraceContext(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	for i, opts := range [][]netchan.PubOption{nil, {netchan.WithAsync(4)}} {
		name := adaptertest.UniqueName("trace")
		s, err := c.OpenSubChannel(ctx, "r", name, netchan.FromFirst()) // whenever the subscription registers
		if err != nil {
			t.Fatal(err)
		}
		view := s.Messages()
		p, err := c.OpenPubChannel(ctx, name, opts...)
		if err != nil {
			t.Fatal(err)
		}
		pctx, sc := publisherSpan(byte(i + 1))
		if err := p.PublishContext(pctx, []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		m := readN(t, ctx, view, 1)[0]
		if got := trace.SpanContextFromContext(m.Context(context.Background())); !sameSpan(got, sc) {
			t.Errorf("options %d: context %v, want the publisher's %v", i, got, sc)
		}
		if len(m.Headers) != 0 {
			t.Errorf("options %d: trace context shown as headers %v", i, m.Headers)
		}
		_ = p.Close()
		s.Close()
	}
}

// A topic subscriber's handler runs in the publisher's trace.
func TestNetchanTopicHandlerGetsTraceContext(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	topic := adaptertest.UniqueName("trace")
	pub, err := c.NewPublisher("p", "ns", topic, netchan.WithPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pctx, sc := publisherSpan(9)
	if err := pub.PublishContext(pctx, &netchan.Message{Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	sub, err := c.NewSubscriber("s", "ns", topic, -1, time.Time{}, netchan.WithPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan trace.SpanContext, 1)
	go func() {
		_ = sub.SubscribeContext(ctx, func(hctx context.Context, _ *netchan.Message) error {
			select {
			case got <- trace.SpanContextFromContext(hctx):
			default:
			}
			return nil
		})
	}()
	select {
	case g := <-got:
		if !sameSpan(g, sc) {
			t.Errorf("handler context %v, want the publisher's %v", g, sc)
		}
	case <-ctx.Done():
		t.Fatal("no message")
	}
}
