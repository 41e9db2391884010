package test

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// sdkEventsReady sends probe events through the SDK until every collector
// has seen one.
func sdkEventsReady(t *testing.T, c *kubemq.Client, channel string, subs ...*collector[*kubemq.Event]) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if err := c.E().SetChannel(channel).SetMetadata(probeMeta).Send(context.Background()); err != nil {
			return err
		}
		time.Sleep(30 * time.Millisecond)
		for i, s := range subs {
			seen := false
			for _, ev := range s.all() {
				seen = seen || ev.Metadata == probeMeta
			}
			if !seen {
				return fmt.Errorf("subscriber %d has no probe yet", i)
			}
		}
		return nil
	})
}

func sdkReal(evs []*kubemq.Event) []*kubemq.Event {
	var out []*kubemq.Event
	for _, ev := range evs {
		if ev.Metadata != probeMeta {
			out = append(out, ev)
		}
	}
	return out
}

func TestEventsSDKRoundTripAndFanOut(t *testing.T) {
	srv := heraldtest.NewServer(t)
	pub := newClient(t, srv, "pub")
	ch := uniq("ev.fan")
	var subs []*collector[*kubemq.Event]
	for i := range 2 {
		c := newClient(t, srv, fmt.Sprintf("sub%d", i))
		errCh := make(chan error, 1)
		evs, err := c.SubscribeToEvents(testCtx(t, time.Minute), ch, "", errCh)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, collectSDK(t, evs, errCh))
	}
	sdkEventsReady(t, pub, ch, subs...)

	ctx := testCtx(t, 20*time.Second)
	tags := map[string]string{"k1": "v1", "k2": ""}
	for i := range 5 {
		err := pub.E().SetId(fmt.Sprintf("e%d", i)).SetChannel(ch).SetMetadata(fmt.Sprintf("m%d", i)).
			SetBody([]byte{byte(i), 0, 0xff}).SetTags(tags).Send(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	for n, s := range subs {
		got := s.waitFor(t, 10*time.Second, "5 events", func(evs []*kubemq.Event) bool { return len(sdkReal(evs)) >= 5 })
		got = sdkReal(got)
		for i, ev := range got[:5] {
			if ev.Id != fmt.Sprintf("e%d", i) || ev.Channel != ch || ev.Metadata != fmt.Sprintf("m%d", i) ||
				!reflect.DeepEqual(ev.Body, []byte{byte(i), 0, 0xff}) || !reflect.DeepEqual(ev.Tags, tags) {
				t.Errorf("subscriber %d, event %d: %+v", n, i, ev)
			}
		}
	}
}

// TestEventsFields checks every EventReceive field on the raw stream:
// Timestamp and Sequence are 0 for plain events, and a generated EventID
// comes back in the result and with the event.
func TestEventsFields(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("ev.fields")
	s := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "r", Channel: ch})
	waitEventsReady(t, cl, ch, hasProbe(s))

	res, err := cl.SendEvent(testCtx(t, 5*time.Second), &pb.Event{ClientID: "w", Channel: ch, Metadata: "only metadata", Tags: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Sent || res.Error != "" || res.EventID == "" {
		t.Fatalf("result %+v", res)
	}
	ev := s.waitFor(t, 5*time.Second, "event", func(evs []*pb.EventReceive) bool { return len(real(evs)) > 0 })
	got := real(ev)[0]
	if got.EventID != res.EventID || got.Channel != ch || got.Metadata != "only metadata" || len(got.Body) != 0 ||
		got.Timestamp != 0 || got.Sequence != 0 || !reflect.DeepEqual(got.Tags, map[string]string{"a": "b"}) {
		t.Fatalf("received %+v, result %+v", got, res)
	}

	// Events and events store with the same name are separate channels.
	if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "w", Channel: ch, Body: []byte("stored"), Store: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "w", Channel: ch, Body: []byte("marker")}); err != nil {
		t.Fatal(err)
	}
	evs := real(s.waitFor(t, 5*time.Second, "marker", func(evs []*pb.EventReceive) bool { return len(real(evs)) >= 2 }))
	if string(evs[1].Body) != "marker" {
		t.Fatalf("an events subscriber received %q from the events store", evs[1].Body)
	}
}

// TestEventsOnlyLive: a subscriber receives only events sent after it
// subscribed.
func TestEventsOnlyLive(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("ev.live")
	for i := range 3 {
		if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "w", Channel: ch, Body: []byte(fmt.Sprint("old", i))}); err != nil {
			t.Fatal(err)
		}
	}
	s := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "r", Channel: ch})
	waitEventsReady(t, cl, ch, hasProbe(s))
	if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "w", Channel: ch, Body: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	evs := real(s.waitFor(t, 5*time.Second, "new event", func(evs []*pb.EventReceive) bool { return len(real(evs)) >= 1 }))
	if got := bodiesOf(evs); !reflect.DeepEqual(got, []string{"new"}) {
		t.Fatalf("received %q, want only the live event", got)
	}
}

// TestEventsGroups: members of one group split the events (each to exactly
// one member); a subscriber without a group still receives all of them.
// Membership is by group name across patterns.
func TestEventsGroups(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	for _, tc := range []struct {
		name     string
		patterns [2]string // of the two group members
	}{
		{"same channel", [2]string{"", ""}},
		{"across patterns", [2]string{"*", ""}}, // gp.* and gp.x in one group
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := uniq("gp")
			ch := base + ".x"
			group := "G-" + base
			var members []*sub[*pb.EventReceive]
			for _, p := range tc.patterns {
				pattern := ch
				if p != "" {
					pattern = base + "." + p
				}
				members = append(members, rawSubscribeEvents(t, cl, &pb.Subscribe{
					SubscribeTypeData: pb.Subscribe_Events, ClientID: "m", Channel: pattern, Group: group,
				}))
			}
			plain := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "p", Channel: ch})
			// Probes go to one member each, so wait until both have had one.
			waitEventsReady(t, cl, ch, hasProbe(members[0]), hasProbe(members[1]), hasProbe(plain))

			const n = 40
			for i := range n {
				if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "w", Channel: ch, Body: []byte(fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			all := real(plain.waitFor(t, 10*time.Second, "all events", func(evs []*pb.EventReceive) bool { return len(real(evs)) >= n }))
			if len(all) != n {
				t.Fatalf("plain subscriber got %d events, want %d", len(all), n)
			}
			total := func() int { return len(real(members[0].all())) + len(real(members[1].all())) }
			eventually(t, 10*time.Second, func() error {
				if total() < n {
					return fmt.Errorf("group members got %d of %d events", total(), n)
				}
				return nil
			})
			// Markers until both members have had one: nothing sent before them is
			// still in flight, so late duplicates would show.
			hasMarker := func(m *sub[*pb.EventReceive]) func() bool {
				return func() bool {
					for _, ev := range m.all() {
						if ev.Metadata == "marker" {
							return true
						}
					}
					return false
				}
			}
			eventually(t, 10*time.Second, func() error {
				if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "w", Channel: ch, Metadata: "marker"}); err != nil {
					return err
				}
				time.Sleep(20 * time.Millisecond)
				if !hasMarker(members[0])() || !hasMarker(members[1])() {
					return fmt.Errorf("markers have not reached both members")
				}
				return nil
			})
			var got []string
			for i, m := range members {
				var b []string
				for _, ev := range real(m.all()) {
					if ev.Metadata != "marker" {
						b = append(b, string(ev.Body))
					}
				}
				if len(b) == 0 {
					t.Errorf("member %d received nothing", i)
				}
				got = append(got, b...)
			}
			sort.Slice(got, func(i, j int) bool { return len(got[i]) < len(got[j]) || len(got[i]) == len(got[j]) && got[i] < got[j] })
			var want []string
			for i := range n {
				want = append(want, fmt.Sprint(i))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("group members together received %v, want each event exactly once", got)
			}
		})
	}
}

// TestEventsWildcards: `*` is one token, `>` one or more trailing tokens
// (`w.a.>` does not match `w.a`), and wildcard subscribers see the actual
// channel of each event.
func TestEventsWildcards(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	w := uniq("w")
	star := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "s", Channel: w + ".*"})
	gt := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "g", Channel: w + ".>"})
	agt := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "a", Channel: w + ".a.>"})
	waitEventsReady(t, cl, w+".p", hasProbe(star), hasProbe(gt))
	waitEventsReady(t, cl, w+".a.p", hasProbe(agt))

	for _, ch := range []string{w, w + ".a", w + ".b", w + ".a.b", w + ".a.b.c", w + "x.a", w + ".end", w + ".a.end"} {
		if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "w", Channel: ch, Body: []byte(ch)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		s    *sub[*pb.EventReceive]
		want []string
	}{
		{"*", star, []string{w + ".a", w + ".b", w + ".end"}},
		{">", gt, []string{w + ".a", w + ".b", w + ".a.b", w + ".a.b.c", w + ".end", w + ".a.end"}},
		{"a.>", agt, []string{w + ".a.b", w + ".a.b.c", w + ".a.end"}},
	} {
		last := tc.want[len(tc.want)-1]
		evs := real(tc.s.waitFor(t, 5*time.Second, "end marker", func(evs []*pb.EventReceive) bool {
			r := real(evs)
			return len(r) > 0 && r[len(r)-1].Channel == last
		}))
		var chans []string
		for _, ev := range evs {
			if ev.Channel != string(ev.Body) {
				t.Errorf("%s: event sent to %s delivered with Channel %q", tc.name, ev.Body, ev.Channel)
			}
			chans = append(chans, ev.Channel)
		}
		if !reflect.DeepEqual(chans, tc.want) {
			t.Errorf("subscriber %s.%s received %q, want %q", w, tc.name, chans, tc.want)
		}
	}
}

// TestEventsStreamSDK: events sent with the SDK's StreamEvents arrive, in order.
func TestEventsStreamSDK(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "streamer")
	cl := rawClient(t, srv)
	ch := uniq("ev.stream")
	s := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "r", Channel: ch})
	waitEventsReady(t, cl, ch, hasProbe(s))

	ctx := testCtx(t, 30*time.Second)
	in := make(chan *kubemq.Event, 20)
	errCh := make(chan error, 10)
	go c.StreamEvents(ctx, in, errCh)
	const n = 20
	for i := range n {
		in <- c.E().SetId(fmt.Sprint("s", i)).SetChannel(ch).SetBody([]byte(fmt.Sprint(i)))
	}
	evs := real(s.waitFor(t, 10*time.Second, "streamed events", func(evs []*pb.EventReceive) bool { return len(real(evs)) >= n }))
	for i, ev := range evs {
		if ev.EventID != fmt.Sprint("s", i) || string(ev.Body) != fmt.Sprint(i) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	select {
	case err := <-errCh:
		t.Fatalf("stream error: %v", err)
	default:
	}
}

// TestEventsStreamInBandErrors: on SendEventsStream, invalid events get a
// Result with the error while the stream goes on; valid plain events get no
// result; stored events get one each, in order; half-close ends with OK.
func TestEventsStreamInBandErrors(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("ev.inband")
	s := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "r", Channel: ch})
	waitEventsReady(t, cl, ch, hasProbe(s))

	stream, err := cl.SendEventsStream(testCtx(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	sends := []*pb.Event{
		{EventID: "ok1", ClientID: "c", Channel: ch, Body: []byte("1")},
		{EventID: "empty", ClientID: "c", Channel: ch},                          // 110
		{EventID: "noclient", Channel: ch, Body: []byte("x")},                   // 101
		{EventID: "wild", ClientID: "c", Channel: ch + ".*", Body: []byte("x")}, // 107
		{EventID: "st1", ClientID: "c", Channel: ch, Body: []byte("s"), Store: true},
		{EventID: "stbad", ClientID: "c", Channel: ch + " x", Body: []byte("s"), Store: true}, // 108
		{EventID: "", ClientID: "c", Channel: "", Body: []byte("x")},                          // 102, id stays empty
		{EventID: "", ClientID: "c", Channel: ch, Body: []byte("s"), Store: true},             // id generated
		{EventID: "ok2", ClientID: "c", Channel: ch, Body: []byte("2")},
	}
	for _, ev := range sends {
		if err := stream.Send(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var got []*pb.Result
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream ended with %v", err)
		}
		got = append(got, r)
	}
	want := []*pb.Result{
		{EventID: "empty", Error: "Error 110: invalid message, cannot be empty"},
		{EventID: "noclient", Error: "Error 101: invalid clientID value, cannot be empty"},
		{EventID: "wild", Error: "Error 107: invalid channel value, no wildcards are allowed"},
		{EventID: "st1", Sent: true},
		{EventID: "stbad", Error: "Error 108: invalid channel value, no white spaces are allowed"},
		{EventID: "", Error: "Error 102: invalid channel value, cannot be empty"},
		{EventID: "*generated*", Sent: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if want[i].EventID == "*generated*" && got[i].EventID != "" {
			want[i].EventID = got[i].EventID
		}
		if got[i].EventID != want[i].EventID || got[i].Sent != want[i].Sent || got[i].Error != want[i].Error {
			t.Errorf("result %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	evs := real(s.waitFor(t, 5*time.Second, "both valid events", func(evs []*pb.EventReceive) bool { return len(real(evs)) >= 2 }))
	if b := bodiesOf(evs); !reflect.DeepEqual(b, []string{"1", "2"}) {
		t.Fatalf("subscriber received %q, want [1 2]", b)
	}
}

// TestEventsFullWildcardIsolation: a subscriber on `>` receives every events
// channel and nothing of the other patterns (events store, commands,
// queries, queues), which live in separate namespaces.
func TestEventsFullWildcardIsolation(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	all := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "all", Channel: ">"})
	cmds := rawSubscribeRequests(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Commands, ClientID: "all", Channel: ">"})
	queries := rawSubscribeRequests(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Queries, ClientID: "all", Channel: ">"})
	ch := uniq("iso")
	waitEventsReady(t, cl, ch, hasProbe(all))
	waitRequestsReady(t, cl, pb.Request_Command, ch, hasProbeReq(cmds))
	waitRequestsReady(t, cl, pb.Request_Query, ch, hasProbeReq(queries))

	ctx := context.Background()
	if _, err := cl.SendEvent(ctx, &pb.Event{ClientID: "c", Channel: ch, Body: []byte("stored"), Store: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SendQueueMessage(ctx, &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("queued")}); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []pb.Request_RequestType{pb.Request_Command, pb.Request_Query} {
		_, _ = cl.SendRequest(ctx, &pb.Request{RequestTypeData: kind, ClientID: "c", Channel: ch, Body: []byte(kind.String()), Timeout: 100})
	}
	if _, err := cl.SendEvent(ctx, &pb.Event{ClientID: "c", Channel: ch + ".deep.er", Body: []byte("marker")}); err != nil {
		t.Fatal(err)
	}
	evs := real(all.waitFor(t, 5*time.Second, "marker", func(evs []*pb.EventReceive) bool { return len(real(evs)) > 0 }))
	if b := bodiesOf(evs); !reflect.DeepEqual(b, []string{"marker"}) || evs[0].Channel != ch+".deep.er" {
		t.Fatalf("`>` events subscriber received %q", b)
	}
	for name, s := range map[string]*sub[*pb.Request]{"Command": cmds, "Query": queries} {
		got := realReqs(s.all())
		if len(got) != 1 || string(got[0].Body) != name {
			t.Fatalf("`>` %s responder received %v", name, got)
		}
	}
}

// TestEventsBurstReachesAReadingSubscriber: a burst of events published as
// fast as the server takes them reaches a subscriber that reads as fast as
// it can, every one: its backlog absorbs the burst (at a backlog of 1024, a
// third of such a burst was dropped).
func TestEventsBurstReachesAReadingSubscriber(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "burst")
	ch := uniq("ev.burst")
	ctx := testCtx(t, 60*time.Second)
	errCh := make(chan error, 10)
	sub, err := c.SubscribeToEvents(ctx, ch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	got := collectSDK(t, sub, errCh)
	sdkEventsReady(t, c, ch, got)

	in := make(chan *kubemq.Event, 1024)
	go c.StreamEvents(ctx, in, errCh)
	const n = 10000
	body := make([]byte, 1024)
	for range n {
		in <- c.E().SetChannel(ch).SetBody(body)
	}
	got.waitFor(t, 30*time.Second, "the burst", func(evs []*kubemq.Event) bool { return len(sdkReal(evs)) >= n })
	if _, err, _ := got.snapshot(); err != nil { // the collector takes the stream's errors too
		t.Fatalf("stream error: %v", err)
	}
}
