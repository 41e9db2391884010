// Package engine embeds a NATS server with JetStream and is the only package
// of Herald that talks to NATS. The pattern packages use it through the small
// types declared here (Msg, Header, Subscription, Stream specs), never through
// nats.go or nats-server types.
//
// One Engine owns one embedded server, its file store under Config.DataDir and
// one in-process client connection. Close is idempotent and ordered: the
// connection is drained first, then the server is shut down.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures the embedded engine. The zero value is not usable: DataDir
// is required.
type Config struct {
	// DataDir holds the JetStream file store.
	DataDir string
	// ServerName names this node; it defaults to "herald".
	ServerName string
	// ClientAddr, when set ("127.0.0.1:4222", "127.0.0.1:0"), opens the NATS
	// client port as a side door. Empty means no listener at all.
	ClientAddr string
	// MaxPayload is the largest core NATS message; it defaults to 100 MiB plus
	// room for Herald's envelope.
	MaxPayload int32
	// SyncAlways fsyncs every write (survives power loss, much slower).
	SyncAlways bool
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// ReadyTimeout bounds the start-up; it defaults to 30 s.
	ReadyTimeout time.Duration
	// MinFree is the free space kept on the data dir's file system: stored
	// writes that would leave less are refused with ErrNoSpace (default
	// DefaultMinFree; negative: no reserve).
	MinFree int64
}

// DefaultMaxPayload leaves room for Herald's envelope around a 100 MiB body.
const DefaultMaxPayload = 104857600 + 1<<20

// MaxStoredRecord is the largest message the JetStream file store accepts
// (its 32 MiB record limit, less headers).
const MaxStoredRecord = 32<<20 - 64<<10

// Engine is an embedded NATS server with JetStream and an in-process connection.
type Engine struct {
	cfg Config
	log *slog.Logger
	ns  *natsserver.Server
	nc  *nats.Conn
	js  jetstream.JetStream

	inbox  *inboxMux
	closed chan struct{} // closed when nc is (its ClosedHandler)

	streamsMu sync.Mutex
	streams   map[string]jetstream.Stream

	lock  *os.File    // LockFile, held until Close
	space *spaceGuard // the free-space reserve of stored writes

	storeDir    string
	writeFailed atomic.Bool // the store failed a write (see recover.go)
	stopWatch   chan struct{}
	watchDone   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// ErrClosed is returned by operations on a closed engine.
var ErrClosed = errors.New("engine: closed")

// Open takes the data dir's lock (ErrDataDirInUse when another engine
// holds it), starts the embedded server, waits until it accepts connections
// and connects to it in-process. A data dir that cannot be created or
// written is an error.
func Open(cfg Config) (e *Engine, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("engine: data dir is required")
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "herald"
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MinFree == 0 {
		cfg.MinFree = DefaultMinFree
	}
	storeDir := filepath.Join(cfg.DataDir, "jetstream")
	lock, err := openDataDir(cfg.DataDir, storeDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && (e == nil || e.lock == nil) {
			_ = lock.Close()
		}
	}()
	opts := &natsserver.Options{
		ServerName:         cfg.ServerName,
		JetStream:          true,
		StoreDir:           storeDir,
		NoSigs:             true,
		MaxPayload:         cfg.MaxPayload,
		MaxPending:         int64(cfg.MaxPayload) * 3,
		SyncAlways:         cfg.SyncAlways,
		JetStreamMaxMemory: -1,
		JetStreamMaxStore:  -1,
		// Channels share streams: a stream may have a consumer per channel.
		JetStreamLimits:       natsserver.JSLimitOpts{DefaultMaxConsumers: -1},
		DisableShortFirstPing: true,
	}
	if cfg.ClientAddr == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(cfg.ClientAddr)
		if err != nil {
			return nil, fmt.Errorf("engine: client addr %q: %w", cfg.ClientAddr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("engine: client addr %q: bad port", cfg.ClientAddr)
		}
		if p == 0 {
			p = natsserver.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("engine: new server: %w", err)
	}
	var writeFailed atomic.Bool
	ns.SetLoggerV2(&slogBridge{log: log.With("component", "nats"), failed: &writeFailed}, false, false, false)
	go ns.Start()
	if !waitReady(ns, cfg.ReadyTimeout, log) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("engine: the embedded server was not ready after %v (it recovers the stored data first; raise the engine start timeout if it needs longer)", cfg.ReadyTimeout)
	}
	closed := make(chan struct{})
	nc, err := nats.Connect("",
		nats.InProcessServer(ns),
		nats.Name("herald"),
		nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	)
	if err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("engine: connect in-process: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxAsyncPending))
	if err != nil {
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("engine: jetstream: %w", err)
	}
	e = &Engine{cfg: cfg, log: log, ns: ns, nc: nc, js: js, closed: closed, streams: make(map[string]jetstream.Stream), lock: lock,
		storeDir: storeDir, stopWatch: make(chan struct{}), watchDone: make(chan struct{})}
	e.writeFailed.Store(writeFailed.Load())
	ns.SetLoggerV2(&slogBridge{log: log.With("component", "nats"), failed: &e.writeFailed}, false, false, false)
	if cfg.MinFree > 0 {
		e.space = &spaceGuard{dir: storeDir, min: uint64(cfg.MinFree), failed: &e.writeFailed}
	}
	go func() {
		defer close(e.watchDone)
		e.watchStore()
	}()
	if e.inbox, err = newInboxMux(nc); err != nil {
		_ = e.Close()
		return nil, err
	}
	return e, nil
}

// waitReady waits up to timeout for ns, saying every few seconds that it
// is still recovering the stored data.
func waitReady(ns *natsserver.Server, timeout time.Duration, log *slog.Logger) bool {
	start := time.Now()
	for {
		left := timeout - time.Since(start)
		if left <= 0 {
			return false
		}
		if ns.ReadyForConnections(min(left, readyReport)) {
			return true
		}
		log.Info("the engine is still recovering stored data", "waited", time.Since(start).Round(time.Second), "limit", timeout)
	}
}

// readyReport is how often waitReady reports.
const readyReport = 5 * time.Second

// ClientURL is the address of the NATS client port, or "" without one.
func (e *Engine) ClientURL() string {
	if e.cfg.ClientAddr == "" {
		return ""
	}
	return e.ns.ClientURL()
}

// Close drains the connection and shuts the server down. It is safe to call
// more than once; later calls return the first result.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		if e.stopWatch != nil {
			close(e.stopWatch)
			<-e.watchDone
		}
		if e.nc != nil {
			// Drain flushes pending publishes and lets subscription
			// callbacks finish; the connection closes when it is done.
			if err := e.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				e.closeErr = err
			}
			t := time.NewTimer(drainWait)
			select {
			case <-e.closed:
			case <-t.C:
			}
			t.Stop()
			e.nc.Close()
		}
		e.ns.Shutdown()
		e.ns.WaitForShutdown()
		if e.lock != nil {
			_ = e.lock.Close() // releases the data dir for the next engine
		}
	})
	return e.closeErr
}

// maxAsyncPending bounds the stored publishes awaiting their ack on the
// connection; every log shard keeps up to maxInflight of them.
const maxAsyncPending = 16384

// drainWait bounds how long Close waits for the connection to drain.
const drainWait = 5 * time.Second

// slogBridge routes nats-server logs to slog and flags store failures.
type slogBridge struct {
	log    *slog.Logger
	failed *atomic.Bool // set when the store failed a write
}

func (b *slogBridge) flag(msg string) {
	if storeFailure(msg) {
		b.failed.Store(true)
	}
}

// Notices (the start-up banner and the like) are debug output for Herald.
func (b *slogBridge) Noticef(format string, v ...any) { b.log.Debug(fmt.Sprintf(format, v...)) }

// Warnf drops the payload-size advice: Herald raises the limit on purpose,
// to carry KubeMQ's 100 MiB messages.
func (b *slogBridge) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "Maximum payloads over") {
		return
	}
	b.flag(msg)
	b.log.Warn(msg)
}
func (b *slogBridge) Fatalf(format string, v ...any) { b.log.Error(fmt.Sprintf(format, v...)) }
func (b *slogBridge) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	b.flag(msg)
	b.log.Error(msg)
}
func (b *slogBridge) Debugf(format string, v ...any) { b.log.Debug(fmt.Sprintf(format, v...)) }
func (b *slogBridge) Tracef(format string, v ...any) { b.log.Debug(fmt.Sprintf(format, v...)) }

// ctxOrTimeout gives ctx a default deadline for engine API calls.
func ctxOrTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, 10*time.Second)
}

// Usage is what the engine stores and serves.
type Usage struct {
	StoreBytes  uint64 // on disk
	MemoryBytes uint64
	Streams     int
	Consumers   int
	Messages    uint64
	APIRequests uint64
	APIErrors   uint64
}

// Usage reports the engine's storage and assets.
func (e *Engine) Usage() (Usage, error) {
	jsi, err := e.ns.Jsz(&natsserver.JSzOptions{})
	if err != nil {
		return Usage{}, fmt.Errorf("engine: usage: %w", err)
	}
	return Usage{
		StoreBytes: jsi.Store, MemoryBytes: jsi.Memory, Streams: jsi.Streams, Consumers: jsi.Consumers,
		Messages: jsi.Messages, APIRequests: jsi.API.Total, APIErrors: jsi.API.Errors,
	}, nil
}

// Alive reports whether the engine's loop answers within timeout: a round
// trip through the embedded server.
func (e *Engine) Alive(timeout time.Duration) bool {
	return e.nc.FlushTimeout(timeout) == nil
}

// Ready reports whether the engine accepts stored writes: the server is
// running with JetStream enabled (and, in a cluster, has a meta leader).
func (e *Engine) Ready() bool {
	return e.ns.Running() && e.ns.JetStreamEnabled() && !e.nc.IsClosed()
}
