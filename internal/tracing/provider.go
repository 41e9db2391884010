package tracing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP protocols of ExporterConfig.Protocol.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// ExporterConfig configures the export of Herald's spans over OTLP.
type ExporterConfig struct {
	// Endpoint is the collector: host:port (plain text) or a URL
	// (http://… plain text, https://… TLS; for HTTP, a path replaces
	// /v1/traces). The OTEL_EXPORTER_OTLP_* variables (headers, timeout,
	// certificates) apply as the exporters define them.
	Endpoint string
	// Protocol is ProtocolGRPC ("" too; port 4317 by convention) or
	// ProtocolHTTP (protobuf over HTTP; port 4318).
	Protocol string
	// SampleRatio is the share of the traces Herald starts itself that it
	// records, 0 to 1. A span whose parent (from a message's tags) is
	// sampled is always recorded, one whose parent is not never is.
	SampleRatio float64
	// ServiceVersion and Host describe the process in the resource
	// (service.version, host.name); service.name is "herald".
	ServiceVersion string
	Host           string
}

// CheckProtocol reports whether p names an OTLP protocol.
func CheckProtocol(p string) error {
	switch p {
	case "", ProtocolGRPC, ProtocolHTTP:
		return nil
	}
	return fmt.Errorf("otel protocol %q: want grpc or http", p)
}

// NewProvider returns a tracer provider that batches spans and exports them
// to cfg.Endpoint. The exporter connects lazily: a collector that is down
// costs dropped spans (logged through otel's error handler), never an
// error here. Shut the provider down to flush what is left.
func NewProvider(ctx context.Context, cfg ExporterConfig) (*sdktrace.TracerProvider, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("tracing: no endpoint")
	}
	if err := CheckProtocol(cfg.Protocol); err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("tracing: sample ratio %v: want 0 to 1", cfg.SampleRatio)
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", "herald")}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	if cfg.Host != "" {
		attrs = append(attrs, attribute.String("host.name", cfg.Host))
	}
	// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME come after, so they win.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...), resource.WithFromEnv())
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	), nil
}

// CheckEndpoint reports whether e is host:port or an http(s) URL.
func CheckEndpoint(e string) error {
	_, err := parseEndpoint(e)
	return err
}

// parseEndpoint returns e as a URL when it is one, nil for host:port.
func parseEndpoint(e string) (*url.URL, error) {
	if !strings.Contains(e, "://") {
		if _, _, err := net.SplitHostPort(e); err != nil {
			return nil, fmt.Errorf("otel endpoint %q: want host:port or an http(s) URL", e)
		}
		return nil, nil
	}
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("otel endpoint %q: want host:port or an http(s) URL", e)
	}
	return u, nil
}

func newExporter(ctx context.Context, cfg ExporterConfig) (*otlptrace.Exporter, error) {
	u, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Protocol == ProtocolHTTP {
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(cfg.Endpoint), otlptracehttp.WithInsecure()}
		if u != nil {
			if u.Path == "" || u.Path == "/" {
				u.Path = "/v1/traces" // the exporter would post to "/"
			}
			opts = []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.String())}
		}
		return otlptracehttp.New(ctx, opts...)
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint), otlptracegrpc.WithInsecure()}
	if u != nil {
		opts = []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(u.String())}
	}
	return otlptracegrpc.New(ctx, opts...)
}
