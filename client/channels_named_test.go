package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/server/heraldtest"
)

func TestClientChannelMethods(t *testing.T) {
	srv := heraldtest.NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.NewClient(ctx, client.WithAddress(srv.Host, srv.Port), client.WithClientId("named"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for typ, ch := range map[string]string{"queues": "nq", "events": "ne", "events_store": "nes", "commands": "nc", "queries": "nqr"} {
		if err := c.CreateChannel(ctx, typ, ch); err != nil {
			t.Fatalf("create %s: %v", typ, err)
		}
	}
	if l, err := c.ListQueuesChannels(ctx, "nq"); err != nil || len(l) != 1 || l[0].Name != "nq" {
		t.Fatalf("queues: %v %+v", err, l)
	}
	if l, err := c.ListEventsChannels(ctx, "ne"); err != nil || len(l) != 1 || l[0].Name != "ne" {
		t.Fatalf("events: %v %+v", err, l)
	}
	if l, err := c.ListEventsStoreChannels(ctx, "nes"); err != nil || len(l) != 1 || l[0].Name != "nes" {
		t.Fatalf("events store: %v %+v", err, l)
	}
	if l, err := c.ListCommandsChannels(ctx, "nc"); err != nil || len(l) != 1 || l[0].Name != "nc" {
		t.Fatalf("commands: %v %+v", err, l)
	}
	if l, err := c.ListQueriesChannels(ctx, "nqr"); err != nil || len(l) != 1 || l[0].Name != "nqr" {
		t.Fatalf("queries: %v %+v", err, l)
	}
	if err := c.DeleteChannel(ctx, "queues", "nq"); err != nil {
		t.Fatal(err)
	}
	if l, err := c.ListQueuesChannels(ctx, "nq"); err != nil || len(l) != 0 {
		t.Fatalf("after delete: %v %+v", err, l)
	}
	if err := c.CreateChannel(ctx, "topics", "x"); err == nil {
		t.Fatal("unknown type accepted")
	}
}
