package client

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Trace describes a span kubemq-go would export through OpenCensus. Herald's
// SDK keeps the type and its methods so that code using them compiles; with
// WithTracerProvider, the span of a command, query, queue message or
// response that has one (AddTrace) takes its name and attributes, and its
// annotation becomes a span attribute. Without it nothing is exported.
type Trace struct {
	Name       string
	attributes map[string]any
	annotation string
	annotated  time.Time
}

// CreateTrace returns a trace description named name.
func CreateTrace(name string) *Trace { return &Trace{Name: name, attributes: map[string]any{}} }

// AddStringAttribute records an attribute.
func (t *Trace) AddStringAttribute(key string, value string) *Trace {
	t.attributes[key] = value
	return t
}

// AddInt64Attribute records an attribute.
func (t *Trace) AddInt64Attribute(key string, value int64) *Trace {
	t.attributes[key] = value
	return t
}

// AddBoolAttribute records an attribute.
func (t *Trace) AddBoolAttribute(key string, value bool) *Trace {
	t.attributes[key] = value
	return t
}

// AddAnnotation records an annotation.
func (t *Trace) AddAnnotation(timestamp time.Time, message string) *Trace {
	t.annotated, t.annotation = timestamp, message
	return t
}

// otelAttributes are the trace's attributes for an OpenTelemetry span.
func (t *Trace) otelAttributes() []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(t.attributes)+1)
	for k, v := range t.attributes {
		switch v := v.(type) {
		case string:
			out = append(out, attribute.String(k, v))
		case int64:
			out = append(out, attribute.Int64(k, v))
		case bool:
			out = append(out, attribute.Bool(k, v))
		}
	}
	if t.annotation != "" {
		out = append(out, attribute.String("kubemq.annotation", t.annotation))
	}
	return out
}
