// Package adaptertest holds what the test suites of Herald's adapters share:
// a restartable broker under test (started by the caller, usually with
// server/heraldtest), Eventually, a goroutine leak check, and
// Run, the conformance checks every adapter passes (ordered round trip,
// survival across a broker restart, close and cancel unblocking, names
// refused before any network call, no goroutine left behind).
//
//	func TestConformance(t *testing.T) {
//		adaptertest.Run(t, adaptertest.Subject{Name: "events-store", Start: startHerald, Features: …, Open: …})
//	}
//
// Every adapter suite runs Run twice: once with Herald detected and once with
// its AssumeHerald(false) option, so the portable fallback paths are
// exercised too.
package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"net"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
)

// Broker is the server the checks run against. A *heraldtest.Server (an
// in-process Herald on a loopback port with a temporary data directory)
// satisfies it; adaptertest does not start one itself, so that this public
// package, like the adapters, depends on the client SDK only.
type Broker interface {
	// GRPCAddr is the address clients dial.
	GRPCAddr() net.Addr
	// Restart shuts the broker down and starts it again on the same address
	// and data, as a process restart would.
	Restart()
	// Stop shuts the broker down.
	Stop()
}

// Server is a broker under test with its address spelled out for clients.
type Server struct {
	Broker
	// Addr is "host:port"; Host and Port are its parts.
	Addr string
	Host string
	Port int
}

// NewServer wraps a started broker, typically heraldtest.NewServer(t):
//
//	srv := adaptertest.NewServer(t, heraldtest.NewServer(t))
func NewServer(t testing.TB, b Broker) *Server {
	t.Helper()
	s := &Server{Broker: b}
	s.setAddr(t)
	return s
}

func (s *Server) setAddr(t testing.TB) {
	t.Helper()
	tcp, ok := s.GRPCAddr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("adaptertest: broker address %v is not TCP", s.GRPCAddr())
	}
	s.Addr, s.Host, s.Port = tcp.String(), tcp.IP.String(), tcp.Port
}

// Restart shuts the broker down and starts it again on the same address
// and data directory, as a process restart would. Clients see their
// connections break and reconnect.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Broker.Restart()
	s.setAddr(t)
}

// Client returns a client connected to the server, with a unique client id
// unless opts set one; it is closed when the test ends.
func (s *Server) Client(t testing.TB, opts ...client.Option) *client.Client {
	t.Helper()
	all := append([]client.Option{
		client.WithAddress(s.Host, s.Port),
		client.WithClientId(UniqueName("adaptertest")),
		client.WithReconnectInterval(200 * time.Millisecond),
	}, opts...)
	c, err := client.NewClient(context.Background(), all...)
	if err != nil {
		t.Fatalf("adaptertest: client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var (
	uniqueMu sync.Mutex
	uniqueN  int
)

// UniqueName returns prefix followed by a number unique in the process, a
// valid channel token sequence ("prefix.7").
func UniqueName(prefix string) string {
	uniqueMu.Lock()
	defer uniqueMu.Unlock()
	uniqueN++
	return prefix + "." + strconv.Itoa(uniqueN)
}

// Eventually calls fn until it returns nil, failing t with fn's last error
// when timeout passes. It polls every 20 ms.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NoLeaks records the goroutines running now and, when the test ends (after
// the cleanups registered later have run), waits up to 5 s for every
// goroutine started since to exit, failing t with their stacks otherwise.
// Goroutines of the in-process server (its gRPC and HTTP servers, the
// engine) are not counted: only those a client or an adapter started. Call
// it first in a test that does not run in parallel with others of its
// package (their goroutines would be counted).
func NoLeaks(t testing.TB) {
	t.Helper()
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[g.id] = true
	}
	t.Cleanup(func() {
		var leaked []goroutine
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked = leaked[:0]
			for _, g := range goroutines() {
				if !before[g.id] && !g.serverSide() {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(leaked) > 0 {
			var b strings.Builder
			for _, g := range leaked {
				b.WriteString(g.stack)
				b.WriteString("\n\n")
			}
			t.Errorf("adaptertest: %d goroutine(s) still running after the test:\n%s", len(leaked), b.String())
		}
	})
}

// heraldModule is Herald's module path with a trailing slash, taken from
// the client SDK's package path (this package depends on the SDK only).
var heraldModule = strings.TrimSuffix(reflect.TypeFor[client.Client]().PkgPath(), "client")

type goroutine struct {
	id    string
	stack string
}

// serverSide reports whether the goroutine belongs to an in-process server,
// the test framework or the runtime rather than to a client or an adapter.
func (g goroutine) serverSide() bool {
	for _, s := range []string{
		heraldModule + "server.",   // the embeddable server's frames
		heraldModule + "internal/", // and those of its packages
		"/nats-io/nats",            // the engine's embedded NATS server and its connection
		"google.golang.org/grpc.(*Server)",
		"google.golang.org/grpc/internal/transport.NewServerTransport",
		"google.golang.org/grpc/internal/transport.(*http2Server)",
		"net/http.(*Server)",
		"net/http.(*conn)",
		"testing.(*T)",
		"testing.tRunner",
		"testing.runTests",
		"runtime/trace",
		"os/signal.",
		"adaptertest.NoLeaks",
	} {
		if strings.Contains(g.stack, s) {
			return true
		}
	}
	return false
}

func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for _, block := range bytes.Split(buf, []byte("\n\n")) {
		s := string(block)
		head, _, _ := strings.Cut(s, "\n")
		fields := strings.Fields(head)
		if len(fields) < 2 || fields[0] != "goroutine" {
			continue
		}
		out = append(out, goroutine{id: fields[1], stack: s})
	}
	return out
}

// ClosedAddress returns "127.0.0.1:<port>" where nothing listens, for
// checks that must fail before any network call.
func ClosedAddress(t testing.TB) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return "127.0.0.1", p
}

// Features say which behaviours Run checks for a subject.
type Features struct {
	// Persistent: written messages survive a broker restart, and a reader
	// open across the restart continues without gap or duplicate.
	Persistent bool
	// Ordered: a reader gets one writer's messages in the order written.
	Ordered bool
	// Replay: a reader opened after messages were written reads them from
	// the first (netchan channels).
	Replay bool
}

// Subject is one adapter configuration under test, bound to channels by
// Open.
type Subject struct {
	Name     string
	Features Features
	// Start starts a fresh broker for one check (e.g. heraldtest.NewServer);
	// the broker must shut down when the test ends.
	Start func(t testing.TB) Broker
	// ErrClosed is the adapter's error for use after close; a read pending
	// when close is called returns an error matching it.
	ErrClosed error
	// ErrInvalidName is the adapter's error for a bad channel name.
	ErrInvalidName error
	// Open returns a writer and a reader bound to one channel; close
	// releases both and is idempotent. When Open returns, a message written
	// through write must reach read.
	Open func(t *testing.T, srv *Server, channel string) (write func(context.Context, []byte) error,
		read func(context.Context) ([]byte, error), close func() error)
	// OpenInvalid opens the subject for channel against host:port, where
	// nothing listens, and returns the error (nil if it opened).
	OpenInvalid func(t *testing.T, host string, port int, channel string) error
}

// InvalidChannels are names every adapter refuses before any network call:
// names client.ValidateChannel refuses, and reserved ones.
var InvalidChannels = []string{"", "a b", "tab\there", "ctl\x01", "wild*", "wild.>", "ends.", "a..b", ".lead", "a/b",
	strings.Repeat("x", client.MaxChannelLen+1), "_herald.es.g.c", "kubemq.cluster.internal.requests"}

// Run checks the behaviours every adapter shares. It starts its own servers;
// its subtests run one after another.
func Run(t *testing.T, s Subject) {
	t.Run(s.Name, func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, s) })
		if s.Features.Persistent {
			t.Run("SurvivesRestart", func(t *testing.T) { survivesRestart(t, s) })
		}
		if s.Features.Replay {
			t.Run("Replay", func(t *testing.T) { replay(t, s) })
		}
		t.Run("CloseUnblocksRead", func(t *testing.T) { closeUnblocksRead(t, s) })
		t.Run("CancelUnblocks", func(t *testing.T) { cancelUnblocks(t, s) })
		t.Run("InvalidNames", func(t *testing.T) { invalidNames(t, s) })
	})
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func msg(i int) []byte { return []byte("message " + strconv.Itoa(i)) }

// readN reads n messages, failing t on an error.
func readN(t *testing.T, ctx context.Context, read func(context.Context) ([]byte, error), n int) [][]byte {
	t.Helper()
	out := make([][]byte, 0, n)
	for len(out) < n {
		m, err := read(ctx)
		if err != nil {
			t.Fatalf("read %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, m)
	}
	return out
}

// check compares what was read with messages from..to-1.
func check(t *testing.T, got [][]byte, from, to int, ordered bool) {
	t.Helper()
	var want []string
	for i := from; i < to; i++ {
		want = append(want, string(msg(i)))
	}
	var have []string
	for _, g := range got {
		have = append(have, string(g))
	}
	if !ordered {
		slices.Sort(want)
		slices.Sort(have)
	}
	if !slices.Equal(want, have) {
		t.Fatalf("read %d messages, not the %d written%s: first difference at %d\nwant %.200q\nhave %.200q",
			len(have), len(want), map[bool]string{true: " in order", false: ""}[ordered], firstDiff(want, have), want, have)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// nothingMore fails t if read returns a message within d.
func nothingMore(t *testing.T, read func(context.Context) ([]byte, error), d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if m, err := read(ctx); err == nil {
		t.Fatalf("unexpected extra message %q", m)
	}
}

func roundTrip(t *testing.T, s Subject) {
	NoLeaks(t)
	srv := NewServer(t, s.Start(t))
	write, read, closeFn := s.Open(t, srv, UniqueName("conf.rt"))
	defer closeFn()
	ctx := testCtx(t, 60*time.Second)
	const n = 1000
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if err := write(ctx, msg(i)); err != nil {
				errc <- fmt.Errorf("write %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}()
	got := readN(t, ctx, read, n)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	check(t, got, 0, n, s.Features.Ordered)
	nothingMore(t, read, 300*time.Millisecond)
	if err := closeFn(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func survivesRestart(t *testing.T, s Subject) {
	NoLeaks(t)
	srv := NewServer(t, s.Start(t))
	write, read, closeFn := s.Open(t, srv, UniqueName("conf.restart"))
	defer closeFn()
	ctx := testCtx(t, 90*time.Second)
	const half = 50
	for i := range half {
		if err := write(ctx, msg(i)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	got := readN(t, ctx, read, 10)
	srv.Restart(t)
	// Writes after the restart: the first ones may wait for the reconnect.
	for i := half; i < 2*half; i++ {
		if err := write(ctx, msg(i)); err != nil {
			t.Fatalf("write %d after the restart: %v", i, err)
		}
	}
	got = append(got, readN(t, ctx, read, 2*half-10)...)
	check(t, got, 0, 2*half, s.Features.Ordered)
	nothingMore(t, read, 500*time.Millisecond)
}

func replay(t *testing.T, s Subject) {
	srv := NewServer(t, s.Start(t))
	ch := UniqueName("conf.replay")
	write, _, closeFirst := s.Open(t, srv, ch)
	ctx := testCtx(t, 30*time.Second)
	for i := range 20 {
		if err := write(ctx, msg(i)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	_ = closeFirst()
	_, read, closeSecond := s.Open(t, srv, ch)
	defer closeSecond()
	check(t, readN(t, ctx, read, 20), 0, 20, s.Features.Ordered)
}

func closeUnblocksRead(t *testing.T, s Subject) {
	NoLeaks(t)
	srv := NewServer(t, s.Start(t))
	_, read, closeFn := s.Open(t, srv, UniqueName("conf.close"))
	errc := make(chan error, 1)
	go func() {
		_, err := read(context.Background())
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the read block (a wait for nothing to happen)
	start := time.Now()
	if err := closeFn(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, s.ErrClosed) {
			t.Fatalf("read after close returned %v, want %v", err, s.ErrClosed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("close did not unblock a pending read")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("close took %v", d)
	}
	if err := closeFn(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := read(context.Background()); !errors.Is(err, s.ErrClosed) {
		t.Fatalf("read after close: %v, want %v", err, s.ErrClosed)
	}
}

func cancelUnblocks(t *testing.T, s Subject) {
	NoLeaks(t)
	srv := NewServer(t, s.Start(t))
	write, read, closeFn := s.Open(t, srv, UniqueName("conf.cancel"))
	defer closeFn()

	within := func(what string, call func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- call(ctx) }()
		time.Sleep(100 * time.Millisecond) // let the call block
		cancel()
		start := time.Now()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s returned %v after its context was cancelled, want an error wrapping context.Canceled", what, err)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("%s returned %v after the cancel, want ≤ 100ms", what, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not return after its context was cancelled", what)
		}
	}
	within("read", func(ctx context.Context) error {
		_, err := read(ctx)
		return err
	})
	// A write blocks while the broker is down.
	srv.Stop()
	within("write", func(ctx context.Context) error { return write(ctx, []byte("never")) })
	srv.Restart(t)
}

func invalidNames(t *testing.T, s Subject) {
	host, port := ClosedAddress(t)
	for _, name := range InvalidChannels {
		start := time.Now()
		err := s.OpenInvalid(t, host, port, name)
		if !errors.Is(err, s.ErrInvalidName) {
			t.Errorf("channel %q: %v, want %v", name, err, s.ErrInvalidName)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("channel %q: refused after %v, too late to be before any network call", name, d)
		}
	}
}

// CheckImports fails t if a non-test Go file of the package in dir imports
// anything but the standard library and the allowed paths. A path ending in
// "/..." allows that path and everything below it, as in go commands. It
// guards the rule that adapters are built on the client SDK only (no
// server, internal, NATS or gRPC package).
func CheckImports(t testing.TB, dir string, allowed ...string) {
	t.Helper()
	ok := func(path string) bool {
		if first, _, _ := strings.Cut(path, "/"); !strings.Contains(first, ".") {
			return true // the standard library
		}
		for _, a := range allowed {
			if base, tree := strings.CutSuffix(a, "/..."); tree && (path == base || strings.HasPrefix(path, base+"/")) || path == a {
				return true
			}
		}
		return false
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range af.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); !ok(path) {
				t.Errorf("%s imports %s: allowed are the standard library and %s", f, path, strings.Join(allowed, ", "))
			}
		}
	}
	if checked == 0 {
		t.Errorf("no Go files in %s", dir)
	}
}
