// Package filewatch calls a reload function when configuration files change:
// keys, certificates, token lists, access-control lists.
//
// It polls. Every interval it reads each watched file and compares the
// SHA-256 of its content with the previous poll, so no file-system event
// can be missed and nothing depends on modification times. Reading by path
// follows symbolic links: an atomic rename over the file, an in-place
// rewrite, and the symlink swap Kubernetes does when it updates a mounted
// Secret or ConfigMap (`..data` pointed at a new directory) are all seen.
// A file that disappears or cannot be read counts as changed too, and so
// does its return.
package filewatch

import (
	"crypto/sha256"
	"io"
	"os"
	"sync"
	"time"
)

// Watcher polls groups of files. Each group has a reload function, called
// on the watcher's goroutine when any file of the group changed since the
// previous poll. Methods are safe for concurrent use.
type Watcher struct {
	interval time.Duration

	mu      sync.Mutex // serialises polls and guards groups
	groups  []*group
	started bool

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type group struct {
	paths  []string
	state  []state
	reload func()
}

// state is what one poll saw of a file.
type state struct {
	sum [sha256.Size]byte
	ok  bool // false: the file could not be read
}

// New returns a watcher that polls every interval once started. An interval
// of zero or less never polls; Poll still works.
func New(interval time.Duration) *Watcher {
	return &Watcher{interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
}

// Add watches paths (empty ones are skipped) and calls reload when any of
// them changes. It records their content now, so a caller that loads the
// files after Add misses no change made in between: such a change makes
// one extra, harmless reload.
//
// reload runs on the watcher's goroutine (or Poll's caller) with the
// watcher's lock held: it must not call the Watcher's methods.
func (w *Watcher) Add(reload func(), paths ...string) {
	g := &group{reload: reload}
	for _, p := range paths {
		if p != "" {
			g.paths = append(g.paths, p)
			g.state = append(g.state, read(p))
		}
	}
	if len(g.paths) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.groups = append(w.groups, g)
}

// Start begins polling on a goroutine of the watcher's own, until Close.
// It does nothing when the interval is not positive, there is nothing to
// watch, or it was started before.
func (w *Watcher) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.interval <= 0 || len(w.groups) == 0 {
		return
	}
	select {
	case <-w.stop:
		return // closed
	default:
	}
	w.started = true
	go w.run()
}

func (w *Watcher) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Poll()
		}
	}
}

// Poll reads every watched file now and calls the reload function of each
// group that changed since the previous poll.
func (w *Watcher) Poll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range w.groups {
		changed := false
		for i, p := range g.paths {
			if s := read(p); s != g.state[i] {
				g.state[i] = s
				changed = true
			}
		}
		if changed {
			g.reload()
		}
	}
}

// Close stops polling and waits for the goroutine to end. It is idempotent.
func (w *Watcher) Close() {
	w.stopOnce.Do(func() { close(w.stop) })
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	if started {
		<-w.done
	}
}

func read(path string) state {
	f, err := os.Open(path)
	if err != nil {
		return state{}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return state{}
	}
	var s state
	h.Sum(s.sum[:0])
	s.ok = true
	return s
}
