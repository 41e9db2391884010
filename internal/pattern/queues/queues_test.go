package queues

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func lim() Limits {
	l := Limits{}
	l.setDefaults()
	return l
}

func msg(body string, p Policy) *Message {
	return &Message{ID: "id-" + body, ClientID: "c", Channel: "orders", Body: []byte(body), Policy: p}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hasCall(s *settler, c string) bool { return slices.Contains(s.got(), c) }

// A held message whose visibility runs out goes back to the tail of its
// queue with the count it showed (a new copy, then the original acked), or
// to its dead-letter queue once its receive count is used up.
func TestLeaseExpiry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  Policy
		stored  int32 // receive count already stored
		wantTo  string
		wantCnt int32
		wantSet string
	}{
		{"requeued at the tail", Policy{MaxReceiveCount: 5}, 0, "orders", 1, "ack-sync"},
		{"requeued with its count", Policy{MaxReceiveCount: 5}, 3, "orders", 4, "ack-sync"},
		{"dead-lettered", Policy{MaxReceiveCount: 1, MaxReceiveQueue: "orders.dlq"}, 0, "orders.dlq", 0, "term max receive count"},
		{"dropped without a dead-letter queue", Policy{MaxReceiveCount: 1}, 0, "", 0, "term max receive count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, lim())
			m := msg("a", tc.policy)
			m.receiveCount = tc.stored
			st := r.deliver("orders", 7, m)
			ss := r.s.NewSession()
			defer ss.Close()
			if err := ss.BeginReceive("orders", 50*time.Millisecond, time.Second); err != nil {
				t.Fatal(err)
			}
			got, err := ss.Receive(context.Background(), "rc", "orders", 50*time.Millisecond, time.Second)
			if err != nil || string(got.Body) != "a" || got.Attributes.Sequence != 7 || got.Attributes.ReceiveCount != tc.stored+1 {
				t.Fatalf("receive: %+v %v", got, err)
			}
			select {
			case <-ss.Expired():
			case <-time.After(5 * time.Second):
				t.Fatal("the visibility timer did not fire")
			}
			waitFor(t, tc.wantSet, func() bool { return hasCall(st, tc.wantSet) })
			stored := r.log.stored()
			if tc.wantTo == "" {
				if len(stored) != 0 {
					t.Fatalf("a message without a dead-letter queue was stored: %+v", stored)
				}
				return
			}
			if len(stored) != 1 || stored[0].channel != tc.wantTo || stored[0].msg.receiveCount != tc.wantCnt {
				t.Fatalf("stored %+v, want one copy on %s with count %d", stored, tc.wantTo, tc.wantCnt)
			}
			if dl := stored[0].msg; tc.wantTo == "orders.dlq" && (!dl.Attributes.ReRouted || dl.Attributes.ReRoutedFromQueue != "orders" || dl.Policy != (Policy{})) {
				t.Fatalf("dead letter %+v", dl)
			}
			if !strings.HasPrefix(stored[0].msgID, map[bool]string{true: "dl:", false: "rp:"}[tc.wantTo == "orders.dlq"]) {
				t.Fatalf("copy id %q is not derived from the source position", stored[0].msgID)
			}
		})
	}
}

// On delivery a message is checked before it is handed out: one whose
// receive count is used up is dead-lettered, one that expired is removed
// and counted; neither reaches the receiver. If the dead letter cannot be
// stored, the message stays (redelivered later), never lost.
func TestDeliveryChecks(t *testing.T) {
	r := newRig(t, lim())
	used := msg("used-up", Policy{MaxReceiveCount: 2, MaxReceiveQueue: "dlq"})
	used.receiveCount = 2
	stUsed := r.deliver("orders", 1, used)
	old := msg("expired", Policy{})
	old.Attributes.ExpirationAt = time.Now().Add(-time.Second).UnixNano()
	stOld := r.deliver("orders", 2, old)
	stOK := r.deliver("orders", 3, msg("fine", Policy{}))
	res, err := r.s.Receive(context.Background(), &ReceiveRequest{ClientID: "rc", Channel: "orders", MaxMessages: 10, Wait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || string(res.Messages[0].Body) != "fine" || res.Expired != 1 {
		t.Fatalf("received %+v, expired %d", res.Messages, res.Expired)
	}
	if !hasCall(stUsed, "term max receive count") || !hasCall(stOld, "ack") {
		t.Fatalf("settlements: used-up %v, expired %v", stUsed.got(), stOld.got())
	}
	res.Settle(context.Background(), true)
	if !hasCall(stOK, "ack-sync") {
		t.Fatalf("the delivered message was not removed: %v", stOK.got())
	}

	// The dead-letter queue cannot take it: the message is given back.
	r.log.fail = errInjected
	stFail := r.deliver("orders", 4, used)
	res, err = r.s.Receive(context.Background(), &ReceiveRequest{ClientID: "rc", Channel: "orders", MaxMessages: 1, Wait: 50 * time.Millisecond})
	if err != nil || len(res.Messages) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if !hasCall(stFail, "nak 1s") || hasCall(stFail, "term max receive count") {
		t.Fatalf("a message whose dead letter failed was settled: %v", stFail.got())
	}
}

// A receive whose caller went away before it returned gives its messages
// back in place (same sequence and count), with a stored NAK.
func TestReceiveReturnsInPlaceWhenTheCallerLeft(t *testing.T) {
	r := newRig(t, lim())
	st := r.deliver("orders", 1, msg("a", Policy{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.s.Receive(ctx, &ReceiveRequest{ClientID: "rc", Channel: "orders", MaxMessages: 1, Wait: time.Second}); err == nil {
		t.Fatal("a cancelled receive succeeded")
	}
	if got := st.got(); len(got) > 0 && !slices.Contains(got, "nak 1ms") {
		t.Fatalf("settlement %v, want a return in place", got)
	}
	// A receive that returned, then failed to deliver its reply, does too.
	st = r.deliver("other", 2, msg("b", Policy{}))
	res, err := r.s.Receive(context.Background(), &ReceiveRequest{ClientID: "rc", Channel: "other", MaxMessages: 1, Wait: time.Second})
	if err != nil || len(res.Messages) != 1 {
		t.Fatal(res, err)
	}
	res.Settle(context.Background(), false)
	if !hasCall(st, "nak 1ms") || len(r.log.stored()) != 0 {
		t.Fatalf("%v %v", st.got(), r.log.stored())
	}
}

// Leases are kept alive by heartbeats while held.
func TestLeasesAreHeartbeated(t *testing.T) {
	r := newRig(t, lim()) // AckWait 1 s: a heartbeat every ~333 ms
	st := r.deliver("orders", 1, msg("a", Policy{}))
	ss := r.s.NewSession()
	defer ss.Close()
	if err := ss.BeginReceive("orders", time.Minute, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Receive(context.Background(), "rc", "orders", time.Minute, time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a heartbeat", func() bool { return hasCall(st, "progress") })
}

// A due delayed message is moved into its queue with an id derived from
// its place in the delay stream (a crash between copy and ack cannot
// duplicate it); one that cannot be stored yet stays for a retry.
func TestDelayRelease(t *testing.T) {
	r := newRig(t, lim())
	st := &settler{}
	due := msg("later", Policy{Delay: time.Second})
	r.eng.mover.mu.Lock()
	r.eng.mover.msgs = append(r.eng.mover.msgs, newStored("qd.r.orders", 42, due, st))
	r.eng.mover.mu.Unlock()
	waitFor(t, "the release", func() bool { return hasCall(st, "ack") })
	stored := r.log.stored()
	if len(stored) != 1 || stored[0].channel != "orders" || stored[0].msgID != "dly:QDELAY:42" || string(stored[0].msg.Body) != "later" {
		t.Fatalf("released %+v", stored)
	}

	r.log.mu.Lock()
	r.log.fail = errInjected
	r.log.mu.Unlock()
	st2 := &settler{}
	r.eng.mover.mu.Lock()
	r.eng.mover.msgs = append(r.eng.mover.msgs, newStored("qd.r.orders", 43, due, st2))
	r.eng.mover.mu.Unlock()
	waitFor(t, "the retry", func() bool { return hasCall(st2, "nak 1s") })
	if hasCall(st2, "ack") {
		t.Fatal("a delayed message that could not be stored was acknowledged")
	}
}

// Poll transactions: NAck requeues at the tail, ReQueue moves to another
// queue with an id from the source position, a closed transaction returns
// what it holds in place; an unknown range sequence fails after the earlier
// ones were applied.
func TestDownstreamSettlements(t *testing.T) {
	r := newRig(t, lim())
	sts := []*settler{
		r.deliver("orders", 1, msg("a", Policy{})), r.deliver("orders", 2, msg("b", Policy{})),
		r.deliver("orders", 3, msg("c", Policy{})), r.deliver("orders", 4, msg("d", Policy{})),
	}
	ds := r.s.NewDownstream()
	defer ds.Close()
	var tx string
	ds.Get(context.Background(), GetRequest{ClientID: "rc", Channel: "orders", MaxItems: 10, Wait: time.Second},
		func(id string, msgs []*Message, err error) error {
			if err != nil || len(msgs) != 4 {
				t.Fatalf("get: %v %v", msgs, err)
			}
			tx = id
			return nil
		})
	if _, err := ds.Settle(context.Background(), OpNAckRange, tx, []int64{1}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Settle(context.Background(), OpReQueueRange, tx, []int64{2}, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Settle(context.Background(), OpAckRange, tx, []int64{3, 99}, ""); err == nil || err.Error() != "invalid ack sequence id 99" {
		t.Fatalf("unknown sequence: %v", err)
	}
	if !hasCall(sts[2], "ack") {
		t.Fatalf("the sequence before the unknown one was not applied: %v", sts[2].got())
	}
	if _, err := ds.Settle(context.Background(), OpClose, tx, nil, ""); err != nil {
		t.Fatal(err)
	}
	stored := r.log.stored()
	if len(stored) != 2 || stored[0].channel != "orders" || stored[0].msg.receiveCount != 1 ||
		stored[1].channel != "elsewhere" || !strings.HasPrefix(stored[1].msgID, "mv:") {
		t.Fatalf("stored %+v", stored)
	}
	if !hasCall(sts[3], "nak 1ms") {
		t.Fatalf("closing did not return the held message in place: %v", sts[3].got())
	}
	if _, err := ds.Settle(context.Background(), OpAckAll, tx, nil, ""); err == nil {
		t.Fatal("a closed transaction took a settlement")
	}
}
