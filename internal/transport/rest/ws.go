package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	grpctransport "github.com/heraldmq/herald/internal/transport/grpc"
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  10 << 10,
	WriteBufferSize: 10 << 10,
	CheckOrigin:     func(*http.Request) bool { return true },
}

// wsStream runs a gRPC stream handler over a WebSocket: each text frame in
// is one JSON request, each answer one JSON frame out. Its context ends
// when the client closes the socket or the server shuts down.
type wsStream[Req, Resp any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	conn   *websocket.Conn
	wmu    sync.Mutex
	in     chan *Req // nil when frames are read and discarded
}

func openWS[Req, Resp any](s *Server, w http.ResponseWriter, r *http.Request, readFrames bool) (*wsStream[Req, Resp], func(), error) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, nil, err // the upgrader answered the client
	}
	// A frame is one request: the body limit applies to it (gorilla then
	// closes the socket with 1009, message too big).
	conn.SetReadLimit(s.cfg.BodyLimit)
	untrack := s.track(conn)
	// The socket outlives the request, but keeps its values (the token).
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	stop := context.AfterFunc(s.h.Life(), cancel)
	ws := &wsStream[Req, Resp]{ctx: ctx, cancel: cancel, conn: conn}
	if readFrames {
		ws.in = make(chan *Req)
	}
	go ws.readLoop()
	return ws, func() {
		stop()
		cancel()
		_ = conn.Close()
		untrack()
	}, nil
}

// readLoop reads frames until the socket fails; frames that are not JSON
// requests are skipped, as KubeMQ does.
func (ws *wsStream[Req, Resp]) readLoop() {
	defer ws.cancel()
	for {
		kind, data, err := ws.conn.ReadMessage()
		if err != nil {
			return
		}
		if ws.in == nil || kind != websocket.TextMessage {
			continue
		}
		if jsonValues(data, MaxJSONValues) > MaxJSONValues {
			msg := websocket.FormatCloseMessage(websocket.CloseMessageTooBig, fmt.Sprintf("more than %d JSON values in a frame", MaxJSONValues))
			_ = ws.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return
		}
		m := new(Req)
		if json.Unmarshal(data, m) != nil {
			continue
		}
		select {
		case ws.in <- m:
		case <-ws.ctx.Done():
			return
		}
	}
}

func (ws *wsStream[Req, Resp]) Send(m *Resp) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return ws.write(b)
}

func (ws *wsStream[Req, Resp]) write(b []byte) error {
	ws.wmu.Lock()
	defer ws.wmu.Unlock()
	if ws.ctx.Err() != nil {
		return ws.ctx.Err()
	}
	return ws.conn.WriteMessage(websocket.TextMessage, b)
}

func (ws *wsStream[Req, Resp]) Recv() (*Req, error) {
	select {
	case m := <-ws.in:
		return m, nil
	case <-ws.ctx.Done():
		return nil, context.Canceled
	}
}

func (ws *wsStream[Req, Resp]) Context() context.Context     { return ws.ctx }
func (ws *wsStream[Req, Resp]) SetHeader(metadata.MD) error  { return nil }
func (ws *wsStream[Req, Resp]) SendHeader(metadata.MD) error { return nil }
func (ws *wsStream[Req, Resp]) SetTrailer(metadata.MD)       {}
func (ws *wsStream[Req, Resp]) SendMsg(m any) error          { return ws.Send(m.(*Resp)) }
func (ws *wsStream[Req, Resp]) RecvMsg(any) error {
	return errors.New("rest: RecvMsg is not used by the handlers; call Recv")
}

// closing writes KubeMQ's last frame of a subscription that failed.
func (ws *wsStream[Req, Resp]) closing(prefix string, err error) {
	if err == nil || ws.ctx.Err() != nil {
		return
	}
	b, _ := json.Marshal(struct {
		IsError bool   `json:"is_error"`
		Message string `json:"message"`
		Data    any    `json:"data"`
	}{true, prefix + errText(err) + ": Error 205: connection was closed by server", nil})
	_ = ws.write(b)
}

// subscribeParams reads the query parameters of the subscription routes;
// KubeMQ's Go SDK sends "?&client_id=…" without escaping, which
// url.ParseQuery tolerates.
func subscribeParams(r *http.Request) (*kubemqpb.Subscribe, error) {
	q := r.URL.Query()
	in := &kubemqpb.Subscribe{ClientID: q.Get("client_id"), Channel: q.Get("channel"), Group: q.Get("group")}
	switch q.Get("subscribe_type") {
	case "events":
		in.SubscribeTypeData = kubemqpb.Subscribe_Events
	case "events_store":
		in.SubscribeTypeData = kubemqpb.Subscribe_EventsStore
	case "commands":
		in.SubscribeTypeData = kubemqpb.Subscribe_Commands
	case "queries":
		in.SubscribeTypeData = kubemqpb.Subscribe_Queries
	}
	for key, dst := range map[string]*int64{"events_store_type_data": nil, "events_store_type_value": &in.EventsStoreTypeValue} {
		v := q.Get(key)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, &bindError{msg: "code=400, message=invalid " + key + " " + strconv.Quote(v)}
		}
		if dst == nil {
			in.EventsStoreTypeData = kubemqpb.Subscribe_EventsStoreType(n)
		} else {
			*dst = n
		}
	}
	return in, nil
}

// subscribeEvents: /subscribe/events, events and events store. Validation
// errors are HTTP 400 before the upgrade.
func (s *Server) subscribeEvents(w http.ResponseWriter, r *http.Request) {
	if !s.gate(w, "SubscribeToEvents") {
		return
	}
	in, err := subscribeParams(r)
	if err == nil && in.SubscribeTypeData != kubemqpb.Subscribe_Events && in.SubscribeTypeData != kubemqpb.Subscribe_EventsStore {
		in.SubscribeTypeData = kubemqpb.Subscribe_SubscribeTypeUndefined
	}
	if err == nil {
		err = s.h.AuthorizeSubscribe(r.Context(), in)
	}
	if err == nil {
		err = grpctransport.ValidateSubscribeToEvents(in)
	}
	if err != nil {
		s.envelope(w, httpStatus(err, http.StatusBadRequest), nil, err)
		return
	}
	ws, done, err := openWS[kubemqpb.Empty, kubemqpb.EventReceive](s, w, r, false)
	if err != nil {
		return
	}
	defer done()
	ws.closing("reason ", s.h.SubscribeToEvents(in, ws))
}

// subscribeRequests: /subscribe/requests, commands and queries.
func (s *Server) subscribeRequests(w http.ResponseWriter, r *http.Request) {
	if !s.gate(w, "SubscribeToRequests") {
		return
	}
	in, err := subscribeParams(r)
	if err == nil && in.SubscribeTypeData != kubemqpb.Subscribe_Commands && in.SubscribeTypeData != kubemqpb.Subscribe_Queries {
		in.SubscribeTypeData = kubemqpb.Subscribe_SubscribeTypeUndefined
	}
	if err == nil {
		err = s.h.AuthorizeSubscribe(r.Context(), in)
	}
	if err == nil {
		err = grpctransport.ValidateSubscribeToRequests(in)
	}
	if err != nil {
		s.envelope(w, httpStatus(err, http.StatusBadRequest), nil, err)
		return
	}
	ws, done, err := openWS[kubemqpb.Empty, kubemqpb.Request](s, w, r, false)
	if err != nil {
		return
	}
	defer done()
	ws.closing("reason: ", s.h.SubscribeToRequests(in, ws))
}

// sendStream: /send/stream answers every event frame with a Result, plain
// events included (unlike gRPC SendEventsStream).
func (s *Server) sendStream(w http.ResponseWriter, r *http.Request) {
	if !s.gate(w, "SendEventsStream") {
		return
	}
	ws, done, err := openWS[kubemqpb.Event, kubemqpb.Result](s, w, r, true)
	if err != nil {
		return
	}
	defer done()
	for {
		in, err := ws.Recv()
		if err != nil {
			return
		}
		res, err := s.h.SendEvent(ws.ctx, in)
		if err != nil {
			res = &kubemqpb.Result{Error: errText(err)}
		}
		if ws.Send(res) != nil || status.Code(err) == codes.Unauthenticated {
			return // a token that stopped being valid ends the stream
		}
	}
}

// queueStream: /queue/stream runs one StreamQueueMessage transaction per
// socket and closes it when the transaction ends.
func (s *Server) queueStream(w http.ResponseWriter, r *http.Request) {
	if !s.gate(w, "StreamQueueMessage") {
		return
	}
	ws, done, err := openWS[kubemqpb.StreamQueueMessagesRequest, kubemqpb.StreamQueueMessagesResponse](s, w, r, true)
	if err != nil {
		return
	}
	defer done()
	_ = s.h.StreamQueueMessage(ws)
	// Let the client read the last answer before the socket goes: kubemq-go
	// reports a close that races the answer as the answer's error.
	select {
	case <-ws.ctx.Done():
	case <-time.After(100 * time.Millisecond):
	}
}
