package events

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/engine"
)

// fakeEngine hands every subscription's messages to the test.
type fakeEngine struct {
	mu       sync.Mutex
	handlers []func(engine.Msg)
}

func (f *fakeEngine) Publish(subject string, data []byte) error {
	f.mu.Lock()
	hs := slices.Clone(f.handlers)
	f.mu.Unlock()
	for _, h := range hs {
		h(engine.Msg{Subject: subject, Data: append([]byte(nil), data...)})
	}
	return nil
}

func (f *fakeEngine) Subscribe(_, _ string, fn func(engine.Msg)) (engine.Sub, error) {
	f.mu.Lock()
	f.handlers = append(f.handlers, fn)
	f.mu.Unlock()
	return unsub{}, nil
}

type unsub struct{}

func (unsub) Unsubscribe()   {}
func (unsub) Dropped() int64 { return 0 }

// The slow-subscriber rule: a subscriber that does not take events for
// WriteWait, with its buffer full, loses them, and they are counted; a
// subscriber that keeps up loses none.
func TestSlowSubscriberDropRule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stall     bool
		wantDrops int64
	}{
		{"keeps up", false, 0},
		{"stalls", true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := &fakeEngine{}
			s := New(eng, Config{Buffer: 2, WriteWait: 30 * time.Millisecond})
			release := make(chan struct{})
			got := make(chan *Event, 100)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				errc <- s.Subscribe(ctx, &Subscription{ClientID: "c", Channel: "prices"}, func(ev *Event) error {
					if tc.stall {
						<-release
					}
					got <- ev
					return nil
				})
			}()
			// Wait for the subscription.
			deadline := time.Now().Add(5 * time.Second)
			for {
				eng.mu.Lock()
				n := len(eng.handlers)
				eng.mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no subscription")
				}
				time.Sleep(time.Millisecond)
			}
			h := eng.handlers[0]
			for i := range 8 {
				ev := &Event{ID: string(rune('a' + i)), ClientID: "p", Channel: "prices", Body: []byte("x")}
				h(engine.Msg{Subject: SubjectPrefix + "prices", Data: ev.Encode()})
			}
			close(release)
			if s.Dropped() != tc.wantDrops {
				t.Fatalf("dropped %d, want %d", s.Dropped(), tc.wantDrops)
			}
		})
	}
}
