package client

import "time"

// Trace describes a span kubemq-go would export through OpenCensus. Herald's
// SDK keeps the type and its methods so that code using them compiles, but
// exports nothing.
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
