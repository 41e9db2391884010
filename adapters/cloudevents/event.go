package cloudevents

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
)

// EventConnection is messaging2's interface of an event connection:
// persisted events, listeners, and request/response correlated by
// transaction id. *EventConn implements it.
type EventConnection interface {
	Listen(ctx context.Context, handlers map[EventType]EventHandlerFunc, wg *sync.WaitGroup) error
	ListenWithConcurrentWorkers(ctx context.Context, handlers map[EventType]EventHandlerFunc, wg *sync.WaitGroup, channelBufferLen uint, workerCount uint) error
	Publish(ce Event) error
	Request(requestCe Event, responseEventTypes []EventType) (EventResponsePromise, error)
	WaitForResponse(transactionID TransactionID, responseEventTypes []EventType) (EventResponsePromise, error)
}

// EventHandlerFunc handles one event. Returning nil acknowledges it; an
// error (or a panic) has it retried and, after MaxDeliver attempts,
// dead-lettered. ctx ends when the handler's time runs out (AckWait after
// it started; InProgress extends it, HandlerDeadline tells when; ctx.Err()
// is then context.DeadlineExceeded), when a drain times out, or on Close;
// it is not derived from Listen's context. ctx reports no Deadline, since
// InProgress moves its end.
type EventHandlerFunc func(ctx context.Context, event Event, writer EventResponseWriter) error

// EventResponseWriter publishes response events from a handler. It is
// valid until the handler returns.
type EventResponseWriter interface {
	// Write publishes ce like Publish, after giving it the incoming event's
	// transaction id when it has none. It may be called many times; every
	// Write completes before the incoming event is acknowledged.
	Write(ce Event) error
	// NoResponse records that no response is intended.
	NoResponse()
}

// EventConn is an event connection to Herald (or any KubeMQ server):
// events are stored on events-store channels (see Routing), listeners read
// them, and response events are matched to requests by transaction id. It
// is safe for concurrent use.
type EventConn struct {
	c         *conn
	herald    bool
	guarantee Delivery

	mu        sync.Mutex
	listening map[string]bool
	source    *EventSource
}

var _ EventConnection = (*EventConn)(nil)

// NewEventConnection connects as cfg says. Unless cfg.AssumeHerald is set,
// it asks the server (Ping, bounded by ctx) whether it is Herald; with
// DeliveryAtLeastOnce on another server it fails with ErrUnsupported. ctx
// bounds the connect only.
func NewEventConnection(ctx context.Context, cfg Config) (*EventConn, error) {
	cfg.Client = nil
	return newEventConn(ctx, cfg)
}

// NewEventConnectionFromClient is NewEventConnection over a borrowed client,
// which Close leaves open.
func NewEventConnectionFromClient(cfg Config, cl *client.Client) (*EventConn, error) {
	if cl == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	}
	cfg.Client = cl
	return newEventConn(context.Background(), cfg)
}

func newEventConn(ctx context.Context, cfg Config) (*EventConn, error) {
	c, err := newConn(cfg)
	if err != nil {
		return nil, err
	}
	herald, err := isHerald(ctx, &c.s, c.cl)
	if err != nil {
		c.shutdown(true)
		return nil, err
	}
	e := &EventConn{c: c, herald: herald, listening: map[string]bool{}}
	switch {
	case c.s.Delivery == DeliveryAtLeastOnce && !herald:
		c.shutdown(true)
		return nil, fmt.Errorf("%w: DeliveryAtLeastOnce needs Herald's acked durable reads", ErrUnsupported)
	case herald && c.s.Delivery != DeliveryAtMostOnce:
		e.guarantee = DeliveryAtLeastOnce
	default:
		e.guarantee = DeliveryAtMostOnce
		if c.s.group() != "" && c.s.Delivery == DeliveryAuto {
			c.log.Info("cloudevents: the server has no acked durable reads: durable listeners deliver at most once", "group", c.s.group())
		}
	}
	return e, nil
}

// Client returns the connection's client.
func (e *EventConn) Client() *client.Client { return e.c.cl }

// Guarantee reports what group listeners get on this server:
// DeliveryAtLeastOnce (Herald's acked durable reads) or DeliveryAtMostOnce
// (events-store group subscription; a message published while a listener
// starts may be missed, and one received by a member that dies is lost).
// Listeners without a group get every event stored while they listen.
func (e *EventConn) Guarantee() Delivery { return e.guarantee }

// Publish stores ce (filling a missing source, id and time) and returns
// once the server confirmed it, retrying transport failures with the same
// id until EventsTimeout. On Herald the same event id is stored once.
func (e *EventConn) Publish(ce Event) error { return e.PublishContext(context.Background(), ce) }

// PublishContext is Publish bounded by ctx as well.
func (e *EventConn) PublishContext(ctx context.Context, ce Event) error { return e.c.publish(ctx, ce) }

// Listen handles events of the handlers' types one at a time, in stream
// order (per type with RouteByType), until ctx ends; then it drains within
// DrainTimeout. It returns once every subscription is in place; on success
// it calls wg.Add(1), and wg.Done() when the listener has stopped. The key
// "" receives every type (RouteByStream only).
func (e *EventConn) Listen(ctx context.Context, handlers map[EventType]EventHandlerFunc, wg *sync.WaitGroup) error {
	return e.listen(ctx, handlers, wg, listenOptions{})
}

// ListenWithConcurrentWorkers is Listen with workerCount handler goroutines
// over a buffer of channelBufferLen received events, without ordering.
func (e *EventConn) ListenWithConcurrentWorkers(ctx context.Context, handlers map[EventType]EventHandlerFunc, wg *sync.WaitGroup, channelBufferLen uint, workerCount uint) error {
	if workerCount == 0 {
		return fmt.Errorf("%w: workerCount 0", ErrInvalidOption)
	}
	return e.listen(ctx, handlers, wg, listenOptions{workers: int(workerCount), buffer: int(channelBufferLen), set: true})
}

// ListenWithConcurrentWorkersWithPush is ListenWithConcurrentWorkers: Herald
// has no push/pull distinction.
func (e *EventConn) ListenWithConcurrentWorkersWithPush(ctx context.Context, handlers map[EventType]EventHandlerFunc, wg *sync.WaitGroup, channelBufferLen uint, workerCount uint) error {
	return e.ListenWithConcurrentWorkers(ctx, handlers, wg, channelBufferLen, workerCount)
}

func (e *EventConn) listen(ctx context.Context, handlers map[EventType]EventHandlerFunc, wg *sync.WaitGroup, o listenOptions) error {
	return listenUntil(ctx, wg, e.c.s.DrainTimeout, func(ctx context.Context) (*Subscription, error) { return e.subscribe(ctx, handlers, o) })
}

// Subscribe starts a listener like Listen and returns its handle; ctx
// bounds the start only. Stop it with Subscription.Drain or the
// connection's Drain or Close.
func (e *EventConn) Subscribe(ctx context.Context, handlers map[EventType]EventHandlerFunc, opts ...ListenOption) (*Subscription, error) {
	return e.subscribe(ctx, handlers, listenOptionsOf(opts))
}

type eventTransport struct {
	channel string
	keys    []string
}

func (e *EventConn) subscribe(ctx context.Context, handlers map[EventType]EventHandlerFunc, o listenOptions) (*Subscription, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if len(handlers) == 0 {
		return nil, ErrNoHandlers
	}
	s := &e.c.s
	for t, h := range handlers {
		if h == nil {
			return nil, fmt.Errorf("%w: type %q", ErrNilHandler, t)
		}
		if t == "" {
			if s.EventRouting == RouteByType {
				return nil, fmt.Errorf("%w: a handler for every type needs RouteByStream", ErrUnsupported)
			}
			continue
		}
		if err := validType(string(t)); err != nil {
			return nil, err
		}
	}
	if e.c.isClosed() {
		return nil, ErrClosed
	}
	group := s.group()
	var transports []eventTransport
	if s.EventRouting == RouteByStream {
		transports = []eventTransport{{channel: s.Stream, keys: []string{"stream/" + group}}}
	} else {
		for t := range handlers {
			transports = append(transports, eventTransport{channel: s.eventsChannel(t), keys: []string{"type/" + string(t) + "/" + group}})
		}
	}
	var keys []string
	e.mu.Lock()
	for _, tr := range transports {
		for _, k := range tr.keys {
			if e.listening[k] {
				e.mu.Unlock()
				if s.EventRouting == RouteByStream {
					return nil, ErrAlreadyListening
				}
				return nil, fmt.Errorf("%w: %s", ErrDuplicateHandler, k)
			}
		}
	}
	for _, tr := range transports {
		for _, k := range tr.keys {
			e.listening[k] = true
			keys = append(keys, k)
		}
	}
	e.mu.Unlock()
	unregister := func() {
		e.mu.Lock()
		for _, k := range keys {
			delete(e.listening, k)
		}
		e.mu.Unlock()
	}

	acked := group != "" && e.guarantee == DeliveryAtLeastOnce
	lanes, per := len(transports), 1
	if o.workers > 0 {
		lanes, per = 1, o.workers
	}
	sub := newSubscription(e.c.ctx, e.c.log, lanes, per, o.buffer, acked)
	l := &eventListener{e: e, sub: sub, handlers: handlers, group: group}
	fail := func(err error) (*Subscription, error) {
		sub.stop()
		sub.start()
		<-sub.done
		unregister()
		return nil, err
	}
	for i, tr := range transports {
		lane := 0
		if o.workers == 0 {
			lane = i
		}
		if acked {
			vq, err := createDurable(ctx, s, e.c.cl, group, tr.channel)
			if err != nil {
				return fail(err)
			}
			qs, err := e.c.queues()
			if err != nil {
				return fail(err)
			}
			sub.produce(func() { l.poll(qs, vq, tr.channel, lane, o.buffer) })
			continue
		}
		req := &client.EventsStoreSubscription{Channel: tr.channel, Group: group, SubscriptionType: client.StartFromNewEvents()}
		if group == "" {
			// A subscription of its own on the server (not the client id's
			// resumable cursor), starting one second back (§1.7).
			req.ClientId = e.c.s.ClientID + "." + newSubID()
			req.SubscriptionType = client.StartFromTimeDelta(time.Second)
		}
		ch, err := e.c.cl.SubscribeToEventsStoreWithRequest(sub.tctx, req, nil)
		if err != nil {
			return fail(fmt.Errorf("cloudevents: subscribe to %s: %w", tr.channel, err))
		}
		sub.produce(func() { l.read(ch, tr.channel, lane) })
	}
	sub.whenEnded(unregister)
	if err := e.c.addSub(sub); err != nil {
		return fail(err)
	}
	sub.start()
	return sub, nil
}

// eventListener turns received events into tasks of one subscription.
type eventListener struct {
	e        *EventConn
	sub      *Subscription
	handlers map[EventType]EventHandlerFunc
	group    string
}

func (l *eventListener) handler(t string) EventHandlerFunc {
	if h := l.handlers[EventType(t)]; h != nil {
		return h
	}
	return l.handlers[""]
}

// read feeds the events of an events-store subscription.
func (l *eventListener) read(ch <-chan *client.EventStoreReceive, channel string, lane int) {
	for m := range ch { // the SDK drops the events a re-opened subscription repeats
		l.sub.lanes[lane] <- l.plainTask(m)
	}
	if l.sub.tctx.Err() == nil {
		l.sub.fail(fmt.Errorf("cloudevents: subscription to %s ended: %w", channel, client.ErrClientClosed), l.e.c.s.DrainTimeout)
	}
}

// plainTask handles an event of a subscription without acknowledgements:
// retries happen in-process.
func (l *eventListener) plainTask(m *client.EventStoreReceive) *task {
	t := &task{}
	t.exec = func(t *task) {
		w := Wire{ID: m.Id, Metadata: m.Metadata, Body: m.Body, Tags: m.Tags}
		ev, err := Decode(w)
		if err != nil {
			l.deadLetter(w, "not a cloudevent", 1, m.Sequence)
			return
		}
		h := l.handler(ev.Type())
		if h == nil {
			return
		}
		for attempt := 1; ; attempt++ {
			hc := newHandlerCtx(l.sub.hctx, l.e.c.s.AckWait, nil)
			if !t.setCancel(hc.release) {
				return
			}
			err := l.run(hc, h, ev)
			hc.release()
			if err == nil || t.isAbandoned() {
				return
			}
			if max := l.e.c.s.MaxDeliver; max > 0 && attempt >= max {
				l.deadLetter(w, err.Error(), attempt, m.Sequence)
				return
			}
			select {
			case <-time.After(backoff(attempt, l.e.c.s.AckWait/2)):
			case <-l.sub.hctx.Done():
				return
			}
		}
	}
	return t
}

// poll feeds the events of an acked durable read.
func (l *eventListener) poll(qs *queuesstream.QueuesStreamClient, vq, channel string, lane, prefetch int) {
	slots := make(chan struct{}, prefetch)
	for range prefetch {
		slots <- struct{}{}
	}
	vis := l.e.c.s.ackVisibility()
	wait := 100 * time.Millisecond
	for {
		select {
		case <-slots:
		case <-l.sub.tctx.Done():
			return
		}
		n := 1
	more:
		for n < prefetch {
			select {
			case <-slots:
				n++
			default:
				break more
			}
		}
		resp, err := qs.Poll(l.sub.tctx, queuesstream.NewPollRequest().SetChannel(vq).SetMaxItems(n).
			SetWaitTimeout(1000).SetVisibilitySeconds(vis))
		if err != nil {
			for range n {
				slots <- struct{}{}
			}
			if l.sub.tctx.Err() != nil {
				return
			}
			if errors.Is(err, client.ErrClientClosed) || l.e.c.cl.State() == client.StateClosed {
				l.sub.fail(fmt.Errorf("cloudevents: acked read of %s ended: %w", channel, client.ErrClientClosed), l.e.c.s.DrainTimeout)
				return
			}
			l.e.c.log.Debug("cloudevents: poll failed", "channel", channel, "err", err)
			select {
			case <-time.After(wait):
			case <-l.sub.tctx.Done():
				return
			}
			wait = min(2*wait, 2*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		for range n - len(resp.Messages) {
			slots <- struct{}{}
		}
		for _, m := range resp.Messages {
			l.sub.lanes[lane] <- l.ackedTask(m, vis, func() { slots <- struct{}{} })
		}
	}
}

// lease keeps an acknowledged delivery's visibility extended while it
// waits in the buffer or its handler runs within its deadline, and makes
// sure it is settled once.
type lease struct {
	msg    *queuesstream.QueueMessage
	vis    int
	period time.Duration

	mu      sync.Mutex
	settled bool
	timer   *time.Timer
	hc      *handlerCtx
}

func newLease(m *queuesstream.QueueMessage, vis int) *lease {
	l := &lease{msg: m, vis: vis, period: time.Duration(vis) * time.Second / 2}
	l.mu.Lock()
	l.timer = time.AfterFunc(l.period, l.tick)
	l.mu.Unlock()
	return l
}

func (l *lease) tick() {
	l.mu.Lock()
	if l.settled || (l.hc != nil && l.hc.expired()) {
		l.mu.Unlock()
		return // a handler past its deadline loses the lease
	}
	l.mu.Unlock()
	if err := l.msg.ExtendVisibility(l.vis); err != nil {
		return
	}
	l.mu.Lock()
	if !l.settled {
		l.timer.Reset(l.period)
	}
	l.mu.Unlock()
}

func (l *lease) running(hc *handlerCtx) {
	l.mu.Lock()
	l.hc = hc
	l.mu.Unlock()
}

// take claims the settlement; false when it was settled already.
func (l *lease) take() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.settled {
		return false
	}
	l.settled = true
	l.timer.Stop()
	return true
}

func (l *lease) extend() error {
	l.mu.Lock()
	settled := l.settled
	l.mu.Unlock()
	if settled {
		return fmt.Errorf("%w: the event was settled", ErrNotAcked)
	}
	if err := l.msg.ExtendVisibility(l.vis); err != nil {
		return fmt.Errorf("cloudevents: extend the lease: %w", err)
	}
	return nil
}

func (l *eventListener) ackedTask(m *queuesstream.QueueMessage, vis int, freeSlot func()) *task {
	ls := newLease(m, vis)
	var rc int
	var seq uint64
	if m.Attributes != nil {
		rc, seq = int(m.Attributes.ReceiveCount), m.Attributes.Sequence
	}
	rc = max(rc, 1)
	log := l.e.c.log.With("channel", m.Channel, "group", l.group)
	nack := func() bool {
		if !ls.take() {
			return false
		}
		if err := m.NAck(); err != nil {
			log.Debug("cloudevents: nack refused", "err", err)
			return false
		}
		return true
	}
	ack := func() {
		if !ls.take() {
			return
		}
		if err := m.Ack(); err != nil {
			log.Warn("cloudevents: acknowledgement refused (the lease was lost)", "err", err)
		}
	}
	t := &task{settle: nack}
	t.release = func() {
		defer freeSlot()
		nack()
	}
	t.exec = func(t *task) {
		defer freeSlot()
		w := Wire{ID: m.MessageID, Metadata: m.Metadata, Body: m.Body, Tags: m.Tags}
		ev, err := Decode(w)
		if err != nil {
			if l.deadLetter(w, "not a cloudevent", rc, seq) {
				ack()
			} else {
				nack()
			}
			return
		}
		h := l.handler(ev.Type())
		if h == nil {
			log.Debug("cloudevents: no handler for the type, acknowledged", "type", ev.Type())
			ack()
			return
		}
		hc := newHandlerCtx(l.sub.hctx, l.e.c.s.AckWait, ls)
		ls.running(hc)
		if !t.setCancel(hc.release) {
			return
		}
		err = l.run(hc, h, ev)
		hc.release()
		if t.isAbandoned() {
			return
		}
		if err == nil {
			ack()
			return
		}
		if max := l.e.c.s.MaxDeliver; max > 0 && rc >= max {
			if l.deadLetter(w, err.Error(), rc, seq) {
				ack()
			} else {
				nack()
			}
			return
		}
		ls.running(nil) // keep the lease during the back-off
		select {
		case <-time.After(backoff(rc, l.e.c.s.AckWait/2)):
		case <-l.sub.hctx.Done():
		}
		nack()
	}
	return t
}

// run calls the handler, turning a panic into an error.
func (l *eventListener) run(ctx context.Context, h EventHandlerFunc, ev Event) (err error) {
	hctx := ContextFromEvent(ctx, ev)
	w := &eventWriter{e: l.e, tid: GetTransactionID(&ev), sc: trace.SpanContextFromContext(hctx)}
	defer func() {
		if r := recover(); r != nil {
			l.e.c.log.Error("cloudevents: event handler panicked", "type", ev.Type(), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("cloudevents: handler panicked: %v", r)
		}
		w.end()
	}()
	err = h(hctx, ev, w)
	if err == nil && !w.responded() {
		l.e.c.log.Debug("cloudevents: handler returned without a response or NoResponse", "type", ev.Type(), "id", ev.ID())
	}
	return err
}

// deadLetter stores a copy of w in the dead-letter queue; it reports
// whether that worked (MaxDeliver -1 never dead-letters).
func (l *eventListener) deadLetter(w Wire, reason string, attempts int, seq uint64) bool {
	s := &l.e.c.s
	if s.MaxDeliver < 0 && reason != "not a cloudevent" {
		return false
	}
	dlq := s.dlqChannel(l.group)
	log := l.e.c.log.With("channel", dlq, "group", l.group)
	qs, err := l.e.c.queues()
	if err != nil {
		log.Error("cloudevents: dead-letter", "err", err)
		return false
	}
	m := queuesstream.NewQueueMessage().SetId(w.ID).SetChannel(dlq).SetMetadata(w.Metadata).SetBody(w.Body).SetTags(w.Tags).
		AddTag("herald.dlq.reason", reason).AddTag("herald.dlq.attempts", strconv.Itoa(attempts)).
		AddTag("herald.dlq.group", l.group).AddTag("herald.dlq.sequence", strconv.FormatUint(seq, 10))
	ctx, cancel := context.WithTimeout(context.Background(), s.EventsTimeout)
	defer cancel()
	res, err := qs.Send(ctx, m)
	if err == nil && len(res.Results) == 1 && res.Results[0].IsError {
		err = client.InBandError(res.Results[0].Error)
	}
	if err != nil {
		log.Error("cloudevents: dead-letter failed", "err", err)
		return false
	}
	log.Warn("cloudevents: event dead-lettered", "id", w.ID, "reason", reason, "attempts", attempts)
	return true
}

// eventWriter is the EventResponseWriter given to handlers.
type eventWriter struct {
	e   *EventConn
	tid TransactionID
	sc  trace.SpanContext // the handled event's: responses join its trace

	mu     sync.Mutex
	wrote  bool
	noResp bool
	ended  bool
}

func (w *eventWriter) Write(ce Event) error {
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return fmt.Errorf("%w: the handler has returned", ErrClosed)
	}
	w.wrote = true
	w.mu.Unlock()
	if ce.Context != nil && GetTransactionID(&ce) == "" && w.tid != "" {
		ce = ce.Clone()
		SetTransactionID(&ce, w.tid)
	}
	return w.e.c.publish(trace.ContextWithSpanContext(context.Background(), w.sc), ce)
}

func (w *eventWriter) NoResponse() {
	w.mu.Lock()
	w.noResp = true
	w.mu.Unlock()
}

func (w *eventWriter) responded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wrote || w.noResp
}

func (w *eventWriter) end() {
	w.mu.Lock()
	w.ended = true
	w.mu.Unlock()
}

// Drain drains every listener (see Subscription.Drain), closes the event
// source and waits for Publish and writer calls in progress, then closes
// the client if the connection owns it. It returns the listeners'
// *DrainError(s), joined.
func (e *EventConn) Drain(ctx context.Context) error { return e.c.drain(ctx) }

// Close stops everything at once: listeners stop, buffered acknowledged
// events return to their group, running handlers' contexts are cancelled
// and Close waits for them to return; then it closes the event source and,
// if the connection owns it, the client. It is idempotent.
func (e *EventConn) Close() error {
	e.c.shutdown(true)
	return nil
}
