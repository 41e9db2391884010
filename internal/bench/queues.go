package bench

import (
	"context"
	"time"

	"github.com/heraldmq/herald/client"
)

// queues fills the queue in batches, then the subscribers take the
// messages: in batches, or with stream one at a time over the stream API,
// acking each. One line per phase.
func (b *Bench) queues(ctx context.Context, pubs, subs []*client.Client, stream bool) ([]Result, error) {
	fillName, recvName := "queues send", "queues receive"
	if stream {
		fillName, recvName = "queues-stream fill", "queues-stream"
	}
	fill := b.phase(ctx, fillName, pubs)
	fill.take, fill.latencyOf = b.cfg.Batch, "call (one batch)"
	fill.start = each(b.sendBatch)
	sent := fill.run(ctx)
	sent.Publishers = len(pubs)
	want := sent.Messages
	if ctx.Err() != nil || want == 0 {
		return []Result{sent}, nil
	}

	recv := b.phase(ctx, recvName, subs)
	recv.quota, recv.take, recv.total, recv.duration = nil, b.cfg.Batch, want, 0
	recv.stop = func() bool { return recv.done() >= want }
	recv.idle = idleTimeout
	if stream {
		recv.latencyOf = "message (receive + ack)"
		recv.start = b.streamReceiver
	} else {
		recv.latencyOf = "call (one batch)"
		recv.start = each(func(ctx context.Context, w *worker, _ int) {
			// Near the end each subscriber asks for its share only: a
			// receive that cannot fill waits the whole second.
			share := (want - recv.done() + int64(len(subs)) - 1) / int64(len(subs))
			b.receiveBatch(ctx, w, int(min(int64(b.cfg.Batch), max(share, 1))))
		})
	}
	r := recv.run(ctx)
	r.Publishers, r.Subscribers = len(pubs), len(subs)
	if ctx.Err() == nil { // lost, not interrupted
		r.Lost = max(want-r.Messages, 0)
	}
	return []Result{sent, r}, nil
}

// sendBatch sends k messages to the queue in one batch; the latency is
// that of the call.
func (b *Bench) sendBatch(ctx context.Context, w *worker, k int) {
	batch := w.c.QMB()
	for range k {
		body, tags := b.stamp()
		batch.Add(w.c.QM().SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags))
	}
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	res, err := batch.Send(cctx)
	d := time.Since(t0)
	if err != nil {
		w.fail(err, k)
		return
	}
	n := 0
	for _, r := range res {
		if err := r.Err(); err != nil {
			w.fail(err, 1)
			continue
		}
		n++
	}
	w.did(n, d)
}

// receiveBatch takes up to n messages of the queue in one call, waiting a
// second at most for them.
func (b *Bench) receiveBatch(ctx context.Context, w *worker, n int) {
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout+time.Second)
	defer cancel()
	t0 := time.Now()
	res, err := w.c.RQM().SetChannel(b.channel).SetMaxNumberOfMessages(n).SetWaitTimeSeconds(1).Send(cctx)
	d := time.Since(t0)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		w.fail(err, 1)
		return
	}
	if len(res.Messages) > 0 {
		w.did(len(res.Messages), d)
	}
}

// streamReceiver starts a subscriber that takes and acks one message at a
// time over the stream API (StreamQueueMessage). The stream lives as long
// as the phase: it returns its message to the queue when the context
// given to Next ends.
func (b *Bench) streamReceiver(_ context.Context, w *worker) (func(context.Context, int), func()) {
	sqm := w.c.SQM().SetChannel(b.channel)
	step := func(ctx context.Context, _ int) {
		t0 := time.Now()
		m, err := sqm.Next(ctx, 30, 1)
		if err == nil {
			err = m.Ack()
		}
		if err != nil {
			if !isNoMessage(err) {
				w.fail(err, 1)
			}
			return
		}
		w.did(1, time.Since(t0))
	}
	return step, sqm.Close
}
