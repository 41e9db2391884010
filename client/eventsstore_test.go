package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
)

// storeN stores n events with bodies "1" … "n" and returns their results.
func storeN(t *testing.T, c *client.Client, ch string, from, to int) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	for i := from; i <= to; i++ {
		res, err := c.ES().SetChannel(ch).SetBody(fmt.Appendf(nil, "%d", i)).Send(ctx)
		if err != nil || !res.Sent || res.Err != nil || res.Id == "" {
			t.Fatalf("store %d: %v %+v", i, err, res)
		}
	}
}

func expectSeq(t *testing.T, ch <-chan *client.EventStoreReceive, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		ev := recv(t, ch, 5*time.Second)
		if ev.Sequence != uint64(i) || string(ev.Body) != fmt.Sprint(i) {
			t.Fatalf("want %d, got seq %d body %q", i, ev.Sequence, ev.Body)
		}
	}
}

func TestEventsStoreSendAndStartPositions(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("store")
		before := time.Now()
		storeN(t, c, ch, 1, 3)
		time.Sleep(20 * time.Millisecond)
		middle := time.Now()
		storeN(t, c, ch, 4, 5)

		res, err := c.ES().SetId("my-id").SetChannel(ch).SetMetadata("m").SetBody([]byte("6")).
			AddTag("a", "b").SetTags(map[string]string{"t": "1"}).SetClientId("other").Send(ctx)
		if err != nil || !res.Sent || res.Id != "my-id" {
			t.Fatalf("send: %v %+v", err, res)
		}

		cases := []struct {
			name  string
			opt   client.SubscriptionOption
			first int
		}{
			{"first", client.StartFromFirstEvent(), 1},
			{"last", client.StartFromLastEvent(), 6},
			{"sequence", client.StartFromSequence(3), 3},
			{"time", client.StartFromTime(middle), 4},
			{"time delta", client.StartFromTimeDelta(time.Hour), 1},
		}
		for _, tc := range cases {
			sub, err := c.SubscribeToEventsStoreWithRequest(ctx, &client.EventsStoreSubscription{
				Channel: ch, ClientId: uniq("sub"), SubscriptionType: tc.opt,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ev := recv(t, sub, 5*time.Second)
			if ev.Sequence != uint64(tc.first) {
				t.Fatalf("%s: first sequence %d, want %d", tc.name, ev.Sequence, tc.first)
			}
			if ev.Channel != ch || ev.Timestamp.Before(before.Add(-time.Second)) || ev.Timestamp.After(time.Now()) {
				t.Fatalf("%s: event %v", tc.name, ev)
			}
			if tc.first == 6 && (ev.Id != "my-id" || ev.Metadata != "m" || ev.Tags["t"] != "1" || len(ev.Tags) != 1) {
				t.Fatalf("%s: event %v", tc.name, ev)
			}
		}
		// New events only: nothing until the next one.
		sub, err := c.SubscribeToEventsStore(ctx, ch, "", nil, client.StartFromNewEvents())
		if err != nil {
			t.Fatal(err)
		}
		got := waitSubscribed(t, sub, func() error {
			_, err := c.ES().SetChannel(ch).SetBody([]byte("new")).Send(ctx)
			return err
		})
		if got.Sequence < 7 || string(got.Body) != "new" {
			t.Fatalf("new-only: %v", got)
		}
	})
}

func TestEventsStoreSubscriptionIsDurable(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithClientId("durable"))
		ch := uniq("durable")
		storeN(t, c, ch, 1, 3)
		ctx, cancel := context.WithCancel(context.Background())
		sub, err := c.SubscribeToEventsStore(ctx, ch, "", nil, client.StartFromFirstEvent())
		if err != nil {
			t.Fatal(err)
		}
		expectSeq(t, sub, 1, 3)
		cancel()
		closed(t, sub, 5*time.Second)
		storeN(t, c, ch, 4, 5)
		// Same client id and channel: resumes after 3 whatever the start
		// asks. The server learns asynchronously that the first
		// subscription ended (server races, see the report of the REST
		// transport): until it does, events stored meanwhile may still be
		// written to the departed subscription, and a new subscription
		// counts as a second, concurrent one, served from its own start.
		// So: subscribe, store one more event, and expect it without any
		// replay of 1…3; on a replay, try again.
		last := 5
		eventually(t, 10*time.Second, func() error {
			ctx2, cancel2 := context.WithCancel(context.Background())
			t.Cleanup(cancel2)
			sub2, err := c.SubscribeToEventsStore(ctx2, ch, "", nil, client.StartFromFirstEvent())
			if err != nil {
				return err
			}
			last++
			storeN(t, c, ch, last, last)
			for {
				ev := recv(t, sub2, 5*time.Second)
				if ev.Sequence <= 3 {
					cancel2()
					closed(t, sub2, 5*time.Second)
					return fmt.Errorf("replayed from %d", ev.Sequence)
				}
				if ev.Sequence == uint64(last) {
					return nil
				}
			}
		})
	})
}

func TestEventsStoreSubscribeErrors(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		if _, err := c.SubscribeToEventsStore(ctx, uniq("x"), "", nil, nil); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("no start: %v", err)
		}
		if _, err := c.SubscribeToEventsStore(ctx, "", "", nil, client.StartFromFirstEvent()); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("no channel: %v", err)
		}
		// Refused by the server: reported on errCh, then the channel closes.
		errCh := make(chan error, 1)
		sub, err := c.SubscribeToEventsStore(ctx, uniq("x")+".*", "", errCh, client.StartFromFirstEvent())
		if err != nil {
			t.Fatal(err)
		}
		closed(t, sub, 5*time.Second)
		if err := recv(t, errCh, time.Second); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("wildcard: %v", err)
		}
		// A group Herald refuses (white space) ends the subscription too,
		// instead of being retried.
		errCh = make(chan error, 100)
		sub, err = c.SubscribeToEventsStore(ctx, uniq("x"), "a b", errCh, client.StartFromFirstEvent())
		if err != nil {
			t.Fatal(err)
		}
		closed(t, sub, 5*time.Second)
		if err := recv(t, errCh, time.Second); !errors.Is(err, client.ErrInvalidArgument) || errors.Is(err, client.ErrSubscriptionInterrupted) {
			t.Fatalf("group with white space: %v", err)
		}
		if _, err := client.NewEventStore().SetChannel("x").Send(ctx); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound: %v", err)
		}
		res, err := c.SetEventStore(client.NewEventStore().SetChannel("a b").SetBody([]byte("x"))).Send(ctx)
		if res != nil || !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("bad channel: %v %v", res, err)
		}
	})
}

func TestStreamEventsStore(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		ch := uniq("sstore")
		in := make(chan *client.EventStore)
		results := make(chan *client.EventStoreResult, 10)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.StreamEventsStore(ctx, in, results, nil)
		}()
		in <- c.ES().SetId("a").SetChannel(ch).SetBody([]byte("1"))
		in <- c.ES().SetChannel(ch).SetBody([]byte("2")) // id generated by the client
		in <- c.ES().SetId("bad").SetChannel(ch + ".*").SetBody([]byte("x"))
		close(in) // ends the stream once every result is in
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("StreamEventsStore did not return")
		}
		got := map[string]*client.EventStoreResult{}
		for len(results) > 0 {
			r := <-results
			got[r.Id] = r
		}
		if len(got) != 3 || !got["a"].Sent || got["bad"].Sent || !errors.Is(got["bad"].Err, client.ErrInvalidArgument) {
			t.Fatalf("results %v", got)
		}
		sub, err := c.SubscribeToEventsStore(ctx, ch, "", nil, client.StartFromFirstEvent())
		if err != nil {
			t.Fatal(err)
		}
		expectSeq(t, sub, 1, 2)
	})
}

func TestEventsStoreClient(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		ctx := testCtx(t, 10*time.Second)
		esc, err := client.NewEventsStoreClient(ctx, tr.addr(srv, client.WithClientId("esc"))...)
		if err != nil {
			t.Fatal(err)
		}
		defer esc.Close()
		ch := uniq("esc")
		res, err := esc.Send(ctx, &client.EventStore{Channel: ch, Metadata: "m", Body: []byte("1")})
		if err != nil || !res.Sent {
			t.Fatalf("send: %v %v", err, res)
		}
		results := make(chan *client.EventStoreResult, 10)
		send, err := esc.Stream(ctx, func(r *client.EventStoreResult, err error) {
			if err == nil {
				results <- r
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := send(&client.EventStore{Id: "s2", Channel: ch, Body: []byte("2")}); err != nil {
			t.Fatal(err)
		}
		if r := recv(t, results, 5*time.Second); r.Id != "s2" || !r.Sent {
			t.Fatalf("stream result %v", r)
		}
		got := make(chan *client.EventStoreReceive, 10)
		err = esc.Subscribe(ctx, &client.EventsStoreSubscription{Channel: ch, SubscriptionType: client.StartFromFirstEvent()},
			func(msg *client.EventStoreReceive, err error) {
				if err == nil {
					got <- msg
				}
			})
		if err != nil {
			t.Fatal(err)
		}
		expectSeq(t, got, 1, 2)
		if err := esc.Subscribe(ctx, &client.EventsStoreSubscription{Channel: ch}, func(*client.EventStoreReceive, error) {}); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("no subscription type: %v", err)
		}
	})
}

// TestEventsStoreSubscriptionEndsWhenChannelDeleted: deleting the channel
// ends a live subscription with ErrChannelDeleted; the SDK does not
// re-subscribe (which would create the channel again).
func TestEventsStoreSubscriptionEndsWhenChannelDeleted(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithReconnectInterval(100*time.Millisecond))
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("es.deleted")
		errCh := make(chan error, 10)
		sub, err := c.SubscribeToEventsStore(ctx, ch, "", errCh, client.StartFromFirstEvent())
		if err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, sub, func() error {
			r, err := c.ES().SetChannel(ch).SetBody([]byte("x")).Send(ctx)
			if err == nil && r.Err != nil {
				err = r.Err
			}
			return err
		})
		if err := c.DeleteChannel(ctx, client.ChannelTypeEventsStore, ch); err != nil {
			t.Fatal(err)
		}
		closed(t, sub, 10*time.Second)
		var last error
		for len(errCh) > 0 {
			last = <-errCh
		}
		if !errors.Is(last, client.ErrChannelDeleted) || errors.Is(last, client.ErrSubscriptionInterrupted) {
			t.Fatalf("last error %v, want ErrChannelDeleted", last)
		}
		list, err := c.ListEventsStoreChannels(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Fatalf("the channel came back: %+v", list)
		}
	})
}
