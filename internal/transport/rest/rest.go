// Package rest serves the KubeMQ REST and WebSocket API (port 9090) over the
// same handlers as the gRPC front: every request is decoded from JSON into
// the wire message, handed to the gRPC handler set, and its answer or error
// is written in the KubeMQ envelope {"is_error","message","data"}. The JSON
// is encoding/json of the wire messages (PascalCase keys, omitempty, bytes
// as standard base64, numbers as numbers), as KubeMQ clients expect.
//
// Errors that the gRPC front returns as a status (events, events store,
// commands, queries, responses, subscriptions) are HTTP 400 envelopes;
// in-band errors (queues) are HTTP 200 with IsError in data. Router errors
// (404, 405, 413) use {"error_code","message"}.
//
// With authentication on, every route but / and /ping needs
// "Authorization: Bearer <token>" (WebSocket routes also take ?token=);
// without a usable one the answer is 401. The token travels to the gRPC
// handlers in the request's context, which verify it and authorize the
// request as they do a gRPC call's; a refusal is 403 (in-band for batch
// items and stream frames).
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldmq/herald/internal/pattern/kmq"
	grpctransport "github.com/heraldmq/herald/internal/transport/grpc"
)

// DefaultBodyLimit caps request bodies (a 100 MiB message, base64 encoded,
// with room for the rest of the JSON).
const DefaultBodyLimit = 140 << 20

// Config configures the REST front.
type Config struct {
	Host      string // the Broker header
	Version   string // the X-Powered-By header
	BodyLimit int64  // bytes; 0 = DefaultBodyLimit
	// AllowOrigins lists the CORS origins ("*" = any); empty: no CORS
	// headers, so browsers refuse cross-origin calls.
	AllowOrigins []string
	Logger       *slog.Logger
	// Observer is told how long requests take, and about open WebSockets
	// (the gRPC front's, usually); nil observes nothing.
	Observer grpctransport.Observer
}

// routeRPC names the RPC each route serves, for the observer.
var routeRPC = map[string]string{
	"/ping": "Ping", "/send/event": "SendEvent", "/send/request": "SendRequest", "/send/response": "SendResponse",
	"/queue/send": "SendQueueMessage", "/queue/send_batch": "SendQueueMessagesBatch", "/queue/receive": "ReceiveQueueMessages",
	"/queue/ack_all": "AckAllQueueMessages", "/queue/info": "QueuesInfo", "/subscribe/events": "SubscribeToEvents",
	"/subscribe/requests": "SubscribeToRequests", "/send/stream": "SendEventsStream", "/queue/stream": "StreamQueueMessage",
}

// Server is the REST and WebSocket front.
type Server struct {
	cfg    Config
	h      *grpctransport.Server
	log    *slog.Logger
	routes map[string]map[string]http.HandlerFunc
	http   *http.Server

	mu    sync.Mutex
	conns map[io.Closer]struct{} // hijacked WebSocket connections
}

// New builds the REST front over the gRPC handler set h.
func New(cfg Config, h *grpctransport.Server) *Server {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, h: h, log: log, conns: make(map[io.Closer]struct{})}
	s.routes = map[string]map[string]http.HandlerFunc{
		"/":                   {http.MethodGet: s.root},
		"/ping":               {http.MethodGet: s.ping},
		"/send/event":         {http.MethodPost: s.sendEvent},
		"/send/request":       {http.MethodPost: s.sendRequest},
		"/send/response":      {http.MethodPost: s.sendResponse},
		"/queue/send":         {http.MethodPost: s.queueSend},
		"/queue/send_batch":   {http.MethodPost: s.queueSendBatch},
		"/queue/receive":      {http.MethodPost: s.queueReceive},
		"/queue/ack_all":      {http.MethodPost: s.queueAckAll},
		"/queue/info":         {http.MethodGet: s.queueInfo},
		"/subscribe/events":   {http.MethodGet: s.subscribeEvents},
		"/subscribe/requests": {http.MethodGet: s.subscribeRequests},
		"/send/stream":        {http.MethodGet: s.sendStream},
		"/queue/stream":       {http.MethodGet: s.queueStream},
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve accepts connections on lis until Shutdown.
func (s *Server) Serve(lis net.Listener) error {
	err := s.http.Serve(lis)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests, waits for running ones until ctx ends
// and closes the WebSocket connections (their streams end with the gRPC
// front's shutdown).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	return err
}

func (s *Server) track(c io.Closer) func() {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}
}

// ServeHTTP applies recovery, CORS and the body limit, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("rest handler panic recovered", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			s.envelope(w, http.StatusInternalServerError, nil, fmt.Errorf(" value: %v: Error 200: server crushed and recovered", v))
		}
	}()
	if s.cors(w, r) {
		return
	}
	methods, ok := s.routes[r.URL.Path]
	if !ok {
		routerError(w, http.StatusNotFound, "Not Found")
		return
	}
	h, ok := methods[r.Method]
	if !ok {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		routerError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if r.ContentLength > s.cfg.BodyLimit {
		routerError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	w.Header().Set("Broker", s.cfg.Host)
	w.Header().Set("X-Runtime", runtime.Version())
	w.Header().Set("X-Powered-By", strings.TrimSpace("KubeMQ "+s.cfg.Version))
	if rpc := routeRPC[r.URL.Path]; rpc != "" && s.cfg.Observer != nil {
		if r.Header.Get("Upgrade") != "" {
			defer s.cfg.Observer.StreamOpened(rpc)()
		}
		defer func(start time.Time) { s.cfg.Observer.ObserveRequest("rest", rpc, time.Since(start)) }(time.Now())
	}
	if !openRoutes[r.URL.Path] && s.h.AuthenticationEnabled() {
		token, err := Token(r)
		if err == nil {
			err = s.h.VerifyToken(token)
		}
		if err != nil {
			s.log.Info("authentication failed", "path", r.URL.Path, "remote", r.RemoteAddr, "cause", err.Error())
			s.envelope(w, http.StatusUnauthorized, nil, err)
			return
		}
		// The handlers verify it again, as they do a gRPC call's.
		r = r.WithContext(grpctransport.ContextWithToken(r.Context(), token))
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.BodyLimit)
	h(w, r)
}

// openRoutes need no token.
var openRoutes = map[string]bool{"/": true, "/ping": true}

// wsRoutes are the WebSocket routes, which also take the token as the
// query parameter "token": browsers cannot set headers on a WebSocket.
var wsRoutes = map[string]bool{"/subscribe/events": true, "/subscribe/requests": true, "/send/stream": true, "/queue/stream": true}

// Token returns the token of an HTTP request: the header "Authorization:
// Bearer <token>" (one space, "Bearer" spelt so, as KubeMQ reads it) or,
// without that header and on a WebSocket route, the query parameter
// "token". Its error is KubeMQ's "invalid authentication header".
func Token(r *http.Request) (string, error) {
	if h, ok := r.Header["Authorization"]; ok {
		scheme, token, found := strings.Cut(h[0], " ")
		if len(h) != 1 || !found || scheme != "Bearer" || token == "" || strings.Contains(token, " ") {
			return "", kmq.ErrAuthHeader
		}
		return token, nil
	}
	if wsRoutes[r.URL.Path] {
		if t := r.URL.Query().Get("token"); t != "" {
			return t, nil
		}
	}
	return "", kmq.ErrAuthHeader
}

// httpStatus is the HTTP status of a handler's error: 401 and 403 for a
// refused caller, otherwise def.
func httpStatus(err error, def int) int {
	switch status.Code(err) {
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	}
	return def
}

// cors answers preflights (true: done) and adds the CORS headers.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	if origin == "" {
		return false
	}
	allowed := ""
	for _, o := range s.cfg.AllowOrigins {
		if o == "*" {
			allowed = "*"
			break
		}
		if o == origin {
			allowed = origin
		}
	}
	if allowed == "" {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", allowed)
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET,POST")
	if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
		w.Header().Set("Access-Control-Allow-Headers", h)
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

func routerError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	b, _ := json.Marshal(struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}{code, msg})
	_, _ = w.Write(b)
}

// envelope writes {"is_error","message","data"} with a tab indent.
func (s *Server) envelope(w http.ResponseWriter, code int, data any, err error) {
	env := struct {
		IsError bool   `json:"is_error"`
		Message string `json:"message"`
		Data    any    `json:"data"`
	}{Message: "OK", Data: data}
	if err != nil {
		env.IsError, env.Message, env.Data = true, errText(err), nil
	}
	b, mErr := json.MarshalIndent(env, "", "\t")
	if mErr != nil {
		code, b = http.StatusInternalServerError, []byte(`{"is_error":true,"message":"cannot encode the answer","data":null}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// errText is an error's text as KubeMQ clients see it: a gRPC status
// carries it as its message.
func errText(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// bindError is a request the binder refused, answered with HTTP 400.
type bindError struct{ msg string }

func (e *bindError) Error() string { return e.msg }

// bind decodes the JSON body into v like KubeMQ's REST binder: an empty
// body binds nothing, a form body binds nothing (no form fields exist), any
// other non-JSON type is refused with code=415, and unknown keys are
// ignored (the official SDK sends some).
func bind(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &bindError{msg: "code=413, message=Request Entity Too Large"}
		}
		return &bindError{msg: fmt.Sprintf("code=400, message=%v, internal=%v", err, err)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
	case ct == "application/x-www-form-urlencoded" || ct == "multipart/form-data":
		return nil
	default:
		return &bindError{msg: "code=415, message=Unsupported Media Type"}
	}
	if n := jsonValues(body, MaxJSONValues); n > MaxJSONValues {
		return &bindError{msg: errTooManyValues}
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &bindError{msg: fmt.Sprintf("code=400, message=Unmarshal type error: expected=%v, got=%v, field=%v, offset=%v, internal=%v", te.Type, te.Value, te.Field, te.Offset, err)}
		}
		return &bindError{msg: fmt.Sprintf("code=400, message=%v, internal=%v", err, err)}
	}
	return nil
}

// MaxJSONValues bounds the array elements and object members of one request
// body or WebSocket frame. Decoding makes a Go value of up to a couple of
// hundred bytes from each, and one can take three bytes of JSON ("{},"), so
// without this bound a body within the size limit could make the server
// allocate tens of GiB. The gRPC front has the same guard
// (grpctransport.MaxRequestElements).
const MaxJSONValues = 2_000_000

var errTooManyValues = fmt.Sprintf("code=400, message=request refused: more than %d JSON values (array elements and object members)", MaxJSONValues)

// jsonValues counts the array elements and object members of a JSON text,
// from above (an empty array or object counts one), skipping strings, and
// stops once the count passes limit. It allocates nothing.
func jsonValues(b []byte, limit int) int {
	n := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{', ',':
			if n++; n > limit {
				return n
			}
		}
	}
	return n
}

func (s *Server) root(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = w.Write([]byte("hi"))
}
