package queues

import (
	"context"
	"sort"
	"strings"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/registry"
)

// QueueInfo describes one queue channel.
type QueueInfo struct {
	Name          string
	Messages      int64 // ready and in-flight messages (delayed ones wait elsewhere)
	Bytes         int64 // bodies of those messages, estimated from the channel's average
	FirstSequence int64
	LastSequence  int64
	Sent          int64 // messages ever appended: the last sequence
	Delivered     int64 // deliveries handed out
	Waiting       int64 // ready messages not held by a receiver
	Subscribers   int64 // receivers active on this node
}

// Info is the QueuesInfo answer.
type Info struct {
	TotalQueue int32
	Sent       int64
	Delivered  int64
	Waiting    int64
	Queues     []QueueInfo
}

// exactFirsts is the most queues whose first sequence Info reads from the
// engine, one read each; beyond it Info derives it from the last sequence
// and the number of messages held (exact unless messages in the middle of
// a queue were settled before older ones).
const exactFirsts = 1000

// Info lists the queue channels that ever held a message, filtered by
// exact names separated by ";" (empty: all). It reads the engine a fixed
// number of times, and once per listed channel that holds messages (its
// first sequence) when they are at most exactFirsts.
func (s *Service) Info(ctx context.Context, filter string) (*Info, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(filter, ";") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	st, err := s.state(ctx, want)
	if err != nil {
		return nil, err
	}
	var withMsgs []string
	for _, c := range st {
		if c.count > 0 {
			withMsgs = append(withMsgs, c.name)
		}
	}
	var firsts map[string]*engine.RawMsg
	if len(withMsgs) <= exactFirsts {
		if firsts, err = s.log.Firsts(ctx, withMsgs); err != nil {
			return nil, err
		}
	}
	out := &Info{}
	for _, c := range st {
		if c.last == 0 {
			continue // never held a message
		}
		qi := QueueInfo{Name: c.name, Messages: int64(c.count), LastSequence: int64(c.last), Sent: int64(c.last),
			FirstSequence: int64(c.last) - int64(c.count) + 1, Waiting: int64(c.count) - int64(c.leased), Subscribers: int64(c.receivers)}
		if m := firsts[c.name]; m != nil {
			qi.FirstSequence = int64(m.ChanSeq)
		}
		if e := s.cfg.Stats.Lookup(Kind, c.name); e != nil {
			qi.Delivered = e.OutMessages.Load()
			if n := e.InMessages.Load(); n > 0 {
				qi.Bytes = int64(c.count) * e.InBytes.Load() / n
			}
		}
		out.Queues = append(out.Queues, qi)
		out.Sent += qi.Sent
		out.Delivered += qi.Delivered
		out.Waiting += qi.Waiting
	}
	out.TotalQueue = int32(len(out.Queues))
	return out, nil
}

// chanState is what the engine and this node know of a channel now.
type chanState struct {
	name      string
	count     uint64 // messages held (ready and leased)
	last      uint64 // the last sequence handed out
	leased    int    // held by receivers on this node
	receivers int
}

// state reads the state of every existing channel (those in want, when
// it is not empty), by name.
func (s *Service) state(ctx context.Context, want map[string]bool) ([]chanState, error) {
	counts, err := s.log.Counts(ctx)
	if err != nil {
		return nil, err
	}
	written := s.log.LastSeqs()
	var recs []registry.Record
	var unknown []string // channels whose last sequence only their newest message tells
	for _, rec := range s.reg.List(Kind) {
		if len(want) > 0 && !want[rec.Name] {
			continue
		}
		recs = append(recs, rec)
		if written[rec.Name] == 0 && counts[rec.Name] > 0 {
			unknown = append(unknown, rec.Name)
		}
	}
	lasts, err := s.log.Lasts(ctx, unknown)
	if err != nil {
		return nil, err
	}
	var out []chanState
	for _, rec := range recs {
		c := chanState{name: rec.Name, count: counts[rec.Name], last: written[rec.Name]}
		if m := lasts[rec.Name]; m != nil {
			c.last = max(c.last, m.ChanSeq)
		}
		if c.last == 0 {
			c.last = rec.Last // nothing stored since the last start
		}
		s.mu.Lock()
		q := s.queues[rec.Name]
		s.mu.Unlock()
		if q != nil {
			q.mu.Lock()
			c.leased, c.receivers = len(q.leases), q.receivers
			q.mu.Unlock()
		}
		c.leased = min(c.leased, int(c.count))
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// ChannelState is a queue channel's stored state, for channel listings.
type ChannelState struct {
	Channel  string
	Waiting  int64 // ready messages not held by a receiver
	Delayed  int64 // messages waiting for their delay
	Messages int64 // stored messages, delayed ones excluded
}

// Channels lists the queue channels that exist.
func (s *Service) Channels(ctx context.Context) ([]ChannelState, error) {
	st, err := s.state(ctx, nil)
	if err != nil {
		return nil, err
	}
	delayed, err := s.Delayed(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ChannelState, 0, len(st))
	for _, c := range st {
		out = append(out, ChannelState{Channel: c.name, Messages: int64(c.count), Waiting: int64(c.count) - int64(c.leased), Delayed: delayed[c.name]})
	}
	return out, nil
}
