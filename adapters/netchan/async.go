package netchan

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/heraldmq/herald/client"
)

// asyncSender pipelines the publishes of a PubChannel over one
// StreamEventsStore stream, with at most window unconfirmed messages.
type asyncSender struct {
	p      *PubChannel
	sem    chan struct{}
	evCh   chan *client.EventStore
	resCh  chan *client.EventStoreResult
	errCh  chan error
	order  sync.Mutex // queue order = send order
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startAsync(p *PubChannel, window int) *asyncSender {
	ctx, cancel := context.WithCancel(context.Background())
	a := &asyncSender{p: p, sem: make(chan struct{}, window), evCh: make(chan *client.EventStore),
		resCh: make(chan *client.EventStoreResult, window), errCh: make(chan error, 8), cancel: cancel}
	a.wg.Go(func() { p.cl.StreamEventsStore(ctx, a.evCh, a.resCh, a.errCh) })
	a.wg.Go(func() { a.results(ctx) })
	return a
}

func (a *asyncSender) stop() {
	a.cancel()
	a.wg.Wait()
}

func (a *asyncSender) publish(ctx context.Context, m []byte) error {
	p := a.p
	p.mu.Lock()
	closed, sticky := p.closed, p.sticky
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if sticky != nil {
		return sticky
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		err := fmt.Errorf("netchan: publish to %s: waiting for confirmations: %w", p.name, ctx.Err())
		p.fail(err)
		return err
	case <-p.done:
		return ErrClosed
	}
	es := p.event(m, nil)
	es.Tags = client.InjectTags(ctx, es.Tags) // the stream's own context is not the caller's
	pd := &pending{id: es.Id, payload: m}
	a.order.Lock()
	defer a.order.Unlock()
	p.mu.Lock()
	if p.sticky != nil {
		err := p.sticky
		p.mu.Unlock()
		<-a.sem
		return err
	}
	p.pending = append(p.pending, pd)
	p.byID[pd.id] = pd
	p.mu.Unlock()
	select {
	case a.evCh <- es:
		return nil
	case <-ctx.Done():
		err := fmt.Errorf("netchan: publish to %s: stream not available: %w", p.name, ctx.Err())
		p.fail(err)
		return err
	case <-p.done:
		return ErrClosed
	}
}

// results applies confirmations in publish order.
func (a *asyncSender) results(ctx context.Context) {
	p := a.p
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-a.errCh:
			if !errors.Is(err, client.ErrSubscriptionInterrupted) {
				p.c.log.Debug("netchan: async stream", "channel", p.channel, "err", err)
			}
		case r := <-a.resCh:
			p.mu.Lock()
			pd := p.byID[r.Id]
			if pd == nil {
				p.mu.Unlock()
				continue
			}
			delete(p.byID, r.Id)
			<-a.sem
			if !r.Sent {
				err := r.Err
				if err == nil {
					err = errors.New("not stored")
				}
				if errors.Is(err, client.ErrChannelSealed) {
					err = fmt.Errorf("%w: %w", ErrChannelClosed, err)
				}
				p.mu.Unlock()
				p.fail(fmt.Errorf("netchan: publish to %s: %w", p.name, err))
				continue
			}
			pd.done = true
			for len(p.pending) > 0 && p.pending[0].done && p.sticky == nil {
				p.md5.Write(p.pending[0].payload)
				p.count++
				p.pending = p.pending[1:]
			}
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}
}
