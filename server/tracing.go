package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldmq/herald/internal/tracing"
)

// TracingOptions turn on OpenTelemetry tracing: Herald's spans of sends,
// stores, deliveries, responses and queue settlements, in the traces that
// messages carry in their W3C traceparent and tracestate tags. The zero
// value turns it off: no spans, nothing exported, message tags untouched
// (they are in any case: Herald reads the trace context, never writes it).
type TracingOptions struct {
	// Endpoint is an OTLP collector to export spans to: host:port (plain
	// text) or a URL (http:// plain text, https:// TLS). Empty: tracing is
	// off, unless TracerProvider is set.
	Endpoint string
	// Protocol is the OTLP protocol to Endpoint: "grpc" (the default) or
	// "http" (protobuf over HTTP).
	Protocol string
	// SampleRatio is the share of the traces Herald starts itself (for
	// messages that carry no trace context) it records: 0 means the
	// default, 1 (all); negative records none of them, so only the traces
	// clients start are followed. A sampled parent is always followed.
	SampleRatio float64
	// TracerProvider, when set, records the spans instead of an exporter to
	// Endpoint, for embedding applications and tests. Herald does not shut
	// it down; its owner does.
	TracerProvider trace.TracerProvider
}

// Enabled reports whether the options turn tracing on.
func (o TracingOptions) Enabled() bool { return o.Endpoint != "" || o.TracerProvider != nil }

func (o TracingOptions) validate() error {
	var errs []error
	if err := tracing.CheckProtocol(o.Protocol); err != nil {
		errs = append(errs, err)
	}
	if o.Endpoint != "" {
		if err := tracing.CheckEndpoint(o.Endpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if o.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("otel sample ratio %v: must be at most 1", o.SampleRatio))
	}
	return errors.Join(errs...)
}

// openTracing builds the tracer of the options: over the given provider,
// or over a provider exporting to the endpoint, which the server owns and
// shuts down. Nil when tracing is off.
func (s *Server) openTracing(ctx context.Context) (*tracing.Tracer, error) {
	o := s.opts.Tracing
	if o.TracerProvider != nil {
		return tracing.New(o.TracerProvider), nil
	}
	if o.Endpoint == "" {
		return nil, nil
	}
	ratio := max(o.SampleRatio, 0) // set by setDefaults; negative: none
	tp, err := tracing.NewProvider(ctx, tracing.ExporterConfig{
		Endpoint: o.Endpoint, Protocol: o.Protocol, SampleRatio: ratio,
		ServiceVersion: Version, Host: s.opts.Host,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.tp = tp
	s.log.Info("tracing on", "otel_endpoint", o.Endpoint, "otel_protocol", o.Protocol, "otel_sample_ratio", ratio)
	return tracing.New(tp), nil
}

// tracingFlushTimeout bounds the export of the last spans at shutdown: a
// collector that is gone must not hold the shutdown for the exporter's
// retries.
const tracingFlushTimeout = 5 * time.Second

// closeTracing exports the spans still buffered and stops the exporter of
// the provider the server built.
func (s *Server) closeTracing(ctx context.Context) {
	if s.tp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingFlushTimeout)
	defer cancel()
	if err := s.tp.Shutdown(ctx); err != nil {
		s.log.Warn("tracing: exporting the last spans failed", "err", err)
	}
	s.tp = nil
}
