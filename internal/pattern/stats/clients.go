package stats

import (
	"sync"
	"sync/atomic"
	"time"
)

// Sides of a message, as KubeMQ's metrics label them.
const (
	Send    = "send"
	Receive = "receive"
)

// Responses is the kind KubeMQ's metrics give responses to commands and
// queries.
const Responses = "responses"

// ClientKey names one client's traffic on one channel, one way.
type ClientKey struct {
	Kind, Side, Channel, Client string
}

// ClientCounters are one client's counters on a channel.
type ClientCounters struct {
	Messages atomic.Int64
	Bytes    atomic.Int64
	Errors   atomic.Int64
	LastSeen atomic.Int64 // Unix ms
	Active   atomic.Int64 // subscriptions open now
}

// clients is the per-client breakdown of a Registry, kept in memory only
// (the metrics read it). It is bounded: MaxClientSeries keys at most, after
// which new clients are counted under the client "" of their channel, and
// Sweep folds idle clients into "" too.
type clients struct {
	mu sync.RWMutex
	m  map[ClientKey]*ClientCounters
}

// MaxClientSeries bounds the (kind, side, channel, client) keys kept.
const MaxClientSeries = 50000

func (c *clients) get(k ClientKey) *ClientCounters {
	c.mu.RLock()
	cc := c.m[k]
	c.mu.RUnlock()
	if cc != nil {
		return cc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[ClientKey]*ClientCounters{}
	}
	if cc = c.m[k]; cc != nil {
		return cc
	}
	if len(c.m) >= MaxClientSeries && k.Client != "" {
		k.Client = ""
		if cc = c.m[k]; cc != nil {
			return cc
		}
	}
	cc = &ClientCounters{}
	c.m[k] = cc
	return cc
}

func (c *clients) count(k ClientKey, bytes int) {
	cc := c.get(k)
	cc.Messages.Add(1)
	cc.Bytes.Add(int64(bytes))
	cc.LastSeen.Store(time.Now().UnixMilli())
}

// ClientEntry is one key's counters as data.
type ClientEntry struct {
	ClientKey
	Messages, Bytes, Errors, LastSeen, Active int64
}

// Clients returns the per-client counters.
func (r *Registry) Clients() []ClientEntry {
	if r == nil {
		return nil
	}
	r.cl.mu.RLock()
	defer r.cl.mu.RUnlock()
	out := make([]ClientEntry, 0, len(r.cl.m))
	for k, c := range r.cl.m {
		out = append(out, ClientEntry{ClientKey: k, Messages: c.Messages.Load(), Bytes: c.Bytes.Load(),
			Errors: c.Errors.Load(), LastSeen: c.LastSeen.Load(), Active: c.Active.Load()})
	}
	return out
}

// Error counts a failed send, a request answered as not executed, or a
// failed response.
func (r *Registry) Error(kind, side, channel, client string) {
	if r == nil {
		return
	}
	cc := r.cl.get(ClientKey{kind, side, channel, client})
	cc.Errors.Add(1)
	cc.LastSeen.Store(time.Now().UnixMilli())
}

// Sweep folds the counters of clients without an open subscription and
// idle since before idle ago into the client "" of their channel, so that
// gone clients leave no series behind.
func (r *Registry) Sweep(idle time.Duration) {
	if r == nil {
		return
	}
	cut := time.Now().Add(-idle).UnixMilli()
	r.cl.mu.Lock()
	defer r.cl.mu.Unlock()
	for k, c := range r.cl.m {
		if k.Client == "" || c.Active.Load() > 0 || c.LastSeen.Load() > cut {
			continue
		}
		delete(r.cl.m, k)
		agg := ClientKey{k.Kind, k.Side, k.Channel, ""}
		a := r.cl.m[agg]
		if a == nil {
			a = &ClientCounters{}
			r.cl.m[agg] = a
		}
		a.Messages.Add(c.Messages.Load())
		a.Bytes.Add(c.Bytes.Load())
		a.Errors.Add(c.Errors.Load())
		if ls := c.LastSeen.Load(); ls > a.LastSeen.Load() {
			a.LastSeen.Store(ls)
		}
	}
}

// deleteClients forgets every client counter of a channel.
func (c *clients) deleteChannel(kind, channel string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.Channel == channel && (k.Kind == kind || kind == Commands && k.Kind == Responses || kind == Queries && k.Kind == Responses) {
			delete(c.m, k)
		}
	}
}
