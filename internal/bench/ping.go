package bench

import (
	"context"
	"time"

	"github.com/heraldmq/herald/client"
)

// ping measures Ping round trips, one call per message.
func (b *Bench) ping(ctx context.Context, pubs []*client.Client) ([]Result, error) {
	p := b.phase(ctx, "ping", pubs)
	p.size, p.latencyOf = 0, "call"
	p.start = each(func(ctx context.Context, w *worker, _ int) {
		cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
		defer cancel()
		t0 := time.Now()
		if _, err := w.c.Ping(cctx); err != nil {
			w.fail(err, 1)
			return
		}
		w.did(1, time.Since(t0))
	})
	r := p.run(ctx)
	r.Publishers = len(pubs)
	return []Result{r}, nil
}
