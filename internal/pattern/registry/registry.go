// Package registry is the durable list of the queue and events-store
// channels that exist — created, or sent to — with what each needs beyond
// its messages: whether it is sealed, and the sequence bookkeeping of the
// engine log that stores it (engine.SeqStore). Channels share a few engine
// streams, so a channel is a record here, not an engine object.
//
// Records live in the engine's key-value bucket HERALD_CHANNELS and in
// memory; Open loads them all (a listing never reads the engine), and every
// change is written before the call that made it returns.
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Bucket is the key-value bucket of the records.
const Bucket = "HERALD_CHANNELS"

// KV is what the registry needs of the engine's key-value bucket.
type KV interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	Each(ctx context.Context, filter string, fn func(key string, value []byte)) error
}

// Record is one channel.
type Record struct {
	Kind    string `json:"k"`
	Name    string `json:"n"`
	Created int64  `json:"c"` // Unix ms
	// Reserved bounds every sequence number the channel's log handed out.
	Reserved uint64 `json:"r,omitempty"`
	// Last is a floor of the channel's numbering: numbers continue after
	// it (set when a channel is copied in with its numbers; after a crash,
	// Open raises it to Reserved). The exact last numbers of a clean
	// shutdown are kept apart, in one entry for all channels.
	Last   uint64 `json:"l,omitempty"`
	Sealed bool   `json:"s,omitempty"`
	// Moved: sealed, and its messages moved to the store of sealed channels.
	Moved bool `json:"m,omitempty"`
}

type entry struct {
	key     string        // in the bucket
	mu      sync.Mutex    // serialises writes of this record
	written chan struct{} // closed once the record's first write ended
	rec     Record
}

// Registry holds the records.
type Registry struct {
	kv KV
	mu sync.RWMutex
	m  map[chanKey]*entry
	// lasts are the last numbers of the channels as of the last clean
	// shutdown, by bucket key; written in one entry (lastsKey) by Close.
	lasts map[string]uint64
}

const (
	cleanKey = "meta.clean"
	lastsKey = "meta.lasts"
)

// chanKey finds a record in memory without hashing its name.
type chanKey struct{ kind, name string }

// Key is a record's key in the bucket: its kind and a hash of its name
// (names may hold characters keys may not).
func Key(kind, name string) string {
	sum := sha256.Sum256([]byte(name))
	return kind + "." + hex.EncodeToString(sum[:16])
}

// Open loads every record. If the last run did not end with Close, every
// record's Last is raised to its reservation: the numbers handed out after
// the last clean shutdown are unknown, only bounded.
func Open(ctx context.Context, kv KV) (*Registry, error) {
	r := &Registry{kv: kv, m: map[chanKey]*entry{}, lasts: map[string]uint64{}}
	byKey := map[string]*entry{}
	clean := false
	var lasts []byte
	err := kv.Each(ctx, ">", func(key string, value []byte) {
		switch key {
		case cleanKey:
			clean = true
			return
		case lastsKey:
			lasts = value
			return
		}
		var rec Record
		if json.Unmarshal(value, &rec) != nil || rec.Name == "" {
			return
		}
		if rec.Kind == "" { // the key says it too
			rec.Kind = key[:max(strings.LastIndexByte(key, '.'), 0)]
		}
		e := &entry{key: key, rec: rec}
		r.m[chanKey{rec.Kind, rec.Name}] = e
		byKey[key] = e
	})
	if err != nil {
		return nil, fmt.Errorf("registry: load: %w", err)
	}
	if clean {
		if len(lasts) > 0 && json.Unmarshal(lasts, &r.lasts) != nil {
			r.lasts = map[string]uint64{}
			clean = false // unreadable: as after a crash
		}
		for k, n := range r.lasts {
			if e := byKey[k]; e != nil {
				e.rec.Last = max(e.rec.Last, n)
			}
		}
	}
	if !clean {
		r.lasts = map[string]uint64{}
		for _, e := range r.m {
			e.rec.Last = max(e.rec.Last, e.rec.Reserved)
		}
	}
	if err := kv.Delete(ctx, cleanKey); err != nil { // a crash from now on is unclean
		return nil, fmt.Errorf("registry: %w", err)
	}
	return r, nil
}

// Close writes the last numbers the logs handed out (by kind, then
// channel) in one entry, and marks the run clean.
func (r *Registry) Close(ctx context.Context, lasts map[string]map[string]uint64) error {
	r.mu.Lock()
	for kind, m := range lasts {
		for name, last := range m {
			if e := r.m[chanKey{kind, name}]; e != nil {
				r.lasts[e.key] = max(r.lasts[e.key], last, e.rec.Last)
			}
		}
	}
	live := make(map[string]bool, len(r.m))
	for _, e := range r.m {
		live[e.key] = true
	}
	for k := range r.lasts {
		if !live[k] { // deleted
			delete(r.lasts, k)
		}
	}
	b, err := json.Marshal(r.lasts)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := r.kv.Put(ctx, lastsKey, b); err != nil {
		return fmt.Errorf("registry: write the last numbers: %w", err)
	}
	return r.kv.Put(ctx, cleanKey, []byte("1"))
}

func (r *Registry) get(kind, name string) *entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[chanKey{kind, name}]
}

// update applies fn to the record and writes it.
func (r *Registry) update(ctx context.Context, e *entry, fn func(*Record)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.rec
	fn(&rec)
	if rec == e.rec {
		return nil
	}
	if err := r.put(ctx, e.key, rec); err != nil {
		return err
	}
	e.rec = rec
	return nil
}

func (r *Registry) put(ctx context.Context, key string, rec Record) error {
	b, _ := json.Marshal(rec)
	if err := r.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("registry: write %s %q: %w", rec.Kind, rec.Name, err)
	}
	return nil
}

// Ensure makes sure the channel exists; created reports whether this call
// created it.
func (r *Registry) Ensure(ctx context.Context, kind, name string) (created bool, err error) {
	if r.get(kind, name) != nil {
		return false, nil
	}
	key := chanKey{kind, name}
	r.mu.Lock()
	e := r.m[key]
	if e == nil {
		e = &entry{key: Key(kind, name), rec: Record{Kind: kind, Name: name, Created: time.Now().UnixMilli()}, written: make(chan struct{})}
		e.mu.Lock() // held until written: other writers of the record wait
		r.m[key] = e
		created = true
	}
	r.mu.Unlock()
	if !created {
		if e.written != nil {
			select { // the creator's write
			case <-e.written:
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		if r.get(kind, name) == nil {
			return r.Ensure(ctx, kind, name) // its write failed
		}
		return false, nil
	}
	err = r.put(ctx, e.key, e.rec)
	if err != nil {
		r.mu.Lock()
		delete(r.m, key)
		r.mu.Unlock()
	}
	e.mu.Unlock()
	close(e.written)
	return err == nil, err
}

// Exists reports whether the channel exists.
func (r *Registry) Exists(kind, name string) bool { return r.get(kind, name) != nil }

// Get returns the channel's record.
func (r *Registry) Get(kind, name string) (Record, bool) {
	e := r.get(kind, name)
	if e == nil {
		return Record{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rec, true
}

// Delete removes the channel's record.
func (r *Registry) Delete(ctx context.Context, kind, name string) error {
	r.mu.Lock()
	delete(r.m, chanKey{kind, name})
	r.mu.Unlock()
	if err := r.kv.Delete(ctx, Key(kind, name)); err != nil {
		return fmt.Errorf("registry: delete %s %q: %w", kind, name, err)
	}
	return nil
}

// Seal marks a channel sealed (moved: its messages are in the sealed
// store); the channel is created if need be.
func (r *Registry) Seal(ctx context.Context, kind, name string, moved bool) error {
	if _, err := r.Ensure(ctx, kind, name); err != nil {
		return err
	}
	e := r.get(kind, name)
	if e == nil {
		return fmt.Errorf("registry: %s %q deleted while being sealed", kind, name)
	}
	return r.update(ctx, e, func(rec *Record) { rec.Sealed, rec.Moved = true, rec.Moved || moved })
}

// List returns the records of kind, by name.
func (r *Registry) List(kind string) []Record {
	r.mu.RLock()
	out := make([]Record, 0, len(r.m))
	es := make([]*entry, 0, len(r.m))
	for k, e := range r.m {
		if k.kind == kind {
			es = append(es, e)
		}
	}
	r.mu.RUnlock()
	for _, e := range es {
		e.mu.Lock()
		out = append(out, e.rec)
		e.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetFloor records that channel's numbering continues after n (a channel
// copied from elsewhere with its numbers).
func (r *Registry) SetFloor(ctx context.Context, kind, name string, n uint64) error {
	if _, err := r.Ensure(ctx, kind, name); err != nil {
		return err
	}
	e := r.get(kind, name)
	if e == nil {
		return fmt.Errorf("registry: %s %q deleted meanwhile", kind, name)
	}
	return r.update(ctx, e, func(rec *Record) { rec.Last, rec.Reserved = max(rec.Last, n), max(rec.Reserved, n) })
}

// Seqs is the engine.SeqStore of the log of kind.
func (r *Registry) Seqs(kind string) *Seqs { return &Seqs{r: r, kind: kind} }

// Seqs keeps one kind's sequence bookkeeping; it implements
// engine.SeqStore.
type Seqs struct {
	r    *Registry
	kind string
}

// Recover returns where a channel's numbering continues and its reservation.
func (s *Seqs) Recover(channel string) (floor, reserved uint64) {
	rec, ok := s.r.Get(s.kind, channel)
	if !ok {
		return 0, 0
	}
	return rec.Last, rec.Reserved
}

// Reserve records that numbers up to upTo may be handed out; it creates the
// record of a channel that has none (a send makes a channel exist).
func (s *Seqs) Reserve(ctx context.Context, channel string, upTo uint64) error {
	if _, err := s.r.Ensure(ctx, s.kind, channel); err != nil {
		return err
	}
	e := s.r.get(s.kind, channel)
	if e == nil {
		return fmt.Errorf("registry: %s %q deleted while reserving", s.kind, channel)
	}
	return s.r.update(ctx, e, func(rec *Record) { rec.Reserved = max(rec.Reserved, upTo) })
}
