package test

import (
	"errors"
	"io"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// TestQueueStreamSDK drives StreamQueueMessage (§11) through the SDK's
// NewStreamQueueMessage().Next and the message's settlement methods.
func TestQueueStreamSDK(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qstream")
	cl := rawClient(t, srv)
	ctx := testCtx(t, 90*time.Second)

	t.Run("ack removes", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qsq")
		qSendBodies(t, cl, ch, "a", "b")
		m, err := c.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 10, 5)
		if err != nil || string(m.Body) != "a" || m.Attributes.Sequence != 1 || m.Attributes.ReceiveCount != 1 || m.Channel != ch {
			t.Fatalf("next: %v %+v", err, m)
		}
		if err := m.Ack(); err != nil {
			t.Fatalf("ack: %v", err)
		}
		qWant(t, "after ack", qTake(t, cl, ch, 5, 1), []string{"b"}, []uint64{2}, []int32{1})
	})

	t.Run("reject requeues at the tail", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qsq")
		qSendBodies(t, cl, ch, "a", "b")
		m, err := c.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 10, 5)
		if err != nil || string(m.Body) != "a" {
			t.Fatalf("next: %v %+v", err, m)
		}
		if err := m.Reject(); err != nil {
			t.Fatalf("reject: %v", err)
		}
		got := qTake(t, cl, ch, 2, 5)
		qWant(t, "after reject", got, []string{"b", "a"}, []uint64{2, 3}, []int32{1, 2})
		if got[1].MessageID != m.MessageID {
			t.Fatalf("requeued MessageID %q, want %q", got[1].MessageID, m.MessageID)
		}
	})

	t.Run("visibility expiry", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qsq")
		qSendBodies(t, cl, ch, "v")
		m, err := c.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 1, 5)
		if err != nil || string(m.Body) != "v" {
			t.Fatalf("next: %v %+v", err, m)
		}
		// Back at the tail once the visibility expired. (The SDK forgets the
		// message when the server ends the stream after 129; calling Ack now
		// would race inside the SDK, so the late ack is tested raw.)
		got := qTake(t, cl, ch, 1, 10)
		qWant(t, "after expiry", got, []string{"v"}, []uint64{2}, []int32{2})
	})

	t.Run("extend visibility", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qsq")
		qSendBodies(t, cl, ch, "x")
		m, err := c.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 2, 5)
		got := time.Now()
		if err != nil || string(m.Body) != "x" {
			t.Fatalf("next: %v %+v", err, m)
		}
		if err := m.ExtendVisibility(8); err != nil {
			t.Fatalf("extend: %v", err)
		}
		sleepUntil(got.Add(3 * time.Second)) // past the first visibility
		qWantEmpty(t, cl, ch)
		if err := m.Ack(); err != nil {
			t.Fatalf("ack after extension: %v", err)
		}
		qWaitMessages(t, cl, ch, 0)
	})

	t.Run("resend", func(t *testing.T) {
		t.Parallel()
		ch, to := uniq("qsq"), uniq("qsq")
		res := qSendOK(t, cl, &pb.QueueMessage{ClientID: "origin", Channel: ch, Metadata: "md", Body: []byte("r"), Tags: map[string]string{"k": "v"},
			Policy: &pb.QueueMessagePolicy{MaxReceiveCount: 5}})
		sq := c.NewStreamQueueMessage().SetChannel(ch)
		m, err := sq.Next(ctx, 10, 5)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Reject(); err != nil { // count 2 now, which the move resets
			t.Fatal(err)
		}
		sq = c.NewStreamQueueMessage().SetChannel(ch)
		if m, err = sq.Next(ctx, 10, 5); err != nil || m.Attributes.ReceiveCount != 2 {
			t.Fatalf("next: %v %+v", err, m)
		}
		if err := m.Resend(to); err != nil {
			t.Fatalf("resend: %v", err)
		}
		qWaitMessages(t, cl, to, 1)
		got := qTake(t, cl, to, 1, 5)
		if len(got) != 1 {
			t.Fatalf("target holds %q", qBodies(got))
		}
		r := got[0]
		if r.MessageID != res.MessageID || r.ClientID != "origin" || r.Channel != to || r.Metadata != "md" || string(r.Body) != "r" || r.Tags["k"] != "v" ||
			r.Attributes.ReceiveCount != 1 || r.Attributes.Sequence != 1 || r.Attributes.ReRouted || r.Policy.MaxReceiveCount != 5 {
			t.Fatalf("resent copy: %+v", r)
		}
		qWantEmpty(t, cl, ch)
	})

	t.Run("resend with new message", func(t *testing.T) {
		t.Parallel()
		ch, to := uniq("qsq"), uniq("qsq")
		qSendBodies(t, cl, ch, "old")
		sq := c.NewStreamQueueMessage().SetChannel(ch)
		if _, err := sq.Next(ctx, 10, 5); err != nil {
			t.Fatal(err)
		}
		nm := c.NewQueueMessage().SetId("new-id").SetClientId("modifier").SetChannel(to).SetBody([]byte("new")).SetMetadata("nmd")
		if err := sq.ResendWithNewMessage(nm); err != nil {
			t.Fatalf("resend with new message: %v", err)
		}
		qWaitMessages(t, cl, to, 1)
		got := qTake(t, cl, to, 1, 5)
		if len(got) != 1 || got[0].MessageID != "new-id" || got[0].ClientID != "modifier" || string(got[0].Body) != "new" || got[0].Metadata != "nmd" || got[0].Attributes.ReceiveCount != 1 {
			t.Fatalf("target: %+v", got)
		}
		qWantEmpty(t, cl, ch)
	})

	t.Run("close while holding", func(t *testing.T) {
		t.Parallel()
		ch := uniq("qsq")
		qSendBodies(t, cl, ch, "held", "other")
		sq := c.NewStreamQueueMessage().SetChannel(ch)
		m, err := sq.Next(ctx, 60, 5)
		if err != nil || string(m.Body) != "held" {
			t.Fatalf("next: %v %+v", err, m)
		}
		sq.Close()
		got := qTake(t, cl, ch, 2, 10)
		qWant(t, "after close", got, []string{"other", "held"}, []uint64{2, 3}, []int32{1, 2})
	})

	t.Run("nothing to receive", func(t *testing.T) {
		t.Parallel()
		_, err := c.NewStreamQueueMessage().SetChannel(uniq("qsq")).Next(ctx, 10, 1)
		if err == nil || err.Error() != qErr138 {
			t.Fatalf("next on an empty queue: %v, want %q", err, qErr138)
		}
	})
}

// TestQueueStreamRaw checks the StreamQueueMessage state machine and its
// in-band errors with the raw stub (§11).
func TestQueueStreamRaw(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ack := func(seq uint64) *pb.StreamQueueMessagesRequest {
		return &pb.StreamQueueMessagesRequest{RequestID: "ack", StreamRequestTypeData: pb.StreamRequestType_AckMessage, RefSequence: seq}
	}
	reject := func(seq uint64) *pb.StreamQueueMessagesRequest {
		return &pb.StreamQueueMessagesRequest{RequestID: "rej", StreamRequestTypeData: pb.StreamRequestType_RejectMessage, RefSequence: seq}
	}
	recvReq := func(ch string, vis, wait int32) *pb.StreamQueueMessagesRequest {
		return &pb.StreamQueueMessagesRequest{RequestID: "recv", StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage, Channel: ch, VisibilitySeconds: vis, WaitTimeSeconds: wait}
	}

	t.Run("errors without a message keep the stream open", func(t *testing.T) {
		ch := uniq("qsqraw")
		sq := openSQ(t, cl)
		// (send directly: the helper fills in a client id)
		if err := sq.s.Send(&pb.StreamQueueMessagesRequest{RequestID: "noclient", StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage, Channel: ch}); err != nil {
			t.Fatal(err)
		}
		if r := sq.recv(10 * time.Second); r.RequestID != "noclient" || r.Error != qErr101 {
			t.Fatalf("no client id: %+v", r)
		}
		sq.wantErr(sqReq(pb.StreamRequestType_StreamRequestTypeUnknown, "t0"), qErr132)
		sq.wantErr(sqReq(pb.StreamRequestType(7), "t7"), qErr132)
		sq.wantErr(ack(5), qErr124)
		sq.wantErr(ack(0), qErr125)
		sq.wantErr(reject(5), qErr137)
		sq.wantErr(reject(0), qErr125)
		sq.wantErr(&pb.StreamQueueMessagesRequest{RequestID: "rs", StreamRequestTypeData: pb.StreamRequestType_ResendMessage, Channel: ch + ".x"}, qErr126)
		sq.wantErr(&pb.StreamQueueMessagesRequest{RequestID: "rs", StreamRequestTypeData: pb.StreamRequestType_ResendMessage, Channel: "a b"}, qErr120)
		sq.wantErr(sqReq(pb.StreamRequestType_SendModifiedMessage, "sm"), qErr131)
		sq.wantErr(&pb.StreamQueueMessagesRequest{RequestID: "sm", StreamRequestTypeData: pb.StreamRequestType_SendModifiedMessage,
			ModifiedMessage: &pb.QueueMessage{ClientID: "c", Channel: ch}}, qErr110)
		sq.wantErr(&pb.StreamQueueMessagesRequest{RequestID: "sm", StreamRequestTypeData: pb.StreamRequestType_SendModifiedMessage,
			ModifiedMessage: qMsg(ch, "m")}, qErr124)
		sq.wantErr(recvReq("", 10, 1), qErr120)
		sq.wantErr(recvReq("a.", 10, 1), qErr120)
		sq.wantErr(recvReq(ch, -1, 1), qErr127)
		sq.wantErr(recvReq(ch, 43201, 1), qErr127)
		sq.wantErr(recvReq(ch, 10, -1), qErr136)
		sq.wantErr(recvReq(ch, 10, 3601), qErr136)
		sq.wantErr(&pb.StreamQueueMessagesRequest{RequestID: "mv", StreamRequestTypeData: pb.StreamRequestType_ModifyVisibility, VisibilitySeconds: -1}, qErr127)
		// RequestID is generated when empty
		sq.send(&pb.StreamQueueMessagesRequest{StreamRequestTypeData: pb.StreamRequestType_AckMessage, RefSequence: 1})
		if r := sq.recv(10 * time.Second); r.RequestID == "" || r.Error != qErr124 {
			t.Fatalf("got %+v, want a generated RequestID and %q", r, qErr124)
		}
		// the stream still works
		qSendBodies(t, cl, ch, "a")
		m := sq.receive(ch, 10, 5)
		sq.wantOK(ack(m.Attributes.Sequence))
		sq.wantEnd(5 * time.Second)
	})

	t.Run("errors while holding", func(t *testing.T) {
		ch := uniq("qsqraw")
		qSendBodies(t, cl, ch, "a", "b")
		sq := openSQ(t, cl)
		m := sq.receive(ch, 30, 5)
		seq := m.Attributes.Sequence
		sq.wantErr(recvReq(ch, 10, 1), qErr128)
		sq.wantErr(ack(0), qErr125)
		sq.wantErr(ack(seq+1), qErr125)
		sq.wantErr(reject(seq+1), qErr125)
		sq.wantErr(&pb.StreamQueueMessagesRequest{RequestID: "rs", StreamRequestTypeData: pb.StreamRequestType_ResendMessage, Channel: ""}, qErr120)
		sq.wantErr(&pb.StreamQueueMessagesRequest{RequestID: "sm", StreamRequestTypeData: pb.StreamRequestType_SendModifiedMessage,
			ModifiedMessage: &pb.QueueMessage{Channel: ch, Body: []byte("x")}}, qErr101)
		sq.wantOK(&pb.StreamQueueMessagesRequest{RequestID: "mv", StreamRequestTypeData: pb.StreamRequestType_ModifyVisibility, VisibilitySeconds: 30})
		// still held: the other message is the only one another receiver gets
		qWant(t, "others", qTake(t, cl, ch, 2, 1), []string{"b"}, nil, nil)
		sq.wantOK(reject(seq))
		sq.wantEnd(5 * time.Second)
		qWant(t, "after reject", qTake(t, cl, ch, 1, 5), []string{"a"}, []uint64{3}, []int32{2})
	})

	t.Run("second receive while waiting", func(t *testing.T) {
		ch := uniq("qsqraw")
		sq := openSQ(t, cl)
		sq.send(recvReq(ch, 10, 5))
		sq.wantErr(&pb.StreamQueueMessagesRequest{RequestID: "recv2", StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage, Channel: ch, VisibilitySeconds: 10, WaitTimeSeconds: 1}, qErr128)
		qSendBodies(t, cl, ch, "late")
		r := sq.recv(10 * time.Second)
		if r.RequestID != "recv" || r.IsError || string(r.Message.GetBody()) != "late" {
			t.Fatalf("first receive: %+v", r)
		}
		sq.wantOK(ack(r.Message.Attributes.Sequence))
		sq.wantEnd(5 * time.Second)
	})

	t.Run("138 ends the stream", func(t *testing.T) {
		sq := openSQ(t, cl)
		start := time.Now()
		sq.wantErr(recvReq(uniq("qsqraw"), 10, 1), qErr138)
		if el := time.Since(start); el < 900*time.Millisecond || el > 5*time.Second {
			t.Fatalf("138 after %v, want ≈1 s", el)
		}
		sq.wantEnd(5 * time.Second)
	})

	t.Run("129 ends the stream", func(t *testing.T) {
		ch := uniq("qsqraw")
		qSendBodies(t, cl, ch, "v")
		sq := openSQ(t, cl)
		m := sq.receive(ch, 1, 5)
		got := time.Now()
		r := sq.recv(10 * time.Second)
		if !r.IsError || r.Error != qErr129 || r.RequestID != "recv" || r.StreamRequestTypeData != pb.StreamRequestType_ReceiveMessage {
			t.Fatalf("got %+v, want %q for the receive request", r, qErr129)
		}
		if el := time.Since(got); el < 900*time.Millisecond || el > 5*time.Second {
			t.Fatalf("129 after %v, want ≈1 s", el)
		}
		sq.wantEnd(5 * time.Second)
		qWant(t, "after expiry", qTake(t, cl, ch, 1, 5), []string{"v"}, []uint64{m.Attributes.Sequence + 1}, []int32{2})
	})

	t.Run("ack after the lease expired is refused", func(t *testing.T) {
		ch := uniq("qsqraw")
		qSendBodies(t, cl, ch, "late")
		sq := openSQ(t, cl)
		m := sq.receive(ch, 1, 5)
		sleepUntil(time.Now().Add(1500 * time.Millisecond)) // past the visibility
		// The server may already have ended the stream: the send can fail.
		_ = sq.s.Send(&pb.StreamQueueMessagesRequest{RequestID: "late-ack", ClientID: "c", StreamRequestTypeData: pb.StreamRequestType_AckMessage, RefSequence: m.Attributes.Sequence})
		if r := sq.recv(10 * time.Second); !r.IsError || r.Error != qErr129 {
			t.Fatalf("late ack: got %+v, want %q", r, qErr129)
		}
		sq.wantEnd(5 * time.Second)
		qWant(t, "not removed", qTake(t, cl, ch, 1, 5), []string{"late"}, []uint64{m.Attributes.Sequence + 1}, []int32{2})
	})

	t.Run("settlements end the stream", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			req  func(m *pb.QueueMessage, to string) *pb.StreamQueueMessagesRequest
		}{
			{"ack", func(m *pb.QueueMessage, _ string) *pb.StreamQueueMessagesRequest { return ack(m.Attributes.Sequence) }},
			{"reject", func(m *pb.QueueMessage, _ string) *pb.StreamQueueMessagesRequest {
				return reject(m.Attributes.Sequence)
			}},
			{"resend", func(_ *pb.QueueMessage, to string) *pb.StreamQueueMessagesRequest {
				return &pb.StreamQueueMessagesRequest{RequestID: "rs", StreamRequestTypeData: pb.StreamRequestType_ResendMessage, Channel: to}
			}},
			{"send modified", func(_ *pb.QueueMessage, to string) *pb.StreamQueueMessagesRequest {
				return &pb.StreamQueueMessagesRequest{RequestID: "sm", StreamRequestTypeData: pb.StreamRequestType_SendModifiedMessage, ModifiedMessage: qMsg(to, "mod")}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ch, to := uniq("qsqraw"), uniq("qsqraw")
				qSendBodies(t, cl, ch, "s")
				sq := openSQ(t, cl)
				m := sq.receive(ch, 30, 5)
				sq.wantOK(tc.req(m, to))
				sq.wantEnd(5 * time.Second)
			})
		}
	})

	t.Run("modify visibility without a message", func(t *testing.T) {
		sq := openSQ(t, cl)
		sq.wantOK(&pb.StreamQueueMessagesRequest{RequestID: "mv", StreamRequestTypeData: pb.StreamRequestType_ModifyVisibility, VisibilitySeconds: 1})
		// the armed timer ends the stream (Herald announces it with 129)
		select {
		case r := <-sq.resps:
			if r.Error != qErr129 {
				t.Fatalf("got %+v", r)
			}
			sq.wantEnd(5 * time.Second)
		case err := <-sq.end:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("stream ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("stream still open")
		}
	})
}
