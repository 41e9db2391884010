package netchan_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
	"github.com/heraldmq/herald/client"
)

// dial connects a netchan client to srv; it is closed when the test ends.
func dial(t *testing.T, srv *adaptertest.Server, opts ...netchan.Option) *netchan.Client {
	t.Helper()
	all := append([]netchan.Option{
		netchan.WithAddresses(srv.Addr),
		netchan.WithPublishTimeout(20 * time.Second),
	}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := netchan.Dial(ctx, all...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// readN reads n values from view (payloads or messages), failing t if the
// view closes or ctx ends first.
func readN[T any](t *testing.T, ctx context.Context, view <-chan T, n int) []T {
	t.Helper()
	var out []T
	for len(out) < n {
		select {
		case m, ok := <-view:
			if !ok {
				t.Fatalf("view closed after %d of %d messages", len(out), n)
			}
			out = append(out, m)
		case <-ctx.Done():
			t.Fatalf("read %d of %d messages: %v", len(out), n, ctx.Err())
		}
	}
	return out
}

// expectClosed waits for view to close, failing t on an extra message.
func expectClosed[T any](t *testing.T, ctx context.Context, view <-chan T) {
	t.Helper()
	select {
	case m, ok := <-view:
		if ok {
			t.Fatalf("unexpected message %v; want the view closed", m)
		}
	case <-ctx.Done():
		t.Fatalf("view not closed: %v", ctx.Err())
	}
}

// expectNothing fails t if view yields a message within d.
func expectNothing[T any](t *testing.T, view <-chan T, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-view:
		if ok {
			t.Fatalf("unexpected message %v", m)
		}
		t.Fatalf("view closed unexpectedly")
	case <-time.After(d):
	}
}

func line(i int) []byte {
	if i == 0 {
		return []byte{}
	}
	return []byte(fmt.Sprintf("line %d", i))
}

// publishN publishes line(from)…line(to-1).
func publishN(t *testing.T, p *netchan.PubChannel, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := p.Publish(line(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// rawClient is a Herald SDK client on srv.
func rawClient(t *testing.T, srv *adaptertest.Server) *client.Client {
	t.Helper()
	return srv.Client(t)
}

// rawRead subscribes to the events-store channel ch from the first message
// and returns everything until no message came for idle.
func rawRead(t *testing.T, c *client.Client, ch string, idle time.Duration) []*client.EventStoreReceive {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := c.SubscribeToEventsStoreWithRequest(ctx, &client.EventsStoreSubscription{
		Channel: ch, ClientId: adaptertest.UniqueName("raw"), SubscriptionType: client.StartFromFirstEvent()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []*client.EventStoreReceive
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return out
			}
			out = append(out, m)
		case <-time.After(idle):
			cancel()
			for range msgs {
			}
			return out
		}
	}
}

func isErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
