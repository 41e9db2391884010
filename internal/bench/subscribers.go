package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/client"
)

// subscribers receive the events of a scenario, one goroutine per
// subscription: warm-up probes mark a subscriber ready, other events count
// as received, with their publish → receive latency.
type subscribers struct {
	ready  []atomic.Bool
	hists  []histogram
	t      tally
	wg     sync.WaitGroup
	ctx    context.Context // the subscriptions live in it
	cancel context.CancelFunc
}

// newSubscribers prepares n subscribers whose events move prog (nil: not
// counted).
func (b *Bench) newSubscribers(n int, prog *progress) *subscribers {
	ctx, cancel := context.WithCancel(b.life)
	s := &subscribers{ready: make([]atomic.Bool, n), hists: make([]histogram, n), ctx: ctx, cancel: cancel}
	s.t.prog = prog
	return s
}

// events subscribes subs to the events of channel.
func (s *subscribers) events(subs []*client.Client, channel string) error {
	for i, c := range subs {
		msgs, err := c.SubscribeToEvents(s.ctx, channel, "", nil)
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		consume(s, i, msgs, func(e *client.Event) (string, []byte, map[string]string) { return e.Metadata, e.Body, e.Tags })
	}
	return nil
}

// eventsStore subscribes subs to the events stored in channel from now on.
func (s *subscribers) eventsStore(subs []*client.Client, channel string) error {
	for i, c := range subs {
		msgs, err := c.SubscribeToEventsStore(s.ctx, channel, "", nil, client.StartFromNewEvents())
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		consume(s, i, msgs, func(e *client.EventStoreReceive) (string, []byte, map[string]string) {
			return e.Metadata, e.Body, e.Tags
		})
	}
	return nil
}

// listenEvents subscribes subs to the events of the run's channel and
// waits until each has received a probe that c publishes.
func (b *Bench) listenEvents(ctx context.Context, c *client.Client, subs []*client.Client, prog *progress) (*subscribers, error) {
	s := b.newSubscribers(len(subs), prog)
	err := s.events(subs, b.channel)
	if err == nil {
		err = warmup(ctx, "subscribers", func(ctx context.Context) error {
			return c.E().SetChannel(b.channel).SetMetadata(warmupMetadata).Send(ctx)
		}, s.allReady)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// listenEventsStore subscribes subs to the events stored in the run's
// channel from now on and waits until each has received a probe that c
// stores.
func (b *Bench) listenEventsStore(ctx context.Context, c *client.Client, subs []*client.Client, prog *progress) (*subscribers, error) {
	s := b.newSubscribers(len(subs), prog)
	err := s.eventsStore(subs, b.channel)
	if err == nil {
		err = warmup(ctx, "subscribers", func(ctx context.Context) error {
			_, err := c.ES().SetChannel(b.channel).SetMetadata(warmupMetadata).Send(ctx)
			return err
		}, s.allReady)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// consume reads msgs for subscriber i; read returns the metadata, body and
// tags of a message.
func consume[T any](s *subscribers, i int, msgs <-chan T, read func(T) (meta string, body []byte, tags map[string]string)) {
	h := &s.hists[i]
	s.wg.Go(func() {
		for m := range msgs {
			meta, body, tags := read(m)
			if meta == warmupMetadata {
				s.ready[i].Store(true)
				continue
			}
			now := time.Now()
			if t, ok := sentAt(body, tags); ok {
				h.record(now.Sub(t))
			}
			s.t.add(1, now)
		}
	})
}

func (s *subscribers) allReady() bool {
	for i := range s.ready {
		if !s.ready[i].Load() {
			return false
		}
	}
	return true
}

func (s *subscribers) received() int64 { return s.t.done.Load() }

// wait waits until want events were received, nothing came for
// idleTimeout, or ctx ended; then it ends the subscriptions.
func (s *subscribers) wait(ctx context.Context, want int64) {
	defer s.close()
	lastN, lastChange := s.received(), time.Now()
	for s.received() < want && ctx.Err() == nil {
		if n := s.received(); n != lastN {
			lastN, lastChange = n, time.Now()
		} else if time.Since(lastChange) > idleTimeout {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// close ends the subscriptions and waits for their goroutines; it is safe
// to call more than once.
func (s *subscribers) close() {
	s.cancel()
	s.wg.Wait()
}

// result is the receiving side as a line of the report, timed from start;
// lost counts the events of want that did not come, unless ctx ended.
func (s *subscribers) result(ctx context.Context, name string, start time.Time, size int, want int64) Result {
	hists := make([]*histogram, len(s.hists))
	for i := range s.hists {
		hists[i] = &s.hists[i]
	}
	r := s.t.result(name, start, size, "publish to receive", merged(hists))
	if ctx.Err() == nil { // lost, not interrupted
		r.Lost = max(want-r.Messages, 0)
	}
	return r
}
