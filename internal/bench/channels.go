package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/heraldmq/herald/client"
)

func (c *Config) checkChannels() error {
	switch {
	case c.Channels < 1:
		return fmt.Errorf("invalid --channels %d: want 1 or more", c.Channels)
	case c.Messages < 1:
		return fmt.Errorf("invalid --messages %d: want 1 or more", c.Messages)
	case c.Clients < 1:
		return fmt.Errorf("invalid --clients %d: want 1 or more", c.Clients)
	}
	return nil
}

func (b *Bench) describeChannels() string {
	return fmt.Sprintf("herald bench channels: %s (%s), %d queues and %d events-store channels %s-{q,es}-<i>, %s of %d bytes each, %s",
		b.cfg.Address, b.cfg.Transport, b.cfg.Channels, b.cfg.Channels, b.channel,
		plural(b.cfg.Messages, "msg"), b.cfg.Size, plural(b.cfg.Clients, "client"))
}

// ChannelsReport is the listing part of the report of scenario channels.
type ChannelsReport struct {
	Prefix   string `json:"prefix"`
	Channels int    `json:"channels"` // of each type
	Messages int    `json:"messages"` // per channel
	Calls    []Call `json:"calls"`
}

// Call is one timed call of channel management.
type Call struct {
	Name string `json:"name"`
	// Channels is how many channels the answer has.
	Channels int     `json:"channels"`
	Seconds  float64 `json:"seconds"`
	Error    string  `json:"error,omitempty"`
}

func (r *ChannelsReport) writeText(w io.Writer) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "call\tchannels\ttime")
	for _, c := range r.Calls {
		took := formatMillis(c.Seconds * 1000)
		if c.Error != "" {
			took = "failed: " + c.Error
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", c.Name, c.Channels, took)
	}
	return tw.Flush()
}

// channelKinds are the two kinds of channel of scenario channels.
var channelKinds = []struct {
	name, typ, suffix string
}{
	{"queues", client.ChannelTypeQueues, "q"},
	{"events-store", client.ChannelTypeEventsStore, "es"},
}

// channelName is the i-th channel of a kind.
func (b *Bench) channelName(suffix string, i int) string {
	return fmt.Sprintf("%s-%s-%d", b.channel, suffix, i)
}

// channels sends --messages to each of --channels new queues, then to as
// many new events-store channels: each client takes its slice of the
// channels and sends the messages of one channel after the other. Two
// lines per kind, the first sends (which make the channel) and all sends;
// then it times listing the channels and QueuesInfo.
func (b *Bench) channels(ctx context.Context, clients []*client.Client, rep *ChannelsReport) ([]Result, error) {
	n, per := b.cfg.Channels, b.cfg.Messages
	rep.Prefix, rep.Channels, rep.Messages = b.channel, n, per
	var results []Result
	for _, kind := range channelKinds {
		p := b.phase(ctx, kind.name+" send", clients)
		p.quota, p.total, p.duration, p.latencyOf = nil, int64(n*per), 0, "send"
		firsts := &tally{}
		firstHists := make([]histogram, len(clients))
		p.start = func(_ context.Context, w *worker) (func(context.Context, int), func()) {
			next, end := w.i*n/len(clients), (w.i+1)*n/len(clients)
			return func(ctx context.Context, _ int) {
				if next == end {
					w.stop()
					return
				}
				ch := b.channelName(kind.suffix, next)
				next++
				b.made(kind.typ, ch)
				for m := range per {
					d, err := b.sendTo(ctx, w.c, kind.typ, ch)
					if err != nil {
						w.fail(err, 1)
						continue
					}
					w.did(1, d)
					if m == 0 {
						firstHists[w.i].record(d)
						firsts.add(1, time.Now())
					}
				}
			}, nil
		}
		all := p.run(ctx)
		hs := make([]*histogram, len(firstHists))
		for i := range firstHists {
			hs[i] = &firstHists[i]
		}
		first := firsts.result(kind.name+" first send", p.began, b.cfg.Size, "first send to a new channel", merged(hs))
		first.Publishers, all.Publishers = len(clients), len(clients)
		results = append(results, first, all)
		if ctx.Err() != nil {
			return results, nil
		}
	}
	c := clients[0]
	rep.Calls = []Call{
		b.timeCall(ctx, "list-channels queues", func(ctx context.Context) (int, error) {
			chs, err := client.ListQueuesChannels(ctx, c, b.cfg.ClientID, "")
			return len(chs), err
		}),
		b.timeCall(ctx, "list-channels events_store", func(ctx context.Context) (int, error) {
			chs, err := client.ListPubSubChannels(ctx, c, b.cfg.ClientID, client.ChannelTypeEventsStore, "")
			return len(chs), err
		}),
		b.timeCall(ctx, "queues-info", func(ctx context.Context) (int, error) {
			info, err := c.QueuesInfo(ctx, "")
			if err != nil {
				return 0, err
			}
			return info.TotalQueues, nil
		}),
	}
	return results, nil
}

// sendTo sends one message to a channel of typ and returns the time of
// the call.
func (b *Bench) sendTo(ctx context.Context, c *client.Client, typ, ch string) (time.Duration, error) {
	body, tags := b.stamp()
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	var err error
	if typ == client.ChannelTypeQueues {
		var res *client.SendQueueMessageResult
		if res, err = c.QM().SetChannel(ch).SetMetadata(benchMetadata).SetBody(body).SetTags(tags).Send(cctx); err == nil {
			err = res.Err()
		}
	} else {
		var res *client.EventStoreResult
		if res, err = c.ES().SetChannel(ch).SetMetadata(benchMetadata).SetBody(body).SetTags(tags).Send(cctx); err == nil && (!res.Sent || res.Err != nil) {
			err = res.Err
			if err == nil {
				err = errors.New("event not stored")
			}
		}
	}
	return time.Since(t0), err
}

// timeCall times one call that answers with a number of channels.
func (b *Bench) timeCall(ctx context.Context, name string, call func(context.Context) (int, error)) Call {
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout+10*time.Second)
	defer cancel()
	t0 := time.Now()
	n, err := call(cctx)
	c := Call{Name: name, Channels: n, Seconds: time.Since(t0).Seconds()}
	if err != nil {
		c.Error = oneLine(err)
	}
	return c
}

// made records that the run sent to channel ch of typ.
func (b *Bench) made(typ, ch string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.madeChannels = append(b.madeChannels, [2]string{typ, ch})
}

// deleteChannels deletes the channels the run sent to, unless --keep, with
// every client at once.
func (b *Bench) deleteChannels(clients []*client.Client) {
	if b.cfg.Keep {
		return
	}
	var next, failed atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	todo := b.madeChannels
	total := int64(len(todo))
	for _, c := range clients {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < total; i = next.Add(1) - 1 {
				typ, ch := todo[i][0], todo[i][1]
				ctx, cancel := context.WithTimeout(b.life, b.cfg.Timeout)
				err := client.DeleteChannel(ctx, c, b.cfg.ClientID, ch, typ)
				cancel()
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s channel %s: %w", typ, ch, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.warnings = append(b.warnings, fmt.Sprintf("delete %d of %d channels failed; first: %s", failed.Load(), total, oneLine(first)))
	}
}
