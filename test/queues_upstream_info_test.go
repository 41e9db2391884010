package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go/queues_stream"
	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// TestQueueUpstream checks QueuesUpstream (§13) through the SDK and raw.
func TestQueueUpstream(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ctx := testCtx(t, 60*time.Second)

	t.Run("sdk results per message", func(t *testing.T) {
		qc := newQueuesStreamClient(t, srv, "qup")
		ch := uniq("qup")
		res, err := qc.Send(ctx,
			queues_stream.NewQueueMessage().SetId("u1").SetChannel(ch).SetBody([]byte("a")),
			queues_stream.NewQueueMessage().SetId("u2").SetChannel(ch), // empty
			queues_stream.NewQueueMessage().SetId("u3").SetChannel("bad channel").SetBody([]byte("c")),
			queues_stream.NewQueueMessage().SetId("u4").SetChannel(ch).SetBody([]byte("d")).SetPolicyDelaySeconds(60),
		)
		if err != nil || len(res.Results) != 4 {
			t.Fatalf("send: %v %+v", err, res)
		}
		r := res.Results
		if r[0].MessageID != "u1" || r[0].IsError || r[0].SentAt == 0 {
			t.Fatalf("result 0: %+v", r[0])
		}
		if r[1].MessageID != "u2" || r[1].Error != qErr110 || r[2].MessageID != "u3" || r[2].Error != qErr120 {
			t.Fatalf("results 1, 2: %+v %+v", r[1], r[2])
		}
		if r[3].IsError || r[3].DelayedTo == 0 {
			t.Fatalf("result 3: %+v", r[3])
		}
		qWant(t, "stored", qTake(t, cl, ch, 5, 1), []string{"a"}, []uint64{1}, nil)
	})

	t.Run("raw", func(t *testing.T) {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := cl.QueuesUpstream(sctx)
		if err != nil {
			t.Fatal(err)
		}
		ch := uniq("qup")
		if err := s.Send(&pb.QueuesUpstreamRequest{RequestID: "empty"}); err != nil {
			t.Fatal(err)
		}
		resp, err := s.Recv()
		if err != nil || resp.RefRequestID != "empty" || !resp.IsError || resp.Error != "no messages to send" || len(resp.Results) != 0 {
			t.Fatalf("empty request: %v %+v", err, resp)
		}
		// the stream goes on; several requests in flight, matched by RefRequestID
		want := map[string][]string{}
		for i := 0; i < 5; i++ {
			id := fmt.Sprintf("req-%d", i)
			msgs := []*pb.QueueMessage{qMsg(ch, id+"-a"), {ClientID: "", Channel: ch, Body: []byte("x")}, qMsg(ch, id+"-b")}
			want[id] = []string{"", qErr101, ""}
			if err := s.Send(&pb.QueuesUpstreamRequest{RequestID: id, Messages: msgs}); err != nil {
				t.Fatal(err)
			}
		}
		for len(want) > 0 {
			resp, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[resp.RefRequestID]
			if !ok || resp.IsError || len(resp.Results) != 3 {
				t.Fatalf("response %+v", resp)
			}
			delete(want, resp.RefRequestID)
			for i, r := range resp.Results {
				if r.Error != w[i] || r.MessageID == "" || (w[i] == "") != (r.SentAt != 0) {
					t.Fatalf("%s result %d: %+v, want error %q", resp.RefRequestID, i, r, w[i])
				}
			}
		}
		got := qTake(t, cl, ch, 10, 5)
		if len(got) != 10 {
			t.Fatalf("stored %d messages, want 10", len(got))
		}
		// half-close ends the stream once pending responses are written
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := s.Recv(); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after half-close: %v, want io.EOF", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("stream still open after half-close")
		}
	})
}

// TestQueueInfo checks QueuesInfo (§14).
func TestQueueInfo(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qinfo")
	cl := rawClient(t, srv)
	ctx := testCtx(t, 60*time.Second)
	a, b := uniq("qinfo"), uniq("qinfo")
	qSendBodies(t, cl, a, "1", "2", "3")
	qSendBodies(t, cl, b, "x")

	info, err := c.QueuesInfo(ctx, a)
	if err != nil || info.TotalQueues != 1 || len(info.Queues) != 1 {
		t.Fatalf("info %q: %v %+v", a, err, info)
	}
	q := info.Queues[0]
	if q.Name != a || q.Messages != 3 || q.Sent != 3 || q.FirstSequence != 1 || q.LastSequence != 3 || q.Bytes <= 0 || q.Waiting != 3 || q.Delivered != 0 || q.Subscribers != 0 {
		t.Fatalf("queue %q: %+v", a, q)
	}
	if info.Sent != 3 || info.Waiting != 3 {
		t.Fatalf("totals: %+v", info)
	}

	info, err = c.QueuesInfo(ctx, a+";"+b)
	if err != nil || info.TotalQueues != 2 || len(info.Queues) != 2 || info.Sent != 4 {
		t.Fatalf("info %q;%q: %v %+v", a, b, err, info)
	}
	names, want := []string{info.Queues[0].Name, info.Queues[1].Name}, []string{a, b}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("names %v", names)
	}

	for _, filter := range []string{uniq("qinfo"), "qinfo.*", "qinfo"} {
		info, err = c.QueuesInfo(ctx, filter)
		if err != nil || info.TotalQueues != 0 || len(info.Queues) != 0 {
			t.Fatalf("info %q: %v %+v, want no queues", filter, err, info)
		}
	}

	// all queues, and counters after a receive
	qWant(t, "take", qTake(t, cl, a, 2, 5), []string{"1", "2"}, nil, nil)
	resp, err := cl.QueuesInfo(ctx, &pb.QueuesInfoRequest{RequestID: "ref-1"})
	if err != nil || resp.RefRequestID != "ref-1" || resp.Info.TotalQueue < 2 {
		t.Fatalf("info all: %v %+v", err, resp)
	}
	eventually(t, 10*time.Second, func() error { // received messages are removed just after the reply
		if q := qInfo(t, cl, a); q == nil || q.Messages != 1 || q.Sent != 3 || q.Waiting != 1 || q.Delivered != 2 {
			return errf("after receiving 2: %+v", q)
		}
		return nil
	})
	// a fresh channel nobody sent to is not listed
	qWantEmpty(t, cl, uniq("qinfo"))
	resp2, err := cl.QueuesInfo(ctx, &pb.QueuesInfoRequest{})
	if err != nil || resp2.Info.TotalQueue != resp.Info.TotalQueue {
		t.Fatalf("a queue that only saw a receive is listed: %v %+v", err, resp2)
	}
}

// TestQueueCompetingReceivers: four receivers, classic and downstream,
// share one queue of 400 messages: each message goes to exactly one.
func TestQueueCompetingReceivers(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qcomp")
	const n = 400
	for i := 0; i < n; i += 100 {
		var msgs []*pb.QueueMessage
		for j := i; j < i+100; j++ {
			msgs = append(msgs, qMsg(ch, fmt.Sprintf("m%03d", j)))
		}
		resp, err := cl.SendQueueMessagesBatch(context.Background(), &pb.QueueMessagesBatchRequest{Messages: msgs})
		if err != nil || resp.HaveErrors {
			t.Fatalf("batch: %v %+v", err, resp)
		}
	}

	var (
		mu    sync.Mutex
		got   = map[string]int{}
		per   [4]int
		total int
	)
	record := func(r int, ms []*pb.QueueMessage) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ms {
			got[string(m.Body)]++
			per[r]++
			total++
		}
	}
	finished := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total >= n
	}
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		rc := rawClient(t, srv)
		var ds *dsStream
		if r%2 == 1 {
			ds = openDS(t, rc)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !finished() && time.Now().Before(deadline) {
				if ds == nil {
					res, err := rc.ReceiveQueueMessages(context.Background(), &pb.ReceiveQueueMessagesRequest{ClientID: "c", Channel: ch, MaxNumberOfMessages: 7, WaitTimeSeconds: 1})
					if err != nil || res.IsError {
						t.Errorf("receiver %d: %v %+v", r, err, res)
						return
					}
					record(r, res.Messages)
					continue
				}
				if err := ds.s.Send(&pb.QueuesDownstreamRequest{RequestID: "get", ClientID: "c", RequestTypeData: pb.QueuesDownstreamRequestType_Get, Channel: ch, MaxItems: 9, WaitTimeout: 1000}); err != nil {
					t.Errorf("poller %d: %v", r, err)
					return
				}
				var resp *pb.QueuesDownstreamResponse
				select {
				case resp = <-ds.resps:
				case err := <-ds.end:
					t.Errorf("poller %d: stream ended: %v", r, err)
					return
				case <-time.After(20 * time.Second):
					t.Errorf("poller %d: no answer", r)
					return
				}
				if resp.IsError {
					t.Errorf("poller %d: %+v", r, resp)
					return
				}
				record(r, resp.Messages)
				if len(resp.Messages) > 0 {
					if err := ds.s.Send(&pb.QueuesDownstreamRequest{RequestID: "ack", RequestTypeData: pb.QueuesDownstreamRequestType_AckAll, RefTransactionId: resp.TransactionId}); err != nil {
						t.Errorf("poller %d: %v", r, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for body, k := range got {
		if k != 1 {
			t.Fatalf("%s received %d times", body, k)
		}
	}
	if len(got) != n {
		t.Fatalf("received %d distinct messages, want %d (per receiver %v)", len(got), n, per)
	}
	t.Logf("per receiver: %v", per)
	qWaitMessages(t, cl, ch, 0)
}
