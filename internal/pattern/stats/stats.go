// Package stats keeps per-channel traffic counters for every pattern:
// messages and bytes in and out, responses, expired messages, the time of
// the last activity and the number of active subscribers. The pattern
// services count; channel management reads and persists them. A nil
// *Registry is valid and counts nothing.
package stats

import (
	"encoding/json"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Channel types, as KubeMQ names them in channel management.
const (
	Queues      = "queues"
	Events      = "events"
	EventsStore = "events_store"
	Commands    = "commands"
	Queries     = "queries"
)

// Counters are one channel's counters.
type Counters struct {
	InMessages   atomic.Int64
	InBytes      atomic.Int64
	OutMessages  atomic.Int64
	OutBytes     atomic.Int64
	Responses    atomic.Int64
	Expired      atomic.Int64
	DeadLettered atomic.Int64 // moved to a dead-letter queue
	LastActivity atomic.Int64 // Unix ms
	Active       atomic.Int64 // subscribers and receivers now
}

func (c *Counters) touch() { c.LastActivity.Store(time.Now().UnixMilli()) }

// Registry holds the counters of every channel.
type Registry struct {
	mu    sync.RWMutex
	m     map[key]*Counters // looked up without allocating on every message
	dirty atomic.Bool
	cl    clients // the per-client breakdown, for metrics
}

type key struct{ kind, channel string }

// New returns an empty registry.
func New() *Registry { return &Registry{m: map[key]*Counters{}} }

// Get returns the counters of a channel, creating them.
func (r *Registry) Get(kind, channel string) *Counters {
	k := key{kind, channel}
	r.mu.RLock()
	c := r.m[k]
	r.mu.RUnlock()
	if c != nil {
		return c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c = r.m[k]; c == nil {
		c = &Counters{}
		r.m[k] = c
	}
	return c
}

// Lookup returns the counters of a channel, or nil.
func (r *Registry) Lookup(kind, channel string) *Counters {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[key{kind, channel}]
}

// In counts a message of size bytes sent to a channel by client.
func (r *Registry) In(kind, channel, client string, bytes int) {
	if r == nil {
		return
	}
	r.cl.count(ClientKey{kind, Send, channel, client}, bytes)
	c := r.Get(kind, channel)
	c.InMessages.Add(1)
	c.InBytes.Add(int64(bytes))
	c.touch()
	r.dirty.Store(true)
}

// Out counts a message of size bytes delivered from a channel to client.
func (r *Registry) Out(kind, channel, client string, bytes int) {
	if r == nil {
		return
	}
	r.cl.count(ClientKey{kind, Receive, channel, client}, bytes)
	c := r.Get(kind, channel)
	c.OutMessages.Add(1)
	c.OutBytes.Add(int64(bytes))
	c.touch()
	r.dirty.Store(true)
}

// Response counts a response to a command or query, from client (the
// responder; "" for a cached one).
func (r *Registry) Response(kind, channel, client string) {
	if r == nil {
		return
	}
	r.cl.count(ClientKey{Responses, Send, channel, client}, 0)
	c := r.Get(kind, channel)
	c.Responses.Add(1)
	c.touch()
	r.dirty.Store(true)
}

// Expire counts an expired message.
func (r *Registry) Expire(kind, channel string) {
	if r == nil {
		return
	}
	c := r.Get(kind, channel)
	c.Expired.Add(1)
	r.dirty.Store(true)
}

// DeadLetter counts a queue message moved to its dead-letter queue.
func (r *Registry) DeadLetter(kind, channel string) {
	if r == nil {
		return
	}
	r.Get(kind, channel).DeadLettered.Add(1)
	r.dirty.Store(true)
}

// Subscribed counts an active subscriber or receiver, client, until the
// returned function is called.
func (r *Registry) Subscribed(kind, channel, client string) (done func()) {
	if r == nil {
		return func() {}
	}
	c := r.Get(kind, channel)
	c.Active.Add(1)
	c.touch()
	cc := r.cl.get(ClientKey{kind, Receive, channel, client})
	cc.Active.Add(1)
	cc.LastSeen.Store(time.Now().UnixMilli())
	var once sync.Once
	return func() {
		once.Do(func() {
			c.Active.Add(-1)
			cc.Active.Add(-1)
			cc.LastSeen.Store(time.Now().UnixMilli())
		})
	}
}

// Touch records activity on a channel (and makes it known).
func (r *Registry) Touch(kind, channel string) {
	if r == nil {
		return
	}
	r.Get(kind, channel).touch()
	r.dirty.Store(true)
}

// Delete forgets a channel.
func (r *Registry) Delete(kind, channel string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	delete(r.m, key{kind, channel})
	r.mu.Unlock()
	r.cl.deleteChannel(kind, channel)
	r.dirty.Store(true)
}

// Entry is a channel's counters as data.
type Entry struct {
	Kind         string `json:"kind"`
	Channel      string `json:"channel"`
	InMessages   int64  `json:"in_messages"`
	InBytes      int64  `json:"in_bytes"`
	OutMessages  int64  `json:"out_messages"`
	OutBytes     int64  `json:"out_bytes"`
	Responses    int64  `json:"responses"`
	Expired      int64  `json:"expired"`
	DeadLettered int64  `json:"dead_lettered,omitempty"`
	LastActivity int64  `json:"last_activity"`
	Active       int64  `json:"-"`
}

// Entries returns the counters of every channel of kind ("" = all), sorted.
func (r *Registry) Entries(kind string) []Entry {
	if r == nil {
		return nil
	}
	var out []Entry
	r.mu.RLock()
	defer r.mu.RUnlock()
	for k, c := range r.m {
		if kind != "" && k.kind != kind {
			continue
		}
		out = append(out, Entry{
			Kind: k.kind, Channel: k.channel,
			InMessages: c.InMessages.Load(), InBytes: c.InBytes.Load(),
			OutMessages: c.OutMessages.Load(), OutBytes: c.OutBytes.Load(),
			Responses: c.Responses.Load(), Expired: c.Expired.Load(), DeadLettered: c.DeadLettered.Load(),
			LastActivity: c.LastActivity.Load(), Active: c.Active.Load(),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Channel < out[j].Channel
	})
	return out
}

// Marshal returns the counters as JSON and clears the dirty flag, when
// anything was counted since the last call (changed); otherwise nothing,
// without the cost of encoding every channel's counters.
func (r *Registry) Marshal() (data []byte, changed bool) {
	if !r.dirty.Swap(false) {
		return nil, false
	}
	data, _ = json.Marshal(r.Entries(""))
	return data, true
}

// Load adds counters saved by Marshal (after a restart).
func (r *Registry) Load(data []byte) error {
	var es []Entry
	if err := json.Unmarshal(data, &es); err != nil {
		return err
	}
	for _, e := range es {
		c := r.Get(e.Kind, e.Channel)
		c.InMessages.Add(e.InMessages)
		c.InBytes.Add(e.InBytes)
		c.OutMessages.Add(e.OutMessages)
		c.OutBytes.Add(e.OutBytes)
		c.Responses.Add(e.Responses)
		c.Expired.Add(e.Expired)
		c.DeadLettered.Add(e.DeadLettered)
		if e.LastActivity > c.LastActivity.Load() {
			c.LastActivity.Store(e.LastActivity)
		}
	}
	return nil
}
