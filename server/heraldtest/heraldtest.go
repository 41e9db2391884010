// Package heraldtest starts an in-process Herald for tests, the way
// net/http/httptest starts an HTTP server: on a free loopback port, with a
// temporary data directory, shut down when the test ends.
//
//	func TestX(t *testing.T) {
//		srv := heraldtest.NewServer(t)
//		client, err := kubemq.NewClient(ctx, kubemq.WithAddress(srv.Host, srv.Port), …)
//	}
package heraldtest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/server"
)

// Server is a running test broker.
type Server struct {
	*server.Server
	// Addr is the gRPC address, "127.0.0.1:<port>"; Host and Port are its parts.
	Addr string
	Host string
	Port int
	// DataDir is where it stores data; Restart reuses it.
	DataDir string

	t    testing.TB
	opts server.Options
}

// NewServer starts a broker for t on 127.0.0.1 port 0 with t.TempDir() as
// data directory, and shuts it down in t.Cleanup. Logs go to t.Log when the
// HERALD_TEST_LOG environment variable is set. opts, if given, override the
// defaults (their DataDir and GRPCAddr, when empty, are filled in).
func NewServer(t testing.TB, opts ...server.Options) *Server {
	t.Helper()
	var o server.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.GRPCAddr == "" {
		o.GRPCAddr = "127.0.0.1:0"
	}
	if o.RESTAddr == "" {
		o.RESTAddr = "127.0.0.1:0"
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:0"
	}
	if o.Logger == nil && os.Getenv("HERALD_TEST_LOG") != "" {
		o.Logger = Logger(t, slog.LevelDebug)
	}
	s := &Server{t: t, opts: o, DataDir: o.DataDir}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := server.New(s.opts)
	if err != nil {
		s.t.Fatalf("heraldtest: %v", err)
	}
	if err := srv.Start(); err != nil {
		s.t.Fatalf("heraldtest: %v", err)
	}
	s.Server = srv
	s.Addr = srv.GRPCAddr().String()
	tcp := srv.GRPCAddr().(*net.TCPAddr)
	s.Host, s.Port = tcp.IP.String(), tcp.Port
	s.opts.GRPCAddr = s.Addr // a restart keeps the addresses clients know
	if a := srv.RESTAddr(); a != nil {
		s.opts.RESTAddr = a.String()
	}
}

// Stop shuts the broker down (waiting up to 10 s for running calls).
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Server.Shutdown(ctx); err != nil {
		s.t.Logf("heraldtest: shutdown: %v", err)
	}
}

// Restart stops the broker and starts a new one on the same data directory
// and address, as a process restart would.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Logger returns a logger that writes records from level up to t.Log until
// t's cleanups have run (Logger registers one); records logged later, by
// goroutines that outlive the test, are dropped instead of panicking.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	w := &tlogWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tlogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *tlogWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
