package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// maxPongWait is how long a WebSocket may stay silent after a keepalive
// ping before it counts as lost (shorter with a shorter keepalive interval).
const maxPongWait = 5 * time.Second

// silence is how long a WebSocket may stay silent with keepalive interval
// ka: until the next ping, and its pong.
func silence(ka time.Duration) time.Duration { return ka + min(ka, maxPongWait) }

// wsConn is one WebSocket of the REST transport. It closes when the context
// it was dialled with ends or the client closes, and, with keepalive on,
// when a ping goes unanswered (KubeMQ servers and Herald answer pings but
// send none).
type wsConn struct {
	t      *restTransport
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	code   codes.Code // of the route's errors

	wmu   sync.Mutex // one writer at a time
	once  sync.Once
	done  chan struct{} // closed by close
	local atomic.Bool   // closed by CloseSend: reads end with io.EOF
}

// dial opens the WebSocket path?query. A refused handshake returns the
// server's envelope as an *Error (an invalid subscription is an HTTP 400
// before the upgrade).
func (t *restTransport) dial(ctx context.Context, path string, query url.Values, code codes.Code) (*wsConn, error) {
	if t.c.closed.Load() {
		return nil, ErrClientClosed
	}
	ctx, cancel := t.c.linked(ctx)
	h := http.Header{}
	t.authorize(h)
	conn, resp, err := t.dialer.DialContext(ctx, address(t.ws, path, query), h)
	if err != nil {
		defer cancel()
		if resp != nil {
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			if _, aerr := decodeAnswer(resp.StatusCode, raw, code); aerr != nil {
				return nil, aerr
			}
			return nil, restError(resp.StatusCode, "client: websocket handshake refused: "+err.Error(), code)
		}
		return nil, t.netError(ctx, err)
	}
	t.down.Store(false)
	conn.SetReadLimit(maxRESTAnswer)
	w := &wsConn{t: t, conn: conn, ctx: ctx, cancel: cancel, code: code, done: make(chan struct{})}
	context.AfterFunc(ctx, w.close) // close cancels ctx: no need to stop it
	if ka := t.c.opts.keepalive; ka > 0 {
		wait := silence(ka)
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wait)) })
		if !t.c.goroutine(func() { w.keepalive(ka) }) {
			w.close()
			return nil, ErrClientClosed
		}
	}
	return w, nil
}

// keepalive pings every interval until the socket closes.
func (w *wsConn) keepalive(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-tick.C:
			if w.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(min(interval, maxPongWait))) != nil {
				return
			}
		}
	}
}

// close says goodbye and closes the socket; safe to call more than once
// and from any goroutine.
func (w *wsConn) close() {
	w.once.Do(func() {
		close(w.done)
		w.cancel()
		_ = w.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = w.conn.Close()
	})
}

// closeSend ends the socket from our side: later reads return io.EOF.
func (w *wsConn) closeSend() {
	w.local.Store(true)
	w.close()
}

// failure maps a read or write error: io.EOF after closeSend, the context's
// error when it ended, otherwise codes.Unavailable (the socket broke; a
// subscription reconnects).
func (w *wsConn) failure(err error) error {
	if w.local.Load() {
		return io.EOF
	}
	if ctxErr := w.ctx.Err(); ctxErr != nil {
		return contextError(ctxErr, nil, w.t.c.closed.Load())
	}
	msg := "client: websocket connection lost: " + err.Error()
	out := &Error{Code: codes.Unavailable, Message: msg, kinds: kindsOf(codes.Unavailable, msg), cause: err}
	if w.t.c.closed.Load() {
		out.kinds = append(out.kinds, ErrClientClosed)
	}
	return out
}

var isErrorKey = []byte(`"is_error"`)

// read returns the next text frame. A frame with the envelope of a failed
// subscription ({"is_error":true,"message":…}, sent before the server
// closes) is returned as its *Error.
func (w *wsConn) read() ([]byte, error) {
	for {
		kind, data, err := w.conn.ReadMessage()
		if err != nil {
			return nil, w.failure(err)
		}
		if ka := w.t.c.opts.keepalive; ka > 0 {
			_ = w.conn.SetReadDeadline(time.Now().Add(silence(ka)))
		}
		if kind != websocket.TextMessage {
			continue
		}
		if bytes.Contains(data, isErrorKey) {
			var env restEnvelope
			if json.Unmarshal(data, &env) == nil && env.IsError {
				return nil, restError(0, env.Message, w.code)
			}
		}
		return data, nil
	}
}

// readJSON reads the next frame into a new T.
func readJSON[T any](w *wsConn) (*T, error) {
	data, err := w.read()
	if err != nil {
		return nil, err
	}
	m := new(T)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, &Error{Code: codes.Internal, Message: "client: cannot decode a websocket frame: " + err.Error(), cause: err}
	}
	return m, nil
}

// write sends v as one text frame.
func (w *wsConn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return invalidArgument("client: cannot encode the message: " + err.Error())
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return w.failure(err)
	}
	return nil
}

// subscribeQuery is the query of /subscribe/events and /subscribe/requests.
func subscribeQuery(sub *kubemqpb.Subscribe) url.Values {
	q := url.Values{"client_id": {sub.ClientID}, "channel": {sub.Channel}}
	if sub.Group != "" {
		q.Set("group", sub.Group)
	}
	switch sub.SubscribeTypeData {
	case kubemqpb.Subscribe_Events:
		q.Set("subscribe_type", "events")
	case kubemqpb.Subscribe_EventsStore:
		q.Set("subscribe_type", "events_store")
		q.Set("events_store_type_data", strconv.Itoa(int(sub.EventsStoreTypeData)))
		q.Set("events_store_type_value", strconv.FormatInt(sub.EventsStoreTypeValue, 10))
	case kubemqpb.Subscribe_Commands:
		q.Set("subscribe_type", "commands")
	case kubemqpb.Subscribe_Queries:
		q.Set("subscribe_type", "queries")
	}
	return q
}

// wsRecv is a subscription: one message per frame.
type wsRecv[T any] struct{ w *wsConn }

func (s *wsRecv[T]) Recv() (*T, error) { return readJSON[T](s.w) }

func (t *restTransport) subscribeToEvents(ctx context.Context, sub *kubemqpb.Subscribe) (recvStream[kubemqpb.EventReceive], error) {
	w, err := t.dial(ctx, "/subscribe/events", subscribeQuery(sub), restCodeDefault)
	if err != nil {
		return nil, err
	}
	return &wsRecv[kubemqpb.EventReceive]{w: w}, nil
}

func (t *restTransport) subscribeToRequests(ctx context.Context, sub *kubemqpb.Subscribe) (recvStream[kubemqpb.Request], error) {
	w, err := t.dial(ctx, "/subscribe/requests", subscribeQuery(sub), restCodeDefault)
	if err != nil {
		return nil, err
	}
	return &wsRecv[kubemqpb.Request]{w: w}, nil
}

// wsEventsStream is /send/stream. The server answers every event frame,
// in order, with a Result; a refusal carries no EventID, so the stream
// keeps the ids of the events in flight and gives each result its event's.
// CloseSend waits for the results in flight before the socket closes.
type wsEventsStream struct {
	w       *wsConn
	mu      sync.Mutex
	pending []string // ids of the events sent and not answered, in order
	closing bool
}

func (t *restTransport) sendEventsStream(ctx context.Context) (bidiStream[kubemqpb.Event, kubemqpb.Result], error) {
	w, err := t.dial(ctx, "/send/stream", nil, restCodeDefault)
	if err != nil {
		return nil, err
	}
	return &wsEventsStream{w: w}, nil
}

func (s *wsEventsStream) Send(e *kubemqpb.Event) error {
	s.mu.Lock()
	s.pending = append(s.pending, e.EventID)
	s.mu.Unlock()
	return s.w.write(e)
}

// drained reports whether CloseSend was called and every event answered.
func (s *wsEventsStream) drained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing && len(s.pending) == 0
}

func (s *wsEventsStream) Recv() (*kubemqpb.Result, error) {
	if s.drained() {
		s.w.closeSend()
		return nil, io.EOF
	}
	res, err := readJSON[kubemqpb.Result](s.w)
	if err != nil {
		if s.drained() {
			return nil, io.EOF
		}
		return nil, err
	}
	s.mu.Lock()
	if len(s.pending) > 0 {
		if res.EventID == "" {
			res.EventID = s.pending[0]
		}
		s.pending = s.pending[1:]
	}
	s.mu.Unlock()
	return res, nil
}

func (s *wsEventsStream) CloseSend() error {
	s.mu.Lock()
	s.closing = true
	idle := len(s.pending) == 0
	s.mu.Unlock()
	if idle {
		s.w.closeSend()
	}
	return nil
}

// wsQueueStream is /queue/stream: one queue transaction per socket, which
// the server closes once the transaction ends.
type wsQueueStream struct{ w *wsConn }

func (t *restTransport) streamQueueMessage(ctx context.Context) (bidiStream[kubemqpb.StreamQueueMessagesRequest, kubemqpb.StreamQueueMessagesResponse], error) {
	w, err := t.dial(ctx, "/queue/stream", nil, restCodeDefault)
	if err != nil {
		return nil, err
	}
	return &wsQueueStream{w: w}, nil
}

func (s *wsQueueStream) Send(r *kubemqpb.StreamQueueMessagesRequest) error { return s.w.write(r) }

func (s *wsQueueStream) Recv() (*kubemqpb.StreamQueueMessagesResponse, error) {
	return readJSON[kubemqpb.StreamQueueMessagesResponse](s.w)
}

func (s *wsQueueStream) CloseSend() error {
	s.w.closeSend()
	return nil
}
