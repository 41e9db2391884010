package test

import (
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	"github.com/kubemq-io/kubemq-go/queues_stream"

	"github.com/heraldmq/herald/server/heraldtest"
)

func TestQueueSmoke(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qsmoke")
	ctx := testCtx(t, 60*time.Second)
	ch := uniq("qsmoke")
	for i := 0; i < 3; i++ {
		res, err := c.QM().SetChannel(ch).SetBody([]byte{byte('a' + i)}).Send(ctx)
		if err != nil || res.IsError {
			t.Fatalf("send: %v %+v", err, res)
		}
	}
	peek, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(3).SetWaitTimeSeconds(1).SetIsPeak(true).Send(ctx)
	if err != nil || len(peek.Messages) != 3 {
		t.Fatalf("peek: %v %+v", err, peek)
	}
	got, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(2).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || len(got.Messages) != 2 || string(got.Messages[0].Body) != "a" || got.Messages[0].Attributes.Sequence != 1 {
		t.Fatalf("receive: %v %+v", err, got)
	}
	sq := c.NewStreamQueueMessage().SetChannel(ch)
	m, err := sq.Next(ctx, 10, 2)
	if err != nil || string(m.Body) != "c" {
		t.Fatalf("stream next: %v %+v", err, m)
	}
	if err := m.Reject(); err != nil {
		t.Fatalf("reject: %v", err)
	}
	sq2 := c.NewStreamQueueMessage().SetChannel(ch)
	m, err = sq2.Next(ctx, 10, 2)
	if err != nil || string(m.Body) != "c" || m.Attributes.ReceiveCount != 2 || m.Attributes.Sequence != 4 {
		t.Fatalf("stream next after reject: %v %+v", err, m)
	}
	if err := m.Ack(); err != nil {
		t.Fatalf("ack: %v", err)
	}
	qc, err := queues_stream.NewQueuesStreamClient(ctx, queues_stream.WithAddress(srv.Host, srv.Port), queues_stream.WithClientId("qs"))
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	if _, err := qc.Send(ctx, queues_stream.NewQueueMessage().SetChannel(ch).SetBody([]byte("d"))); err != nil {
		t.Fatal(err)
	}
	pr, err := qc.Poll(ctx, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(5).SetWaitTimeout(1000))
	if err != nil || len(pr.Messages) != 1 {
		t.Fatalf("poll: %v %+v", err, pr)
	}
	if err := pr.AckAll(); err != nil {
		t.Fatal(err)
	}
	info, err := c.QueuesInfo(ctx, ch)
	if err != nil || info.TotalQueues != 1 {
		t.Fatalf("info: %v %+v", err, info)
	}
	aa, err := c.AQM().SetChannel(ch).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || aa.AffectedMessages != 0 {
		t.Fatalf("ackall: %v %+v", err, aa)
	}
	_ = kubemq.StartFromFirstEvent
}
