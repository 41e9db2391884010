package kmq

import (
	"context"
	"time"
)

// Buffer is KubeMQ's slow-subscriber rule between the engine and one
// subscriber stream: items wait in a buffer of a fixed size; an item that
// finds it full waits up to a limit for room and is then dropped. Put is
// called by the engine's delivery callback, Drain by the stream's goroutine.
type Buffer[T any] struct {
	ch     chan T
	done   chan struct{}
	wait   time.Duration
	onDrop func(T)
}

// NewBuffer returns a buffer of size items whose Put waits up to wait for
// room, then calls onDrop.
func NewBuffer[T any](size int, wait time.Duration, onDrop func(T)) *Buffer[T] {
	return &Buffer[T]{ch: make(chan T, size), done: make(chan struct{}), wait: wait, onDrop: onDrop}
}

// Put queues v, or drops it after the wait (or at once once Close was called).
func (b *Buffer[T]) Put(v T) {
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
		b.onDrop(v)
	}
}

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
