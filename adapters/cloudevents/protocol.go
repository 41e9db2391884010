package cloudevents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/protocol"
)

// Protocol is a protocol binding of the CloudEvents SDK
// (github.com/cloudevents/sdk-go/v2) over Herald: sdk-go's client.New(p)
// gives Send, Request and StartReceiver over an EventConn and a QueryConn.
//
//   - Send publishes the event like EventConn.Publish.
//   - Request sends the event as a query on its type's operation channel,
//     like QueryConn.Request, and returns the reply.
//   - Receive delivers the events of ReceiveEventTypes, read by an internal
//     subscription of the EventConn (as Subscribe would). Finish(nil) or an
//     ACK result acknowledges the event; Finish(err) with any other error
//     counts as a handler error: the event is retried and, after MaxDeliver
//     attempts, dead-lettered.
//   - Respond delivers the queries of RespondToOps, read by an internal
//     subscription of the QueryConn, and also the events of
//     ReceiveEventTypes (see below). For a query, the ResponseFn sends the
//     reply.
//   - OpenInbound starts both subscriptions and blocks until its context
//     ends or Close is called; then it drains them. Close stops receiving;
//     it leaves the connections open.
//
// sdk-go's client uses Respond, never Receive, when the protocol implements
// Responder; so Respond delivers events as well as queries, and
// StartReceiver's function sees both. For an event, the ResponseFn
// publishes the function's returned event, if any, as a response event (it
// gets the incoming event's transaction id when it has none, as
// EventResponseWriter.Write does) and settles the event: an ACK result
// acknowledges it, a NACK or an error counts as a handler error, and so does
// a failure to publish the response. For a query, the ResponseFn answers
// with the returned event; an error result (a NACK or an error returned by
// the function) answers with the error's text, which the requester gets as
// a *ReplyError; no event and no error answers "no reply" (ErrNoReply).
// A function that returns no event, func(context.Context, Event) error,
// is fine for both.
//
// Messages are handed over one at a time per event channel (with
// RouteByType, per type) and per query operation, in order; each waits
// until the previous one was finished. A message not finished within its
// handler's deadline (AckWait for an event, the requester's deadline for a
// query) is treated as failed (events are redelivered) and its later Finish
// does nothing. The message's context (binding.MessageContext) carries the
// handler context's values, so InProgress and HandlerDeadline work inside
// sdk-go receiver functions that use the context they are given.
//
// Results follow sdk-go's conventions: Send and Request return nil on
// success; ErrNoReply comes back as an ACK receipt (protocol.IsACK) and a
// *ReplyError as a NACK receipt (protocol.IsNACK), both still matched by
// errors.Is and errors.As; other errors mean the message was not delivered.
//
// Either connection may be nil: Send and Receive of events then need the
// EventConn, Request and queries the QueryConn, and what is missing returns
// an error wrapping ErrUnsupported (ReceiveEventTypes without an EventConn
// and RespondToOps without a QueryConn are refused by NewProtocol). The
// internal event subscription counts as a Listen on the EventConn: a
// stream-routed EventConn that already listens in the same group refuses it
// with ErrAlreadyListening.
type Protocol struct {
	ev   *EventConn
	q    *QueryConn
	opts protocolOptions

	mu      sync.Mutex
	cur     *inbound      // the running OpenInbound, nil when none runs
	opened  chan struct{} // closed and replaced when an OpenInbound starts
	closed  bool
	closeCh chan struct{}
}

var (
	_ protocol.Sender    = (*Protocol)(nil)
	_ protocol.Requester = (*Protocol)(nil)
	_ protocol.Receiver  = (*Protocol)(nil)
	_ protocol.Responder = (*Protocol)(nil)
	_ protocol.Opener    = (*Protocol)(nil)
	_ protocol.Closer    = (*Protocol)(nil)
)

// ProtocolOption configures NewProtocol.
type ProtocolOption func(*protocolOptions)

type protocolOptions struct {
	eventTypes []EventType
	ops        []QueryOp
}

// ReceiveEventTypes makes Receive and Respond deliver the events of these
// types ("" is every type, with RouteByStream only). It needs an EventConn.
func ReceiveEventTypes(types ...EventType) ProtocolOption {
	return func(o *protocolOptions) { o.eventTypes = append(o.eventTypes, types...) }
}

// RespondToOps makes Respond deliver the queries of these operations. It
// needs a QueryConn.
func RespondToOps(ops ...QueryOp) ProtocolOption {
	return func(o *protocolOptions) { o.ops = append(o.ops, ops...) }
}

// NewProtocol returns a Protocol over ev (events) and q (queries), either
// of which may be nil, but not both.
func NewProtocol(ev *EventConn, q *QueryConn, opts ...ProtocolOption) (*Protocol, error) {
	if ev == nil && q == nil {
		return nil, fmt.Errorf("%w: NewProtocol needs an EventConn or a QueryConn", ErrInvalidOption)
	}
	var o protocolOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if len(o.eventTypes) > 0 && ev == nil {
		return nil, fmt.Errorf("%w: ReceiveEventTypes needs an EventConn", ErrUnsupported)
	}
	if len(o.ops) > 0 && q == nil {
		return nil, fmt.Errorf("%w: RespondToOps needs a QueryConn", ErrUnsupported)
	}
	seenT := map[EventType]bool{}
	for _, t := range o.eventTypes {
		if seenT[t] {
			return nil, fmt.Errorf("%w: event type %q given twice", ErrDuplicateHandler, t)
		}
		seenT[t] = true
		if t == "" {
			if ev.c.s.EventRouting == RouteByType {
				return nil, fmt.Errorf("%w: every event type (\"\") needs RouteByStream", ErrUnsupported)
			}
			continue
		}
		if err := validType(string(t)); err != nil {
			return nil, err
		}
	}
	seenO := map[QueryOp]bool{}
	for _, op := range o.ops {
		if seenO[op] {
			return nil, fmt.Errorf("%w: operation %q given twice", ErrDuplicateHandler, op)
		}
		seenO[op] = true
		if err := validType(string(op)); err != nil {
			return nil, err
		}
	}
	return &Protocol{ev: ev, q: q, opts: o, opened: make(chan struct{}), closeCh: make(chan struct{})}, nil
}

// Send publishes the message's event like EventConn.PublishContext (ctx
// bounds it as well as EventsTimeout) and finishes the message.
func (p *Protocol) Send(ctx context.Context, m binding.Message, transformers ...binding.Transformer) (err error) {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidEvent)
	}
	defer func() { _ = m.Finish(err) }()
	if p.ev == nil {
		return fmt.Errorf("%w: Send needs an EventConn (the Protocol has none)", ErrUnsupported)
	}
	if p.isClosed() {
		return ErrClosed
	}
	ce, err := binding.ToEvent(ctx, m, transformers...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return p.ev.PublishContext(ctx, *ce)
}

// Request sends the message's event as a query like QueryConn.Request and
// returns the reply as a message. ErrNoReply is returned as an ACK receipt
// with no message, a *ReplyError as a NACK receipt.
func (p *Protocol) Request(ctx context.Context, m binding.Message, transformers ...binding.Transformer) (_ binding.Message, err error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil message", ErrInvalidEvent)
	}
	defer func() { _ = m.Finish(err) }()
	if p.q == nil {
		return nil, fmt.Errorf("%w: Request needs a QueryConn (the Protocol has none)", ErrUnsupported)
	}
	if p.isClosed() {
		return nil, ErrClosed
	}
	ce, err := binding.ToEvent(ctx, m, transformers...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	reply, err := p.q.Request(ctx, *ce)
	switch {
	case err == nil:
		return binding.ToMessage(&reply), nil
	case errors.Is(err, ErrNoReply):
		return nil, protocol.NewReceipt(true, "%w", err)
	case errors.Is(err, ErrReplyError):
		return nil, protocol.NewReceipt(false, "%w", err)
	}
	return nil, err
}

// Receive returns the next event of ReceiveEventTypes; queries are
// delivered by Respond only. It waits for an OpenInbound when none runs,
// and returns io.EOF when ctx ends or the Protocol is closed.
func (p *Protocol) Receive(ctx context.Context) (binding.Message, error) {
	if p.ev == nil || len(p.opts.eventTypes) == 0 {
		return nil, p.unusable(ctx, fmt.Errorf("%w: Receive needs an EventConn and ReceiveEventTypes", ErrUnsupported))
	}
	m, err := p.next(ctx, false)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Respond returns the next query of RespondToOps or event of
// ReceiveEventTypes with the function that answers it (see Protocol). It
// waits for an OpenInbound when none runs, and returns io.EOF when ctx ends
// or the Protocol is closed.
func (p *Protocol) Respond(ctx context.Context) (binding.Message, protocol.ResponseFn, error) {
	if len(p.opts.eventTypes) == 0 && len(p.opts.ops) == 0 {
		return nil, nil, p.unusable(ctx, fmt.Errorf("%w: Respond needs ReceiveEventTypes or RespondToOps", ErrNoHandlers))
	}
	m, err := p.next(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	return m, m.respond, nil
}

// OpenInbound starts the subscriptions of ReceiveEventTypes and
// RespondToOps (ctx bounds their start as well) and blocks until ctx ends
// or Close is called. Then it stops them: messages handed out are waited
// for (up to the connection's DrainTimeout), messages not handed out are
// returned to their group (acknowledged listeners) or dropped, and it
// returns nil (also when ctx ends while the subscriptions start). One OpenInbound runs at a time (ErrAlreadyListening).
func (p *Protocol) OpenInbound(ctx context.Context) error {
	if len(p.opts.eventTypes) == 0 && len(p.opts.ops) == 0 {
		return fmt.Errorf("%w: the Protocol has no ReceiveEventTypes or RespondToOps", ErrNoHandlers)
	}
	in := &inbound{
		stop:    make(chan struct{}),
		ended:   make(chan struct{}),
		events:  make(chan *protoMsg),
		queries: make(chan *protoMsg),
		evGate:  newGate(),
		qGate:   newGate(),
	}
	defer close(in.ended)
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return ErrClosed
	case p.cur != nil:
		p.mu.Unlock()
		return fmt.Errorf("%w: OpenInbound already runs", ErrAlreadyListening)
	}
	p.cur = in
	close(p.opened)
	p.opened = make(chan struct{})
	p.mu.Unlock()

	var subs []*gatedSub
	fail := func(err error) error {
		p.stopInbound(in, subs)
		if ctx.Err() != nil {
			return nil // stopped while starting: a normal end
		}
		return err
	}
	if len(p.opts.eventTypes) > 0 {
		h := map[EventType]EventHandlerFunc{}
		for _, t := range p.opts.eventTypes {
			h[t] = in.eventHandler
		}
		sub, err := p.ev.Subscribe(ctx, h)
		if err != nil {
			return fail(err)
		}
		subs = append(subs, &gatedSub{sub: sub, g: in.evGate, timeout: p.ev.c.s.DrainTimeout})
	}
	if len(p.opts.ops) > 0 {
		h := map[QueryOp]QueryHandlerFunc{}
		for _, op := range p.opts.ops {
			h[op] = in.queryHandler
		}
		sub, err := p.q.Subscribe(ctx, h)
		if err != nil {
			return fail(err)
		}
		subs = append(subs, &gatedSub{sub: sub, g: in.qGate, timeout: p.q.c.s.DrainTimeout})
	}
	select {
	case <-ctx.Done():
	case <-p.closeCh:
	}
	p.stopInbound(in, subs)
	return nil
}

// Close stops a running OpenInbound and waits (bounded by ctx) until it has
// returned; Send, Request, Receive and Respond fail afterwards. The
// connections stay open. Close is idempotent.
func (p *Protocol) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closeCh)
	}
	in := p.cur
	p.mu.Unlock()
	if in == nil {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case <-in.ended:
		return nil
	case <-ctx.Done():
		return ctxErr("close the protocol", ctx, nil)
	}
}

// unusable is the error of a Receive or Respond that cannot deliver
// anything: err, or io.EOF once ctx ended or the Protocol was closed (sdk-go's
// client calls again after any other error, until io.EOF).
func (p *Protocol) unusable(ctx context.Context, err error) error {
	if (ctx != nil && ctx.Err() != nil) || p.isClosed() {
		return io.EOF
	}
	return err
}

func (p *Protocol) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// next waits for the next message of the running inbound (queries too
// when withQueries).
func (p *Protocol) next(ctx context.Context, withQueries bool) (*protoMsg, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	for {
		p.mu.Lock()
		in, opened, closed := p.cur, p.opened, p.closed
		p.mu.Unlock()
		if closed {
			return nil, io.EOF
		}
		if in == nil {
			select {
			case <-opened:
				continue
			case <-p.closeCh:
				return nil, io.EOF
			case <-ctx.Done():
				return nil, io.EOF
			}
		}
		var queries chan *protoMsg
		if withQueries {
			queries = in.queries
		}
		var m *protoMsg
		select {
		case m = <-in.events:
		case m = <-queries:
		case <-in.stop:
			select { // wait for the next OpenInbound
			case <-opened:
				continue
			case <-p.closeCh:
				return nil, io.EOF
			case <-ctx.Done():
				return nil, io.EOF
			}
		case <-p.closeCh:
			return nil, io.EOF
		case <-ctx.Done():
			return nil, io.EOF
		}
		if m.claim() {
			return m, nil
		}
	}
}

// stopInbound stops the subscriptions of in: it waits for the messages
// handed out, then gives up on the handlers still waiting to hand theirs
// out (their events return to the group), and forgets in.
func (p *Protocol) stopInbound(in *inbound, subs []*gatedSub) {
	in.evGate.setStopping()
	in.qGate.setStopping()
	close(in.stop)
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { s.stop() })
	}
	wg.Wait()
	p.mu.Lock()
	if p.cur == in {
		p.cur = nil
	}
	p.mu.Unlock()
}

// inbound is the state of one OpenInbound.
type inbound struct {
	stop    chan struct{} // closed when OpenInbound stops
	ended   chan struct{} // closed when OpenInbound has returned
	events  chan *protoMsg
	queries chan *protoMsg
	evGate  *gate
	qGate   *gate
}

// gatedSub is a subscription with the gate of its hand-overs.
type gatedSub struct {
	sub     *Subscription
	g       *gate
	timeout time.Duration
}

// stop drains the subscription; once every message handed out was
// finished and handlers remain that wait to hand theirs out (nobody will
// take them), the drain gives up on them.
func (s *gatedSub) stop() {
	s.sub.beginDrain()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	go func() {
		for {
			ch, abort := s.g.idleWithOffers()
			if abort {
				cancel()
				return
			}
			select {
			case <-ch:
			case <-s.sub.Done():
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := s.sub.Drain(ctx); err != nil {
		s.sub.log.Debug("cloudevents: protocol inbound stopped with messages not handed out", "err", err)
	}
}

// gate counts the messages of one subscription that wait to be handed out
// (offering) and that were handed out and not finished (handed).
type gate struct {
	mu       sync.Mutex
	offering int
	handed   int
	stopping bool
	aborting bool
	changed  chan struct{} // closed and replaced on every change
}

func newGate() *gate { return &gate{changed: make(chan struct{})} }

// bump signals a change; g.mu is held.
func (g *gate) bump() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gate) setStopping() {
	g.mu.Lock()
	g.stopping = true
	g.bump()
	g.mu.Unlock()
}

// idleWithOffers reports whether the drain should give up: stopping,
// nothing handed out, and handlers waiting to hand out. When it does, no
// message is handed out any more. Otherwise it returns the channel closed
// at the next change.
func (g *gate) idleWithOffers() (<-chan struct{}, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping && g.handed == 0 && g.offering > 0 {
		g.aborting = true
		return nil, true
	}
	return g.changed, false
}

type msgState int

const (
	msgOffered   msgState = iota // waiting to be taken by Receive / Respond
	msgTaken                     // handed out, not finished
	msgWithdrawn                 // the handler gave up before it was taken
	msgSettled                   // finished, or its handler gave up after it was taken
)

// protoMsg is a received event or query on its way through sdk-go: the
// event as a binding.EventMessage with Finish settling it.
type protoMsg struct {
	*binding.EventMessage
	ctx   context.Context
	g     *gate
	query bool
	ew    EventResponseWriter // events
	qw    ReplyWriter         // queries

	state msgState // under g.mu
	once  sync.Once
	done  chan struct{}
	err   error // set before done closes
	rerr  error // a failed result seen by the ResponseFn
	rmu   sync.Mutex
}

var (
	_ binding.MessageWrapper = (*protoMsg)(nil)
	_ binding.MessageContext = (*protoMsg)(nil)
)

// GetWrappedMessage returns the event message, so binding.ToEvent returns
// the event itself.
func (m *protoMsg) GetWrappedMessage() binding.Message { return m.EventMessage }

// Context returns the handler's context: its values are visible in the
// context sdk-go gives the receiver function.
func (m *protoMsg) Context() context.Context { return m.ctx }

// Finish settles the message: nil or an ACK result acknowledges it, any
// other error counts as a handler error. Later calls do nothing.
func (m *protoMsg) Finish(err error) error {
	m.once.Do(func() {
		m.rmu.Lock()
		if !protocol.IsACK(err) {
			m.err = err
		} else {
			m.err = m.rerr
		}
		m.rmu.Unlock()
		m.g.mu.Lock()
		if m.state == msgTaken {
			m.state = msgSettled
			m.g.handed--
			m.g.bump()
		}
		m.g.mu.Unlock()
		close(m.done)
	})
	return nil
}

// claim marks a message taken by Receive or Respond; false when its
// handler gave up or the inbound is stopping and gave up on the handlers.
func (m *protoMsg) claim() bool {
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	if m.state != msgOffered || m.g.aborting {
		return false
	}
	m.state = msgTaken
	m.g.offering--
	m.g.handed++
	m.g.bump()
	return true
}

// giveUp is the end of a handler that stops waiting (its context ended).
func (m *protoMsg) giveUp() {
	m.g.mu.Lock()
	switch m.state {
	case msgOffered:
		m.state = msgWithdrawn
		m.g.offering--
		m.g.bump()
	case msgTaken:
		m.state = msgSettled
		m.g.handed--
		m.g.bump()
	}
	m.g.mu.Unlock()
}

// respond is the message's protocol.ResponseFn.
func (m *protoMsg) respond(ctx context.Context, rm binding.Message, result protocol.Result, transformers ...binding.Transformer) error {
	if !protocol.IsACK(result) {
		m.rmu.Lock()
		m.rerr = result
		m.rmu.Unlock()
		if m.query {
			failReply(m.qw, result.Error())
		}
		return result
	}
	if rm == nil {
		if !m.query {
			m.ew.NoResponse()
		}
		return nil
	}
	defer func() { _ = rm.Finish(nil) }()
	ce, err := binding.ToEvent(ctx, rm, transformers...)
	if err != nil {
		err = fmt.Errorf("%w: response: %w", ErrInvalidEvent, err)
		if m.query {
			failReply(m.qw, err.Error())
		}
		return err
	}
	if m.query {
		return m.qw.Write(*ce)
	}
	if err := m.ew.Write(*ce); err != nil {
		return fmt.Errorf("cloudevents: response event: %w", err)
	}
	return nil
}

// offer hands m to Receive / Respond on ch and waits until it is finished
// or ctx ends; it returns the Finish error.
func (in *inbound) offer(ctx context.Context, ch chan *protoMsg, m *protoMsg) error {
	m.g.mu.Lock()
	m.g.offering++
	m.g.bump()
	m.g.mu.Unlock()
	select {
	case ch <- m:
		select {
		case <-m.done:
			return m.err
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	m.giveUp()
	select {
	case <-m.done: // finished just now
		return m.err
	default:
	}
	return fmt.Errorf("cloudevents: protocol: the message was not finished in time: %w", ctx.Err())
}

func (in *inbound) eventHandler(ctx context.Context, ev Event, w EventResponseWriter) error {
	m := &protoMsg{EventMessage: (*binding.EventMessage)(&ev), ctx: ContextFromEvent(ctx, ev), g: in.evGate, ew: w, done: make(chan struct{})}
	return in.offer(ctx, in.events, m)
}

func (in *inbound) queryHandler(ctx context.Context, req Event, w ReplyWriter) {
	m := &protoMsg{EventMessage: (*binding.EventMessage)(&req), ctx: ContextFromEvent(ctx, req), g: in.qGate, query: true, qw: w, done: make(chan struct{})}
	if err := in.offer(ctx, in.queries, m); err != nil && ctx.Err() == nil {
		failReply(w, err.Error())
	}
}

func failReply(w ReplyWriter, text string) {
	if f, ok := w.(interface{ fail(string) }); ok {
		f.fail(text)
	}
}

// fail answers a query that takes one reply with an error text (the
// requester gets a *ReplyError), unless a reply was sent already. On a
// streamed request it does nothing: the stream ends after the handler.
func (w *replyWriter) fail(text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || w.streaming || w.sent > 0 {
		return
	}
	w.sent++
	err := w.q.respond(w.q.c.cl.R().SetRequestId(w.m.Id).SetResponseTo(w.m.ResponseTo).SetExecutedAt(time.Now()).
		SetError(errors.New(text)))
	if err != nil {
		w.q.c.log.Warn("cloudevents: error reply failed", "channel", w.m.Channel, "err", err)
	}
}
