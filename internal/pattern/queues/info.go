package queues

import (
	"context"
	"sort"
	"strings"
)

// QueueInfo describes one queue channel.
type QueueInfo struct {
	Name          string
	Messages      int64 // ready and in-flight messages (delayed ones wait elsewhere)
	Bytes         int64 // bytes of those messages as stored
	FirstSequence int64
	LastSequence  int64
	Sent          int64 // messages ever appended: the last sequence
	Delivered     int64 // deliveries handed out
	Waiting       int64 // ready messages never delivered
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

// Info lists the queue channels holding at least one message, filtered by
// exact names separated by ";" (empty: all).
func (s *Service) Info(ctx context.Context, filter string) (*Info, error) {
	streams, names, err := s.channelStreams(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range strings.Split(filter, ";") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	out := &Info{}
	for i, st := range streams {
		ch := names[i]
		if (len(want) > 0 && !want[ch]) || st.State.LastSeq == 0 {
			continue
		}
		// A queue stream holds only its channel's messages (delays wait in
		// the delay stream), so its state is the channel's.
		qi := QueueInfo{
			Name: ch, Messages: int64(st.State.Msgs), Bytes: int64(st.State.Bytes),
			FirstSequence: int64(st.State.FirstSeq), LastSequence: int64(st.State.LastSeq), Sent: int64(st.State.LastSeq),
		}
		if q, err := s.queue(ctx, ch); err == nil {
			if cs, err := q.cons.Info(ctx); err == nil {
				qi.Delivered, qi.Waiting = int64(cs.Delivered), int64(cs.NumPending)
			}
			q.mu.Lock()
			qi.Subscribers = int64(q.receivers)
			q.mu.Unlock()
		}
		out.Queues = append(out.Queues, qi)
		out.Sent += qi.Sent
		out.Delivered += qi.Delivered
		out.Waiting += qi.Waiting
	}
	sort.Slice(out.Queues, func(i, j int) bool { return out.Queues[i].Name < out.Queues[j].Name })
	out.TotalQueue = int32(len(out.Queues))
	return out, nil
}
