package test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc/codes"

	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// TestQueueSendResult checks the send result (§8.1): generated MessageID
// (also on validation errors), SentAt, ExpirationAt and DelayedTo.
func TestQueueSendResult(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qsend")
	cl := rawClient(t, srv)
	ctx := testCtx(t, 60*time.Second)
	ch := uniq("qsend")

	t.Run("generated id and SentAt", func(t *testing.T) {
		before := time.Now()
		res, err := c.QM().SetChannel(ch).SetBody([]byte("a")).Send(ctx)
		if err != nil || res.IsError || res.Error != "" {
			t.Fatalf("send: %v %+v", err, res)
		}
		if res.MessageID == "" {
			t.Fatal("no MessageID generated")
		}
		nsNear(t, "SentAt", res.SentAt, before, 0, 10*time.Second)
		if res.ExpirationAt != 0 || res.DelayedTo != 0 {
			t.Fatalf("ExpirationAt %d DelayedTo %d, want 0 without a policy", res.ExpirationAt, res.DelayedTo)
		}
		res2 := qSendOK(t, cl, qMsg(ch, "b"))
		if res2.MessageID == res.MessageID {
			t.Fatalf("two sends got the same generated id %q", res.MessageID)
		}
	})

	t.Run("client id kept", func(t *testing.T) {
		res := qSendOK(t, cl, &pb.QueueMessage{MessageID: "my-id-1", ClientID: "x", Channel: uniq("qsend"), Body: []byte("x")})
		if res.MessageID != "my-id-1" {
			t.Fatalf("MessageID %q, want my-id-1", res.MessageID)
		}
	})

	t.Run("generated id on validation error", func(t *testing.T) {
		for _, m := range []*pb.QueueMessage{
			{ClientID: "x", Channel: ch},            // empty message
			{Channel: ch, Body: []byte("x")},        // no client id
			{ClientID: "x", Channel: "", Body: nil}, // bad channel
		} {
			res := qSendRaw(t, cl, m)
			if !res.IsError || res.Error == "" || res.MessageID == "" || res.SentAt != 0 {
				t.Fatalf("send %+v: got %+v, want an in-band error with a MessageID and SentAt 0", m, res)
			}
		}
	})

	t.Run("expiration and delay times", func(t *testing.T) {
		before := time.Now()
		res := qSendOK(t, cl, &pb.QueueMessage{ClientID: "x", Channel: uniq("qsend"), Body: []byte("e"),
			Policy: &pb.QueueMessagePolicy{ExpirationSeconds: 10}})
		nsNear(t, "ExpirationAt", res.ExpirationAt, before.Add(10*time.Second), 0, 10*time.Second)
		if res.DelayedTo != 0 {
			t.Fatalf("DelayedTo %d without delay", res.DelayedTo)
		}

		before = time.Now()
		res = qSendOK(t, cl, &pb.QueueMessage{ClientID: "x", Channel: uniq("qsend"), Body: []byte("d"),
			Policy: &pb.QueueMessagePolicy{ExpirationSeconds: 10, DelaySeconds: 5}})
		nsNear(t, "DelayedTo", res.DelayedTo, before.Add(5*time.Second), 0, 10*time.Second)
		// expiration counts from send time and includes the delay
		nsNear(t, "ExpirationAt", res.ExpirationAt, before.Add(15*time.Second), 0, 10*time.Second)
		if d := time.Duration(res.ExpirationAt - res.DelayedTo); d != 10*time.Second {
			t.Fatalf("ExpirationAt - DelayedTo = %v, want 10s", d)
		}
		nsNear(t, "SentAt", res.SentAt, before, 0, 10*time.Second)
	})
}

// TestQueueSequencesFIFO checks per-channel sequences from 1 and FIFO order.
func TestQueueSequencesFIFO(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qfifo")
	cl := rawClient(t, srv)
	ctx := testCtx(t, 60*time.Second)
	a, b := uniq("qfifo"), uniq("qfifo")
	var want []string
	for i := 1; i <= 6; i++ {
		body := fmt.Sprintf("m%d", i)
		want = append(want, body)
		if res, err := c.QM().SetChannel(a).SetBody([]byte(body)).Send(ctx); err != nil || res.IsError {
			t.Fatalf("send: %v %+v", err, res)
		}
		if i <= 2 {
			qSendOK(t, cl, qMsg(b, "other"+body))
		}
	}
	got := qTake(t, cl, a, 4, 5)
	qWant(t, "first receive", got, want[:4], []uint64{1, 2, 3, 4}, []int32{1, 1, 1, 1})
	got = qTake(t, cl, a, 10, 1)
	qWant(t, "second receive", got, want[4:], []uint64{5, 6}, []int32{1, 1})
	// the other channel has its own counter
	got = qTake(t, cl, b, 2, 5)
	qWant(t, "other channel", got, []string{"otherm1", "otherm2"}, []uint64{1, 2}, nil)
	// numbers are never reused
	qSendBodies(t, cl, a, "m7")
	qWant(t, "after consuming", qTake(t, cl, a, 1, 5), []string{"m7"}, []uint64{7}, nil)
}

// TestQueueSendBatch checks SendQueueMessagesBatch (§8.2) through the SDK
// and the raw stub.
func TestQueueSendBatch(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qbatch")
	cl := rawClient(t, srv)
	ctx := testCtx(t, 60*time.Second)

	t.Run("sdk results in order", func(t *testing.T) {
		ch := uniq("qbatch")
		batch := c.QMB()
		for i := 1; i <= 10; i++ {
			batch.Add(c.QM().SetId(fmt.Sprintf("id%d", i)).SetChannel(ch).SetBody([]byte(fmt.Sprintf("b%d", i))))
		}
		res, err := batch.Send(ctx)
		if err != nil || len(res) != 10 {
			t.Fatalf("batch: %v, %d results", err, len(res))
		}
		for i, r := range res {
			if r.IsError || r.MessageID != fmt.Sprintf("id%d", i+1) || r.SentAt == 0 {
				t.Fatalf("result %d: %+v", i, r)
			}
		}
		got := qTake(t, cl, ch, 10, 5)
		qWant(t, "batch", got, bodies(1, 10), []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, nil)
	})

	t.Run("sdk invalid middle item", func(t *testing.T) {
		ch := uniq("qbatch")
		res, err := c.SendQueueMessages(ctx, []*kubemq.QueueMessage{
			c.QM().SetChannel(ch).SetBody([]byte("first")),
			c.QM().SetChannel(ch), // empty message
			c.QM().SetChannel(ch).SetBody([]byte("third")),
		})
		if err != nil || len(res) != 3 {
			t.Fatalf("batch: %v %d results", err, len(res))
		}
		if res[0].IsError || res[2].IsError || !res[1].IsError || res[1].Error != qErr110 || res[1].MessageID == "" || res[1].SentAt != 0 {
			t.Fatalf("results: %+v %+v %+v", res[0], res[1], res[2])
		}
		qWant(t, "stored", qTake(t, cl, ch, 3, 1), []string{"first", "third"}, nil, nil)
	})

	t.Run("raw HaveErrors and BatchID", func(t *testing.T) {
		ch, ch2 := uniq("qbatch"), uniq("qbatch")
		resp, err := cl.SendQueueMessagesBatch(ctx, &pb.QueueMessagesBatchRequest{BatchID: "batch-1", Messages: []*pb.QueueMessage{
			qMsg(ch, "x1"),
			{ClientID: "x", Channel: "bad channel", Body: []byte("x2")},
			qMsg(ch2, "x3"), // items may target different channels
		}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.BatchID != "batch-1" || !resp.HaveErrors || len(resp.Results) != 3 {
			t.Fatalf("batch response: %+v", resp)
		}
		if resp.Results[0].IsError || resp.Results[2].IsError || resp.Results[1].Error != qErr120 || resp.Results[1].MessageID == "" {
			t.Fatalf("results: %+v", resp.Results)
		}
		qWant(t, "ch", qTake(t, cl, ch, 1, 5), []string{"x1"}, []uint64{1}, nil)
		qWant(t, "ch2", qTake(t, cl, ch2, 1, 5), []string{"x3"}, []uint64{1}, nil)

		resp, err = cl.SendQueueMessagesBatch(ctx, &pb.QueueMessagesBatchRequest{Messages: []*pb.QueueMessage{qMsg(ch, "ok")}})
		if err != nil || resp.HaveErrors || resp.BatchID != "" || len(resp.Results) != 1 || resp.Results[0].IsError {
			t.Fatalf("valid batch: %v %+v (BatchID must not be generated)", err, resp)
		}
	})

	t.Run("empty batch", func(t *testing.T) {
		_, err := cl.SendQueueMessagesBatch(ctx, &pb.QueueMessagesBatchRequest{BatchID: "e"})
		wantStatus(t, err, codes.Unknown, "empty messages batch")
	})
}

// TestQueueAttributes checks what a receiver sees (§7.1–7.3).
func TestQueueAttributes(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qattr-receiver")
	cl := rawClient(t, srv)
	ctx := testCtx(t, 60*time.Second)
	ch := uniq("qattr")
	before := time.Now()
	res := qSendOK(t, cl, &pb.QueueMessage{
		MessageID: "attr-1", ClientID: "attr-sender", Channel: ch, Metadata: "meta", Body: []byte("body"),
		Tags: map[string]string{"k": "v", "k2": "v2"},
		// attributes on send are ignored
		Attributes: &pb.QueueMessageAttributes{Timestamp: 5, Sequence: 99, ReceiveCount: 7, ReRouted: true, ReRoutedFromQueue: "x", DelayedTo: 9, MD5OfBody: "abc"},
		Topic:      "topic-1", Partition: 7, PartitionKey: "pk",
	})
	after := time.Now()

	got, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(5).Send(ctx)
	if err != nil || got.IsError || len(got.Messages) != 1 || got.MessagesReceived != 1 {
		t.Fatalf("receive: %v %+v", err, got)
	}
	m := got.Messages[0]
	if m.MessageID != res.MessageID || m.ClientID != "attr-sender" || m.Channel != ch || m.Metadata != "meta" || string(m.Body) != "body" ||
		m.Tags["k"] != "v" || m.Tags["k2"] != "v2" || len(m.Tags) != 2 {
		t.Fatalf("message fields: %+v", m.QueueMessage)
	}
	if m.Topic != "topic-1" || m.Partition != 7 || m.PartitionKey != "pk" {
		t.Fatalf("Topic/Partition/PartitionKey: %q %d %q", m.Topic, m.Partition, m.PartitionKey)
	}
	a := m.Attributes
	if a == nil {
		t.Fatal("no attributes")
	}
	nsNear(t, "Timestamp", a.Timestamp, before, time.Second, after.Sub(before)+time.Second)
	if a.Sequence != 1 || a.ReceiveCount != 1 || a.ReRouted || a.ReRoutedFromQueue != "" || a.DelayedTo != 0 || a.MD5OfBody != "" || a.ExpirationAt != 0 {
		t.Fatalf("attributes: %+v", a)
	}
	p := m.Policy
	if p == nil || p.MaxReceiveCount != 1024 || p.ExpirationSeconds != 0 || p.DelaySeconds != 0 || p.MaxReceiveQueue != "" {
		t.Fatalf("policy: %+v, want MaxReceiveCount normalised to 1024", p)
	}

	// explicit policy values are returned as sent
	ch2 := uniq("qattr")
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "s", Channel: ch2, Body: []byte("p"),
		Policy: &pb.QueueMessagePolicy{ExpirationSeconds: 600, MaxReceiveCount: 3, MaxReceiveQueue: ch2 + ".dlq"}})
	m2 := qTake(t, cl, ch2, 1, 5)
	if len(m2) != 1 {
		t.Fatalf("got %d messages", len(m2))
	}
	if p := m2[0].Policy; p.ExpirationSeconds != 600 || p.MaxReceiveCount != 3 || p.MaxReceiveQueue != ch2+".dlq" {
		t.Fatalf("policy: %+v", p)
	}
	if m2[0].Attributes.ExpirationAt == 0 {
		t.Fatal("ExpirationAt 0 on a message with an expiration")
	}
}

// TestQueueDedup checks idempotent send: a client-set MessageID sent twice
// within the dedup window is stored once, unless deduplication is off.
func TestQueueDedup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		window time.Duration
		want   []string
	}{
		{"default window", 0, []string{"first"}},
		{"off", -1, []string{"first", "second"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := heraldtest.NewServer(t, server.Options{DedupWindow: tc.window})
			cl := rawClient(t, srv)
			ch := uniq("qdedup")
			for _, b := range []string{"first", "second"} {
				r := qSendOK(t, cl, &pb.QueueMessage{MessageID: "same-id", ClientID: "x", Channel: ch, Body: []byte(b)})
				if r.MessageID != "same-id" {
					t.Fatalf("MessageID %q", r.MessageID)
				}
			}
			// generated ids are never duplicates of each other
			qSendOK(t, cl, qMsg(ch, "gen1"))
			qSendOK(t, cl, qMsg(ch, "gen2"))
			got := qTake(t, cl, ch, 10, 1)
			want := append(slices.Clone(tc.want), "gen1", "gen2")
			qWant(t, "stored", got, want, nil, nil)
			for _, m := range got[:len(tc.want)] {
				if m.MessageID != "same-id" {
					t.Fatalf("MessageID %q", m.MessageID)
				}
			}
			// Delayed messages behave the same; pending delays are not keyed
			// by MessageID (§17 item 11): without dedup both are released.
			ch2 := uniq("qdedup")
			for _, b := range []string{"first", "second"} {
				qSendOK(t, cl, &pb.QueueMessage{MessageID: "same-delayed", ClientID: "x", Channel: ch2, Body: []byte(b), Policy: &pb.QueueMessagePolicy{DelaySeconds: 1}})
			}
			got = qTake(t, cl, ch2, int32(len(tc.want)), 10)
			qWant(t, "delayed", got, tc.want, nil, nil)
			qWantEmpty(t, cl, ch2)
		})
	}
}
