package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
)

func TestEventsSendAndSubscribe(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		ch := uniq("events")
		errCh := make(chan error, 10)
		events, err := c.SubscribeToEvents(ctx, ch, "", errCh)
		if err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, events, func() error { return c.E().SetChannel(ch).SetMetadata("probe").Send(ctx) })
		err = c.E().SetId("ev-1").SetChannel(ch).SetMetadata("m").SetBody([]byte("hello")).
			AddTag("a", "1").SetTags(map[string]string{"k": "v"}).AddTag("x", "y").Send(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ev := recv(t, events, 5*time.Second)
		for ev.Metadata == "probe" {
			ev = recv(t, events, 5*time.Second)
		}
		if ev.Id != "ev-1" || ev.Channel != ch || ev.Metadata != "m" || string(ev.Body) != "hello" {
			t.Fatalf("event %v", ev)
		}
		if len(ev.Tags) != 2 || ev.Tags["k"] != "v" || ev.Tags["x"] != "y" {
			t.Fatalf("tags %v", ev.Tags)
		}
		if ev.String() == "" {
			t.Fatal("String empty")
		}
	})
}

func TestEventsSubscriptionEndsWithContext(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx, cancel := context.WithCancel(context.Background())
		events, err := c.SubscribeToEvents(ctx, uniq("events"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		closed(t, events, 5*time.Second)
	})
}

func TestEventsSendErrors(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		err := c.E().SetChannel("bad channel").SetBody([]byte("x")).Send(ctx)
		if !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("want ErrInvalidArgument, got %v", err)
		}
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Message != "Error 108: invalid channel value, no white spaces are allowed" {
			t.Fatalf("error %#v", err)
		}
		if err := client.NewEvent().SetChannel("x").Send(ctx); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound event: %v", err)
		}
		if err := c.SetEvent(client.NewEvent().SetChannel(uniq("e")).SetBody([]byte("x"))).Send(ctx); err != nil {
			t.Fatalf("bound event: %v", err)
		}
	})
}

func TestEventsGroupsAndWildcards(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		base := uniq("wild")
		all, err := c.SubscribeToEventsWithRequest(ctx, &client.EventsSubscription{Channel: base + ".>"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		g1, err := c.SubscribeToEvents(ctx, base+".*", "g", nil)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := c.SubscribeToEvents(ctx, base+".a", "g", nil)
		if err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, all, func() error { return c.E().SetChannel(base + ".probe").SetMetadata("p").Send(ctx) })
		// Let the group members register too.
		eventually(t, 5*time.Second, func() error {
			if err := c.E().SetChannel(base + ".a").SetMetadata("p").Send(ctx); err != nil {
				return err
			}
			select {
			case <-g1:
				return nil
			case <-g2:
				return nil
			case <-time.After(100 * time.Millisecond):
				return errors.New("group not subscribed")
			}
		})
		drain := func() {
			for {
				select {
				case <-all:
				case <-g1:
				case <-g2:
				case <-time.After(200 * time.Millisecond):
					return
				}
			}
		}
		drain()
		const n = 20
		for i := 0; i < n; i++ {
			if err := c.E().SetChannel(base + ".a").SetMetadata("real").Send(ctx); err != nil {
				t.Fatal(err)
			}
		}
		gotAll, gotGroup := 0, 0
		timeout := time.After(5 * time.Second)
		for gotAll < n || gotGroup < n {
			select {
			case ev := <-all:
				if ev.Channel != base+".a" {
					t.Fatalf("wildcard event channel %q", ev.Channel)
				}
				gotAll++
			case <-g1:
				gotGroup++
			case <-g2:
				gotGroup++
			case <-timeout:
				t.Fatalf("all %d, group %d of %d", gotAll, gotGroup, n)
			}
		}
		noRecv(t, g1, 100*time.Millisecond) // each event went to one member only
		noRecv(t, g2, 100*time.Millisecond)
	})
}

func TestStreamEvents(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		ch := uniq("stream")
		events, err := c.SubscribeToEvents(ctx, ch, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, events, func() error { return c.E().SetChannel(ch).SetMetadata("probe").Send(ctx) })
		streamCtx, stop := context.WithCancel(ctx)
		in := make(chan *client.Event)
		errCh := make(chan error, 10)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.StreamEvents(streamCtx, in, errCh)
		}()
		for i := 0; i < 5; i++ {
			in <- c.E().SetChannel(ch).SetMetadata("streamed")
		}
		in <- c.E().SetChannel(ch + " bad").SetId("bad-1").SetMetadata("x")
		err = recv(t, errCh, 5*time.Second)
		if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "bad-1") {
			t.Fatalf("stream error %v", err)
		}
		for got := 0; got < 5; {
			if ev := recv(t, events, 5*time.Second); ev.Metadata == "streamed" {
				got++
			}
		}
		stop()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("StreamEvents did not return after its context ended")
		}
		// A closed input channel ends it too.
		in2 := make(chan *client.Event)
		close(in2)
		c.StreamEvents(ctx, in2, nil)
	})
}

func TestEventsClientSendStreamSubscribe(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		ctx := testCtx(t, 10*time.Second)
		ec, err := client.NewEventsClient(ctx, tr.addr(srv, client.WithClientId("ec"))...)
		if err != nil {
			t.Fatal(err)
		}
		defer ec.Close()
		ch := uniq("ec")
		got := make(chan *client.Event, 100)
		errs := make(chan error, 100)
		err = ec.Subscribe(ctx, &client.EventsSubscription{Channel: ch}, func(msg *client.Event, err error) {
			if err != nil {
				errs <- err
				return
			}
			got <- msg
		})
		if err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, got, func() error {
			return ec.Send(ctx, &client.Event{Channel: ch, Metadata: "probe"})
		})
		send, err := ec.Stream(ctx, func(err error) { errs <- err })
		if err != nil {
			t.Fatal(err)
		}
		if err := send(&client.Event{Channel: ch, Metadata: "streamed"}); err != nil {
			t.Fatal(err)
		}
		for ev := recv(t, got, 5*time.Second); ev.Metadata != "streamed"; ev = recv(t, got, 5*time.Second) {
		}
		if err := send(&client.Event{Channel: "bad channel", Metadata: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := recv(t, errs, 5*time.Second); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("stream error %v", err)
		}
		if err := ec.Subscribe(ctx, &client.EventsSubscription{}, func(*client.Event, error) {}); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("subscribe without channel: %v", err)
		}
		if err := ec.Subscribe(ctx, &client.EventsSubscription{Channel: "x"}, nil); err == nil {
			t.Fatal("subscribe without callback")
		}
		if _, err := ec.Stream(ctx, nil); err == nil {
			t.Fatal("stream without callback")
		}
	})
}
