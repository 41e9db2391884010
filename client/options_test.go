package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
)

func TestDefaultChannelBufferAndCacheTTL(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		ch := uniq("default")
		c := tr.newClient(t, srv, client.WithDefaultChannel(ch), client.WithReceiveBufferSize(3),
			client.WithDefaultCacheTTL(time.Minute), client.WithKeepalive(0))
		ctx := testCtx(t, 10*time.Second)
		events, err := c.SubscribeToEvents(ctx, ch, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cap(events) != 3 {
			t.Fatalf("buffer %d", cap(events))
		}
		waitSubscribed(t, events, func() error { return c.NewEvent().SetBody([]byte("to the default channel")).Send(ctx) })
		if c.ES().Channel != ch || c.C().Channel != ch || c.Q().Channel != ch || c.Q().CacheTTL != time.Minute {
			t.Fatal("builders ignore the defaults")
		}
		queries, err := c.SubscribeToQueriesWithRequest(ctx, &client.QueriesSubscription{Channel: ch}, nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for q := range queries {
				_ = c.SetResponse(client.NewResponse().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetBody([]byte("v"))).Send(ctx)
			}
		}()
		eventually(t, 5*time.Second, func() error {
			_, err := c.SetQuery(client.NewQuery().SetChannel(ch).SetBody([]byte("probe")).SetTimeout(time.Second)).Send(ctx)
			return err
		})
		key := uniq("k")
		for _, hit := range []bool{false, true} {
			r, err := c.Q().SetBody([]byte("x")).SetCacheKey(key).SetTimeout(time.Second).Send(ctx)
			if err != nil || r.CacheHit != hit {
				t.Fatalf("default TTL cache: %v %v", err, r)
			}
		}
		cmds, err := c.SubscribeToCommands(ctx, ch, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		respondCommands(ctx, c, cmds, func(*client.CommandReceive) error { return nil })
		eventually(t, 5*time.Second, func() error {
			_, err := c.SetCommand(client.NewCommand().SetChannel(ch).SetBody([]byte("x")).SetTimeout(time.Second)).Send(ctx)
			return err
		})
	})
}

func TestWithoutAutoReconnectSubscriptionEnds(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithAutoReconnect(false))
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("noreconnect")
		errCh := make(chan error, 10)
		events, err := c.SubscribeToEvents(ctx, ch, "", errCh)
		if err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, events, func() error { return c.E().SetChannel(ch).SetMetadata("x").Send(ctx) })
		srv.Restart()
		closed(t, events, 10*time.Second)
		if err := recv(t, errCh, time.Second); err == nil || errors.Is(err, client.ErrSubscriptionInterrupted) {
			t.Fatalf("error %v", err)
		}
	})
}

func TestMaxReconnects(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithMaxReconnects(2), client.WithReconnectInterval(100*time.Millisecond))
		ctx := testCtx(t, 20*time.Second)
		errCh := make(chan error, 10)
		events, err := c.SubscribeToEvents(ctx, uniq("max"), "", errCh)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		srv.Stop()
		closed(t, events, 10*time.Second)
		var last error
		for len(errCh) > 0 {
			last = <-errCh
		}
		if last == nil || !strings.Contains(last.Error(), "max reconnects reached") {
			t.Fatalf("last error %v", last)
		}
	})
}

func TestSubscriptionRetriesUntilServerComesUp(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithReconnectInterval(200*time.Millisecond))
		srv.Stop()
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("late")
		errCh := make(chan error, 100)
		events, err := c.SubscribeToEvents(ctx, ch, "", errCh)
		if err != nil {
			t.Fatal(err)
		}
		if err := recv(t, errCh, 5*time.Second); !errors.Is(err, client.ErrSubscriptionInterrupted) {
			t.Fatalf("first attempt: %v", err)
		}
		srv.Restart()
		waitSubscribed(t, events, func() error { return c.E().SetChannel(ch).SetMetadata("x").Send(ctx) })
	})
}

func TestTraceIsAccepted(t *testing.T) {
	t.Parallel()
	tr := client.CreateTrace("span").AddStringAttribute("a", "b").AddInt64Attribute("n", 1).
		AddBoolAttribute("ok", true).AddAnnotation(time.Now(), "note")
	if tr.Name != "span" {
		t.Fatal(tr.Name)
	}
	srv := newServer(t)
	c := newClient(t, srv)
	if c.QM().AddTrace("q") == nil || c.RQM().AddTrace("r") == nil || c.AQM().AddTrace("a") == nil {
		t.Fatal("AddTrace")
	}
	_ = context.Background()
}
