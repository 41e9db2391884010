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
	b := NewBuffer(2, 20*time.Millisecond, func(int) { dropped.Add(1) })
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
	b := NewBuffer(1, time.Hour, func(int) { t.Error("dropped after close") })
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
