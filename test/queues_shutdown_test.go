package test

import (
	"sort"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go/queues_stream"

	"github.com/heraldmq/herald/server/heraldtest"
)

// TestQueueGracefulRestartReturnsLeases: messages held by open transactions
// (downstream and StreamQueueMessage) go back to the queue at a graceful
// shutdown, not after the engine's ack wait.
func TestQueueGracefulRestartReturnsLeases(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "gr")
	ctx := testCtx(t, 30*time.Second)
	ch := uniq("gr")
	for _, b := range []string{"1", "2", "3"} {
		if r, err := c.QM().SetChannel(ch).SetBody([]byte(b)).Send(ctx); err != nil || r.IsError {
			t.Fatal(err, r)
		}
	}
	qc, err := queues_stream.NewQueuesStreamClient(ctx, queues_stream.WithAddress(srv.Host, srv.Port), queues_stream.WithClientId("gr-poll"))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := qc.Poll(ctx, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(1000))
	if err != nil || len(pr.Messages) != 1 {
		t.Fatalf("poll: %v %+v", err, pr)
	}
	held, err := c.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 60, 2)
	if err != nil || held == nil {
		t.Fatalf("next: %v", err)
	}
	start := time.Now()
	srv.Restart()
	_ = qc.Close()
	c2 := newClient(t, srv, "gr2")
	var got []string
	for time.Since(start) < 10*time.Second && len(got) < 3 {
		r, err := c2.RQM().SetChannel(ch).SetMaxNumberOfMessages(3).SetWaitTimeSeconds(1).Send(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			got = append(got, string(m.Body))
		}
	}
	sort.Strings(got)
	if len(got) != 3 || got[0] != "1" || got[2] != "3" {
		t.Fatalf("after a graceful restart got %v within %v (leases should come back at once, not after the 30 s ack wait)", got, time.Since(start))
	}
}
