package queuesstream

import (
	"context"
	"testing"
	"time"

	"github.com/heraldmq/herald/server/heraldtest"
)

// A poll answered in the instant its caller stops waiting (the answer is
// in the waiter's channel, not read) does not keep its messages: the
// transaction is closed and they return to the queue at once, not when
// the stream ends.
func TestAbandonedAnswerInFlightReturnsMessages(t *testing.T) {
	srv := heraldtest.NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := NewQueuesStreamClient(ctx, WithAddress(srv.Host, srv.Port), WithClientId("abandon"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res, err := c.Send(ctx, NewQueueMessage().SetChannel("abandon.q").SetBody([]byte("1"))); err != nil || res.Results[0].IsError {
		t.Fatalf("send: %v %+v", err, res)
	}
	req, err := NewPollRequest().SetChannel("abandon.q").SetMaxItems(1).SetWaitTimeout(1000).validateAndComplete(c.clientID)
	if err != nil {
		t.Fatal(err)
	}
	chans, err := c.downstream.send(req)
	if err != nil {
		t.Fatal(err)
	}
	for len(chans[0]) == 0 { // the answer arrived; nobody read it
		select {
		case <-ctx.Done():
			t.Fatal("no answer to the poll")
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.downstream.abandon(req, chans[0])
	r, err := c.Poll(ctx, NewPollRequest().SetChannel("abandon.q").SetMaxItems(1).SetWaitTimeout(5000).SetAutoAck(true))
	if err != nil || len(r.Messages) != 1 || string(r.Messages[0].Body) != "1" {
		t.Fatalf("after the abandoned answer: %v %+v", err, r)
	}
}
