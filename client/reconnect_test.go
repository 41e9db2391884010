package client_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
)

// TestReconnectResubscribesAfterRestart restarts the broker under live
// subscriptions of every kind: each reports the interruption on its error
// channel, re-subscribes, and keeps delivering on the same channel.
func TestReconnectResubscribesAfterRestart(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithReconnectInterval(300*time.Millisecond))
		ctx := testCtx(t, 30*time.Second)
		evCh, storeCh, cmdCh, qCh := uniq("rc.ev"), uniq("rc.store"), uniq("rc.cmd"), uniq("rc.q")

		evErrs, storeErrs, cmdErrs, qErrs := make(chan error, 100), make(chan error, 100), make(chan error, 100), make(chan error, 100)
		events, err := c.SubscribeToEvents(ctx, evCh, "", evErrs)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := c.SubscribeToEventsStore(ctx, storeCh, "", storeErrs, client.StartFromFirstEvent())
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := c.SubscribeToCommands(ctx, cmdCh, "", cmdErrs)
		if err != nil {
			t.Fatal(err)
		}
		queries, err := c.SubscribeToQueries(ctx, qCh, "", qErrs)
		if err != nil {
			t.Fatal(err)
		}
		// Responders answer whatever they receive.
		go func() {
			for cmd := range cmds {
				_ = c.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).SetExecutedAt(time.Now()).Send(ctx)
			}
		}()
		go func() {
			for q := range queries {
				_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetBody(q.Body).Send(ctx)
			}
		}()
		checkAll := func(round string) {
			t.Helper()
			waitSubscribed(t, events, func() error { return c.E().SetChannel(evCh).SetMetadata(round).Send(ctx) })
			eventually(t, 10*time.Second, func() error {
				_, err := c.C().SetChannel(cmdCh).SetMetadata(round).SetTimeout(time.Second).Send(ctx)
				return err
			})
			eventually(t, 10*time.Second, func() error {
				r, err := c.Q().SetChannel(qCh).SetBody([]byte(round)).SetTimeout(time.Second).Send(ctx)
				if err == nil && string(r.Body) != round {
					return fmt.Errorf("body %q", r.Body)
				}
				return err
			})
		}
		sendStored := func(from, to int) {
			t.Helper()
			for i := from; i <= to; i++ {
				eventually(t, 10*time.Second, func() error {
					r, err := c.ES().SetChannel(storeCh).SetBody(fmt.Appendf(nil, "%d", i)).Send(ctx)
					if err == nil && !r.Sent {
						return r.Err
					}
					return err
				})
			}
		}
		expectStored := func(from, to int) {
			t.Helper()
			for i := from; i <= to; i++ {
				ev := recv(t, stored, 10*time.Second)
				if string(ev.Body) != fmt.Sprint(i) || ev.Sequence != uint64(i) {
					t.Fatalf("stored event: want %d, got seq %d body %q", i, ev.Sequence, ev.Body)
				}
			}
		}

		checkAll("before")
		sendStored(1, 3)
		expectStored(1, 3)

		srv.Restart()

		// Every subscription was told about the interruption.
		for name, errs := range map[string]chan error{"events": evErrs, "store": storeErrs, "commands": cmdErrs, "queries": qErrs} {
			select {
			case err := <-errs:
				if !errors.Is(err, client.ErrSubscriptionInterrupted) {
					t.Fatalf("%s: error %v is not ErrSubscriptionInterrupted", name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: no interruption reported", name)
			}
		}
		checkAll("after")
		sendStored(4, 6)
		expectStored(4, 6) // resumed after 3: nothing lost, nothing repeated
		noRecv(t, stored, 200*time.Millisecond)
	})
}

// TestStateFollowsTheConnection: State is connected while the server
// answers, reconnecting while it is down (calls then fail with
// ErrUnavailable), connected again after it is back, closed after Close.
func TestStateFollowsTheConnection(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithReconnectInterval(200*time.Millisecond))
		ctx := testCtx(t, 30*time.Second)
		if _, err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if s := c.State(); s != client.StateConnected {
			t.Fatalf("state %v after a ping", s)
		}
		srv.Stop()
		eventually(t, 10*time.Second, func() error {
			_, err := c.Ping(ctx)
			if !errors.Is(err, client.ErrUnavailable) {
				return fmt.Errorf("ping on a stopped server: %w", err)
			}
			if s := c.State(); s != client.StateReconnecting {
				return fmt.Errorf("state %v while the server is down", s)
			}
			return nil
		})
		srv.Restart()
		eventually(t, 10*time.Second, func() error {
			if _, err := c.Ping(ctx); err != nil {
				return err
			}
			if s := c.State(); s != client.StateConnected {
				return fmt.Errorf("state %v after the restart", s)
			}
			return nil
		})
		_ = c.Close()
		if s := c.State(); s != client.StateClosed || s.String() != "closed" {
			t.Fatalf("state %v after Close", s)
		}
	})
}
