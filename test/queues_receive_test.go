package test

import (
	"context"
	"strings"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// TestQueueReceiveWaitToFill: a receive returns when it has
// MaxNumberOfMessages or when the wait is over, not earlier (§9); peek too.
func TestQueueReceiveWaitToFill(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qfill")
	qSendBodies(t, cl, ch, "only")
	for _, peek := range []bool{true, false} {
		start := time.Now()
		res := qReceive(t, cl, ch, 5, 2, peek)
		el := time.Since(start)
		if res.IsError || len(res.Messages) != 1 || string(res.Messages[0].Body) != "only" {
			t.Fatalf("peek=%v: %+v", peek, res)
		}
		if el < 1900*time.Millisecond || el > 2500*time.Millisecond+2*time.Second {
			t.Fatalf("peek=%v with 1 of 5 available answered after %v, want ≈2 s", peek, el)
		}
	}
	// full at once: answered without waiting
	qSendBodies(t, cl, ch, "a", "b", "c", "d")
	start := time.Now()
	qWant(t, "full", qTake(t, cl, ch, 3, 10), []string{"a", "b", "c"}, []uint64{2, 3, 4}, nil)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a full receive took %v", el)
	}
	// empty queue: the whole wait
	start = time.Now()
	qWant(t, "empty", qTake(t, cl, uniq("qfill"), 1, 1), []string{}, nil, nil)
	if el := time.Since(start); el < 900*time.Millisecond || el > 4*time.Second {
		t.Fatalf("empty receive with wait 1 answered after %v", el)
	}
}

// TestQueueReceiveLongPoll: a message sent during the wait is returned.
func TestQueueReceiveLongPoll(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qlong")
	qPrime(t, cl, ch)
	type result struct {
		res *pb.ReceiveQueueMessagesResponse
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		res, err := cl.ReceiveQueueMessages(context.Background(), &pb.ReceiveQueueMessagesRequest{ClientID: "c", Channel: ch, MaxNumberOfMessages: 1, WaitTimeSeconds: 20})
		done <- result{res, err, time.Now()}
	}()
	qWaitSubscribers(t, cl, ch, 1)
	sent := time.Now()
	qSendBodies(t, cl, ch, "late")
	select {
	case r := <-done:
		if r.err != nil || r.res.IsError || len(r.res.Messages) != 1 || string(r.res.Messages[0].Body) != "late" {
			t.Fatalf("long poll: %v %+v", r.err, r.res)
		}
		if d := r.at.Sub(sent); d > 5*time.Second {
			t.Fatalf("long poll answered %v after the send", d)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("long poll did not return")
	}
}

// TestQueueReceiveCancelKeepsMessage: a receive whose client goes away
// during the wait does not lose the messages it had collected (§9, Herald
// settles after the reply).
func TestQueueReceiveCancelKeepsMessage(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qcancel")
	qPrime(t, cl, ch)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "c", Channel: ch, MaxNumberOfMessages: 2, WaitTimeSeconds: 20})
		done <- err
	}()
	qWaitSubscribers(t, cl, ch, 1)
	res := qSendBodies(t, cl, ch, "keep-me")
	// Wait until the engine has handed the message to the waiting receive.
	eventually(t, 10*time.Second, func() error {
		if q := qInfo(t, cl, ch); q.Delivered < 2 || q.Waiting != 0 {
			return errf("message not yet delivered: %+v", q)
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if status.Code(err) != codes.Canceled {
			t.Fatalf("cancelled receive: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled receive did not return")
	}
	got := qTake(t, cl, ch, 1, 5)
	if len(got) != 1 || got[0].MessageID != res[0].MessageID || got[0].Attributes.Sequence != 2 || got[0].Attributes.ReceiveCount != 1 {
		t.Fatalf("after cancel: %+v, want keep-me back in place (seq 2, count 1)", got)
	}
}

// TestQueueReceiveCancelRace: receives cancelled at arbitrary points of
// their wait never lose a message, nor hide it until the engine's ack wait
// (30 s) returns it: every message is back within a few seconds.
func TestQueueReceiveCancelRace(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qcrace")
	qPrime(t, cl, ch)
	const n = 8
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			// it never fills: every receive ends by its cancellation
			_, _ = cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "c", Channel: ch, MaxNumberOfMessages: 100, WaitTimeSeconds: 10})
		}()
		qWaitSubscribers(t, cl, ch, 1)
		qSendBodies(t, cl, ch, bodies(i, i)...)
		time.Sleep(time.Duration(i) * 3 * time.Millisecond) // vary the cancel point; not synchronisation
		cancel()
		<-done
		eventually(t, 10*time.Second, func() error { // the cancelled receive is gone
			if q := qInfo(t, cl, ch); q.Subscribers != 0 {
				return errf("%d subscribers", q.Subscribers)
			}
			return nil
		})
	}
	var got []*pb.QueueMessage
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		got = append(got, qTake(t, cl, ch, n, 5)...)
	}
	seen := map[string]bool{}
	for _, m := range got {
		if seen[string(m.Body)] {
			t.Fatalf("%q received twice", m.Body)
		}
		seen[string(m.Body)] = true
	}
	if len(seen) != n {
		t.Fatalf("got %q, want all of %q", qBodies(got), bodies(0, n-1))
	}
}

// TestQueueLeasesOutliveAckWait: a message collected early in a long
// wait-to-fill receive stays held by it for the whole wait (not shown by
// peek, not handed out again), and so do StreamQueueMessage and downstream
// leases, even when they outlast the engine's ack wait (the crash safety
// net, shortened here to 1 s).
func TestQueueLeasesOutliveAckWait(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t, server.Options{QueueAckWait: time.Second})
	cl := rawClient(t, srv)
	ch := uniq("qlease")
	qPrime(t, cl, ch)
	qSendBodies(t, cl, ch, "streamed", "polled")
	sq := openSQ(t, cl)
	sm := sq.receive(ch, 10, 5)
	ds := openDS(t, cl)
	tx := ds.getOK(ch, 1, 1000)
	if string(sm.Body) != "streamed" || len(tx.Messages) != 1 || string(tx.Messages[0].Body) != "polled" {
		t.Fatalf("stream got %q, poll got %q", sm.Body, qBodies(tx.Messages))
	}
	done := make(chan *pb.ReceiveQueueMessagesResponse, 1)
	go func() {
		res, err := cl.ReceiveQueueMessages(context.Background(), &pb.ReceiveQueueMessagesRequest{ClientID: "c", Channel: ch, MaxNumberOfMessages: 3, WaitTimeSeconds: 5})
		if err != nil {
			t.Errorf("long receive: %v", err)
		}
		done <- res
	}()
	qWaitSubscribers(t, cl, ch, 1)
	qSendBodies(t, cl, ch, "early")
	eventually(t, 10*time.Second, func() error {
		if q := qInfo(t, cl, ch); q.Delivered < 4 || q.Waiting != 0 {
			return errf("not yet delivered: %+v", q)
		}
		return nil
	})
	if got := qPeek(t, cl, ch, 1, 1); len(got) != 0 {
		t.Fatalf("peek shows %q, held by a pending receive", qBodies(got))
	}
	// Several ack waits pass: nothing is handed out again.
	if got := qTake(t, cl, ch, 5, 3); len(got) != 0 {
		t.Fatalf("a competing receive got held messages %q (seqs %v)", qBodies(got), qSeqs(got))
	}
	var res *pb.ReceiveQueueMessagesResponse
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("long receive did not return")
	}
	if res == nil || res.IsError {
		t.Fatalf("long receive: %+v", res)
	}
	qWant(t, "long receive", res.Messages, []string{"early"}, []uint64{4}, []int32{1})
	sq.wantOK(&pb.StreamQueueMessagesRequest{RequestID: "ack", StreamRequestTypeData: pb.StreamRequestType_AckMessage, RefSequence: sm.Attributes.Sequence})
	ds.settleOK(pb.QueuesDownstreamRequestType_AckAll, tx.TransactionId, nil, "")
	qWaitMessages(t, cl, ch, 0)
}

// TestQueueReceiveReplySize: a receive stops collecting before its reply
// would exceed the gRPC message limit; the rest stays in the queue (§9).
func TestQueueReceiveReplySize(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t, server.Options{MaxMessageSize: 3 << 20})
	cl := rawClient(t, srv)
	ch := uniq("qsize")
	big := strings.Repeat("x", 900<<10)
	for _, b := range []string{"1", "2", "3"} {
		qSendOK(t, cl, qMsg(ch, b+big))
	}
	start := time.Now()
	got := qTake(t, cl, ch, 3, 10)
	if len(got) != 2 || got[0].Attributes.Sequence != 1 || got[1].Attributes.Sequence != 2 {
		t.Fatalf("got %d messages (seqs %v), want the first 2", len(got), qSeqs(got))
	}
	// a full reply does not wait for more
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("full reply answered after %v", el)
	}
	got = qTake(t, cl, ch, 3, 1)
	if len(got) != 1 || got[0].Attributes.Sequence != 3 || got[0].Attributes.ReceiveCount != 1 {
		t.Fatalf("got seqs %v counts %v, want the third message, count 1", qSeqs(got), qCounts(got))
	}
}

// TestQueuePeek: peek leaves messages where they are and does not show
// messages leased to a StreamQueueMessage receiver.
func TestQueuePeek(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qpeek")
	qSendBodies(t, cl, ch, "a", "b", "c")
	for i := 0; i < 2; i++ {
		qWant(t, "peek", qPeek(t, cl, ch, 3, 5), []string{"a", "b", "c"}, []uint64{1, 2, 3}, []int32{1, 1, 1})
	}
	sq := openSQ(t, cl)
	held := sq.receive(ch, 30, 5)
	if string(held.Body) != "a" {
		t.Fatalf("stream got %q", held.Body)
	}
	qWant(t, "peek with a lease", qPeek(t, cl, ch, 3, 1), []string{"b", "c"}, []uint64{2, 3}, []int32{1, 1})
	qWant(t, "receive after peeks", qTake(t, cl, ch, 2, 5), []string{"b", "c"}, []uint64{2, 3}, []int32{1, 1})
	sq.wantOK(&pb.StreamQueueMessagesRequest{RequestID: "ack", StreamRequestTypeData: pb.StreamRequestType_AckMessage, RefSequence: held.Attributes.Sequence})
	qWantEmpty(t, cl, ch)
}

// TestQueueAckAll: ack-all removes the ready messages at once and reports
// how many; leased and still-delayed messages survive it (§10).
func TestQueueAckAll(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qackall")
	cl := rawClient(t, srv)
	ctx := testCtx(t, 60*time.Second)
	ch := uniq("qackall")
	qSendBodies(t, cl, ch, "leased", "r1", "r2", "r3")
	sent := time.Now()
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("delayed"), Policy: &pb.QueueMessagePolicy{DelaySeconds: 3}})
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("expiring"), Policy: &pb.QueueMessagePolicy{ExpirationSeconds: 1}})
	sq := openSQ(t, cl)
	held := sq.receive(ch, 60, 5)
	if string(held.Body) != "leased" {
		t.Fatalf("stream got %q", held.Body)
	}
	sleepUntil(sent.Add(1500 * time.Millisecond)) // "expiring" expires; "delayed" is not due yet

	res, err := c.AQM().SetChannel(ch).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || res.IsError || res.AffectedMessages != 4 { // r1–r3 and the expired one
		t.Fatalf("ack all: %v %+v, want 4 affected", err, res)
	}
	if res.RequestID == "" {
		t.Fatal("RequestID not generated")
	}
	// the leased message is still held and can be acked
	sq.wantOK(&pb.StreamQueueMessagesRequest{RequestID: "ack", StreamRequestTypeData: pb.StreamRequestType_AckMessage, RefSequence: held.Attributes.Sequence})
	// the delayed one arrives when due
	qWant(t, "after ack all", qTake(t, cl, ch, 1, 10), []string{"delayed"}, nil, []int32{1})
	res2, err := cl.AckAllQueueMessages(ctx, &pb.AckAllQueueMessagesRequest{RequestID: "x", ClientID: "c", Channel: ch, WaitTimeSeconds: 1})
	if err != nil || res2.IsError || res2.AffectedMessages != 0 || res2.RequestID != "x" {
		t.Fatalf("second ack all: %v %+v", err, res2)
	}
}
