package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/client"
)

// requests sends commands, or queries, one at a time from each publisher;
// the subscribers answer them as one group.
func (b *Bench) requests(ctx context.Context, pubs, subs []*client.Client, queries bool) ([]Result, error) {
	stop, err := b.responders(ctx, pubs[0], subs, queries)
	if err != nil {
		return nil, err
	}
	defer stop()
	p := b.phase(ctx, b.scenario, pubs)
	p.latencyOf = "round trip"
	p.start = each(func(ctx context.Context, w *worker, _ int) { b.request(ctx, w, b.channel, queries) })
	r := p.run(ctx)
	r.Publishers, r.Subscribers = len(pubs), len(subs)
	return []Result{r}, nil
}

// responders starts subs answering the commands, or queries, of the run's
// channel and waits until they answer a probe from c. The func it returns
// stops them.
func (b *Bench) responders(ctx context.Context, c *client.Client, subs []*client.Client, queries bool) (func(), error) {
	stop, err := b.respond(subs, b.channel, queries)
	if err == nil {
		err = b.awaitResponders(ctx, c, b.channel, queries)
	}
	if err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// respond subscribes subs to the commands, or queries, of channel as the
// group responderGroup and answers each: commands as executed, queries
// with their own metadata and body. The func it returns ends the
// subscriptions and waits for them.
func (b *Bench) respond(subs []*client.Client, channel string, queries bool) (func(), error) {
	s := b.newSubscribers(0, nil)
	for _, c := range subs {
		if queries {
			msgs, err := c.SubscribeToQueries(s.ctx, channel, responderGroup, nil)
			if err != nil {
				return s.close, fmt.Errorf("subscribe: %w", err)
			}
			s.wg.Go(func() {
				for q := range msgs {
					_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).
						SetMetadata(q.Metadata).SetBody(q.Body).Send(s.ctx)
				}
			})
			continue
		}
		msgs, err := c.SubscribeToCommands(s.ctx, channel, responderGroup, nil)
		if err != nil {
			return s.close, fmt.Errorf("subscribe: %w", err)
		}
		s.wg.Go(func() {
			for cmd := range msgs {
				_ = c.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).SetExecutedAt(time.Now()).Send(s.ctx)
			}
		})
	}
	return s.close, nil
}

// awaitResponders sends probes from c until one is answered.
func (b *Bench) awaitResponders(ctx context.Context, c *client.Client, channel string, queries bool) error {
	var answered atomic.Bool
	return warmup(ctx, "responders", func(ctx context.Context) error {
		err := sendRequest(ctx, c, channel, queries, warmupMetadata, nil, nil, 500*time.Millisecond)
		if err == nil {
			answered.Store(true)
		}
		return err
	}, answered.Load)
}

// request sends one command or query to channel and waits for its
// response; the latency is the round trip.
func (b *Bench) request(ctx context.Context, w *worker, channel string, queries bool) {
	body, tags := b.stamp()
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout+5*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := sendRequest(cctx, w.c, channel, queries, benchMetadata, body, tags, b.cfg.Timeout); err != nil {
		w.fail(err, 1)
		return
	}
	w.did(1, time.Since(t0))
}

// sendRequest sends a command or a query and fails unless it was executed.
func sendRequest(ctx context.Context, c *client.Client, channel string, queries bool, meta string, body []byte, tags map[string]string, timeout time.Duration) error {
	if queries {
		resp, err := c.Q().SetChannel(channel).SetMetadata(meta).SetBody(body).SetTags(tags).SetTimeout(timeout).Send(ctx)
		if err == nil && (!resp.Executed || resp.Error != "") {
			err = fmt.Errorf("query not executed: %s", orUnknown(resp.Error))
		}
		return err
	}
	resp, err := c.C().SetChannel(channel).SetMetadata(meta).SetBody(body).SetTags(tags).SetTimeout(timeout).Send(ctx)
	if err == nil && (!resp.Executed || resp.Error != "") {
		err = fmt.Errorf("command not executed: %s", orUnknown(resp.Error))
	}
	return err
}
