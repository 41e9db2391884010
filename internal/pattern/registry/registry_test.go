package registry

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// memKV is a bucket in memory that can be made to fail.
type memKV struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
	fail error
}

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (k *memKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *memKV) Put(_ context.Context, key string, value []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	k.puts++
	k.m[key] = append([]byte(nil), value...)
	return nil
}

func (k *memKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

func (k *memKV) Each(_ context.Context, filter string, fn func(string, []byte)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, v := range k.m {
		if filter == ">" || strings.HasPrefix(key, strings.TrimSuffix(filter, ">")) {
			fn(key, v)
		}
	}
	return nil
}

func mustOpen(t *testing.T, kv KV) *Registry {
	t.Helper()
	r, err := Open(context.Background(), kv)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEnsureCreatesOnceUnderConcurrency(t *testing.T) {
	kv := newMemKV()
	r := mustOpen(t, kv)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 50 {
		wg.Go(func() {
			c, err := r.Ensure(context.Background(), "queues", "q1")
			if err != nil {
				t.Error(err)
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created != 1 || kv.puts != 1 {
		t.Fatalf("created %d times, %d writes", created, kv.puts)
	}
	if got := r.List("queues"); len(got) != 1 || got[0].Name != "q1" {
		t.Fatalf("list %+v", got)
	}
	if len(r.List("events_store")) != 0 {
		t.Fatal("kinds mixed")
	}
}

func TestEnsureFailureLeavesNothing(t *testing.T) {
	kv := newMemKV()
	r := mustOpen(t, kv)
	kv.fail = errors.New("disk full")
	if _, err := r.Ensure(context.Background(), "queues", "q"); err == nil {
		t.Fatal("no error")
	}
	if r.Exists("queues", "q") {
		t.Fatal("a record that was not written exists")
	}
}

// After a crash the numbers handed out since the last clean shutdown are
// bounded by the reservation only: Last becomes the reservation. After a
// clean shutdown, Last is exact.
func TestRecoverCleanAndUnclean(t *testing.T) {
	ctx := context.Background()
	kv := newMemKV()
	r := mustOpen(t, kv)
	s := r.Seqs("queues")
	if err := s.Reserve(ctx, "q", 1024); err != nil {
		t.Fatal(err)
	}
	if f, res := s.Recover("q"); f != 0 || res != 1024 {
		t.Fatalf("fresh: floor %d reserved %d", f, res)
	}
	// crash: no Close
	r = mustOpen(t, kv)
	if f, _ := r.Seqs("queues").Recover("q"); f != 1024 {
		t.Fatalf("after a crash: floor %d, want the reservation 1024", f)
	}
	// clean shutdown with an exact last number
	r = mustOpen(t, kv)
	if err := r.Close(ctx, map[string]map[string]uint64{"queues": {"q": 1030}}); err != nil {
		t.Fatal(err)
	}
	r = mustOpen(t, kv)
	if f, _ := r.Seqs("queues").Recover("q"); f != 1030 {
		t.Fatalf("after a clean shutdown: floor %d, want 1030", f)
	}
	// The clean mark is consumed: a crash after this start is unclean.
	if _, ok := kv.m[cleanKey]; ok {
		t.Fatal("clean mark still there after Open")
	}
}

func TestSealAndDelete(t *testing.T) {
	ctx := context.Background()
	kv := newMemKV()
	r := mustOpen(t, kv)
	if err := r.Seal(ctx, "events_store", "s", false); err != nil {
		t.Fatal(err)
	}
	if rec, _ := r.Get("events_store", "s"); !rec.Sealed || rec.Moved {
		t.Fatalf("%+v", rec)
	}
	if err := r.Seal(ctx, "events_store", "s", true); err != nil {
		t.Fatal(err)
	}
	r = mustOpen(t, kv) // persisted
	if rec, _ := r.Get("events_store", "s"); !rec.Sealed || !rec.Moved {
		t.Fatalf("after reopen %+v", rec)
	}
	if err := r.Delete(ctx, "events_store", "s"); err != nil {
		t.Fatal(err)
	}
	if r = mustOpen(t, kv); r.Exists("events_store", "s") {
		t.Fatal("deleted record came back")
	}
}

func TestKeysAreSafeForAnyName(t *testing.T) {
	for _, n := range []string{"a.b", "ü*>", strings.Repeat("x", 255), "a b"} {
		k := Key("queues", n)
		for _, c := range k {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
				t.Fatalf("key %q of %q has %q", k, n, c)
			}
		}
	}
	if Key("queues", "a") == Key("events_store", "a") || Key("queues", "a") == Key("queues", "b") {
		t.Fatal("keys collide")
	}
}

// Records are found by kind and name; one written without its kind takes
// the kind its key names, and lists keep the kinds apart.
func TestRecordsByKindAndName(t *testing.T) {
	ctx := context.Background()
	kv := newMemKV()
	if err := kv.Put(ctx, Key("queues", "old"), []byte(`{"n":"old","c":1}`)); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, kv)
	if !r.Exists("queues", "old") || r.Exists("events_store", "old") {
		t.Fatal("a record without its kind is not found under its key's kind")
	}
	for _, k := range []string{"queues", "events_store"} {
		if _, err := r.Ensure(ctx, k, "same"); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, rec := range r.List("queues") {
		names = append(names, rec.Kind+"/"+rec.Name)
	}
	if strings.Join(names, " ") != "queues/old queues/same" {
		t.Fatalf("queues listed: %v", names)
	}
	if got := r.List("events_store"); len(got) != 1 || got[0].Name != "same" {
		t.Fatalf("events store listed: %+v", got)
	}
}
