package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/heraldmq/herald/client"
)

// Config configures the dashboard handler.
type Config struct {
	// Backend does the work; required.
	Backend Backend
	// Authenticate, when set, guards every /api call: it returns the
	// caller's token, which the Backend uses on the broker (see
	// TokenFromContext), or an error, which the caller gets as HTTP 401
	// with the error's text. The UI then asks for a token, keeps it in
	// sessionStorage and sends it as "Authorization: Bearer <token>"; live
	// streams (EventSource cannot set headers) send it as the query
	// parameter token, which the handler moves into that header before
	// calling Authenticate, so BearerToken reads both. Nil: no
	// authentication.
	Authenticate func(r *http.Request) (token string, err error)
	// Logger receives the handler's logs; nil discards them.
	Logger *slog.Logger
	// Interval is how often live pages refresh (default 2 s).
	Interval time.Duration
}

// Errors the handler maps to HTTP statuses; a Backend may return them.
var (
	// ErrNotFound: the channel or queue does not exist (HTTP 404).
	ErrNotFound   = errors.New("dashboard: not found")
	errBadRequest = errors.New("invalid request")
)

type tokenKey struct{}

// ContextWithToken returns ctx carrying the caller's broker token.
func ContextWithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFromContext returns the caller's broker token ("" when none).
func TokenFromContext(ctx context.Context) string {
	s, _ := ctx.Value(tokenKey{}).(string)
	return s
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header, or "". It is meant for Config.Authenticate.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

//go:embed ui
var uiFiles embed.FS

// maxBody caps JSON request bodies (a message typed into a form).
const maxBody = 16 << 20

type handler struct {
	cfg   Config
	be    Backend
	log   *slog.Logger
	mux   *http.ServeMux
	rates *rates
}

// New returns the dashboard: the web UI at / and its JSON API under /api/.
// Mount it at the root of a listener, or under a prefix with
// http.StripPrefix (the UI uses relative URLs). It panics when cfg has no
// Backend.
//
// The API answers JSON; errors are {"error": "<text>"} with a 4xx or 5xx
// status. POST bodies must be application/json, which keeps other web
// sites from posting to it. Live data are server-sent events under
// /api/stream/.
func New(cfg Config) http.Handler {
	if cfg.Backend == nil {
		panic("dashboard: Config.Backend is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	h := &handler{cfg: cfg, be: cfg.Backend, log: cfg.Logger, mux: http.NewServeMux(), rates: newRates(cfg.Interval)}
	api := func(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
		h.mux.Handle(pattern, h.authenticated(h.apiFunc(f)))
	}
	api("GET /api/session", h.session)
	api("GET /api/overview", h.overview)
	api("GET /api/nodes", h.nodes)
	api("GET /api/channels/{type}", h.listChannels)
	api("POST /api/channels/{type}", h.createChannel)
	api("DELETE /api/channels/{type}/{name...}", h.deleteChannel)
	api("GET /api/queue", h.queueInfo)
	api("POST /api/queue/send", h.queueSend)
	api("POST /api/queue/peek", h.queuePeek)
	api("POST /api/queue/pull", h.queuePull)
	api("POST /api/queue/purge", h.queuePurge)
	api("POST /api/queue/requeue", h.queueRequeue)
	api("POST /api/events/send", h.eventSend)
	api("POST /api/requests/send", h.requestSend)
	api("GET /api/stream/overview", h.streamOverview)
	api("GET /api/stream/channels/{type}", h.streamChannels)
	api("GET /api/stream/queue", h.streamQueue)
	api("GET /api/stream/queue-monitor", h.streamQueueMonitor)
	api("GET /api/stream/events", h.streamEvents)
	api("GET /api/stream/requests", h.streamRequests)
	h.mux.Handle("/api/", h.apiFunc(func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("%w: no API %s %s", ErrNotFound, r.Method, r.URL.Path)
	}))
	h.mux.Handle("/", newStatic())
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.mux.ServeHTTP(w, r)
}

// authenticated runs Config.Authenticate before next and puts the token in
// the request's context.
func (h *handler) authenticated(next http.Handler) http.Handler {
	if h.cfg.Authenticate == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("token") {
			r = r.Clone(r.Context())
			if r.Header.Get("Authorization") == "" {
				r.Header.Set("Authorization", "Bearer "+q.Get("token"))
			}
			q.Del("token")
			r.URL.RawQuery = q.Encode()
		}
		token, err := h.cfg.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": err.Error(), "auth": true})
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithToken(r.Context(), token)))
	})
}

// apiFunc turns a handler that returns an error into an http.Handler that
// answers it as JSON.
func (h *handler) apiFunc(f func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !isJSON(r.Header.Get("Content-Type")) {
			writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "the body must be application/json"})
			return
		}
		err := f(w, r)
		if err == nil {
			return
		}
		status := statusOf(err)
		if r.Context().Err() != nil && status >= 500 {
			return // the caller went away
		}
		if status == http.StatusInternalServerError {
			h.log.Warn("dashboard API call failed", "method", r.Method, "path", r.URL.Path, "err", err)
		} else {
			h.log.Debug("dashboard API call refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
	})
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// statusOf maps an error to the HTTP status the API answers.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, client.ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, client.ErrUnauthorized):
		return http.StatusForbidden
	case errors.Is(err, client.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, client.ErrUnavailable):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func ok(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusOK, v)
	return nil
}

// decode reads a JSON request body into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return nil
}

// static serves the embedded UI with ETags, so browsers revalidate instead
// of running a stale UI after an upgrade.
type static struct {
	files map[string]staticFile
}

type staticFile struct {
	data  []byte
	etag  string
	ctype string
}

func newStatic() *static {
	s := &static{files: map[string]staticFile{}}
	err := fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ctype := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not every system's mime table knows these
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".html":
			ctype = "text/html; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		s.files[strings.TrimPrefix(p, "ui")] = staticFile{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		panic("dashboard: embedded UI: " + err.Error())
	}
	return s
}

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "/" || p == "" {
		p = "/index.html"
	}
	f, found := s.files[p]
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}
