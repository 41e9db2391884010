package requests

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/engine"
)

// responder answers every request at once with resp.
type responder struct{ resp *Response }

func (r responder) Request(_ context.Context, _ string, data []byte) ([]byte, error) {
	var req Request
	if err := req.decode(data); err != nil {
		return nil, err
	}
	out := *r.resp
	out.RequestID = req.ID
	return out.encode(), nil
}
func (responder) Reply(string, []byte) error { return nil }
func (responder) Subscribe(string, string, func(engine.Msg)) (engine.Sub, error) {
	return nil, nil
}

// cache records what is written and serves it back.
type cache struct {
	mu   sync.Mutex
	m    map[string][]byte
	ttls []time.Duration
}

func (c *cache) Get(_ context.Context, k string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok, nil
}

func (c *cache) Create(_ context.Context, k string, v []byte, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		c.m[k] = v
		c.ttls = append(c.ttls, ttl)
	}
	return nil
}

// The query cache keeps an executed answer for its CacheTTL, capped by
// the server's maximum, and answers the same key from it (CacheHit);
// answers that failed, commands and queries without a key are never cached.
func TestQueryCache(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kind     Kind
		key      string
		ttl      time.Duration
		resp     Response
		wantTTLs []time.Duration
		wantHit  bool
	}{
		{"cached for its ttl", Query, "k", 10 * time.Second, Response{ClientID: "r", Executed: true, Body: []byte("v")}, []time.Duration{10 * time.Second}, true},
		{"capped by the maximum", Query, "k", time.Hour, Response{ClientID: "r", Executed: true, Body: []byte("v")}, []time.Duration{time.Minute}, true},
		{"not executed", Query, "k", 10 * time.Second, Response{ClientID: "r", Executed: false, Error: "no"}, nil, false},
		{"with an error", Query, "k", 10 * time.Second, Response{ClientID: "r", Executed: true, Error: "half"}, nil, false},
		{"no key", Query, "", 0, Response{ClientID: "r", Executed: true}, nil, false},
		{"a command", Command, "k", 10 * time.Second, Response{ClientID: "r", Executed: true}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cache{m: map[string][]byte{}}
			s := New(responder{&tc.resp}, c, Config{CacheMaxTTL: time.Minute})
			req := func() *Response {
				r, err := s.Send(context.Background(), &Request{Kind: tc.kind, ClientID: "q", Channel: "prices", Body: []byte("?"),
					Timeout: time.Second, CacheKey: tc.key, CacheTTL: tc.ttl})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			if first := req(); first.CacheHit {
				t.Fatal("the first answer came from the cache")
			}
			if len(c.ttls) != len(tc.wantTTLs) || len(c.ttls) > 0 && c.ttls[0] != tc.wantTTLs[0] {
				t.Fatalf("cache writes with ttls %v, want %v", c.ttls, tc.wantTTLs)
			}
			if second := req(); second.CacheHit != tc.wantHit {
				t.Fatalf("second answer CacheHit %v, want %v", second.CacheHit, tc.wantHit)
			}
		})
	}
}
