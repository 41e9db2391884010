package bus_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/bus"
)

// A span context as a caller's tracer would have started it.
func callerSpan() (context.Context, trace.SpanContext) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x0a, 0xf7, 1}, SpanID: trace.SpanID{0xb7, 2}, TraceFlags: trace.FlagsSampled,
	})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

// Writes carry the writer's trace context, Blocking or from the NonBlocking
// queue, and Message.Context gives it to the reader.
func TestBusTraceContextTravelsWithMessages(t *testing.T) {
	srv := newServer(t)
	for _, pattern := range []bus.Pattern{bus.PatternQueue, bus.PatternEventsStore} {
		for _, blocking := range []bus.BlockingMode{bus.Blocking, bus.NonBlocking} {
			topic := adaptertest.UniqueName("trace")
			r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, Pattern: pattern, StartAt: bus.StartOldest})
			w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter, Pattern: pattern, Blocking: blocking})
			ctx := testCtx(t, 20*time.Second)
			wctx, sc := callerSpan()
			if err := w.MessageWriteContext(wctx, "traced"); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(ctx); blocking == bus.NonBlocking && err != nil {
				t.Fatal(err)
			}
			m, err := r.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := trace.SpanContextFromContext(m.Context(context.Background()))
			if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsRemote() {
				t.Errorf("pattern %v, blocking %v: reader's context %v, want the writer's %v", pattern, blocking, got, sc)
			}
			_ = m.Ack()
		}
	}
}
