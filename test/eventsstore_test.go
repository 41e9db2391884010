package test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// TestEventsStoreSentAfterStored: Sent=true comes only after the event is
// stored. Its store time (EventReceive.Timestamp) lies between the send and
// the reply, and a StartFromLast subscription opened right after the reply
// starts at that very event.
func TestEventsStoreSentAfterStored(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "es-sender")
	cl := rawClient(t, srv)
	ch := uniq("es.acked")
	ctx := testCtx(t, 30*time.Second)
	for i := 1; i <= 8; i++ {
		before := time.Now()
		res, err := c.ES().SetChannel(ch).SetBody([]byte(fmt.Sprint("b", i))).Send(ctx)
		replied := time.Now()
		if err != nil || !res.Sent || res.Err != nil || res.Id == "" {
			t.Fatalf("send %d: %v %+v", i, err, res)
		}
		s := esSub(t, cl, ch, fmt.Sprint("check", i), "", pb.Subscribe_StartFromLast, 0)
		ev := wantSeqs(t, s, uint64(i))[0]
		if ev.EventID != res.Id {
			t.Fatalf("event %d: id %q, result id %q", i, ev.EventID, res.Id)
		}
		if ev.Timestamp < before.UnixNano() || ev.Timestamp > replied.UnixNano() {
			t.Fatalf("event %d stored at %d, outside send %d … reply %d", i, ev.Timestamp, before.UnixNano(), replied.UnixNano())
		}
		s.cancel()
	}
}

// TestEventsStoreSequencesPerChannel: each channel counts its own sequence
// from 1; events keep every field they were sent with.
func TestEventsStoreSequencesPerChannel(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	a, b := uniq("es.seq.a"), uniq("es.seq.b")
	start := time.Now()
	for i, ch := range []string{a, b, a, b, a} {
		res, err := cl.SendEvent(context.Background(), &pb.Event{
			EventID: fmt.Sprint("id", i), ClientID: "w", Channel: ch, Metadata: fmt.Sprint("m", i),
			Body: []byte(fmt.Sprint("body", i)), Tags: map[string]string{"i": fmt.Sprint(i)}, Store: true,
		})
		if err != nil || !res.Sent || res.EventID != fmt.Sprint("id", i) {
			t.Fatalf("send %d: %v %+v", i, err, res)
		}
	}
	for _, tc := range []struct {
		ch   string
		sent []int // indexes of the sends above
	}{{a, []int{0, 2, 4}}, {b, []int{1, 3}}} {
		s := esSub(t, cl, tc.ch, "reader", "", pb.Subscribe_StartFromFirst, 0)
		evs := s.waitN(t, 10*time.Second, len(tc.sent))
		var last int64
		for k, i := range tc.sent {
			ev := evs[k]
			if ev.Sequence != uint64(k+1) || ev.EventID != fmt.Sprint("id", i) || ev.Channel != tc.ch ||
				ev.Metadata != fmt.Sprint("m", i) || string(ev.Body) != fmt.Sprint("body", i) ||
				!reflect.DeepEqual(ev.Tags, map[string]string{"i": fmt.Sprint(i)}) {
				t.Errorf("%s event %d: %+v", tc.ch, k, ev)
			}
			// Store time in Unix ns, increasing.
			if ev.Timestamp < start.UnixNano() || ev.Timestamp > time.Now().UnixNano() || ev.Timestamp < last {
				t.Errorf("%s event %d: Timestamp %d (start %d)", tc.ch, k, ev.Timestamp, start.UnixNano())
			}
			last = ev.Timestamp
		}
	}
}

// TestEventsStoreStartTypes covers the six start types (spec §5.3), each
// followed by live events. Subscriptions have no readiness signal on gRPC,
// so where the position depends on when the subscription was created the
// test waits for its cursor through the engine's side door.
func TestEventsStoreStartTypes(t *testing.T) {
	srv, js := newSideDoorServer(t)
	cl := rawClient(t, srv)
	open := func(t *testing.T, ch string, start pb.Subscribe_EventsStoreType, value int64) *sub[*pb.EventReceive] {
		t.Helper()
		s := esSub(t, cl, ch, "reader", "", start, value)
		waitConsumers(t, js, ch, 1, 0)
		return s
	}
	run := func(t *testing.T, ch string, s *sub[*pb.EventReceive], replay []uint64, total int) {
		t.Helper()
		wantSeqs(t, s, replay...)
		store(t, cl, ch, fmt.Sprint("b", total+1), fmt.Sprint("b", total+2))
		wantSeqs(t, s, append(replay, uint64(total+1), uint64(total+2))...)
	}

	t.Run("new only", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.new")
		store(t, cl, ch, bodies(1, 3)...)
		run(t, ch, open(t, ch, pb.Subscribe_StartNewOnly, 0), nil, 3)
	})
	t.Run("first", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.first")
		store(t, cl, ch, bodies(1, 3)...)
		run(t, ch, esSub(t, cl, ch, "reader", "", pb.Subscribe_StartFromFirst, 0), []uint64{1, 2, 3}, 3)
	})
	t.Run("last", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.last")
		store(t, cl, ch, bodies(1, 3)...)
		run(t, ch, esSub(t, cl, ch, "reader", "", pb.Subscribe_StartFromLast, 0), []uint64{3}, 3)
	})
	t.Run("last on an empty channel", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.lastempty")
		run(t, ch, open(t, ch, pb.Subscribe_StartFromLast, 0), nil, 0)
	})
	t.Run("at sequence", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.atseq")
		store(t, cl, ch, bodies(1, 5)...)
		run(t, ch, esSub(t, cl, ch, "reader", "", pb.Subscribe_StartAtSequence, 3), []uint64{3, 4, 5}, 5)
	})
	t.Run("at sequence 1", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.atseq1")
		store(t, cl, ch, bodies(1, 2)...)
		run(t, ch, esSub(t, cl, ch, "reader", "", pb.Subscribe_StartAtSequence, 1), []uint64{1, 2}, 2)
	})
	// Beyond the end means new only; the subscription does not wait for that
	// sequence (with 2 stored, StartAtSequence(4) receives 3, 4, 5).
	for _, at := range []int64{3, 4, 1000} {
		t.Run(fmt.Sprint("at sequence beyond the end ", at), func(t *testing.T) {
			t.Parallel()
			ch := uniq("es.beyond")
			store(t, cl, ch, bodies(1, 2)...)
			s := open(t, ch, pb.Subscribe_StartAtSequence, at)
			store(t, cl, ch, bodies(3, 5)...)
			wantSeqs(t, s, 3, 4, 5)
		})
	}
	t.Run("at time ns", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.atns")
		store(t, cl, ch, bodies(1, 2)...)
		at := time.Now()
		store(t, cl, ch, bodies(3, 4)...)
		run(t, ch, esSub(t, cl, ch, "reader", "", pb.Subscribe_StartAtTime, at.UnixNano()), []uint64{3, 4}, 4)
	})
	t.Run("at time ns in the future", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.atnsfuture")
		store(t, cl, ch, bodies(1, 2)...)
		run(t, ch, open(t, ch, pb.Subscribe_StartAtTime, time.Now().Add(time.Hour).UnixNano()), nil, 2)
	})
	// Values below 1e14 are Unix seconds (the Python SDK sends seconds). Read
	// as ns they would mean 1970 and replay everything.
	t.Run("at time seconds in the future", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.atsfuture")
		store(t, cl, ch, bodies(1, 2)...)
		run(t, ch, open(t, ch, pb.Subscribe_StartAtTime, time.Now().Unix()+3600), nil, 2)
	})
	t.Run("at time seconds", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.ats")
		store(t, cl, ch, "b1")
		// The next whole second: b1 is older, b2 and b3 newer.
		sec := time.Now().Unix() + 1
		for time.Now().Unix() < sec {
			time.Sleep(10 * time.Millisecond) // waiting for the clock, not for the server
		}
		store(t, cl, ch, bodies(2, 3)...)
		run(t, ch, esSub(t, cl, ch, "reader", "", pb.Subscribe_StartAtTime, sec), []uint64{2, 3}, 3)
	})
	t.Run("at time delta", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.delta")
		store(t, cl, ch, "b1")
		stored := time.Now()
		for time.Since(stored) < 2200*time.Millisecond {
			time.Sleep(10 * time.Millisecond) // b1 must be more than 2 s old
		}
		store(t, cl, ch, "b2")
		run(t, ch, esSub(t, cl, ch, "reader", "", pb.Subscribe_StartAtTimeDelta, 2), []uint64{2}, 2)
	})
	t.Run("at time delta covering everything", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.deltaall")
		store(t, cl, ch, bodies(1, 2)...)
		run(t, ch, esSub(t, cl, ch, "reader", "", pb.Subscribe_StartAtTimeDelta, 3600), []uint64{1, 2}, 2)
	})
	// Types above 6 are accepted and behave as new only.
	t.Run("type 7", func(t *testing.T) {
		t.Parallel()
		ch := uniq("es.type7")
		store(t, cl, ch, bodies(1, 2)...)
		run(t, ch, open(t, ch, pb.Subscribe_EventsStoreType(7), 0), nil, 2)
	})
}

// resume opens a non-group subscription of clientID that must continue an
// existing cursor, and returns it with its first event delivered. trigger,
// when set, stores a live event if nothing arrives at first (a resumed cursor
// with nothing pending waits for new events); it is called once.
//
// Right after the previous subscription with the same key was closed, the
// server may not have let go of it yet; it then serves the newcomer from a
// cursor of its own, as for any concurrent second subscription. The test sees
// that as an ephemeral engine consumer, closes and tries again.
func resume(t *testing.T, cl pb.KubemqClient, js jetstream.JetStream, ch, clientID string, start pb.Subscribe_EventsStoreType, value int64, trigger func()) *sub[*pb.EventReceive] {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		eventually(t, 10*time.Second, func() error {
			if _, e, err := storeConsumers(js, ch); err != nil || e != 0 {
				return fmt.Errorf("ephemeral cursors %d: %w", e, err)
			}
			return nil
		})
		s := esSub(t, cl, ch, clientID, "", start, value)
		first := func(evs []*pb.EventReceive) bool { return len(evs) > 0 }
		_, ok := s.tryWait(500*time.Millisecond, first)
		if !ok && trigger != nil {
			trigger()
			trigger = nil
		}
		if !ok {
			s.waitFor(t, 10*time.Second, "first event", first)
		}
		_, e, err := storeConsumers(js, ch)
		if err != nil {
			t.Fatal(err)
		}
		if e == 0 {
			return s
		}
		t.Logf("client %s: served from a cursor of its own (the previous subscription was still active); retrying", clientID)
		s.cancel()
		if time.Now().After(deadline) {
			t.Fatalf("client %s was never given its durable cursor back", clientID)
		}
	}
}

// waitUnsubscribed waits until the server has ended every subscription to
// the events-store channel (it is listed inactive). An event stored right
// after a client cancelled its subscription races the server's last write
// to the cancelled stream: written there before the server saw the cancel,
// it counts as delivered (as with KubeMQ) and is not sent again.
func waitUnsubscribed(t *testing.T, c *kubemq.Client, channel string) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		list, err := kubemq.ListPubSubChannels(context.Background(), c, "admin", "events_store", channel)
		if err != nil {
			return err
		}
		for _, x := range list {
			if x.Name == channel && x.IsActive {
				return fmt.Errorf("channel %s still has a subscriber", channel)
			}
		}
		return nil
	})
}

// TestEventsStoreDurableResume follows the table of spec §5.4 for
// subscriptions without a group: the cursor is keyed by (ClientID, channel),
// and a subscription with a known key resumes and ignores its start type.
func TestEventsStoreDurableResume(t *testing.T) {
	srv, js := newSideDoorServer(t)
	cl := rawClient(t, srv)
	ch := uniq("es.durable")
	store(t, cl, ch, bodies(1, 5)...)

	admin := newClient(t, srv, "admin")
	d1 := esSub(t, cl, ch, "dur1", "", pb.Subscribe_StartFromFirst, 0)
	wantSeqs(t, d1, 1, 2, 3, 4, 5)
	d1.cancel()
	waitUnsubscribed(t, admin, ch)

	store(t, cl, ch, bodies(6, 8)...)
	d1 = resume(t, cl, js, ch, "dur1", pb.Subscribe_StartAtSequence, 1, nil)
	wantSeqs(t, d1, 6, 7, 8)
	store(t, cl, ch, "b9")
	wantSeqs(t, d1, 6, 7, 8, 9)
	d1.cancel()

	// Nothing left for dur1: StartFromLast would replay 9, the cursor waits.
	d1 = resume(t, cl, js, ch, "dur1", pb.Subscribe_StartFromLast, 0, func() { store(t, cl, ch, "b10") })
	wantSeqs(t, d1, 10)
	d1.cancel()

	// A new client id is a new cursor, and its start is honoured.
	d2 := esSub(t, cl, ch, "dur2", "", pb.Subscribe_StartAtSequence, 1)
	wantSeqs(t, d2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	d2.cancel()

	// A new-only cursor keeps what was sent while its client was away.
	d3 := esSub(t, cl, ch, "dur3", "", pb.Subscribe_StartNewOnly, 0)
	waitConsumers(t, js, ch, 3, 0)
	d3.cancel()
	waitUnsubscribed(t, admin, ch)
	store(t, cl, ch, bodies(11, 12)...)
	d3 = resume(t, cl, js, ch, "dur3", pb.Subscribe_StartNewOnly, 0, nil)
	wantSeqs(t, d3, 11, 12)
	d3.cancel()

	// Cursors are per channel: dur1 on another channel starts afresh.
	other := uniq("es.durable.other")
	store(t, cl, other, bodies(1, 2)...)
	wantSeqs(t, esSub(t, cl, other, "dur1", "", pb.Subscribe_StartFromFirst, 0), 1, 2)
}

// TestEventsStoreGroupCursor: with a group the cursor is keyed by (channel,
// group), shared by every member whatever its client id and start type;
// members connected together split the events.
func TestEventsStoreGroupCursor(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("es.group")
	store(t, cl, ch, bodies(1, 10)...)

	g1 := esSub(t, cl, ch, "g1", "G", pb.Subscribe_StartFromFirst, 0)
	wantSeqs(t, g1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	g1.cancel()
	waitUnsubscribed(t, newClient(t, srv, "admin"), ch)
	store(t, cl, ch, "b11")
	g2 := esSub(t, cl, ch, "g2", "G", pb.Subscribe_StartFromFirst, 0)
	wantSeqs(t, g2, 11)

	// Another group has its own cursor.
	h := esSub(t, cl, ch, "h1", "H", pb.Subscribe_StartFromFirst, 0)
	wantSeqs(t, h, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)

	// A second member joins; together they get each event once.
	g3 := esSub(t, cl, ch, "g3", "G", pb.Subscribe_StartAtSequence, 1)
	store(t, cl, ch, bodies(12, 31)...)
	wantAll := func() []uint64 {
		var s []uint64
		for i := uint64(11); i <= 31; i++ {
			s = append(s, i)
		}
		return s
	}()
	var got []uint64
	eventually(t, 10*time.Second, func() error {
		got = append(seqsOf(g2.all()), seqsOf(g3.all())...)
		if len(got) < len(wantAll) {
			return fmt.Errorf("group received %d of %d", len(got), len(wantAll))
		}
		return nil
	})
	h.waitN(t, 10*time.Second, 31) // by now G's deliveries are settled too
	got = append(seqsOf(g2.all()), seqsOf(g3.all())...)
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if !reflect.DeepEqual(got, wantAll) {
		t.Fatalf("group G received %v, want 11…31 once each", got)
	}
	t.Logf("distribution: g2 %d, g3 %d", len(g2.all()), len(g3.all()))
}

// TestEventsStoreSameClientTwice: Herald serves a second concurrent
// subscription with the same client id on the same channel (the reference
// refuses it) from its own position; the durable cursor is unaffected.
func TestEventsStoreSameClientTwice(t *testing.T) {
	srv, js := newSideDoorServer(t)
	cl := rawClient(t, srv)
	ch := uniq("es.twice")
	store(t, cl, ch, bodies(1, 3)...)
	x1 := esSub(t, cl, ch, "X", "", pb.Subscribe_StartFromFirst, 0)
	wantSeqs(t, x1, 1, 2, 3)
	x2 := esSub(t, cl, ch, "X", "", pb.Subscribe_StartAtSequence, 2)
	wantSeqs(t, x2, 2, 3)
	waitConsumers(t, js, ch, 1, 1) // x2 reads from a cursor of its own
	// The same client id on another channel at the same time: its own durable cursor.
	other := uniq("es.twice.other")
	store(t, cl, other, bodies(1, 2)...)
	wantSeqs(t, esSub(t, cl, other, "X", "", pb.Subscribe_StartFromFirst, 0), 1, 2)
	waitConsumers(t, js, other, 1, 0)
	store(t, cl, ch, "b4")
	wantSeqs(t, x1, 1, 2, 3, 4)
	wantSeqs(t, x2, 2, 3, 4)
	x2.cancel()
	x1.cancel()
	// The cursor of X is x1's: resuming gives only what came after 4.
	x := resume(t, cl, js, ch, "X", pb.Subscribe_StartFromFirst, 0, func() { store(t, cl, ch, "b5") })
	wantSeqs(t, x, 5)
}

// TestEventsStoreRetention: with a per-channel message limit the oldest
// events go; StartFromFirst and a StartAtSequence before the first retained
// event start at the first retained one.
func TestEventsStoreRetention(t *testing.T) {
	srv := heraldtest.NewServer(t, server.Options{StoreMaxMessages: 3})
	cl := rawClient(t, srv)
	ch := uniq("es.retention")
	store(t, cl, ch, bodies(1, 5)...)
	wantSeqs(t, esSub(t, cl, ch, "first", "", pb.Subscribe_StartFromFirst, 0), 3, 4, 5)
	s := esSub(t, cl, ch, "atseq", "", pb.Subscribe_StartAtSequence, 1)
	wantSeqs(t, s, 3, 4, 5)
	store(t, cl, ch, "b6")
	wantSeqs(t, s, 3, 4, 5, 6)
}

// TestEventsStoreStreamSDK: the SDK's StreamEventsStore gets one result per
// event, in order, with the EventIDs it sent; the events are stored in order.
func TestEventsStoreStreamSDK(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "es-streamer")
	cl := rawClient(t, srv)
	ch := uniq("es.stream")
	ctx := testCtx(t, 30*time.Second)
	in := make(chan *kubemq.EventStore, 50)
	results := make(chan *kubemq.EventStoreResult, 50)
	errCh := make(chan error, 10)
	go c.StreamEventsStore(ctx, in, results, errCh)
	const n = 50
	for i := 1; i <= n; i++ {
		in <- c.ES().SetId(fmt.Sprint("id-b", i)).SetChannel(ch).SetBody([]byte(fmt.Sprint("b", i)))
	}
	for i := 1; i <= n; i++ {
		select {
		case r := <-results:
			if r.Id != fmt.Sprint("id-b", i) || !r.Sent || r.Err != nil {
				t.Fatalf("result %d: %+v", i, r)
			}
		case err := <-errCh:
			t.Fatalf("stream error: %v", err)
		case <-ctx.Done():
			t.Fatalf("result %d missing", i)
		}
	}
	s := esSub(t, cl, ch, "reader", "", pb.Subscribe_StartFromFirst, 0)
	var want []uint64
	for i := uint64(1); i <= n; i++ {
		want = append(want, i)
	}
	for i, ev := range wantSeqs(t, s, want...) {
		if ev.EventID != fmt.Sprint("id-b", i+1) {
			t.Fatalf("event %d has id %q", i+1, ev.EventID)
		}
	}
}

// TestEventsStoreRestartReturnsUnsentEventsFirst: a subscriber that stops
// reading leaves events the server had pulled but not sent when it shuts
// down. After a restart the same client id resumes its cursor: those events
// come first, in order, without gap and without waiting out the ack wait.
func TestEventsStoreRestartReturnsUnsentEventsFirst(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("es.unsent")
	const n = 400
	payload := make([]byte, 1024)
	for i := 1; i <= n; i++ {
		res, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "storer", Channel: ch, Body: payload, Metadata: fmt.Sprint(i), Store: true})
		if err != nil || !res.Sent {
			t.Fatalf("store %d: %v %+v", i, err, res)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subCtx, stopReading := context.WithCancel(ctx)
	stream, err := rawClient(t, srv).SubscribeToEvents(subCtx, &pb.Subscribe{
		SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: "slow-reader", Channel: ch,
		EventsStoreTypeData: pb.Subscribe_StartFromFirst,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ { // read five, then stop: the rest backs up in the server
		ev, err := stream.Recv()
		if err != nil || ev.Sequence != uint64(i) {
			t.Fatalf("event %d: %v %v", i, ev, err)
		}
	}
	srv.Restart()
	stopReading()

	stream, err = rawClient(t, srv).SubscribeToEvents(ctx, &pb.Subscribe{
		SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: "slow-reader", Channel: ch,
		EventsStoreTypeData: pb.Subscribe_StartFromFirst,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx10, cancel10 := context.WithTimeout(ctx, 10*time.Second) // well inside the 30 s ack wait
	defer cancel10()
	go func() { <-ctx10.Done(); cancel() }()
	var first, last uint64
	for last != n {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("after the restart, got %d..%d, then %v", first, last, err)
		}
		if first == 0 {
			first = ev.Sequence
			if first <= 5 || first > n {
				t.Fatalf("resumed at %d", first)
			}
		} else if ev.Sequence != last+1 {
			t.Fatalf("after %d came %d (resumed at %d)", last, ev.Sequence, first)
		}
		last = ev.Sequence
	}
}

// TestEventsStoreSubscriptionRecoversALostDelivery: when a delivery is lost
// between the engine and a subscription's reader (the client library drops
// what arrives while its buffer is full), the subscription reads again
// from the first event it has not handed out: every event arrives once, in
// order, without waiting out the 30 s ack wait for the lost one.
func TestEventsStoreSubscriptionRecoversALostDelivery(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "es-lost")
	// A lost delivery in the middle shows by the next one's number; the
	// last one's, by the consumer when the reader has waited a while.
	for _, lose := range []uint64{3, 6} {
		t.Run(fmt.Sprintf("event %d", lose), func(t *testing.T) {
			ch := uniq("es.lost")
			ctx := testCtx(t, 30*time.Second)
			for i := 1; i <= 6; i++ {
				if res, err := c.ES().SetChannel(ch).SetBody([]byte(fmt.Sprint(i))).Send(ctx); err != nil || !res.Sent {
					t.Fatalf("send %d: %v %+v", i, err, res)
				}
			}
			var lost atomic.Bool
			t.Cleanup(engine.LoseDeliveries(func(m *engine.StoredMsg) bool {
				return strings.HasSuffix(m.Subject, "."+ch) && m.ChanSeq == lose && lost.CompareAndSwap(false, true)
			}))
			errCh := make(chan error, 4)
			sub, err := c.SubscribeToEventsStore(ctx, ch, "", errCh, kubemq.StartFromFirstEvent())
			if err != nil {
				t.Fatal(err)
			}
			for want := uint64(1); want <= 6; want++ {
				select {
				case ev := <-sub:
					if ev.Sequence != want || string(ev.Body) != fmt.Sprint(want) {
						t.Fatalf("got event %d %q, want %d", ev.Sequence, ev.Body, want)
					}
				case err := <-errCh:
					t.Fatal(err)
				case <-time.After(10 * time.Second):
					t.Fatalf("waited 10 s for event %d (the ack wait is 30 s)", want)
				}
			}
			if !lost.Load() {
				t.Fatal("no delivery was lost: the test tested nothing")
			}
			select {
			case ev := <-sub:
				t.Fatalf("event %d once more", ev.Sequence)
			case <-time.After(300 * time.Millisecond): // nothing more may come
			}
		})
	}
}
