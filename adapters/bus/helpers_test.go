package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/bus"
)

// herald returns AssumeHerald's value: nil detects, otherwise a pointer.
func herald(v bool) *bool { return &v }

// variants are the two ways every path-sensitive test runs: Herald detected
// (acked group reads) and AssumeHerald(false) (the portable fallback).
var variants = []struct {
	name   string
	assume *bool
}{{"Herald", nil}, {"Portable", herald(false)}}

// open connects cfg to srv with test-friendly timings; the handle is closed
// when the test ends.
func open(t *testing.T, srv *adaptertest.Server, cfg bus.MsgBusConfig) *bus.Conn {
	t.Helper()
	cfg.Host, cfg.Port = srv.Host, srv.Port
	if cfg.ClientID == "" {
		cfg.ClientID = adaptertest.UniqueName("bus-test")
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 20 * time.Second
	}
	if cfg.Visibility == 0 {
		cfg.Visibility = 4 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := bus.ConnectContext(ctx, cfg)
	if err != nil {
		t.Fatalf("connect %+v: %v", cfg.Direction, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func msg(i int) string { return "message " + strconv.Itoa(i) }

func writeN(t *testing.T, ctx context.Context, w *bus.Conn, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := w.MessageWriteContext(ctx, msg(i)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

func readN(t *testing.T, ctx context.Context, r *bus.Conn, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for len(out) < n {
		m, err := r.MessageReadContext(ctx)
		if err != nil {
			t.Fatalf("read %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, m)
	}
	return out
}

func want(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, msg(i))
	}
	return out
}

// expectNothing fails t if r yields a message within d.
func expectNothing(t *testing.T, r *bus.Conn, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if m, err := r.MessageReadContext(ctx); err == nil {
		t.Fatalf("unexpected message %q", m)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline", err)
	}
}

func sameSet(a, b []string) error {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return fmt.Errorf("got %d messages %.300q, want %d %.300q", len(a), a, len(b), b)
	}
	return nil
}
