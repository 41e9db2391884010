package test

import (
	"slices"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// TestQueueExpiration: an expired message is never delivered; classic
// receive counts it in MessagesExpired, peek does not show it (§7.4).
func TestQueueExpiration(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qexp")
	sent := time.Now()
	for _, b := range []string{"exp1", "exp2"} {
		res := qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte(b), Policy: &pb.QueueMessagePolicy{ExpirationSeconds: 1}})
		nsNear(t, "ExpirationAt", res.ExpirationAt, sent.Add(time.Second), 0, 5*time.Second)
	}
	qSendBodies(t, cl, ch, "keep")
	sleepUntil(sent.Add(2 * time.Second)) // let the expiration pass

	pk := qReceive(t, cl, ch, 1, 1, true)
	if pk.IsError || pk.MessagesExpired < 1 {
		t.Fatalf("peek after expiry: %+v, want MessagesExpired ≥ 1", pk)
	}
	qWant(t, "peek after expiry", pk.Messages, []string{"keep"}, []uint64{3}, nil)
	res := qReceive(t, cl, ch, 5, 1, false)
	if res.IsError || res.MessagesExpired < 1 || res.MessagesReceived != 1 {
		t.Fatalf("receive after expiry: %+v, want 1 message and MessagesExpired ≥ 1", res)
	}
	qWant(t, "receive after expiry", res.Messages, []string{"keep"}, []uint64{3}, []int32{1})
	qWantEmpty(t, cl, ch)

	// StreamQueueMessage and QueuesDownstream skip expired messages silently
	ch2 := uniq("qexp")
	sent = time.Now()
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch2, Body: []byte("gone"), Policy: &pb.QueueMessagePolicy{ExpirationSeconds: 1}})
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch2, Body: []byte("gone2"), Policy: &pb.QueueMessagePolicy{ExpirationSeconds: 1}})
	qSendBodies(t, cl, ch2, "live1", "live2")
	sleepUntil(sent.Add(2 * time.Second))
	sq := openSQ(t, cl)
	if m := sq.receive(ch2, 10, 2); string(m.Body) != "live1" {
		t.Fatalf("stream receive: got %q, want live1", m.Body)
	}
	ds := openDS(t, cl)
	resp := ds.getOK(ch2, 10, 1000)
	qWant(t, "poll after expiry", resp.Messages, []string{"live2"}, []uint64{4}, []int32{1})
}

// TestQueueDelay: a delayed message is invisible to receive and peek until
// due, then delivered as a fresh message (§7.4).
func TestQueueDelay(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qdelay")
	sent := time.Now()
	res := qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("delayed"),
		Policy: &pb.QueueMessagePolicy{DelaySeconds: 2, ExpirationSeconds: 60}})
	nsNear(t, "DelayedTo", res.DelayedTo, sent.Add(2*time.Second), 0, 5*time.Second)
	due := time.Unix(0, res.DelayedTo)
	qSendBodies(t, cl, ch, "plain")

	// Before it is due, only the plain message is visible.
	start := time.Now()
	peek := qPeek(t, cl, ch, 2, 1)
	if slices.Contains(qBodies(peek), "delayed") && start.Before(due.Add(-100*time.Millisecond)) {
		t.Fatalf("peek started %v before due showed the delayed message", due.Sub(start))
	}
	start = time.Now()
	got := qTake(t, cl, ch, 1, 5)
	if len(got) != 1 || (string(got[0].Body) == "delayed" && start.Before(due.Add(-100*time.Millisecond))) {
		t.Fatalf("receive started %v before due got %q, want plain", due.Sub(start), qBodies(got))
	}
	plainSeq := got[0].Attributes.Sequence

	// It arrives once due (a long poll picks it up), shortly after.
	got = qTake(t, cl, ch, 1, 10)
	arrived := time.Now()
	if len(got) != 1 || string(got[0].Body) != "delayed" {
		t.Fatalf("after the delay: got %q", qBodies(got))
	}
	if arrived.Before(due) {
		t.Fatalf("delayed message received %v before it was due", due.Sub(arrived))
	}
	if late := arrived.Sub(due); late > 5*time.Second {
		t.Fatalf("delayed message %v late", late)
	}
	m := got[0]
	if m.Attributes.ReceiveCount != 1 || m.Attributes.DelayedTo != 0 || m.Policy.DelaySeconds != 0 || m.Policy.ExpirationSeconds != 60 || m.Attributes.Sequence <= plainSeq {
		t.Fatalf("released message: attributes %+v policy %+v (plain had seq %d)", m.Attributes, m.Policy, plainSeq)
	}
	// ExpirationAt counts from send time, including the delay
	if m.Attributes.ExpirationAt != res.ExpirationAt {
		nsNear(t, "ExpirationAt", m.Attributes.ExpirationAt, time.Unix(0, res.ExpirationAt), time.Second, 5*time.Second)
	}
	nsNear(t, "Timestamp", m.Attributes.Timestamp, due, time.Second, 5*time.Second)
	qWantEmpty(t, cl, ch)
}

// TestQueueDelaySequence: a delayed message takes its channel sequence when
// it is released, not when it is sent (§7.4: each message entering the
// channel takes the next number; the reference parks delayed messages in a
// separate delay channel).
func TestQueueDelaySequence(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qdseq")
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("delayed"), Policy: &pb.QueueMessagePolicy{DelaySeconds: 1}})
	qSendBodies(t, cl, ch, "plain")
	qWant(t, "sequences", qTake(t, cl, ch, 2, 10), []string{"plain", "delayed"}, []uint64{1, 2}, nil)
}

// TestQueueDelaySurvivesRestart: a pending delayed message is released
// after a server restart.
func TestQueueDelaySurvivesRestart(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	ch := uniq("qdelayr")
	res := qSendOK(t, rawClient(t, srv), &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("later"), Policy: &pb.QueueMessagePolicy{DelaySeconds: 2}})
	srv.Restart()
	cl := rawClient(t, srv)
	got := qTake(t, cl, ch, 1, 15)
	if len(got) != 1 || string(got[0].Body) != "later" || got[0].MessageID != res.MessageID || got[0].Attributes.ReceiveCount != 1 {
		t.Fatalf("after restart: %+v", got)
	}
	if now := time.Now(); now.Before(time.Unix(0, res.DelayedTo)) {
		t.Fatalf("released %v early", time.Unix(0, res.DelayedTo).Sub(now))
	}
}

// TestQueueDeadLetter: a message is delivered at most MaxReceiveCount
// times; the last negative settlement moves it to MaxReceiveQueue, or drops
// it when there is none (§7.4).
func TestQueueDeadLetter(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "qdlq")
	cl := rawClient(t, srv)
	ctx := testCtx(t, 60*time.Second)

	t.Run("to dead-letter queue", func(t *testing.T) {
		ch := uniq("qdlq")
		dlq := ch + ".dead"
		res := qSendOK(t, cl, &pb.QueueMessage{ClientID: "origin", Channel: ch, Metadata: "md", Body: []byte("poison"), Tags: map[string]string{"t": "1"},
			Policy: &pb.QueueMessagePolicy{MaxReceiveCount: 2, MaxReceiveQueue: dlq, ExpirationSeconds: 600}})
		for i := int32(1); i <= 2; i++ {
			sq := c.NewStreamQueueMessage().SetChannel(ch)
			m, err := sq.Next(ctx, 10, 5)
			if err != nil || m == nil || string(m.Body) != "poison" || m.Attributes.ReceiveCount != i {
				t.Fatalf("delivery %d: %v %+v", i, err, m)
			}
			if err := m.Reject(); err != nil {
				t.Fatalf("reject %d: %v", i, err)
			}
		}
		got := qTake(t, cl, dlq, 5, 3)
		if len(got) != 1 {
			t.Fatalf("dead-letter queue holds %d messages (%q), want exactly 1", len(got), qBodies(got))
		}
		d := got[0]
		a := d.Attributes
		if d.MessageID != res.MessageID || d.ClientID != "origin" || d.Channel != dlq || d.Metadata != "md" || string(d.Body) != "poison" || d.Tags["t"] != "1" {
			t.Fatalf("dead letter: %+v", d)
		}
		if !a.ReRouted || a.ReRoutedFromQueue != ch || a.ReceiveCount != 1 || a.Sequence != 1 {
			t.Fatalf("dead letter attributes: %+v", a)
		}
		if a.ExpirationAt != res.ExpirationAt {
			t.Fatalf("dead letter ExpirationAt %d, want the original's %d", a.ExpirationAt, res.ExpirationAt)
		}
		if p := d.Policy; p.MaxReceiveQueue != "" || p.ExpirationSeconds != 0 || p.DelaySeconds != 0 {
			t.Fatalf("dead letter policy %+v, want all zero", p)
		}
		qWantEmpty(t, cl, ch)
	})

	t.Run("dropped without dead-letter queue", func(t *testing.T) {
		ch := uniq("qdlq")
		qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("drop"), Policy: &pb.QueueMessagePolicy{MaxReceiveCount: 1}})
		qSendBodies(t, cl, ch, "next")
		sq := c.NewStreamQueueMessage().SetChannel(ch)
		m, err := sq.Next(ctx, 10, 5)
		if err != nil || string(m.Body) != "drop" {
			t.Fatalf("next: %v %+v", err, m)
		}
		if err := m.Reject(); err != nil {
			t.Fatal(err)
		}
		qWant(t, "after drop", qTake(t, cl, ch, 5, 1), []string{"next"}, []uint64{2}, nil)
	})

	t.Run("downstream nack", func(t *testing.T) {
		ch := uniq("qdlq")
		dlq := ch + ".dead"
		qSendOK(t, cl, &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("n"), Policy: &pb.QueueMessagePolicy{MaxReceiveCount: 2, MaxReceiveQueue: dlq}})
		ds := openDS(t, cl)
		for i := int32(1); i <= 2; i++ {
			resp := ds.getOK(ch, 1, 5000)
			if len(resp.Messages) != 1 || resp.Messages[0].Attributes.ReceiveCount != i {
				t.Fatalf("poll %d: %+v", i, resp.Messages)
			}
			ds.settleOK(pb.QueuesDownstreamRequestType_NAckAll, resp.TransactionId, nil, "")
		}
		got := qTake(t, cl, dlq, 5, 3)
		if len(got) != 1 || !got[0].Attributes.ReRouted || got[0].Attributes.ReRoutedFromQueue != ch {
			t.Fatalf("dead-letter queue: %+v", got)
		}
		qWantEmpty(t, cl, ch)
	})
}
