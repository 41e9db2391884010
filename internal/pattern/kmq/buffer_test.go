package kmq

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestBufferDropsAfterWait(t *testing.T) {
	var dropped atomic.Int32
	b := NewBuffer(2, 20*time.Millisecond, func(int, bool) { dropped.Add(1) })
	defer b.Close()
	b.Put(1)
	b.Put(2)
	start := time.Now()
	b.Put(3) // full: waits, then drops
	if waited := time.Since(start); waited < 20*time.Millisecond || dropped.Load() != 1 {
		t.Fatalf("waited %v, dropped %d", waited, dropped.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got []int
	stop := errors.New("stop")
	err := b.Drain(ctx, func(v int) error {
		got = append(got, v)
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	cancel()
	if !errors.Is(err, stop) || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("drain: %v %v", err, got)
	}
	if err := b.Drain(ctx, func(int) error { return nil }); err != nil {
		t.Fatalf("drain after ctx end: %v", err)
	}
}

func TestBufferCloseReleasesPut(t *testing.T) {
	b := NewBuffer(1, time.Hour, func(int, bool) { t.Error("dropped after close") })
	b.Put(1)
	done := make(chan struct{})
	go func() { b.Put(2); close(done) }()
	b.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a waiting Put")
	}
}

// TestBufferStalledDropsAtOnce: once an item was dropped, the next ones are
// dropped without waiting until the subscriber has caught up to half the
// buffer; then items wait again.
func TestBufferStalledDropsAtOnce(t *testing.T) {
	var firsts, drops atomic.Int32
	b := NewBuffer(4, 50*time.Millisecond, func(_ int, first bool) {
		drops.Add(1)
		if first {
			firsts.Add(1)
		}
	})
	defer b.Close()
	for i := range 4 {
		b.Put(i)
	}
	start := time.Now()
	b.Put(4) // full: waits once, then drops
	for i := 5; i < 1000; i++ {
		b.Put(i) // stalled: dropped at once
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("1000 puts to a stalled buffer took %v: each waited", waited)
	}
	if drops.Load() != 996 || firsts.Load() != 1 || b.Dropped() != 996 {
		t.Fatalf("dropped %d (%d first), Dropped() %d; want 996, 1 first", drops.Load(), firsts.Load(), b.Dropped())
	}
	// Reading one item leaves it more than half full: still stalled.
	<-b.ch
	b.Put(1000)
	if drops.Load() != 997 {
		t.Fatalf("put while 3 of 4 are queued: dropped %d, want 997", drops.Load())
	}
	<-b.ch
	<-b.ch // 1 of 4 left: caught up
	b.Put(1001)
	if drops.Load() != 997 || len(b.ch) != 2 {
		t.Fatalf("after catching up: dropped %d, queued %d; want 997 and 2", drops.Load(), len(b.ch))
	}
	b.Put(1002)
	b.Put(1003)
	start = time.Now()
	b.Put(1004) // full again: waits again before the drop
	if time.Since(start) < 50*time.Millisecond || firsts.Load() != 2 {
		t.Fatalf("a new stall: waited %v, %d first drops", time.Since(start), firsts.Load())
	}
}
