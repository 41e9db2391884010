package cloudevents

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/xid"

	"github.com/heraldmq/herald/client"
)

// QueryConnection is messaging2's interface of a query connection:
// request/reply, streamed replies, and listeners. *QueryConn implements it.
type QueryConnection interface {
	Request(ctx context.Context, requestCe Event) (reply Event, err error)
	RequestStream(ctx context.Context, requestCe Event) (ReplyStream, error)
	Listen(ctx context.Context, handlers map[QueryOp]QueryHandlerFunc, wg *sync.WaitGroup) error
	ListenWithConcurrentWorkers(ctx context.Context, handlers map[QueryOp]QueryHandlerFunc, wg *sync.WaitGroup, channelBufferLen uint, workerCount uint) error
}

// QueryHandlerFunc answers a query through writer. ctx ends at the
// requester's deadline, when a drain times out, or on Close. Returning
// without writing answers "no reply" (the requester gets ErrNoReply); a
// panic answers with its text (the requester gets a *ReplyError).
type QueryHandlerFunc func(ctx context.Context, request Event, writer ReplyWriter)

// ReplyWriter sends replies. The first Write is the reply; more Writes
// are allowed only on streamed requests (see StreamingReplyWriter). It is
// valid until the handler returns.
type ReplyWriter interface {
	Write(Event) error
}

// StreamingReplyWriter is implemented by the writer passed to query
// handlers: Streaming reports whether the requester accepts several
// replies (RequestStream, Gather).
type StreamingReplyWriter interface {
	ReplyWriter
	Streaming() bool
}

// ReplyStream is the requester's side of a streamed request. Read it with
//
//	for s.ExpectNext() {
//		reply, err := s.Next()
//		if err != nil {
//			return err // the stream failed: timeout, lost replies, …
//		}
//		…
//	}
//
// which ends without an error after the last reply of a healthy stream.
type ReplyStream interface {
	// ExpectNext waits, like bufio.Scanner.Scan, until it knows what Next
	// returns: true for a reply, or for an error that ended the stream and
	// that Next has not returned yet; false when the stream ended cleanly
	// (Next would return io.EOF) or Next returned its error.
	ExpectNext() bool
	// Next returns the next reply, blocking until it arrives or the
	// request's deadline passes; io.EOF after the last one.
	Next() (Event, error)
	// Close stops receiving and frees the stream.
	Close() error
}

// ReplyStreamWriter buffers replies and sends them in order on Flush.
type ReplyStreamWriter struct {
	w   ReplyWriter
	mu  sync.Mutex
	buf []Event
}

// NewReplyStreamWriter returns a buffering writer over writer.
func NewReplyStreamWriter(writer ReplyWriter) *ReplyStreamWriter {
	r := &ReplyStreamWriter{w: writer}
	if t, ok := writer.(interface{ track(*ReplyStreamWriter) }); ok {
		t.track(r)
	}
	return r
}

// Write adds ce to the buffer.
func (r *ReplyStreamWriter) Write(ce Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, ce)
	return nil
}

// Flush sends the buffered events in order through the wrapped writer and
// returns the first error. On a request that takes one reply, the first
// event is the reply and the second fails with ErrReplyAlreadySent.
func (r *ReplyStreamWriter) Flush() error {
	r.mu.Lock()
	buf := r.buf
	r.buf = nil
	r.mu.Unlock()
	var first error
	for _, ce := range buf {
		if err := r.w.Write(ce); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (r *ReplyStreamWriter) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf)
}

// ReplyInfo describes where a reply came from.
type ReplyInfo struct {
	Responder  string    // the responder's client id
	CacheHit   bool      // the server answered from its cache (Herald)
	ExecutedAt time.Time // when the responder answered
}

// Wire tags of the query protocol.
const (
	tagDeadline   = "herald.deadline"
	tagNoReply    = "herald.noreply"
	tagReady      = "herald.ready"
	tagStream     = "herald.stream"
	tagReplyTo    = "herald.reply-to"
	tagRequestID  = "herald.request-id"
	tagResponder  = "herald.responder"
	tagReplySeq   = "herald.reply-seq"
	tagReplyEnd   = "herald.reply-end"
	tagError      = "herald.error"
	metaStreamAck = "herald/stream-ack"
	metaStreamEnd = "herald/stream-end"
	metaReady     = "herald/ready"
)

// QueryConn is a query connection to Herald (or any KubeMQ server): a
// query operation op is served on the queries channel QueryPrefix+op. It
// is safe for concurrent use.
type QueryConn struct {
	c      *conn
	connID string

	inboxMu sync.Mutex
	inbox   *inbox

	// dropReply, set by tests only, drops streamed replies by sequence.
	dropReply func(seq int) bool
}

var _ QueryConnection = (*QueryConn)(nil)

// NewQueryConnection connects as cfg says; ctx bounds the connect only.
func NewQueryConnection(ctx context.Context, cfg Config) (*QueryConn, error) {
	cfg.Client = nil
	return newQueryConn(cfg)
}

// NewQueryConnectionFromClient is NewQueryConnection over a borrowed
// client, which Close leaves open.
func NewQueryConnectionFromClient(cfg Config, cl *client.Client) (*QueryConn, error) {
	if cl == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	}
	cfg.Client = cl
	return newQueryConn(cfg)
}

func newQueryConn(cfg Config) (*QueryConn, error) {
	c, err := newConn(cfg)
	if err != nil {
		return nil, err
	}
	q := &QueryConn{c: c, connID: xid.New().String()}
	c.onClose(q.closeInbox)
	return q, nil
}

// Client returns the connection's client.
func (q *QueryConn) Client() *client.Client { return q.c.cl }

func (q *QueryConn) responderID() string { return q.c.s.ClientID + "/" + q.connID }

// deadline is the request's deadline: ctx's, else RequestTimeout from now,
// clamped to MaxRequestTimeout.
func (q *QueryConn) deadline(ctx context.Context) time.Time {
	now := time.Now()
	d, ok := ctx.Deadline()
	if !ok {
		d = now.Add(q.c.s.RequestTimeout)
	}
	if d.Sub(now) > MaxRequestTimeout {
		d = now.Add(MaxRequestTimeout)
	}
	return d
}

// Request sends requestCe as a query on its type's operation channel and
// returns the reply. Missing source (or AUTO_POPULATE), id and time are
// filled in; the timeout is ctx's deadline, else RequestTimeout, and the
// handler's context gets the same deadline. Errors: ErrNoReply, *ReplyError,
// ErrTimeout (with context.DeadlineExceeded or client.ErrTimeout),
// client.ErrUnavailable while the server cannot be reached.
func (q *QueryConn) Request(ctx context.Context, requestCe Event) (Event, error) {
	ce, _, err := q.request(ctx, requestCe, "", 0)
	return ce, err
}

// RequestCached is Request with a server-side cache: a reply is kept
// under cacheKey for ttl, and later requests with the key get it without
// reaching a handler (Herald caches; KubeMQ Community accepts the fields
// and never does). ReplyInfo.CacheHit says where the reply came from.
func (q *QueryConn) RequestCached(ctx context.Context, requestCe Event, cacheKey string, ttl time.Duration) (Event, ReplyInfo, error) {
	if cacheKey == "" || ttl <= 0 {
		return Event{}, ReplyInfo{}, fmt.Errorf("%w: a cache key and a positive ttl", ErrInvalidOption)
	}
	return q.request(ctx, requestCe, cacheKey, ttl)
}

func (q *QueryConn) request(ctx context.Context, requestCe Event, cacheKey string, ttl time.Duration) (Event, ReplyInfo, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	done, err := q.c.begin()
	if err != nil {
		return Event{}, ReplyInfo{}, err
	}
	defer done()
	ce, err := q.c.prepare(requestCe)
	if err != nil {
		return Event{}, ReplyInfo{}, err
	}
	ce = withTraceContext(ctx, ce)
	w, err := Encode(ce, q.c.s.Encoding)
	if err != nil {
		return Event{}, ReplyInfo{}, err
	}
	deadline := q.deadline(ctx)
	w.Tags[tagDeadline] = deadline.UTC().Format(time.RFC3339Nano)
	resp, err := q.send(ctx, w, q.c.s.QueryPrefix+ce.Type(), deadline, time.Until(deadline), cacheKey, ttl)
	if err != nil {
		return Event{}, ReplyInfo{}, err
	}
	info := ReplyInfo{Responder: resp.ResponseClientId, CacheHit: resp.CacheHit, ExecutedAt: resp.ExecutedAt}
	reply, err := replyFrom(resp)
	return reply, info, err
}

// send sends a query and maps its errors.
func (q *QueryConn) send(ctx context.Context, w Wire, channel string, deadline time.Time, timeout time.Duration, cacheKey string, ttl time.Duration) (*client.QueryResponse, error) {
	if timeout <= 0 {
		return nil, ctxErr("request on "+channel, ctx, context.DeadlineExceeded)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(time.Second)) // room for the server's timeout answer
		defer cancel()
	}
	qr := q.c.cl.Q().SetId(w.ID).SetChannel(channel).SetMetadata(w.Metadata).SetBody(w.Body).SetTags(w.Tags).
		SetTimeout(max(timeout, time.Millisecond))
	if cacheKey != "" {
		qr.SetCacheKey(cacheKey).SetCacheTTL(ttl)
	}
	resp, err := qr.Send(ctx)
	switch {
	case err == nil:
		return resp, nil
	case ctx.Err() != nil:
		return nil, ctxErr("request on "+channel, ctx, err)
	case errors.Is(err, client.ErrNoResponders):
		return nil, fmt.Errorf("cloudevents: request on %s: %w: %w", channel, ErrNoResponders, err)
	case errors.Is(err, client.ErrTimeout):
		return nil, fmt.Errorf("cloudevents: request on %s: %w: %w", channel, ErrTimeout, err)
	}
	return nil, fmt.Errorf("cloudevents: request on %s: %w", channel, err)
}

// replyFrom reads a query response: no reply, a responder's error, or the
// reply event.
func replyFrom(resp *client.QueryResponse) (Event, error) {
	if _, ok := resp.Tags[tagNoReply]; ok {
		return Event{}, fmt.Errorf("%w from %s", ErrNoReply, resp.ResponseClientId)
	}
	if resp.Error != "" {
		return Event{}, &ReplyError{Responder: resp.ResponseClientId, Message: resp.Error}
	}
	ce, err := Decode(Wire{ID: resp.QueryId, Metadata: resp.Metadata, Body: resp.Body, Tags: resp.Tags})
	if err != nil {
		return Event{}, fmt.Errorf("cloudevents: reply from %s: %w", resp.ResponseClientId, err)
	}
	return ce, nil
}

// Listen serves the operations of handlers until ctx ends, then drains
// within DrainTimeout. Each operation's queries are handled one at a time
// in arrival order. It returns once every operation's channel has a
// registered responder (ErrNotReady otherwise); on success it calls
// wg.Add(1), and wg.Done() when the listener has stopped.
func (q *QueryConn) Listen(ctx context.Context, handlers map[QueryOp]QueryHandlerFunc, wg *sync.WaitGroup) error {
	return q.listen(ctx, handlers, wg, listenOptions{})
}

// ListenWithConcurrentWorkers is Listen with every operation's queries fed
// into one buffer of channelBufferLen served by workerCount goroutines.
func (q *QueryConn) ListenWithConcurrentWorkers(ctx context.Context, handlers map[QueryOp]QueryHandlerFunc, wg *sync.WaitGroup, channelBufferLen uint, workerCount uint) error {
	if workerCount == 0 {
		return fmt.Errorf("%w: workerCount 0", ErrInvalidOption)
	}
	return q.listen(ctx, handlers, wg, listenOptions{workers: int(workerCount), buffer: int(channelBufferLen), set: true})
}

func (q *QueryConn) listen(ctx context.Context, handlers map[QueryOp]QueryHandlerFunc, wg *sync.WaitGroup, o listenOptions) error {
	return listenUntil(ctx, wg, q.c.s.DrainTimeout, func(ctx context.Context) (*Subscription, error) { return q.subscribe(ctx, handlers, o) })
}

// Subscribe starts a listener like Listen and returns its handle; ctx
// bounds the start only.
func (q *QueryConn) Subscribe(ctx context.Context, handlers map[QueryOp]QueryHandlerFunc, opts ...ListenOption) (*Subscription, error) {
	return q.subscribe(ctx, handlers, listenOptionsOf(opts))
}

func (q *QueryConn) subscribe(ctx context.Context, handlers map[QueryOp]QueryHandlerFunc, o listenOptions) (*Subscription, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if len(handlers) == 0 {
		return nil, ErrNoHandlers
	}
	ops := make([]QueryOp, 0, len(handlers))
	for op, h := range handlers {
		if h == nil {
			return nil, fmt.Errorf("%w: operation %q", ErrNilHandler, op)
		}
		if err := validType(string(op)); err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	slices.Sort(ops)
	if q.c.isClosed() {
		return nil, ErrClosed
	}
	lanes, per := len(ops), 1
	if o.workers > 0 {
		lanes, per = 1, o.workers
	}
	sub := newSubscription(q.c.ctx, q.c.log, lanes, per, o.buffer, false)
	fail := func(err error) (*Subscription, error) {
		sub.close()
		return nil, err
	}
	for i, op := range ops {
		lane := 0
		if o.workers == 0 {
			lane = i
		}
		channel := q.c.s.QueryPrefix + string(op)
		ch, err := q.c.cl.SubscribeToQueries(sub.tctx, channel, q.c.s.QueueGroup, nil)
		if err != nil {
			sub.stop()
			sub.start()
			<-sub.done
			return nil, fmt.Errorf("cloudevents: subscribe to %s: %w", channel, err)
		}
		h := handlers[op]
		sub.produce(func() { q.read(sub, ch, channel, lane, h) })
	}
	sub.start()
	if err := q.c.addSub(sub); err != nil {
		return fail(err)
	}
	for _, op := range ops {
		if err := q.ready(ctx, q.c.s.QueryPrefix+string(op)); err != nil {
			return fail(err)
		}
	}
	return sub, nil
}

// ready sends readiness queries on channel until a responder answers
// (each times out after 1 s; 5 s in all).
func (q *QueryConn) ready(ctx context.Context, channel string) error {
	nonce := xid.New().String()
	end := time.Now().Add(5 * time.Second)
	var last error
	for time.Now().Before(end) {
		qctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		resp, err := q.c.cl.Q().SetChannel(channel).SetMetadata(metaReady).AddTag(tagReady, nonce).
			SetTimeout(time.Second).Send(qctx)
		cancel()
		if err == nil && resp.Executed {
			return nil
		}
		if err == nil {
			err = errors.New(resp.Error)
		}
		last = err
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotReady, channel, ctx.Err())
	}
	return fmt.Errorf("%w: no responder registered on %s within 5s (last error: %w)", ErrNotReady, channel, last)
}

// respond sends a query response; its context is not the subscription's,
// which ends at a drain.
func (q *QueryConn) respond(r *client.Response) error {
	ctx, cancel := context.WithTimeout(context.Background(), q.c.s.RequestTimeout)
	defer cancel()
	return r.Send(ctx)
}

func (q *QueryConn) read(sub *Subscription, ch <-chan *client.QueryReceive, channel string, lane int, h QueryHandlerFunc) {
	for m := range ch {
		if nonce, ok := m.Tags[tagReady]; ok {
			err := q.respond(q.c.cl.R().SetRequestId(m.Id).SetResponseTo(m.ResponseTo).SetExecutedAt(time.Now()).
				SetMetadata(metaReady).AddTag(tagReady, nonce))
			if err != nil {
				q.c.log.Debug("cloudevents: readiness answer failed", "channel", channel, "err", err)
			}
			continue
		}
		ev, err := FromQuery(m)
		if err != nil {
			q.replyError(m, fmt.Sprintf("request is not a cloudevent: %v", err))
			continue
		}
		if m.Tags[tagStream] != "" {
			if m.Tags[tagReplyTo] == "" || m.Tags[tagRequestID] == "" {
				q.replyError(m, "streamed request without herald.reply-to or herald.request-id")
				continue
			}
			err := q.respond(q.c.cl.R().SetRequestId(m.Id).SetResponseTo(m.ResponseTo).SetExecutedAt(time.Now()).
				SetMetadata(metaStreamAck).AddTag(tagResponder, q.responderID()))
			if err != nil {
				q.c.log.Warn("cloudevents: stream acknowledgement failed", "channel", channel, "err", err)
				continue
			}
		}
		sub.lanes[lane] <- q.queryTask(sub, m, ev, h)
	}
	if sub.tctx.Err() == nil {
		sub.fail(fmt.Errorf("cloudevents: query subscription to %s ended: %w", channel, client.ErrClientClosed), q.c.s.DrainTimeout)
	}
}

func (q *QueryConn) replyError(m *client.QueryReceive, text string) {
	err := q.respond(q.c.cl.R().SetRequestId(m.Id).SetResponseTo(m.ResponseTo).SetExecutedAt(time.Now()).
		SetError(errors.New(text)))
	if err != nil {
		q.c.log.Warn("cloudevents: error reply failed", "channel", m.Channel, "err", err)
	}
}

func (q *QueryConn) queryTask(sub *Subscription, m *client.QueryReceive, ev Event, h QueryHandlerFunc) *task {
	t := &task{}
	t.exec = func(t *task) {
		deadline := time.Now().Add(q.c.s.RequestTimeout)
		if d, err := time.Parse(time.RFC3339Nano, m.Tags[tagDeadline]); err == nil {
			deadline = d
		}
		ctx, cancel := context.WithDeadline(sub.hctx, deadline)
		defer cancel()
		if !t.setCancel(cancel) {
			return
		}
		ctx = ContextFromEvent(ctx, ev)
		w := &replyWriter{ctx: ctx, q: q, m: m, tid: GetTransactionID(&ev), streaming: m.Tags[tagStream] != ""}
		panicked := q.runHandler(ctx, h, ev, w)
		w.finish(panicked, t.isAbandoned())
	}
	return t
}

// runHandler calls h and returns the panic's text if it panicked.
func (q *QueryConn) runHandler(ctx context.Context, h QueryHandlerFunc, ev Event, w *replyWriter) (panicked string) {
	defer func() {
		if r := recover(); r != nil {
			q.c.log.Error("cloudevents: query handler panicked", "type", ev.Type(), "panic", r, "stack", string(debug.Stack()))
			panicked = fmt.Sprintf("handler panicked: %v", r)
		}
	}()
	h(ctx, ev, w)
	return ""
}

// replyWriter is the writer given to query handlers.
type replyWriter struct {
	ctx       context.Context // the handler's: replies join its trace
	q         *QueryConn
	m         *client.QueryReceive
	tid       TransactionID
	streaming bool

	mu      sync.Mutex
	sent    int
	ended   bool
	tracked []*ReplyStreamWriter
}

// Streaming reports whether the requester accepts several replies.
func (w *replyWriter) Streaming() bool { return w.streaming }

func (w *replyWriter) track(r *ReplyStreamWriter) {
	w.mu.Lock()
	w.tracked = append(w.tracked, r)
	w.mu.Unlock()
}

// Write sends ce as the reply (or, on a streamed request, as the next
// reply), filling its transaction id, source, id and time.
func (w *replyWriter) Write(ce Event) error {
	if ce.Context == nil {
		return fmt.Errorf("%w: no context", ErrInvalidEvent)
	}
	ce = withTraceContext(w.ctx, ce.Clone())
	if GetTransactionID(&ce) == "" && w.tid != "" {
		SetTransactionID(&ce, w.tid)
	}
	ce, err := w.q.c.fill(ce)
	if err != nil {
		return err
	}
	enc, err := Encode(ce, w.q.c.s.Encoding)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return fmt.Errorf("%w: the handler has returned", ErrClosed)
	}
	if !w.streaming {
		if w.sent > 0 {
			return ErrReplyAlreadySent
		}
		err := w.q.respond(w.q.c.cl.R().SetRequestId(w.m.Id).SetResponseTo(w.m.ResponseTo).SetExecutedAt(time.Now()).
			SetMetadata(enc.Metadata).SetBody(enc.Body).SetTags(enc.Tags))
		if err != nil {
			return fmt.Errorf("cloudevents: reply: %w", err)
		}
		w.sent++
		return nil
	}
	w.sent++
	if w.q.dropReply != nil && w.q.dropReply(w.sent) {
		return nil
	}
	enc.Tags[tagRequestID] = w.m.Tags[tagRequestID]
	enc.Tags[tagResponder] = w.q.responderID()
	enc.Tags[tagReplySeq] = strconv.Itoa(w.sent)
	return w.q.inboxSend(w.m.Tags[tagReplyTo], enc)
}

// finish answers for the handler after it returned: the end event of a
// stream, or "no reply" / the panic's text.
func (w *replyWriter) finish(panicked string, abandoned bool) {
	w.mu.Lock()
	w.ended = true
	sent, tracked := w.sent, w.tracked
	w.mu.Unlock()
	for _, r := range tracked {
		if n := r.pending(); n > 0 {
			w.q.c.log.Warn("cloudevents: replies buffered in a ReplyStreamWriter were never flushed", "count", n, "channel", w.m.Channel)
		}
	}
	if abandoned {
		return // a drain gave up on the handler: no answer
	}
	if w.streaming {
		end := Wire{ID: xid.New().String(), Metadata: metaStreamEnd, Tags: map[string]string{
			tagRequestID: w.m.Tags[tagRequestID], tagResponder: w.q.responderID(), tagReplyEnd: strconv.Itoa(sent)}}
		if panicked != "" {
			end.Tags[tagError] = panicked
		}
		if err := w.q.inboxSend(w.m.Tags[tagReplyTo], end); err != nil {
			w.q.c.log.Warn("cloudevents: end of reply stream failed", "channel", w.m.Channel, "err", err)
		}
		return
	}
	if sent > 0 {
		return
	}
	r := w.q.c.cl.R().SetRequestId(w.m.Id).SetResponseTo(w.m.ResponseTo).SetExecutedAt(time.Now())
	if panicked != "" {
		r.SetError(errors.New(panicked))
	} else {
		r.SetError(errors.New("no reply")).AddTag(tagNoReply, "true")
	}
	if err := w.q.respond(r); err != nil {
		w.q.c.log.Warn("cloudevents: reply failed", "channel", w.m.Channel, "err", err)
	}
}

// Drain drains every listener (see Subscription.Drain), closes the reply
// inbox and waits for requests in progress, then closes the client if the
// connection owns it. A query whose handler does not finish in time gets
// no reply.
func (q *QueryConn) Drain(ctx context.Context) error { return q.c.drain(ctx) }

// Close stops the listeners at once (handlers' contexts are cancelled and
// Close waits for them), ends reply streams, and closes the client if the
// connection owns it. It is idempotent.
func (q *QueryConn) Close() error {
	q.c.shutdown(true)
	return nil
}
