package client_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/common"
)

// TestBuildersAndStrings covers the setters and String methods the pattern
// tests do not use, sending what can be sent.
func TestBuildersAndStrings(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		ch := uniq("builders")

		if err := c.E().SetChannel(ch).SetClientId("someone").SetBody([]byte("x")).Send(ctx); err != nil {
			t.Fatal(err)
		}
		es := c.NewEventStore().SetChannel(ch).SetBody([]byte("x"))
		res, err := es.Send(ctx)
		if err != nil || !strings.Contains(res.String(), "Sent: true") || !strings.Contains(es.String(), ch) {
			t.Fatalf("events store: %v %v", err, res)
		}
		cmd := c.C().SetTags(map[string]string{"a": "b"})
		if cmd.Tags["a"] != "b" {
			t.Fatal("Command.SetTags")
		}
		qm := c.QM().SetChannel(ch).SetClientId("qm-sender").SetBody([]byte("x"))
		if r, err := c.NewQueueMessages().Add(qm).Send(ctx); err != nil || len(r) != 1 || r[0].IsError {
			t.Fatalf("NewQueueMessages: %v %v", err, r)
		}
		got, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).Send(ctx)
		if err != nil || len(got.Messages) != 1 || got.Messages[0].ClientID != "qm-sender" {
			t.Fatalf("receive: %v %+v", err, got)
		}
		var nilEvent *client.Event
		var nilReceive *client.EventStoreReceive
		var nilCmd *client.CommandReceive
		if nilEvent.String() != "<nil>" || nilReceive.String() != "<nil>" || nilCmd.String() != "<nil>" {
			t.Fatal("nil String")
		}
		strs := []string{
			(&client.EventStoreReceive{Id: "i"}).String(),
			(&client.CommandResponse{CommandId: "i"}).String(),
			(&common.QueuesStats{Messages: 1}).String(),
			(&common.CQChannel{Name: "i"}).String(),
			(&common.CQStats{Messages: 1}).String(),
			(&common.PubSubChannel{Name: "i"}).String(),
			(&common.QueuesChannel{Name: "i"}).String(),
		}
		for _, s := range strs {
			if s == "" {
				t.Fatal("empty String")
			}
		}
		if _, err := client.NewClient(ctx, tr.addr(srv, client.WithReceiveBufferSize(-1))...); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("negative buffer: %v", err)
		}
	})
}
