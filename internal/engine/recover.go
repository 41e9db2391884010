package engine

import (
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// A write that the store failed (the file system filled up under it, or
// went read-only) leaves JetStream refusing every later write to that
// stream, until the stream is loaded again. The engine notices such a
// failure in the embedded server's log, and, once the file system has room
// again, restarts JetStream: the streams are read back from disk and writes
// work again, without a restart of the process. Stored writes are refused
// with ErrNoSpace meanwhile.

// storeFailure reports whether a log line of the embedded server says that
// the store failed a write.
func storeFailure(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "critical write error") || strings.Contains(m, "will be disabled") ||
		strings.Contains(m, "disabling jetstream")
}

// storeWatchEvery is how often the watcher reads the free space.
const storeWatchEvery = 500 * time.Millisecond

// watchStore runs until Close. It keeps the reserve file (see ReserveFile)
// and restarts JetStream once the store failed a write (or JetStream
// disabled itself, which it logs too) and the file system has room again.
func (e *Engine) watchStore() {
	t := time.NewTicker(storeWatchEvery)
	defer t.Stop()
	var next time.Time         // no restart before
	backoff := storeWatchEvery // after a restart that did not help
	for {
		free, ferr := freeBytes(e.storeDir)
		if ferr == nil && e.cfg.MinFree > 0 {
			e.tendReserve(free)
		}
		if e.writeFailed.Load() && time.Now().After(next) {
			if ferr != nil || free >= e.roomToRecover() {
				e.restartJetStream()
				// Should the store fail again at once (a file system that
				// went read-only), the next restart waits longer.
				next, backoff = time.Now().Add(backoff), min(2*backoff, maxRestartBackoff)
			}
		}
		if !e.writeFailed.Load() && time.Now().After(next.Add(time.Minute)) {
			backoff = storeWatchEvery // healthy for a while
		}
		select {
		case <-e.stopWatch:
			return
		case <-t.C:
		}
	}
}

// maxRestartBackoff bounds the wait between restarts of a store that keeps
// failing.
const maxRestartBackoff = 30 * time.Second

// roomToRecover is the free space the watcher waits for: the reserve, and
// at least 1 MiB when there is none.
func (e *Engine) roomToRecover() uint64 { return uint64(max(e.cfg.MinFree, 1<<20)) }

// restartJetStream reloads every stream from disk.
func (e *Engine) restartJetStream() {
	e.log.Warn("the store failed a write earlier and the file system has room again: restarting the store")
	e.writeFailed.Store(false)
	if e.ns.JetStreamEnabled() {
		if err := e.ns.ShutdownJetStream(); err != nil {
			e.log.Error("restarting the store: shutdown failed", "err", err)
		}
	}
	// The configuration JetStream started with: derived from the server's
	// options and the store dir, as at start.
	if err := e.ns.EnableJetStream(&natsserver.JetStreamConfig{StoreDir: e.storeDir}); err != nil {
		e.log.Error("restarting the store failed; retrying", "err", err)
		e.writeFailed.Store(true)
		return
	}
	e.streamsMu.Lock()
	clear(e.streams) // cached handles of streams that were just reloaded
	e.streamsMu.Unlock()
	e.log.Info("the store was restarted and accepts writes again")
}
