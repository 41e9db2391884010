package cloudevents

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/heraldmq/herald/client"
)

// Encoding is how an event is put into a KubeMQ message.
type Encoding int

const (
	// Structured (default): the body is the event in the CloudEvents JSON
	// format, the metadata its media type; ce- tags are copies.
	Structured Encoding = iota
	// Binary: the body is the event's data, the metadata its content type,
	// and every other attribute and extension is a ce- tag.
	Binary
)

// Routing says on which events-store channels events are stored.
type Routing int

const (
	// RouteByStream (default): every event on the channel Config.Stream, in
	// one total order.
	RouteByStream Routing = iota
	// RouteByType: each event type on its own channel "<Stream>.<type>".
	RouteByType
)

// Delivery is the guarantee asked of durable event listeners.
type Delivery int

const (
	// DeliveryAuto (default): at least once on Herald, at most once elsewhere.
	DeliveryAuto Delivery = iota
	// DeliveryAtLeastOnce: acked durable reads; needs Herald (else the
	// constructor fails with ErrUnsupported).
	DeliveryAtLeastOnce
	// DeliveryAtMostOnce: an events-store group subscription everywhere.
	DeliveryAtMostOnce
)

func (d Delivery) String() string {
	switch d {
	case DeliveryAuto:
		return "auto"
	case DeliveryAtLeastOnce:
		return "at-least-once"
	case DeliveryAtMostOnce:
		return "at-most-once"
	}
	return fmt.Sprintf("Delivery(%d)", int(d))
}

// Wire is an event as a KubeMQ message carries it: ID is the message id
// (EventID or RequestID), the rest are the message's fields.
type Wire struct {
	ID       string
	Metadata string
	Body     []byte
	Tags     map[string]string
}

const (
	structuredMediaType = "application/cloudevents+json"
	structuredMetadata  = structuredMediaType + "; charset=utf-8"
	octetStream         = "application/octet-stream"
	tagPrefix           = "ce-"
)

// Encode puts ce into a KubeMQ message in the given encoding (see the
// package documentation for the layout). It does not validate ce.
func Encode(ce Event, enc Encoding) (Wire, error) {
	w := Wire{ID: ce.ID(), Tags: map[string]string{}}
	switch enc {
	case Structured:
		body, err := format.JSON.Marshal(&ce)
		if err != nil {
			return Wire{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
		w.Body, w.Metadata = body, structuredMetadata
		w.Tags[tagPrefix+"id"] = ce.ID()
		w.Tags[tagPrefix+"type"] = ce.Type()
		w.Tags[tagPrefix+"source"] = ce.Source()
		w.Tags[tagPrefix+"specversion"] = ce.SpecVersion()
		if !ce.Time().IsZero() {
			w.Tags[tagPrefix+"time"] = types.FormatTime(ce.Time())
		}
		if s := ce.Subject(); s != "" {
			w.Tags[tagPrefix+"subject"] = s
		}
		if tid := GetTransactionID(&ce); tid != "" {
			w.Tags[tagPrefix+TransactionIDExtension] = string(tid)
		}
	case Binary:
		w.Body = ce.Data()
		w.Metadata = ce.DataContentType()
		if w.Metadata == "" {
			w.Metadata = octetStream
		}
		sv := spec.VS.Version(ce.SpecVersion())
		if sv == nil {
			return Wire{}, fmt.Errorf("%w: unknown specversion %q", ErrInvalidEvent, ce.SpecVersion())
		}
		for _, a := range sv.Attributes() {
			if a.Kind() == spec.DataContentType {
				continue
			}
			v := a.Get(ce.Context)
			if v == nil {
				continue
			}
			s, err := types.Format(v)
			if err != nil {
				return Wire{}, fmt.Errorf("%w: attribute %s: %w", ErrInvalidEvent, a.Name(), err)
			}
			if s == "" && a.Kind() != spec.SpecVersion {
				continue
			}
			w.Tags[tagPrefix+a.Name()] = s
		}
		for name, v := range ce.Extensions() {
			s, err := types.Format(v)
			if err != nil {
				return Wire{}, fmt.Errorf("%w: extension %s: %w", ErrInvalidEvent, name, err)
			}
			w.Tags[tagPrefix+name] = s
		}
	default:
		return Wire{}, fmt.Errorf("%w: encoding %d", ErrInvalidOption, enc)
	}
	traceTags(ce, w.Tags)
	return w, nil
}

// Decode reads an event from a KubeMQ message: metadata starting with
// "application/cloudevents+json" means structured; otherwise a
// ce-specversion tag means binary; otherwise ErrNotCloudEvent.
func Decode(w Wire) (Event, error) {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(w.Metadata)), structuredMediaType) {
		var ce Event
		if err := format.JSON.Unmarshal(w.Body, &ce); err != nil {
			return Event{}, fmt.Errorf("%w: structured body: %w", ErrNotCloudEvent, err)
		}
		traceFromTags(&ce, w.Tags)
		return ce, nil
	}
	sv, ok := w.Tags[tagPrefix+"specversion"]
	if !ok {
		return Event{}, ErrNotCloudEvent
	}
	version := spec.VS.Version(sv)
	if version == nil {
		return Event{}, fmt.Errorf("%w: unknown specversion %q", ErrNotCloudEvent, sv)
	}
	ce := event.New(sv)
	for k, v := range w.Tags {
		name, ok := strings.CutPrefix(k, tagPrefix)
		if !ok || name == "specversion" {
			continue
		}
		if a := version.Attribute(name); a != nil {
			if err := a.Set(ce.Context, v); err != nil {
				return Event{}, fmt.Errorf("%w: attribute %s: %w", ErrNotCloudEvent, name, err)
			}
			continue
		}
		ce.SetExtension(name, v)
	}
	if w.Metadata != "" {
		ce.SetDataContentType(w.Metadata)
	}
	if len(w.Body) > 0 {
		ce.DataEncoded = bytes.Clone(w.Body)
	}
	traceFromTags(&ce, w.Tags)
	return ce, nil
}

// FromEventStore decodes an event received from an events-store subscription.
func FromEventStore(m *client.EventStoreReceive) (Event, error) {
	if m == nil {
		return Event{}, ErrNotCloudEvent
	}
	return Decode(Wire{ID: m.Id, Metadata: m.Metadata, Body: m.Body, Tags: m.Tags})
}

// FromQuery decodes the request event of a received query.
func FromQuery(m *client.QueryReceive) (Event, error) {
	if m == nil {
		return Event{}, ErrNotCloudEvent
	}
	return Decode(Wire{ID: m.Id, Metadata: m.Metadata, Body: m.Body, Tags: m.Tags})
}
