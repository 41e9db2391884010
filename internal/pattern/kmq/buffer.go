package kmq

import (
	"context"
	"sync/atomic"
	"time"
)

// Buffer is KubeMQ's slow-subscriber rule between the engine and one
// subscriber stream: items wait in a buffer of a fixed size; an item that
// finds it full waits up to a limit for room and is then dropped. Put is
// called by the engine's delivery callback, Drain by the stream's goroutine.
//
// Once an item was dropped the subscriber is stalled: later items that find
// the buffer more than half full are dropped at once instead of waiting in
// turn, until the subscriber has caught up to half the buffer. So a
// subscriber that stopped reading holds the engine's delivery back for one
// wait, not one wait per item, and nothing piles up in front of the buffer.
type Buffer[T any] struct {
	ch      chan T
	done    chan struct{}
	wait    time.Duration
	onDrop  func(v T, first bool)
	stalled atomic.Bool
	dropped atomic.Int64
}

// NewBuffer returns a buffer of size items whose Put waits up to wait for
// room, then calls onDrop; first is true for the first item dropped since
// the subscriber last kept up.
func NewBuffer[T any](size int, wait time.Duration, onDrop func(v T, first bool)) *Buffer[T] {
	return &Buffer[T]{ch: make(chan T, size), done: make(chan struct{}), wait: wait, onDrop: onDrop}
}

// Put queues v, or drops it after the wait (at once while the subscriber
// is stalled, or once Close was called).
func (b *Buffer[T]) Put(v T) {
	if b.stalled.Load() {
		if len(b.ch) > cap(b.ch)/2 {
			b.drop(v, false)
			return
		}
		b.stalled.Store(false) // it caught up
	}
	select {
	case b.ch <- v:
		return
	default:
	}
	t := time.NewTimer(b.wait)
	defer t.Stop()
	select {
	case b.ch <- v:
	case <-b.done:
	case <-t.C:
		b.stalled.Store(true)
		b.drop(v, true)
	}
}

func (b *Buffer[T]) drop(v T, first bool) {
	b.dropped.Add(1)
	b.onDrop(v, first)
}

// Dropped is how many items were dropped so far.
func (b *Buffer[T]) Dropped() int64 { return b.dropped.Load() }

// Drain hands queued items to send until ctx ends (nil) or send fails (its
// error).
func (b *Buffer[T]) Drain(ctx context.Context, send func(T) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case v := <-b.ch:
			if err := send(v); err != nil {
				return err
			}
		}
	}
}

// Close releases Puts that are waiting for room.
func (b *Buffer[T]) Close() { close(b.done) }
