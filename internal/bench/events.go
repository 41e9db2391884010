package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldmq/herald/client"
)

// events streams events from the publishers to every subscriber: one line
// for the events received, or for those sent when there are no
// subscribers.
func (b *Bench) events(ctx context.Context, pubs, subs []*client.Client) ([]Result, error) {
	s, err := b.listenEvents(ctx, pubs[0], subs, b.prog)
	if err != nil {
		return nil, err
	}
	defer s.close()
	total := int64(b.cfg.Count)

	p := b.phase(ctx, "events", pubs)
	p.take = b.chunk()
	if len(subs) > 0 { // the subscribers move the bar
		total *= int64(len(subs))
		p.prog, p.bar = nil, false
		b.prog.start("events", total, b.cfg.Duration)
	}
	p.start = b.eventsStream
	start := time.Now()
	sent := p.run(ctx)
	sent.Publishers = len(pubs)
	if len(subs) == 0 {
		return []Result{sent}, nil
	}
	want := sent.Messages * int64(len(subs))
	s.wait(ctx, want)
	r := s.result(ctx, "events", start, b.cfg.Size, want)
	r.Publishers, r.Subscribers = len(pubs), len(subs)
	r.Errors, r.FirstErr = sent.Errors, sent.FirstErr
	return []Result{r}, nil
}

// eventsStream starts a publisher that streams events (SendEventsStream);
// a message is done once it is queued on the stream.
func (b *Bench) eventsStream(ctx context.Context, w *worker) (func(context.Context, int), func()) {
	events, errs := make(chan *client.Event, takeChunk), make(chan error, 64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		w.c.StreamEvents(ctx, events, errs)
	})
	wg.Go(func() {
		for {
			select {
			case err := <-errs:
				w.fail(err, 1)
			case <-done:
				return
			}
		}
	})
	step := func(_ context.Context, k int) {
		for range k {
			body, tags := b.stamp()
			select {
			case events <- w.c.E().SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags):
				w.did(1, 0)
			case <-done:
				w.stop()
				return
			}
		}
	}
	return step, func() {
		close(events) // StreamEvents sends what is queued, then returns
		wg.Wait()
	}
}

// eventsStore streams events to be stored and waits for each result; with
// subscribers, a second line for their delivery.
func (b *Bench) eventsStore(ctx context.Context, pubs, subs []*client.Client) ([]Result, error) {
	s, err := b.listenEventsStore(ctx, pubs[0], subs, b.prog)
	if err != nil {
		return nil, err
	}
	defer s.close()

	p := b.phase(ctx, "events-store store", pubs)
	p.take, p.latencyOf = b.chunk(), "store (send to stored result)"
	p.start = b.eventsStoreStream
	start := time.Now()
	stored := p.run(ctx)
	stored.Publishers = len(pubs)
	if len(subs) == 0 {
		return []Result{stored}, nil
	}
	want := stored.Messages * int64(len(subs))
	b.prog.start("events-store receive", want, 0)
	b.prog.add(s.received())
	s.wait(ctx, want)
	recv := s.result(ctx, "events-store receive", start, b.cfg.Size, want)
	recv.Publishers, recv.Subscribers = len(pubs), len(subs)
	return []Result{stored, recv}, nil
}

// eventsStoreStream starts a publisher that streams events
// (SendEventsStream with Store) with at most --batch of them waiting for
// their result; a message is done when its "stored" result comes, and its
// latency is from send to result.
func (b *Bench) eventsStoreStream(ctx context.Context, w *worker) (func(context.Context, int), func()) {
	window := b.cfg.Batch
	s := &storeStream{
		b: b, w: w,
		events:  make(chan *client.EventStore, window),
		results: make(chan *client.EventStoreResult, window),
		errs:    make(chan error, 64),
		slots:   make(chan struct{}, window),
		pending: make(map[string]time.Time, window),
		done:    make(chan struct{}),
	}
	s.wg.Go(func() {
		defer close(s.done)
		w.c.StreamEventsStore(ctx, s.events, s.results, s.errs)
	})
	s.wg.Go(s.read)
	return s.send, s.end
}

// storeStream is the events-store stream of one publisher.
type storeStream struct {
	b       *Bench
	w       *worker
	events  chan *client.EventStore
	results chan *client.EventStoreResult
	errs    chan error
	slots   chan struct{} // one per event waiting for its result
	done    chan struct{} // closed when the stream returned
	wg      sync.WaitGroup
	n       int // events sent

	mu      sync.Mutex
	pending map[string]time.Time // send time by event id
}

// send is the step: it sends k events, each once a slot is free.
func (s *storeStream) send(_ context.Context, k int) {
	for range k {
		select {
		case s.slots <- struct{}{}:
		case <-s.done:
			s.w.stop()
			return
		}
		id := fmt.Sprintf("%s-%d-%d", s.b.runID, s.w.i, s.n)
		s.n++
		body, tags := s.b.stamp()
		ev := s.w.c.ES().SetId(id).SetChannel(s.b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags)
		s.mu.Lock()
		s.pending[id] = time.Now()
		s.mu.Unlock()
		select {
		case s.events <- ev:
		case <-s.done:
			s.w.stop()
			return
		}
	}
}

// read handles the results and errors of the stream until it returned.
func (s *storeStream) read() {
	for {
		select {
		case res := <-s.results:
			s.handle(res)
		case err := <-s.errs:
			if !errors.Is(err, client.ErrSubscriptionInterrupted) {
				s.w.fail(err, 0)
			}
		case <-s.done:
			for { // results delivered just before the stream returned
				select {
				case res := <-s.results:
					s.handle(res)
				default:
					return
				}
			}
		}
	}
}

// handle counts one result and frees its slot.
func (s *storeStream) handle(res *client.EventStoreResult) {
	now := time.Now()
	s.mu.Lock()
	t0, known := s.pending[res.Id]
	delete(s.pending, res.Id)
	s.mu.Unlock()
	if known {
		select {
		case <-s.slots:
		default:
		}
	}
	if !res.Sent || res.Err != nil {
		err := res.Err
		if err == nil {
			err = errors.New("event not stored")
		}
		s.w.fail(err, 1)
		return
	}
	var d time.Duration
	if known {
		d = now.Sub(t0)
	}
	s.w.did(1, d)
}

// end closes the stream, which waits for the outstanding results, and
// waits for its goroutines.
func (s *storeStream) end() {
	close(s.events)
	s.wg.Wait()
}
