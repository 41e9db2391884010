package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LockFile is the file in the data dir that an engine holds locked for as
// long as it is open, so that two engines never share one store.
const LockFile = "herald.lock"

// ErrDataDirInUse is returned by Open when another engine (in this or
// another process) has the data dir open.
var ErrDataDirInUse = errors.New("engine: data dir in use")

// ErrNoSpace is returned for a stored write refused because the data dir's
// file system has less free space than the engine keeps in reserve. Nothing
// was stored; writes succeed again once space is freed.
var ErrNoSpace = errors.New("engine: not stored: the data dir's file system is full")

// openDataDir makes dir (and its store dir) exist, checks that it can be
// written and takes its lock.
func openDataDir(dir, storeDir string) (*os.File, error) {
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return nil, fmt.Errorf("engine: data dir %s is not writable: %w", dir, err)
		}
		return nil, fmt.Errorf("engine: data dir %s cannot be created: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("engine: data dir %s is not writable: %w", dir, err)
	}
	if err := lockFile(f); err != nil {
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
			holder = "process " + strings.TrimSpace(string(b))
		}
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s is locked by %s (another Herald runs on this data dir; two must not share one)",
			ErrDataDirInUse, path, holder)
	}
	// The holder's pid, for the message above; the lock is what counts.
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("engine: data dir %s is not writable: %w", dir, err)
		}
	}
	return f, nil
}

// DefaultMinFree is how much free space the engine keeps on the data dir's
// file system by default: stored writes are refused below it, so that the
// store itself never runs out of space in the middle of a write (JetStream
// stops a stream for good on such a failure) and still has room for the
// state it writes while messages are consumed and deleted.
const DefaultMinFree = 64 << 20

// spaceGuard refuses stored writes while the file system holding dir has
// less than min bytes free (besides the write itself). The free space is
// read at most every spaceCheckEvery, and sooner once the writes made since
// have used a good part of it.
type spaceGuard struct {
	dir    string
	min    uint64
	failed *atomic.Bool // the store failed a write and waits to be restarted

	mu   sync.Mutex
	free uint64    // at the last reading
	at   time.Time // of the last reading
	used uint64    // written since
	err  error     // of the last reading
}

const spaceCheckEvery = 250 * time.Millisecond

// check reports ErrNoSpace (wrapped with the figures) unless n more bytes
// fit above the reserve. A file system that cannot be read is not refused.
func (g *spaceGuard) check(n int) error {
	if g == nil || g.min == 0 {
		return nil
	}
	if g.failed != nil && g.failed.Load() {
		return fmt.Errorf("%w: the store failed a write and restarts once there is room again", ErrNoSpace)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if now.Sub(g.at) >= spaceCheckEvery || g.used > g.free/4 {
		g.free, g.err = freeBytes(g.dir)
		g.at, g.used = now, 0
	}
	if g.err != nil {
		return nil
	}
	need := g.min + g.used + uint64(n)
	if g.free < need {
		return fmt.Errorf("%w (%s free, %s kept in reserve)", ErrNoSpace, mib(g.free-min(g.used, g.free)), mib(g.min))
	}
	g.used += uint64(n)
	return nil
}

func mib(n uint64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }

// ReserveFile is a file of reserveSize bytes that the engine keeps in the
// data dir while there is room for it. When the file system fills up under
// the engine (another program wrote to it), the engine deletes it, so that
// the store still has room to read, acknowledge and delete stored messages
// and to open subscriptions; stored writes stay refused (ErrNoSpace) until
// the file system has room again, and then the file is made again.
const ReserveFile = "herald.reserve"

const reserveSize = 16 << 20

// tendReserve releases or remakes the reserve file for free bytes free.
func (e *Engine) tendReserve(free uint64) {
	path := filepath.Join(e.cfg.DataDir, ReserveFile)
	_, err := os.Stat(path)
	present := err == nil
	switch {
	case present && free < reserveSize/2:
		if err := os.Remove(path); err == nil {
			e.log.Warn("the data dir's file system is full: released the reserve file so that stored messages can still be read and acknowledged; new messages are refused until space is freed",
				"reserve", mib(reserveSize), "free", mib(free))
		}
	case !present && free >= uint64(e.cfg.MinFree)+2*reserveSize:
		if err := writeReserve(path); err != nil {
			e.log.Warn("cannot make the reserve file", "err", err)
			_ = os.Remove(path)
		}
	}
}

// writeReserve makes the reserve file, through a temporary file so that a
// half-made one is never taken for the reserve.
func writeReserve(path string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = allocate(f, reserveSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// allocate gives f size bytes of disk, with fallocate where the file
// system has it, else by writing data that does not compress.
func allocate(f *os.File, size int64) error {
	if err := fallocate(f, size); err == nil {
		return nil
	}
	buf := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{'h', 'e', 'r', 'a', 'l', 'd'})
	for written := int64(0); written < size; written += int64(len(buf)) {
		_, _ = r.Read(buf)
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	return f.Sync()
}
