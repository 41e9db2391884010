package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	"github.com/kubemq-io/kubemq-go/common"
	"github.com/kubemq-io/kubemq-go/queues_stream"

	"github.com/heraldmq/herald/server/heraldtest"
)

func findQueue(list []*common.QueuesChannel, name string) *common.QueuesChannel {
	for _, c := range list {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestChannelsQueues: create, list with statistics, delete, through the
// official SDK's channel management calls.
func TestChannelsQueues(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "chan-admin")
	ctx := testCtx(t, 30*time.Second)
	ch := uniq("chq")
	if err := kubemq.CreateChannel(ctx, c, "chan-admin", ch, "queues"); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := kubemq.CreateChannel(ctx, c, "chan-admin", ch, "queues"); err != nil {
		t.Fatalf("create again (idempotent): %v", err)
	}
	list, err := kubemq.ListQueuesChannels(ctx, c, "chan-admin", ch)
	if err != nil {
		t.Fatal(err)
	}
	if got := findQueue(list, ch); got == nil || got.Type != "queues" || got.Incoming.Messages != 0 {
		t.Fatalf("fresh channel in list: %+v", list)
	}
	for _, body := range []string{"aaa", "bbbbb", "c"} {
		if r, err := c.QM().SetChannel(ch).SetBody([]byte(body)).Send(ctx); err != nil || r.IsError {
			t.Fatal(err, r)
		}
	}
	if r, err := c.QM().SetChannel(ch).SetBody([]byte("later")).SetPolicyDelaySeconds(60).Send(ctx); err != nil || r.IsError {
		t.Fatal(err, r)
	}
	r, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(2).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || len(r.Messages) != 2 {
		t.Fatal(err, r)
	}
	var got *common.QueuesChannel
	eventually(t, 5*time.Second, func() error {
		list, err := kubemq.ListQueuesChannels(ctx, c, "chan-admin", ch)
		if err != nil {
			return err
		}
		got = findQueue(list, ch)
		if got == nil || got.Outgoing.Messages != 2 {
			return fmt.Errorf("list: %+v", got)
		}
		return nil
	})
	if got.Incoming.Messages != 4 || got.Incoming.Volume != 3+5+1+5 || got.Outgoing.Volume != 3+5 ||
		got.Outgoing.Waiting != 1 || got.Incoming.Delayed != 1 || got.LastActivity < int(time.Now().Add(-time.Minute).UnixMilli()) {
		t.Fatalf("statistics: %+v", got)
	}
	// search is a substring filter; other names stay out
	other := uniq("other")
	if err := kubemq.CreateChannel(ctx, c, "chan-admin", other, "queues"); err != nil {
		t.Fatal(err)
	}
	list, _ = kubemq.ListQueuesChannels(ctx, c, "chan-admin", ch)
	if findQueue(list, other) != nil || findQueue(list, ch) == nil {
		t.Fatalf("search %q: %+v", ch, list)
	}
	if err := kubemq.DeleteChannel(ctx, c, "chan-admin", ch, "queues"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	list, _ = kubemq.ListQueuesChannels(ctx, c, "chan-admin", "")
	if findQueue(list, ch) != nil {
		t.Fatalf("deleted channel still listed: %+v", list)
	}
	r, err = c.RQM().SetChannel(ch).SetMaxNumberOfMessages(10).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || r.IsError || len(r.Messages) != 0 {
		t.Fatalf("deleted channel still holds messages: %v %+v", err, r)
	}
}

func TestChannelsQueuesStreamClient(t *testing.T) {
	srv := heraldtest.NewServer(t)
	ctx := testCtx(t, 30*time.Second)
	qc, err := queues_stream.NewQueuesStreamClient(ctx, queues_stream.WithAddress(srv.Host, srv.Port), queues_stream.WithClientId("qs-admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	ch := uniq("qsc")
	if err := qc.Create(ctx, ch); err != nil {
		t.Fatal(err)
	}
	list, err := qc.List(ctx, ch)
	if err != nil || len(list) != 1 || list[0].Name != ch {
		t.Fatalf("list: %v %+v", err, list)
	}
	if err := qc.Delete(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if list, err = qc.List(ctx, ch); err != nil || len(list) != 0 {
		t.Fatalf("after delete: %v %+v", err, list)
	}
}

func TestChannelsPubSubAndCQ(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "admin")
	ctx := testCtx(t, 30*time.Second)
	ev, es, cmd, qry := uniq("che"), uniq("ches"), uniq("chc"), uniq("chqry")
	for typ, ch := range map[string]string{"events": ev, "events_store": es, "commands": cmd, "queries": qry} {
		if err := kubemq.CreateChannel(ctx, c, "admin", ch, typ); err != nil {
			t.Fatalf("create %s: %v", typ, err)
		}
	}
	// traffic: 2 stored events (3 and 4 bytes) read by one subscriber
	for _, b := range []string{"one", "four"} {
		if _, err := c.ES().SetChannel(es).SetBody([]byte(b)).Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	errCh := make(chan error, 1)
	sctx, scancel := context.WithCancel(ctx)
	sub, err := c.SubscribeToEventsStore(sctx, es, "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		<-sub
	}
	var found *common.PubSubChannel
	eventually(t, 5*time.Second, func() error {
		list, err := kubemq.ListPubSubChannels(ctx, c, "admin", "events_store", es)
		if err != nil {
			return err
		}
		for _, x := range list {
			if x.Name == es {
				found = x
			}
		}
		if found == nil || found.Outgoing.Messages != 2 || !found.IsActive {
			return fmt.Errorf("events_store list: %+v", found)
		}
		return nil
	})
	if found.Incoming.Messages != 2 || found.Incoming.Volume != 7 || found.Outgoing.Volume != 7 {
		t.Fatalf("events_store statistics: %+v", found)
	}
	// delete under a live subscription: the subscription ends, the events are gone
	if err := kubemq.DeleteChannel(ctx, c, "admin", es, "events_store"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errCh:
		if !strings.Contains(err.Error(), "removed") {
			t.Logf("subscription ended with: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription to a deleted channel did not end")
	}
	scancel()
	replay, err := c.SubscribeToEventsStore(ctx, es, "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-replay:
		t.Fatalf("deleted channel replayed %q", e.Body)
	case <-time.After(500 * time.Millisecond): // nothing to replay: the channel is new and empty
	}
	for typ, ch := range map[string]string{"events": ev, "commands": cmd, "queries": qry} {
		if typ == "events" {
			list, err := kubemq.ListPubSubChannels(ctx, c, "admin", typ, ch)
			if err != nil || len(list) != 1 || list[0].Name != ch || list[0].Type != typ {
				t.Fatalf("list %s: %v %+v", typ, err, list)
			}
		} else {
			list, err := kubemq.ListCQChannels(ctx, c, "admin", typ, ch)
			if err != nil || len(list) != 1 || list[0].Name != ch || list[0].Type != typ {
				t.Fatalf("list %s: %v %+v", typ, err, list)
			}
		}
		if err := kubemq.DeleteChannel(ctx, c, "admin", ch, typ); err != nil {
			t.Fatalf("delete %s: %v", typ, err)
		}
	}
}

func TestChannelsCommandStatistics(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "admin")
	ctx := testCtx(t, 30*time.Second)
	ch := uniq("chcmd")
	errCh := make(chan error, 1)
	cmds, err := c.SubscribeToCommands(ctx, ch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // kubemq-go never closes cmds: stop with the test's ctx
		for {
			select {
			case cmd := <-cmds:
				_ = c.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).SetExecutedAt(time.Now()).Send(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	eventually(t, 5*time.Second, func() error {
		_, err := c.C().SetChannel(ch).SetBody([]byte("go")).SetTimeout(time.Second).Send(ctx)
		return err
	})
	list, err := kubemq.ListCQChannels(ctx, c, "admin", "commands", ch)
	if err != nil || len(list) != 1 {
		t.Fatal(err, list)
	}
	if s := list[0]; s.Incoming.Responses < 1 || s.Outgoing.Messages < 1 || s.Incoming.Messages < s.Outgoing.Messages || !s.IsActive {
		t.Fatalf("command statistics: %+v", s)
	}
}

func TestChannelsBadRequests(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "admin")
	ctx := testCtx(t, 30*time.Second)
	for _, tt := range []struct{ typ, ch, want string }{
		{"topics", "x", "invalid channel type"},
		{"queues", "", "Error 120"},
		{"events", "", "Error 102"},
		{"events_store", "a.*", "Error 107"},
		{"queues", "a.>", "Error 120"},
		{"commands", "a b", "Error 108"},
	} {
		err := kubemq.CreateChannel(ctx, c, "admin", tt.ch, tt.typ)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("create %s %q: %v, want %q", tt.typ, tt.ch, err, tt.want)
		}
		err = kubemq.DeleteChannel(ctx, c, "admin", tt.ch, tt.typ)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("delete %s %q: %v, want %q", tt.typ, tt.ch, err, tt.want)
		}
	}
	if _, err := kubemq.ListQueuesChannels(ctx, c, "admin", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := kubemq.ListPubSubChannels(ctx, c, "admin", "nope", ""); err == nil || !strings.Contains(err.Error(), "invalid channel type") {
		t.Errorf("list unknown type: %v", err)
	}
}

// TestChannelsReservedNameCannotBeTakenOver: a subscriber on the reserved
// channel never sees the requests; Herald answers them.
func TestChannelsReservedNameCannotBeTakenOver(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "admin")
	ctx := testCtx(t, 30*time.Second)
	errCh := make(chan error, 1)
	qs, err := c.SubscribeToQueries(ctx, "kubemq.cluster.internal.requests", "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	if err := kubemq.CreateChannel(ctx, c, "admin", uniq("reserved"), "queues"); err != nil {
		t.Fatal(err)
	}
	select {
	case q := <-qs:
		t.Fatalf("an ordinary subscriber got a channel request: %+v", q)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestChannelsListAfterRestart: stored channels and their counters survive.
func TestChannelsListAfterRestart(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "admin")
	ctx := testCtx(t, 60*time.Second)
	q, es := uniq("rq"), uniq("res")
	for i := 0; i < 3; i++ {
		if r, err := c.QM().SetChannel(q).SetBody([]byte("xy")).Send(ctx); err != nil || r.IsError {
			t.Fatal(err, r)
		}
	}
	if _, err := c.ES().SetChannel(es).SetBody([]byte("e")).Send(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	c2 := newClient(t, srv, "admin2")
	var got *common.QueuesChannel
	eventually(t, 10*time.Second, func() error {
		list, err := kubemq.ListQueuesChannels(ctx, c2, "admin2", q)
		if err != nil {
			return err
		}
		if got = findQueue(list, q); got == nil {
			return fmt.Errorf("queue not listed: %+v", list)
		}
		return nil
	})
	if got.Incoming.Messages != 3 || got.Incoming.Volume != 6 || got.Outgoing.Waiting != 3 {
		t.Fatalf("after restart: %+v", got)
	}
	list, err := kubemq.ListPubSubChannels(ctx, c2, "admin2", "events_store", es)
	if err != nil || len(list) != 1 || list[0].Incoming.Messages != 1 {
		t.Fatalf("events store after restart: %v %+v", err, list)
	}
}
