package test

import (
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go/queues_stream"
	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// qWaitMessages waits until channel holds n messages (ready and in flight),
// the sign that asynchronous settlements have been applied.
func qWaitMessages(t *testing.T, cl pb.KubemqClient, channel string, n int64) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		q := qInfo(t, cl, channel)
		if q == nil || q.Messages != n {
			return errf("queue %q: %+v, want %d messages", channel, q, n)
		}
		return nil
	})
}

// TestQueueDownstreamSDK drives QueuesDownstream (§12) through the SDK's
// queues_stream Poll and the settlements of its PollResponse.
func TestQueueDownstreamSDK(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	qc := newQueuesStreamClient(t, srv, "qpoll")
	ctx := testCtx(t, 90*time.Second)
	poll := func(t *testing.T, ch string, max int, autoAck bool) *queues_stream.PollResponse {
		t.Helper()
		pr, err := qc.Poll(ctx, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(max).SetWaitTimeout(1000).SetAutoAck(autoAck))
		if err != nil {
			t.Fatalf("poll %q: %v", ch, err)
		}
		return pr
	}
	pbMsgs := func(pr *queues_stream.PollResponse) []*pb.QueueMessage {
		out := make([]*pb.QueueMessage, len(pr.Messages))
		for i, m := range pr.Messages {
			out[i] = m.QueueMessage
		}
		return out
	}

	t.Run("auto ack", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qds")
		qSendBodies(t, cl, ch, "a", "b", "c")
		pr := poll(t, ch, 10, true)
		qWant(t, "poll", pbMsgs(pr), []string{"a", "b", "c"}, []uint64{1, 2, 3}, []int32{1, 1, 1})
		qWaitMessages(t, cl, ch, 0)
		qWantEmpty(t, cl, ch)
	})

	t.Run("ack all", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qds")
		qSendBodies(t, cl, ch, "a", "b")
		pr := poll(t, ch, 10, false)
		qWant(t, "poll", pbMsgs(pr), []string{"a", "b"}, []uint64{1, 2}, nil)
		if err := pr.AckAll(); err != nil {
			t.Fatal(err)
		}
		qWaitMessages(t, cl, ch, 0)
	})

	t.Run("ack range then close", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qds")
		qSendBodies(t, cl, ch, "a", "b", "c")
		pr := poll(t, ch, 10, false)
		if err := pr.AckOffsets(1, 3); err != nil {
			t.Fatal(err)
		}
		if err := pr.Close(); err != nil {
			t.Fatal(err)
		}
		qWaitMessages(t, cl, ch, 1)
		qWant(t, "after close", qTake(t, cl, ch, 1, 5), []string{"b"}, []uint64{2}, []int32{1})
	})

	t.Run("nack all requeues at the tail", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qds")
		qSendBodies(t, cl, ch, "a", "b", "c", "d")
		pr := poll(t, ch, 4, false)
		if err := pr.NAckAll(); err != nil {
			t.Fatal(err)
		}
		// re-published in sequence order, with count + 1
		qWant(t, "after nack all", qTake(t, cl, ch, 4, 10), []string{"a", "b", "c", "d"}, []uint64{5, 6, 7, 8}, []int32{2, 2, 2, 2})
	})

	t.Run("message nack and ack", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qds")
		qSendBodies(t, cl, ch, "a", "b")
		pr := poll(t, ch, 2, false)
		if err := pr.Messages[0].NAck(); err != nil {
			t.Fatal(err)
		}
		if err := pr.Messages[1].Ack(); err != nil {
			t.Fatal(err)
		}
		qWaitMessages(t, cl, ch, 1) // b acked, a back at the tail
		qWant(t, "after nack", qTake(t, cl, ch, 1, 5), []string{"a"}, []uint64{3}, []int32{2})
	})

	t.Run("close returns in place", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qds")
		qSendBodies(t, cl, ch, "a", "b")
		pr := poll(t, ch, 2, false)
		if err := pr.Close(); err != nil {
			t.Fatal(err)
		}
		qWant(t, "after close", qTake(t, cl, ch, 2, 10), []string{"a", "b"}, []uint64{1, 2}, []int32{1, 1})
	})

	t.Run("requeue all", func(t *testing.T) {
		t.Parallel()
		ch, to := uniq("qds"), uniq("qds")
		res := qSendBodies(t, cl, ch, "a", "b")
		pr := poll(t, ch, 2, false)
		if err := pr.ReQueueAll(to); err != nil {
			t.Fatal(err)
		}
		got := qTake(t, cl, to, 2, 10)
		qWant(t, "target", got, []string{"a", "b"}, []uint64{1, 2}, []int32{1, 1})
		for i, m := range got {
			if m.MessageID != res[i].MessageID || m.Channel != to || m.Attributes.ReRouted || m.ClientID != "qsender" {
				t.Fatalf("requeued copy %d: %+v", i, m)
			}
		}
		qWantEmpty(t, cl, ch)
	})

	t.Run("requeue range and message requeue", func(t *testing.T) {
		t.Parallel()
		ch, to := uniq("qds"), uniq("qds")
		qSendBodies(t, cl, ch, "a", "b", "c")
		pr := poll(t, ch, 3, false)
		if err := pr.ReQueueOffsets(to, 3); err != nil {
			t.Fatal(err)
		}
		if err := pr.Messages[0].ReQueue(to); err != nil {
			t.Fatal(err)
		}
		if err := pr.Close(); err != nil {
			t.Fatal(err)
		}
		qWant(t, "target", qTake(t, cl, to, 2, 10), []string{"c", "a"}, []uint64{1, 2}, []int32{1, 1})
		qWant(t, "source", qTake(t, cl, ch, 2, 1), []string{"b"}, []uint64{2}, []int32{1})
	})

	t.Run("client visibility", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qds")
		qSendBodies(t, cl, ch, "v")
		pr, err := qc.Poll(ctx, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(1000).SetVisibilitySeconds(1))
		if err != nil || len(pr.Messages) != 1 {
			t.Fatalf("poll: %v %+v", err, pr)
		}
		// the SDK nacks the message when its visibility runs out
		qWant(t, "after visibility", qTake(t, cl, ch, 1, 10), []string{"v"}, []uint64{2}, []int32{2})
	})
}

// TestQueueDownstreamRaw checks the transaction protocol and its exact
// texts with the raw stub (§12.2–12.4).
func TestQueueDownstreamRaw(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)

	t.Run("get validation", func(t *testing.T) {
		ds := openDS(t, cl)
		r := &pb.QueuesDownstreamRequest{RequestID: "g1", RequestTypeData: pb.QueuesDownstreamRequestType_Get, Channel: uniq("qdsr"), MaxItems: 1, WaitTimeout: 1000}
		ds.send(r)
		resp := ds.recv(10 * time.Second)
		if !resp.IsError || resp.Error != qErr101 || resp.RefRequestId != "g1" || len(resp.TransactionId) != 36 || resp.RequestTypeData != pb.QueuesDownstreamRequestType_Get {
			t.Fatalf("no client id: %+v", resp)
		}
		for _, bad := range badQueueNames {
			resp := ds.get(bad.name, 1, 1000, false)
			if !resp.IsError || len(resp.TransactionId) != 36 {
				t.Fatalf("channel %q: %+v", bad.name, resp)
			}
			wantQueueNameErr(t, bad.name, bad.exact, resp.Error)
			// a failed Get registers no transaction
			ds.settleErr(pb.QueuesDownstreamRequestType_AckAll, resp.TransactionId, nil, "", qTxNotFound)
		}
	})

	t.Run("wait to fill", func(t *testing.T) {
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a")
		ds := openDS(t, cl)
		start := time.Now()
		resp := ds.getOK(ch, 5, 2000)
		if el := time.Since(start); el < 1900*time.Millisecond || el > 6*time.Second {
			t.Fatalf("get with 1 of 5 available answered after %v, want ≈2 s", el)
		}
		qWant(t, "get", resp.Messages, []string{"a"}, []uint64{1}, []int32{1})
		qSendBodies(t, cl, ch, "b", "c", "d", "e")
		start = time.Now()
		resp = ds.getOK(ch, 3, 10000)
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("full get answered after %v", el)
		}
		qWant(t, "full get", resp.Messages, []string{"b", "c", "d"}, []uint64{2, 3, 4}, nil)
		// WaitTimeout below 1000 ms counts as 1000 ms
		start = time.Now()
		resp = ds.getOK(uniq("qdsr"), 1, 10)
		if el := time.Since(start); len(resp.Messages) != 0 || el < 900*time.Millisecond {
			t.Fatalf("empty get with wait 10 ms: %+v after %v", resp, el)
		}
	})

	t.Run("active offsets and ranges", func(t *testing.T) {
		ch, to := uniq("qdsr"), uniq("qdsr")
		qSendBodies(t, cl, ch, "a", "b", "c", "d", "e")
		ds := openDS(t, cl)
		tx := ds.getOK(ch, 5, 1000).TransactionId
		if got := ds.offsets(tx); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
			t.Fatalf("offsets %v", got)
		}
		ds.settleErr(pb.QueuesDownstreamRequestType_AckRange, tx, nil, "", "cannot ack empty list of of offsets")
		ds.settleErr(pb.QueuesDownstreamRequestType_NAckRange, tx, nil, "", "cannot nack empty list of of offsets")
		ds.settleErr(pb.QueuesDownstreamRequestType_ReQueueRange, tx, nil, to, "cannot requeue empty list of of offsets")
		ds.settleErr(pb.QueuesDownstreamRequestType_ReQueueRange, tx, []int64{1}, "", "cannot requeue messages with empty channel destination ")
		ds.settleErr(pb.QueuesDownstreamRequestType_ReQueueAll, tx, nil, "", "cannot requeue messages with empty channel destination ")
		ds.settleErr(pb.QueuesDownstreamRequestType_AckRange, tx, []int64{999}, "", "invalid ack sequence id 999")
		ds.settleErr(pb.QueuesDownstreamRequestType_NAckRange, tx, []int64{999}, "", "invalid nack sequence id 999")
		ds.settleErr(pb.QueuesDownstreamRequestType_ReQueueRange, tx, []int64{999}, to, "invalid ack sequence id 999")
		// earlier entries of a failing list stay applied
		ds.settleErr(pb.QueuesDownstreamRequestType_AckRange, tx, []int64{2, 999}, "", "invalid ack sequence id 999")
		if got := ds.offsets(tx); !slices.Equal(got, []int64{1, 3, 4, 5}) {
			t.Fatalf("offsets after acking 2: %v", got)
		}
		ds.settleOK(pb.QueuesDownstreamRequestType_NAckRange, tx, []int64{4}, "")
		ds.settleOK(pb.QueuesDownstreamRequestType_ReQueueRange, tx, []int64{5}, to)
		if got := ds.offsets(tx); !slices.Equal(got, []int64{1, 3}) {
			t.Fatalf("offsets: %v", got)
		}
		ds.settleOK(pb.QueuesDownstreamRequestType_AckRange, tx, []int64{3, 1}, "")
		// the transaction closed when its last message was settled
		ds.settleErr(pb.QueuesDownstreamRequestType_ActiveOffsets, tx, nil, "", "cannot get active offsets with closed response ")
		qWant(t, "nacked", qTake(t, cl, ch, 5, 1), []string{"d"}, []uint64{6}, []int32{2})
		qWant(t, "requeued", qTake(t, cl, to, 5, 1), []string{"e"}, []uint64{1}, []int32{1})
	})

	t.Run("closed transaction", func(t *testing.T) {
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a", "b")
		ds := openDS(t, cl)
		tx := ds.getOK(ch, 2, 1000).TransactionId
		ds.settleOK(pb.QueuesDownstreamRequestType_CloseByClient, tx, nil, "")
		for _, tc := range []struct {
			typ  pb.QueuesDownstreamRequestType
			seqs []int64
			to   string
			want string
		}{
			{pb.QueuesDownstreamRequestType_AckAll, nil, "", "cannot ack messages with closed response "},
			{pb.QueuesDownstreamRequestType_AckRange, []int64{1}, "", "cannot ack messages with closed response "},
			{pb.QueuesDownstreamRequestType_NAckAll, nil, "", "cannot nack messages with closed response "},
			{pb.QueuesDownstreamRequestType_NAckRange, []int64{1}, "", "cannot nack messages with closed response "},
			{pb.QueuesDownstreamRequestType_ReQueueAll, nil, "x", "cannot ack messages with closed response "},
			{pb.QueuesDownstreamRequestType_ReQueueRange, []int64{1}, "x", "cannot requeue messages with closed response "},
			{pb.QueuesDownstreamRequestType_ActiveOffsets, nil, "", "cannot get active offsets with closed response "},
		} {
			if resp := ds.settleErr(tc.typ, tx, tc.seqs, tc.to, tc.want); resp.RequestTypeData != tc.typ {
				t.Fatalf("%v: response type %v", tc.typ, resp.RequestTypeData)
			}
		}
		ds.settleOK(pb.QueuesDownstreamRequestType_CloseByClient, tx, nil, "") // closing again is silent
		qWant(t, "returned in place", qTake(t, cl, ch, 2, 5), []string{"a", "b"}, []uint64{1, 2}, []int32{1, 1})

		// a Get that found nothing and an auto-ack Get close at once
		empty := ds.getOK(uniq("qdsr"), 1, 1000)
		if len(empty.Messages) != 0 {
			t.Fatalf("empty get: %+v", empty)
		}
		ds.settleErr(pb.QueuesDownstreamRequestType_AckAll, empty.TransactionId, nil, "", "cannot ack messages with closed response ")
		qSendBodies(t, cl, ch, "c")
		auto := ds.get(ch, 1, 1000, true)
		if auto.IsError || len(auto.Messages) != 1 {
			t.Fatalf("auto-ack get: %+v", auto)
		}
		// (Herald settles an auto-ack transaction just after its reply is on
		// the way, so a request racing the reply may still find it open.)
		eventually(t, 10*time.Second, func() error {
			ds.settle(pb.QueuesDownstreamRequestType_ActiveOffsets, auto.TransactionId, nil, "")
			if r := ds.recv(10 * time.Second); r.Error != "cannot get active offsets with closed response " {
				return errf("auto-ack transaction: %+v", r)
			}
			return nil
		})
		qWaitMessages(t, cl, ch, 0)
	})

	t.Run("unknown transaction and request types", func(t *testing.T) {
		ds := openDS(t, cl)
		for typ := pb.QueuesDownstreamRequestType(0); typ <= 11; typ++ {
			if typ == pb.QueuesDownstreamRequestType_Get || typ == pb.QueuesDownstreamRequestType_TransactionStatus {
				continue
			}
			if resp := ds.settleErr(typ, "no-such-tx", []int64{1}, "x", qTxNotFound); resp.RequestTypeData != typ {
				t.Fatalf("%v: response type %v", typ, resp.RequestTypeData)
			}
		}
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a")
		tx := ds.getOK(ch, 1, 1000).TransactionId
		for _, typ := range []pb.QueuesDownstreamRequestType{pb.QueuesDownstreamRequestType_CloseByServer, pb.QueuesDownstreamRequestType_PollRequestTypeUnknown, 12} {
			resp := ds.settleErr(typ, tx, nil, "", "request unknown")
			if resp.RequestTypeData != pb.QueuesDownstreamRequestType_PollRequestTypeUnknown {
				t.Fatalf("%v: response type %v, want PollRequestTypeUnknown", typ, resp.RequestTypeData)
			}
		}
		// the transaction is untouched
		if got := ds.offsets(tx); !slices.Equal(got, []int64{1}) {
			t.Fatalf("offsets %v", got)
		}
	})

	t.Run("a Get holds only what it returns", func(t *testing.T) {
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a", "b", "c")
		ds1, ds2 := openDS(t, cl), openDS(t, cl)
		qWant(t, "first poller", ds1.getOK(ch, 1, 1000).Messages, []string{"a"}, []uint64{1}, nil)
		start := time.Now()
		qWant(t, "second poller", ds2.getOK(ch, 2, 5000).Messages, []string{"b", "c"}, []uint64{2, 3}, nil)
		if el := time.Since(start); el > 4*time.Second {
			t.Fatalf("second poller waited %v for messages that were ready", el)
		}
	})

	t.Run("several transactions on one stream", func(t *testing.T) {
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a", "b", "c")
		ds := openDS(t, cl)
		tx1 := ds.getOK(ch, 1, 1000).TransactionId
		tx2 := ds.getOK(ch, 2, 1000).TransactionId
		if !slices.Equal(ds.offsets(tx1), []int64{1}) || !slices.Equal(ds.offsets(tx2), []int64{2, 3}) {
			t.Fatal("offsets of the two transactions")
		}
		// in-place returns out of order; the next receive is still FIFO
		ds.settleOK(pb.QueuesDownstreamRequestType_CloseByClient, tx2, nil, "")
		ds.settleOK(pb.QueuesDownstreamRequestType_CloseByClient, tx1, nil, "")
		qWant(t, "FIFO after returns", qTake(t, cl, ch, 3, 5), []string{"a", "b", "c"}, []uint64{1, 2, 3}, []int32{1, 1, 1})
	})

	t.Run("settlements do not wait behind a pending Get", func(t *testing.T) {
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a")
		ds := openDS(t, cl)
		tx := ds.getOK(ch, 1, 1000).TransactionId
		g := &pb.QueuesDownstreamRequest{RequestID: "slow-get", ClientID: "c", RequestTypeData: pb.QueuesDownstreamRequestType_Get, Channel: uniq("qdsr"), MaxItems: 1, WaitTimeout: 3000}
		ds.send(g)
		start := time.Now()
		ds.settleOK(pb.QueuesDownstreamRequestType_AckAll, tx, nil, "")
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("settlement answered after %v, behind the pending Get", el)
		}
		if r := ds.recv(10 * time.Second); r.RefRequestId != "slow-get" || r.IsError || len(r.Messages) != 0 {
			t.Fatalf("pending get: %+v", r)
		}
		qWaitMessages(t, cl, ch, 0)
	})

	t.Run("in-place return keeps the count", func(t *testing.T) {
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a")
		ds := openDS(t, cl)
		ds.settleOK(pb.QueuesDownstreamRequestType_NAckAll, ds.getOK(ch, 1, 1000).TransactionId, nil, "")
		resp := ds.getOK(ch, 1, 5000)
		qWant(t, "after nack", resp.Messages, []string{"a"}, []uint64{2}, []int32{2})
		ds.settleOK(pb.QueuesDownstreamRequestType_CloseByClient, resp.TransactionId, nil, "")
		resp = ds.getOK(ch, 1, 5000)
		qWant(t, "after close", resp.Messages, []string{"a"}, []uint64{2}, []int32{2})
		ds.settleOK(pb.QueuesDownstreamRequestType_AckAll, resp.TransactionId, nil, "")
	})

	t.Run("stream end returns messages in place", func(t *testing.T) {
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a", "b", "c")
		ds := openDS(t, cl)
		ds.getOK(ch, 2, 1000)
		ds.cancel()
		qWant(t, "after stream end", qTake(t, cl, ch, 3, 10), []string{"a", "b", "c"}, []uint64{1, 2, 3}, []int32{1, 1, 1})
	})

	t.Run("half-close ends the stream", func(t *testing.T) {
		ch := uniq("qdsr")
		qSendBodies(t, cl, ch, "a")
		ds := openDS(t, cl)
		ds.getOK(ch, 1, 1000)
		if err := ds.s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-ds.end:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("stream ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("stream still open after half-close")
		}
		qWant(t, "after half-close", qTake(t, cl, ch, 1, 5), []string{"a"}, []uint64{1}, []int32{1})
	})
}
