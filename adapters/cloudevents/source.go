package cloudevents

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/xid"

	"github.com/heraldmq/herald/client"
)

// EventObservable is messaging2's interface of an event source: listeners
// by event type and/or transaction id. *EventSource implements it.
type EventObservable interface {
	AddListener(EventType, TransactionID, Listener) (ListenerID, error)
	AddListenerMultiEventType([]EventType, TransactionID, Listener) (ListenerID, error)
	RemoveListenerByID(id ListenerID)
}

// Listener is a callback registered with an EventSource; with ListenOnce
// it is removed after its first call.
type Listener struct {
	Callback   ListenerCallback
	ListenOnce bool
}

// ListenerCallback receives a matching event. It runs on the source's
// dispatch goroutine, in stream order, and must not block or add
// listeners (it may remove them).
type ListenerCallback func(ev EventType, ce Event)

// EventResponsePromise is the pending response of an event request.
type EventResponsePromise interface {
	// Response returns the first matching event and closes the promise.
	Response(ctx context.Context) (Event, error)
	// ResponseChan delivers every matching event, in arrival order, until
	// ctx ends or Close; then the channel closes.
	ResponseChan(ctx context.Context) <-chan Event
	// Close removes the registration; it is idempotent.
	Close() error
}

// maxWindow bounds the events an EventSource keeps per subscription.
const maxWindow = 10000

// EventSource dispatches the events of a connection's events channel(s)
// to listeners by type and/or transaction id. A subscription starts with
// the first listener that needs it (StartFromTimeDelta(Lookback)) and stops
// after the last one is removed; the events received in the last Lookback
// are kept, so a listener with a transaction id also sees matching events
// stored shortly before it was added. It is safe for concurrent use.
type EventSource struct {
	e *EventConn

	dispatch sync.Mutex // held while callbacks run: one event at a time
	mu       sync.Mutex
	closed   bool
	subs     map[string]*sourceSub // by channel
	ls       map[ListenerID]*listener
}

var _ EventObservable = (*EventSource)(nil)

type listener struct {
	id    ListenerID
	types []EventType // nil: every type
	tid   TransactionID
	l     Listener
	chans []string
	owner any // the *Promise behind the listener, if any
}

func (l *listener) matches(ce *Event) bool {
	if l.tid != "" && GetTransactionID(ce) != l.tid {
		return false
	}
	return l.types == nil || slices.Contains(l.types, EventType(ce.Type()))
}

type sourceSub struct {
	channel string
	users   int
	cancel  context.CancelFunc
	done    chan struct{}
	window  []windowed
}

type windowed struct {
	at time.Time
	ce Event
}

// NewEventSource returns an event source of its own over conn's client;
// Close it when done. Most programs use conn.EventSource() instead.
func NewEventSource(conn *EventConn) *EventSource {
	es := &EventSource{e: conn, subs: map[string]*sourceSub{}, ls: map[ListenerID]*listener{}}
	conn.c.onClose(func() { _ = es.Close() })
	return es
}

// EventSource returns the connection's event source, made on first use;
// Request and WaitForResponse use it, and the connection closes it.
func (e *EventConn) EventSource() *EventSource {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.source == nil {
		e.source = NewEventSource(e)
	}
	return e.source
}

// AddListener registers l for events of type ev with transaction id tid;
// "" is a wildcard for either, not both. A listener with a transaction id
// is first matched against the window of recent events.
func (es *EventSource) AddListener(ev EventType, tid TransactionID, l Listener) (ListenerID, error) {
	var types []EventType
	if ev != "" {
		types = []EventType{ev}
	}
	return es.add(types, tid, l)
}

// AddListenerMultiEventType registers l for events of any of types with
// transaction id tid ("" for any).
func (es *EventSource) AddListenerMultiEventType(types []EventType, tid TransactionID, l Listener) (ListenerID, error) {
	if len(types) == 0 {
		return "", ErrNoResponseTypes
	}
	return es.add(slices.Clone(types), tid, l)
}

func (es *EventSource) add(types []EventType, tid TransactionID, l Listener) (ListenerID, error) {
	return es.addOwned(types, tid, l, nil)
}

func (es *EventSource) addOwned(types []EventType, tid TransactionID, l Listener, owner any) (ListenerID, error) {
	if l.Callback == nil {
		return "", fmt.Errorf("%w: nil callback", ErrInvalidListener)
	}
	if types == nil && tid == "" {
		return "", fmt.Errorf("%w: neither an event type nor a transaction id", ErrInvalidListener)
	}
	s := &es.e.c.s
	if types == nil && s.EventRouting == RouteByType {
		return "", fmt.Errorf("%w: a listener for every type needs RouteByStream", ErrUnsupported)
	}
	for _, t := range types {
		if t == "" {
			return "", fmt.Errorf("%w: empty event type in a list", ErrInvalidListener)
		}
		if err := validType(string(t)); err != nil {
			return "", err
		}
	}
	var chans []string
	if s.EventRouting == RouteByStream {
		chans = []string{s.Stream}
	} else {
		for _, t := range types {
			if ch := s.eventsChannel(t); !slices.Contains(chans, ch) {
				chans = append(chans, ch)
			}
		}
	}
	lst := &listener{id: ListenerID("lis-" + xid.New().String()), types: types, tid: tid, l: l, chans: chans, owner: owner}

	es.dispatch.Lock()
	defer es.dispatch.Unlock()
	es.mu.Lock()
	if es.closed || es.e.c.isClosed() {
		es.mu.Unlock()
		return "", ErrClosed
	}
	for _, ch := range chans {
		if err := es.acquire(ch); err != nil {
			for _, prev := range chans {
				if prev == ch {
					break
				}
				es.releaseSub(prev)
			}
			es.mu.Unlock()
			return "", err
		}
	}
	var matched []Event
	if tid != "" {
		for _, ch := range chans {
			for _, w := range es.subs[ch].window {
				if lst.matches(&w.ce) {
					matched = append(matched, w.ce)
				}
			}
		}
	}
	if l.ListenOnce && len(matched) > 0 {
		for _, ch := range chans {
			es.releaseSub(ch)
		}
		es.mu.Unlock()
		l.Callback(EventType(matched[0].Type()), matched[0])
		return lst.id, nil
	}
	es.ls[lst.id] = lst
	es.mu.Unlock()
	for _, ce := range matched {
		l.Callback(EventType(ce.Type()), ce)
	}
	return lst.id, nil
}

// acquire starts the subscription of channel if needed; es.mu is held.
func (es *EventSource) acquire(channel string) error {
	if sub := es.subs[channel]; sub != nil {
		sub.users++
		return nil
	}
	c := es.e.c
	ctx, cancel := context.WithCancel(c.ctx)
	req := &client.EventsStoreSubscription{Channel: channel, ClientId: c.s.ClientID + "." + newSubID(),
		SubscriptionType: client.StartFromTimeDelta(c.s.Lookback)}
	ch, err := c.cl.SubscribeToEventsStoreWithRequest(ctx, req, nil)
	if err != nil {
		cancel()
		return fmt.Errorf("cloudevents: event source: subscribe to %s: %w", channel, err)
	}
	sub := &sourceSub{channel: channel, users: 1, cancel: cancel, done: make(chan struct{})}
	es.subs[channel] = sub
	go es.read(sub, ch)
	return nil
}

// releaseSub drops a user of channel's subscription; es.mu is held.
func (es *EventSource) releaseSub(channel string) {
	sub := es.subs[channel]
	if sub == nil {
		return
	}
	if sub.users--; sub.users > 0 {
		return
	}
	delete(es.subs, channel)
	sub.cancel()
}

func (es *EventSource) read(sub *sourceSub, ch <-chan *client.EventStoreReceive) {
	defer close(sub.done)
	lookback := es.e.c.s.Lookback
	for m := range ch { // the SDK drops the events a re-opened subscription repeats
		ce, err := FromEventStore(m)
		if err != nil {
			continue
		}
		es.deliver(sub, ce, lookback)
	}
}

func (es *EventSource) deliver(sub *sourceSub, ce Event, lookback time.Duration) {
	es.dispatch.Lock()
	defer es.dispatch.Unlock()
	es.mu.Lock()
	if es.subs[sub.channel] != sub {
		es.mu.Unlock()
		return // stopped meanwhile
	}
	now := time.Now()
	cut := 0
	for cut < len(sub.window) && (now.Sub(sub.window[cut].at) > lookback || len(sub.window)-cut >= maxWindow) {
		cut++
	}
	sub.window = append(sub.window[cut:], windowed{at: now, ce: ce})
	var calls []*listener
	for _, l := range es.ls {
		if slices.Contains(l.chans, sub.channel) && l.matches(&ce) {
			calls = append(calls, l)
			if l.l.ListenOnce {
				es.remove(l.id)
			}
		}
	}
	es.mu.Unlock()
	for _, l := range calls {
		l.l.Callback(EventType(ce.Type()), ce)
	}
}

// RemoveListenerByID removes a listener; an unknown id does nothing.
func (es *EventSource) RemoveListenerByID(id ListenerID) {
	es.mu.Lock()
	defer es.mu.Unlock()
	es.remove(id)
}

func (es *EventSource) remove(id ListenerID) {
	l := es.ls[id]
	if l == nil {
		return
	}
	delete(es.ls, id)
	for _, ch := range l.chans {
		es.releaseSub(ch)
	}
}

// Close removes every listener and stops the subscriptions; later
// AddListener calls return ErrClosed. It is idempotent.
func (es *EventSource) Close() error {
	es.mu.Lock()
	es.closed = true
	subs := make([]*sourceSub, 0, len(es.subs))
	for _, sub := range es.subs {
		subs = append(subs, sub)
		sub.cancel()
	}
	es.subs = map[string]*sourceSub{}
	ls := es.ls
	es.ls = map[ListenerID]*listener{}
	es.mu.Unlock()
	for _, sub := range subs {
		<-sub.done
	}
	for _, l := range ls {
		if p, ok := l.owner.(*Promise); ok {
			p.closeWith(ErrClosed)
		}
	}
	return nil
}

// Promise is the pending response of Request or WaitForResponse. It
// queues matching events itself, so it never blocks the event source and
// never drops a response. It is safe for concurrent use.
type Promise struct {
	es  *EventSource
	id  ListenerID
	tid TransactionID

	mu     sync.Mutex
	queue  []Event
	signal chan struct{} // closed and replaced when an event is queued or the promise closes
	closed bool
	err    error
}

var _ EventResponsePromise = (*Promise)(nil)

func (es *EventSource) promise(tid TransactionID, types []EventType) (*Promise, error) {
	if tid == "" {
		return nil, ErrInvalidTransactionID
	}
	if len(types) == 0 {
		return nil, ErrNoResponseTypes
	}
	p := &Promise{es: es, tid: tid, signal: make(chan struct{})}
	id, err := es.addOwned(types, tid, Listener{Callback: p.enqueue}, p)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.id = id
	p.mu.Unlock()
	return p, nil
}

func (p *Promise) enqueue(_ EventType, ce Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.queue = append(p.queue, ce)
	close(p.signal)
	p.signal = make(chan struct{})
}

// next waits for the next queued event.
func (p *Promise) next(ctx context.Context) (Event, error) {
	for {
		p.mu.Lock()
		if len(p.queue) > 0 {
			ce := p.queue[0]
			p.queue = p.queue[1:]
			p.mu.Unlock()
			return ce, nil
		}
		if p.closed {
			err := p.err
			p.mu.Unlock()
			return Event{}, err
		}
		sig := p.signal
		p.mu.Unlock()
		select {
		case <-sig:
		case <-ctx.Done():
			return Event{}, ctxErr("wait for response to "+string(p.tid), ctx, nil)
		}
	}
}

// Response returns the first matching event and then closes the promise.
// It fails with an error matching ErrTimeout at ctx's deadline (or
// wrapping ctx.Err() otherwise), and ErrPromiseClosed after Close.
func (p *Promise) Response(ctx context.Context) (Event, error) {
	ce, err := p.next(ctx)
	if err == nil {
		_ = p.Close()
	}
	return ce, err
}

// ResponseChan delivers every matching event, in arrival order, until ctx
// ends or the promise is closed; then the channel closes and Err says why.
func (p *Promise) ResponseChan(ctx context.Context) <-chan Event {
	out := make(chan Event)
	go func() {
		defer close(out)
		for {
			ce, err := p.next(ctx)
			if err != nil {
				p.closeWith(err)
				return
			}
			select {
			case out <- ce:
			case <-ctx.Done():
				p.closeWith(ctxErr("wait for response to "+string(p.tid), ctx, nil))
				return
			}
		}
	}()
	return out
}

// Err reports why the promise closed: ErrPromiseClosed after Close, a
// context's error from ResponseChan, ErrClosed when the connection closed;
// nil while it is open.
func (p *Promise) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// TransactionID returns the transaction id the promise waits for.
func (p *Promise) TransactionID() TransactionID { return p.tid }

// Close removes the registration; it is idempotent.
func (p *Promise) Close() error {
	p.closeWith(ErrPromiseClosed)
	return nil
}

func (p *Promise) closeWith(err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed, p.err = true, err
	close(p.signal)
	p.signal = make(chan struct{})
	id := p.id
	p.mu.Unlock()
	if id != "" {
		p.es.RemoveListenerByID(id)
	}
}

// Request publishes requestCe (giving it a new transaction id if it has
// none) and returns a promise of its response events of the given types.
// The promise is registered before the event is published.
func (e *EventConn) Request(requestCe Event, responseEventTypes []EventType) (EventResponsePromise, error) {
	return e.RequestContext(context.Background(), requestCe, responseEventTypes)
}

// RequestContext is Request with ctx bounding the publish.
func (e *EventConn) RequestContext(ctx context.Context, requestCe Event, responseEventTypes []EventType) (EventResponsePromise, error) {
	if len(responseEventTypes) == 0 {
		return nil, ErrNoResponseTypes
	}
	if requestCe.Context == nil {
		return nil, fmt.Errorf("%w: no context", ErrInvalidEvent)
	}
	requestCe = requestCe.Clone()
	tid := GetTransactionID(&requestCe)
	if tid == "" {
		tid = NewTransactionID()
		SetTransactionID(&requestCe, tid)
	}
	if _, err := e.c.prepare(requestCe); err != nil {
		return nil, err
	}
	p, err := e.EventSource().promise(tid, responseEventTypes)
	if err != nil {
		return nil, err
	}
	if err := e.PublishContext(ctx, requestCe); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// WaitForResponse returns a promise of the events of the given types
// carrying transactionID, without publishing; events stored within the
// event source's look-back window before the call are found too.
func (e *EventConn) WaitForResponse(transactionID TransactionID, responseEventTypes []EventType) (EventResponsePromise, error) {
	if transactionID == "" {
		return nil, ErrInvalidTransactionID
	}
	p, err := e.EventSource().promise(transactionID, responseEventTypes)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RequestWithSyncSub is Request, then Response(ctx), then Close.
func (e *EventConn) RequestWithSyncSub(ctx context.Context, requestCe Event, responseEventTypes []EventType) (Event, error) {
	p, err := e.RequestContext(ctx, requestCe, responseEventTypes)
	if err != nil {
		return Event{}, err
	}
	defer p.Close()
	return p.Response(ctx)
}

func newSubID() string { return xid.New().String() }
