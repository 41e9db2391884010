package grpctransport

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/tracing"
)

func eventFromPB(in *kubemqpb.Event) *events.Event {
	return &events.Event{
		ID: in.EventID, ClientID: in.ClientID, Channel: in.Channel,
		Metadata: in.Metadata, Body: in.Body, Tags: in.Tags,
	}
}

// eventSpan describes an event to send for its span.
func eventSpan(in *kubemqpb.Event) tracing.Message {
	pattern := tracing.Events
	if in.Store {
		pattern = tracing.EventsStore
	}
	return tracing.Message{Pattern: pattern, Channel: in.Channel, ClientID: in.ClientID, ID: in.EventID, Tags: in.Tags, BodySize: len(in.Body)}
}

// eventResource is what an event with store set is, for the list.
func eventResource(store bool) auth.Resource {
	if store {
		return auth.EventsStore
	}
	return auth.Events
}

// SendEvent sends an event (Store=false) or stores it (Store=true).
// Validation errors end the call with status Internal; an engine failure is
// reported in-band with Sent=false.
func (s *Server) SendEvent(ctx context.Context, in *kubemqpb.Event) (*kubemqpb.Result, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(c, eventResource(in.Store), in.ClientID, in.Channel, auth.Write); err != nil {
		return nil, statusOf(err)
	}
	ev := eventFromPB(in)
	ctx, span := s.tr.Send(ctx, eventSpan(in))
	var id string
	if in.Store {
		id, err = s.svc.Store.Send(ctx, ev)
	} else {
		id, err = s.svc.Events.Send(ev)
	}
	tracing.MessageID(span, id)
	tracing.End(span, err)
	if err != nil {
		var ke *kmq.Error
		if errors.As(err, &ke) {
			return nil, internalErr(err)
		}
		return &kubemqpb.Result{EventID: id, Sent: false, Error: err.Error()}, nil
	}
	return &kubemqpb.Result{EventID: id, Sent: true}, nil
}

// SendEventsStream takes a stream of events. Plain events get a result only
// when they are invalid; stored events always get one, once stored, in the
// order they were sent. Stores are pipelined.
func (s *Server) SendEventsStream(stream grpc.BidiStreamingServer[kubemqpb.Event, kubemqpb.Result]) error {
	const method = "SendEventsStream"
	c, err := s.caller(stream.Context())
	if err != nil {
		return err
	}
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	settle, stopSettle := settleContext(ctx)
	defer stopSettle()
	results := make(chan storeResult, 1024)
	writerDone := make(chan error, 1)
	go func() {
		var werr error
		defer func() {
			if r := recover(); r != nil {
				werr = s.recovered("SendEventsStream", r)
			}
			writerDone <- werr
		}()
		for r := range results {
			if werr != nil {
				tracing.End(r.span, werr)
				continue // drain: the client is gone
			}
			p := r.p
			res := &kubemqpb.Result{EventID: p.ID, Sent: true}
			err := p.Wait(settle)
			if err != nil {
				res.Sent, res.Error = false, err.Error()
			}
			tracing.MessageID(r.span, p.ID)
			tracing.End(r.span, err)
			werr = stream.Send(res)
		}
	}()
	finish := func(err error) error {
		close(results)
		if werr := <-writerDone; err == nil && werr != nil {
			err = werr
		}
		return err
	}
	// Receiving runs apart so that an idle stream ends at once on shutdown.
	reqs, recvErr := recvLoop(ctx, stream.Recv)
	for {
		var in *kubemqpb.Event
		select {
		case in = <-reqs:
		case err := <-recvErr:
			return finish(s.endStream(method, ctx, err))
		case <-ctx.Done():
			return finish(s.endStream(method, ctx, nil))
		}
		// Each event is checked: a refusal is its result, as an invalid
		// event's is; a token that stopped being valid ends the stream.
		if c, err = s.recheck(c, eventResource(in.Store), in.ClientID, in.Channel, auth.Write); err != nil {
			if unauthenticated(err) {
				return finish(err)
			}
			select {
			case results <- storeResult{p: eventsstore.Failed(in.EventID, err), span: nopSpan}:
			case <-ctx.Done():
				return finish(s.endStream(method, ctx, nil))
			}
			continue
		}
		ev := eventFromPB(in)
		sctx, span := s.tr.Send(ctx, eventSpan(in))
		if in.Store {
			select {
			case results <- storeResult{p: s.svc.Store.SendAsync(sctx, ev), span: span}:
			case <-ctx.Done():
				tracing.End(span, ctx.Err())
				return finish(s.endStream(method, ctx, nil))
			}
			continue
		}
		_, err := s.svc.Events.Send(ev)
		tracing.MessageID(span, ev.ID)
		tracing.End(span, err)
		if err != nil {
			var ke *kmq.Error
			if !errors.As(err, &ke) {
				continue // the reference reports only validation errors for plain events
			}
			select {
			case results <- storeResult{p: eventsstore.Failed(in.EventID, err), span: nopSpan}:
			case <-ctx.Done():
				return finish(s.endStream(method, ctx, nil))
			}
		}
	}
}

// storeResult is an event of SendEventsStream whose result is pending,
// with its span, which ends with the result.
type storeResult struct {
	p    *eventsstore.Pending
	span trace.Span
}

// nopSpan stands for no span.
var nopSpan = trace.SpanFromContext(context.Background())

// SubscribeToEvents streams events (type Events) or stored events (type
// EventsStore) until the client cancels.
func (s *Server) SubscribeToEvents(in *kubemqpb.Subscribe, stream grpc.ServerStreamingServer[kubemqpb.EventReceive]) error {
	c, err := s.caller(stream.Context())
	if err != nil {
		return err
	}
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	res := auth.Events
	if in.SubscribeTypeData == kubemqpb.Subscribe_EventsStore {
		res = auth.EventsStore
	}
	if in.SubscribeTypeData == kubemqpb.Subscribe_Events || in.SubscribeTypeData == kubemqpb.Subscribe_EventsStore {
		if err := s.authorize(c, res, in.ClientID, in.Channel, auth.Read); err != nil {
			return statusOf(err)
		}
	}
	// The grant is checked again before every event and at every reload.
	check := func() error {
		_, err := s.recheck(c, res, in.ClientID, in.Channel, auth.Read)
		return err
	}
	ctx, stop := s.live(ctx, check)
	defer stop()
	switch in.SubscribeTypeData {
	case kubemqpb.Subscribe_Events:
		sub := eventsSubFromPB(in)
		err = s.svc.Events.Subscribe(ctx, sub, func(ev *events.Event) error {
			if err := check(); err != nil {
				return err
			}
			span := s.tr.Deliver(ctx, tracing.Message{Pattern: tracing.Events, Channel: ev.Channel, ID: ev.ID, Tags: ev.Tags, BodySize: len(ev.Body)}, in.ClientID, in.Group)
			err := stream.Send(&kubemqpb.EventReceive{
				EventID: ev.ID, Channel: ev.Channel, Metadata: ev.Metadata, Body: ev.Body, Tags: ev.Tags,
			})
			tracing.End(span, err)
			return err
		})
	case kubemqpb.Subscribe_EventsStore:
		sub := storeSubFromPB(in)
		err = s.svc.Store.Subscribe(ctx, sub, func(r *eventsstore.Received) error {
			if err := check(); err != nil {
				return err
			}
			span := s.tr.Deliver(ctx, tracing.Message{Pattern: tracing.EventsStore, Channel: r.Channel, ID: r.ID, Tags: r.Tags, BodySize: len(r.Body)}, in.ClientID, in.Group)
			err := stream.Send(&kubemqpb.EventReceive{
				EventID: r.ID, Channel: r.Channel, Metadata: r.Metadata, Body: r.Body,
				Timestamp: r.Timestamp, Sequence: r.Sequence, Tags: r.Tags,
			})
			tracing.End(span, err)
			return err
		})
	default:
		err = kmq.ErrSubscribeType
	}
	return statusOf(ended(ctx, err))
}

func eventsSubFromPB(in *kubemqpb.Subscribe) *events.Subscription {
	return &events.Subscription{
		ClientID: in.ClientID, Channel: in.Channel, Group: in.Group,
		StoreTypeSet: in.EventsStoreTypeData != kubemqpb.Subscribe_EventsStoreTypeUndefined,
	}
}

func storeSubFromPB(in *kubemqpb.Subscribe) *eventsstore.Subscription {
	return &eventsstore.Subscription{
		ClientID: in.ClientID, Channel: in.Channel, Group: in.Group,
		Start: eventsstore.StartType(in.EventsStoreTypeData), StartValue: in.EventsStoreTypeValue,
	}
}

// ValidateSubscribeToEvents checks a SubscribeToEvents request as the
// handler would, without subscribing (for fronts that must answer before
// they open a stream).
func ValidateSubscribeToEvents(in *kubemqpb.Subscribe) error {
	switch in.SubscribeTypeData {
	case kubemqpb.Subscribe_Events:
		return internalErr(eventsSubFromPB(in).Validate())
	case kubemqpb.Subscribe_EventsStore:
		return internalErr(storeSubFromPB(in).Validate())
	}
	return internalErr(kmq.ErrSubscribeType)
}
