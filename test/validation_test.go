package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/heraldmq/herald/server/heraldtest"
)

// Byte-exact texts (spec §16, Appendix A).
const (
	err101 = "Error 101: invalid clientID value, cannot be empty"
	err102 = "Error 102: invalid channel value, cannot be empty"
	err107 = "Error 107: invalid channel value, no wildcards are allowed"
	err108 = "Error 108: invalid channel value, no white spaces are allowed"
	err109 = "Error 109: invalid set timeout value, cannot be 0 or negative"
	err110 = "Error 110: invalid message, cannot be empty"
	err111 = "Error 111: invalid subscription type, cannot be undefined or 0"
	err112 = "Error 112: invalid subscription type start at sequence value, cannot by 0 or negative"
	err113 = "Error 113: invalid subscription type start at time value, cannot by 0 or negative"
	err114 = "Error 114: invalid subscription type start at time delta value, cannot by 0 or negative"
	err115 = "Error 115: invalid request, cannot be empty"
	err116 = "Error 116: invalid cache ttl value, cannot be 0 or negative"
	err117 = "Error 117: invalid request id, cannot be empty"
	err118 = "Error 118: event store parameters were set but subscribe type is not event store"
	err119 = "Error 119: invalid channel value, cannot end with `.`"
	err206 = "Error 206: invalid request type"
	err207 = "Error 207: invalid subscribe type"
)

// subscribeErr opens a subscription that must be refused and returns the
// status it ends with (before any item).
func subscribeErr(t *testing.T, cl pb.KubemqClient, req *pb.Subscribe) error {
	t.Helper()
	switch req.SubscribeTypeData {
	case pb.Subscribe_Commands, pb.Subscribe_Queries:
		return subscribeRequestsErr(t, cl, req)
	}
	return subscribeEventsErr(t, cl, req)
}

// subscribeRequestsErr is subscribeErr for SubscribeToRequests whatever the type.
func subscribeRequestsErr(t *testing.T, cl pb.KubemqClient, req *pb.Subscribe) error {
	t.Helper()
	stream, err := cl.SubscribeToRequests(testCtx(t, 5*time.Second), req)
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

// subscribeEventsErr is subscribeErr for SubscribeToEvents whatever the type.
func subscribeEventsErr(t *testing.T, cl pb.KubemqClient, req *pb.Subscribe) error {
	t.Helper()
	stream, err := cl.SubscribeToEvents(testCtx(t, 5*time.Second), req)
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

// TestValidationSendEvent: spec §4.1 rows 1–6 (and §5.1: the same on the
// store path), in the reference's order, status Internal.
func TestValidationSendEvent(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	body := []byte("x")
	for _, store := range []bool{false, true} {
		for _, tc := range []struct {
			name string
			ev   *pb.Event
			want string
		}{
			{"no client id", &pb.Event{Channel: "a", Body: body}, err101},
			{"no client id and no channel", &pb.Event{}, err101},
			{"no channel", &pb.Event{ClientID: "c", Body: body}, err102},
			{"no channel, empty message", &pb.Event{ClientID: "c"}, err102},
			{"trailing dot", &pb.Event{ClientID: "c", Channel: "a.", Body: body}, err119},
			{"trailing dot and space", &pb.Event{ClientID: "c", Channel: "a b.", Body: body}, err119},
			{"space", &pb.Event{ClientID: "c", Channel: "a b", Body: body}, err108},
			{"space and wildcard", &pb.Event{ClientID: "c", Channel: "a *", Body: body}, err108},
			{"star", &pb.Event{ClientID: "c", Channel: "a.*", Body: body}, err107},
			{"gt", &pb.Event{ClientID: "c", Channel: "a.>", Body: body}, err107},
			{"star inside a token", &pb.Event{ClientID: "c", Channel: "a*", Body: body}, err107},
			{"wildcard and empty message", &pb.Event{ClientID: "c", Channel: ">"}, err107},
			{"empty message", &pb.Event{ClientID: "c", Channel: "a"}, err110},
		} {
			t.Run(fmt.Sprintf("store=%v/%s", store, tc.name), func(t *testing.T) {
				tc.ev.Store = store
				res, err := cl.SendEvent(context.Background(), tc.ev)
				if res != nil {
					t.Fatalf("got a result %+v", res)
				}
				wantStatus(t, err, codes.Internal, tc.want)
			})
		}
	}
	// Metadata alone or body alone is enough.
	for _, ev := range []*pb.Event{{ClientID: "c", Channel: "a", Metadata: "m"}, {ClientID: "c", Channel: "a", Body: body}} {
		for _, store := range []bool{false, true} {
			ev.Store = store
			if res, err := cl.SendEvent(context.Background(), ev); err != nil || !res.Sent {
				t.Errorf("%+v: %+v %v", ev, res, err)
			}
		}
	}
}

// TestValidationSubscribeEvents: spec §4.3 rows 0–5; wildcards and a start
// value without a start type are accepted.
func TestValidationSubscribeEvents(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ev := pb.Subscribe_Events
	for _, tc := range []struct {
		name string
		req  *pb.Subscribe
		want string
	}{
		{"type 0", &pb.Subscribe{ClientID: "c", Channel: "a"}, err207},
		{"type 0, nothing else", &pb.Subscribe{}, err207},
		{"type commands", &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Commands, ClientID: "c", Channel: "a"}, err207},
		{"type queries", &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Queries, ClientID: "c", Channel: "a"}, err207},
		{"type 9", &pb.Subscribe{SubscribeTypeData: 9, ClientID: "c", Channel: "a"}, err207},
		{"no client id", &pb.Subscribe{SubscribeTypeData: ev, Channel: "a"}, err101},
		{"no channel", &pb.Subscribe{SubscribeTypeData: ev, ClientID: "c"}, err102},
		{"trailing dot", &pb.Subscribe{SubscribeTypeData: ev, ClientID: "c", Channel: "a."}, err119},
		{"space", &pb.Subscribe{SubscribeTypeData: ev, ClientID: "c", Channel: "a b"}, err108},
		{"store type", &pb.Subscribe{SubscribeTypeData: ev, ClientID: "c", Channel: "a", EventsStoreTypeData: pb.Subscribe_StartFromFirst}, err118},
		{"store type with wildcard", &pb.Subscribe{SubscribeTypeData: ev, ClientID: "c", Channel: "a.*", EventsStoreTypeData: 1}, err118},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, subscribeEventsErr(t, cl, tc.req), codes.Internal, tc.want)
		})
	}
	t.Run("accepted", func(t *testing.T) {
		base := uniq("val.ev")
		star := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: ev, ClientID: "c", Channel: base + ".*"})
		gt := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: ev, ClientID: "c", Channel: base + ".>"})
		value := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: ev, ClientID: "c", Channel: base + ".x", EventsStoreTypeValue: 42})
		waitEventsReady(t, cl, base+".x", hasProbe(star), hasProbe(gt), hasProbe(value))
	})
}

// TestValidationSubscribeEventsStore: spec §5.2 rows 1–9 in order; rows
// 10–11 (client-id rules of the reference's engine) do not apply to Herald.
func TestValidationSubscribeEventsStore(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	es := pb.Subscribe_EventsStore
	first := pb.Subscribe_StartFromFirst
	for _, tc := range []struct {
		name string
		req  *pb.Subscribe
		want string
	}{
		{"no client id", &pb.Subscribe{SubscribeTypeData: es, Channel: "a", EventsStoreTypeData: first}, err101},
		{"no client id, nothing else", &pb.Subscribe{SubscribeTypeData: es}, err101},
		{"no channel", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", EventsStoreTypeData: first}, err102},
		{"trailing dot", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a.", EventsStoreTypeData: first}, err119},
		{"space", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a b", EventsStoreTypeData: first}, err108},
		{"star", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a.*", EventsStoreTypeData: first}, err107},
		{"gt", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a.>", EventsStoreTypeData: first}, err107},
		{"wildcard before type", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: ">"}, err107},
		{"type 0", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a"}, err111},
		{"type 0 with value", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a", EventsStoreTypeValue: 5}, err111},
		{"at sequence 0", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a", EventsStoreTypeData: pb.Subscribe_StartAtSequence}, err112},
		{"at sequence -1", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a", EventsStoreTypeData: pb.Subscribe_StartAtSequence, EventsStoreTypeValue: -1}, err112},
		{"at time 0", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a", EventsStoreTypeData: pb.Subscribe_StartAtTime}, err113},
		{"at time -1", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a", EventsStoreTypeData: pb.Subscribe_StartAtTime, EventsStoreTypeValue: -1}, err113},
		{"at time delta 0", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a", EventsStoreTypeData: pb.Subscribe_StartAtTimeDelta}, err114},
		{"at time delta -1", &pb.Subscribe{SubscribeTypeData: es, ClientID: "c", Channel: "a", EventsStoreTypeData: pb.Subscribe_StartAtTimeDelta, EventsStoreTypeValue: -1}, err114},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, subscribeEventsErr(t, cl, tc.req), codes.Internal, tc.want)
		})
	}
	// Rows 10 and 11: any client id works, also several subscriptions with
	// one client id at a time (the reference refuses both).
	t.Run("any client id", func(t *testing.T) {
		ch := uniq("val.es")
		store(t, cl, ch, "b1")
		for _, id := range []string{"a.b", "host.example.com", "a:b", "x/y", "ünïcødé", "with space", "tab\there", "a*>", "dup", "dup"} {
			s := esSub(t, cl, ch, id, "", first, 0)
			wantSeqs(t, s, 1)
		}
	})
}

// TestValidationSendRequest: spec §6.1 rows 1–9 in order.
func TestValidationSendRequest(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	cmd, query := pb.Request_Command, pb.Request_Query
	body := []byte("x")
	for _, tc := range []struct {
		name string
		req  *pb.Request
		want string
	}{
		{"type 0", &pb.Request{ClientID: "c", Channel: "a", Body: body, Timeout: 100}, err206},
		{"type 0, nothing else", &pb.Request{}, err206},
		{"type 3", &pb.Request{RequestTypeData: 3, ClientID: "c", Channel: "a", Body: body, Timeout: 100}, err206},
		{"no client id", &pb.Request{RequestTypeData: cmd, Channel: "a", Body: body, Timeout: 100}, err101},
		{"no client id, query", &pb.Request{RequestTypeData: query}, err101},
		{"no channel", &pb.Request{RequestTypeData: cmd, ClientID: "c", Body: body, Timeout: 100}, err102},
		{"trailing dot", &pb.Request{RequestTypeData: query, ClientID: "c", Channel: "a.", Body: body, Timeout: 100}, err119},
		{"space", &pb.Request{RequestTypeData: cmd, ClientID: "c", Channel: "a b", Body: body, Timeout: 100}, err108},
		{"star", &pb.Request{RequestTypeData: query, ClientID: "c", Channel: "a.*", Body: body, Timeout: 100}, err107},
		{"gt, no timeout", &pb.Request{RequestTypeData: cmd, ClientID: "c", Channel: "a>"}, err107},
		{"timeout 0", &pb.Request{RequestTypeData: cmd, ClientID: "c", Channel: "a", Body: body}, err109},
		{"timeout -1, empty", &pb.Request{RequestTypeData: query, ClientID: "c", Channel: "a", Timeout: -1}, err109},
		{"empty request", &pb.Request{RequestTypeData: cmd, ClientID: "c", Channel: "a", Timeout: 100}, err115},
		{"empty request with cache key", &pb.Request{RequestTypeData: query, ClientID: "c", Channel: "a", Timeout: 100, CacheKey: "k"}, err115},
		{"cache ttl 0", &pb.Request{RequestTypeData: query, ClientID: "c", Channel: "a", Body: body, Timeout: 100, CacheKey: "k"}, err116},
		{"cache ttl -1", &pb.Request{RequestTypeData: query, ClientID: "c", Channel: "a", Metadata: "m", Timeout: 100, CacheKey: "k", CacheTTL: -1}, err116},
		{"cache ttl 0, command", &pb.Request{RequestTypeData: cmd, ClientID: "c", Channel: "a", Body: body, Timeout: 100, CacheKey: "k"}, err116},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, err := cl.SendRequest(context.Background(), tc.req)
			if resp != nil {
				t.Fatalf("got a response %+v", resp)
			}
			wantStatus(t, err, codes.Internal, tc.want)
			if time.Since(start) > time.Second {
				t.Fatalf("validation took %v", time.Since(start))
			}
		})
	}
	// A TTL without a key is fine (the SDK v1.9.0 always sends one): it times out.
	_, err := cl.SendRequest(context.Background(), &pb.Request{RequestTypeData: query, ClientID: "c", Channel: uniq("val.req"), Body: body, Timeout: 50, CacheTTL: 900000})
	wantStatus(t, err, codes.Internal, timeoutText)
}

// TestValidationSubscribeRequests: spec §6.2 rows 1–5; wildcards and store
// parameters are accepted.
func TestValidationSubscribeRequests(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	cmd := pb.Subscribe_Commands
	for _, tc := range []struct {
		name string
		req  *pb.Subscribe
		want string
	}{
		{"type 0", &pb.Subscribe{ClientID: "c", Channel: "a"}, err207},
		{"type 0, nothing else", &pb.Subscribe{}, err207},
		{"type events", &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "c", Channel: "a"}, err207},
		{"type events store", &pb.Subscribe{SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: "c", Channel: "a", EventsStoreTypeData: 1}, err207},
		{"no client id", &pb.Subscribe{SubscribeTypeData: cmd, Channel: "a"}, err101},
		{"no client id, queries", &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Queries}, err101},
		{"no channel", &pb.Subscribe{SubscribeTypeData: cmd, ClientID: "c"}, err102},
		{"trailing dot", &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Queries, ClientID: "c", Channel: "a."}, err119},
		{"space", &pb.Subscribe{SubscribeTypeData: cmd, ClientID: "c", Channel: "a b"}, err108},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, subscribeRequestsErr(t, cl, tc.req), codes.Internal, tc.want)
		})
	}
	t.Run("accepted", func(t *testing.T) {
		base := uniq("val.req")
		a := responder(t, cl, &pb.Subscribe{SubscribeTypeData: cmd, ClientID: "c", Channel: base + ".>", EventsStoreTypeData: 2, EventsStoreTypeValue: 7}, echo("c"))
		waitRequestsReady(t, cl, pb.Request_Command, base+".x.y", hasProbeReq(a))
	})
}

// TestValidationSendResponse: spec §6.3 rows 1–6; unknown reply channels
// are accepted.
func TestValidationSendResponse(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	for _, tc := range []struct {
		name string
		resp *pb.Response
		want string
	}{
		{"no client id", &pb.Response{RequestID: "r", ReplyChannel: "a"}, err101},
		{"nothing", &pb.Response{}, err101},
		{"no reply channel", &pb.Response{ClientID: "c", RequestID: "r"}, err102},
		{"no reply channel, no id", &pb.Response{ClientID: "c"}, err102},
		{"trailing dot", &pb.Response{ClientID: "c", RequestID: "r", ReplyChannel: "a."}, err119},
		{"space", &pb.Response{ClientID: "c", RequestID: "r", ReplyChannel: "a b"}, err108},
		{"star", &pb.Response{ClientID: "c", RequestID: "r", ReplyChannel: "_INBOX.*"}, err107},
		{"gt, no id", &pb.Response{ClientID: "c", ReplyChannel: "a.>"}, err107},
		{"no request id", &pb.Response{ClientID: "c", ReplyChannel: "a"}, err117},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cl.SendResponse(context.Background(), tc.resp)
			wantStatus(t, err, codes.Internal, tc.want)
		})
	}
	if _, err := cl.SendResponse(context.Background(), &pb.Response{ClientID: "c", RequestID: "r", ReplyChannel: "a"}); err != nil {
		t.Fatalf("valid response to an unknown channel: %v", err)
	}
}

// badChannels are names the reference accepted and then mishandled (spec
// §2.2); Herald refuses them in the families of the checks they resemble.
var badChannels = []struct {
	name, channel, prefix string
}{
	{"tab", "a\tb", "Error 108:"},
	{"newline", "a\nb", "Error 108:"},
	{"carriage return", "a\rb", "Error 108:"},
	{"NUL", "a\x00b", "Error 108:"},
	{"DEL", "a\x7fb", "Error 108:"},
	{"control", "\x01", "Error 108:"},
	{"no-break space", "a\u00a0b", "Error 108:"},
	{"em space", "a\u2003b", "Error 108:"},
	{"leading tab", "\ta", "Error 108:"},
	{"empty token", "a..b", "Error 119:"},
	{"leading dot", ".a", "Error 119:"},
	{"single dot", ".", "Error 119:"},
	{"slash", "a/b", "Error 119:"},
	{"256 bytes", strings.Repeat("x", 256), "Error 119:"},
	{"long with dots", strings.Repeat("ab.", 100) + "c", "Error 119:"},
}

// TestValidationHeraldChannels: Herald's extra channel refusals on every
// RPC that takes a channel, then a normal round trip (the reference broke
// server-wide on some of these names).
func TestValidationHeraldChannels(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	for _, bc := range badChannels {
		t.Run(bc.name, func(t *testing.T) {
			for _, store := range []bool{false, true} {
				_, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "c", Channel: bc.channel, Body: []byte("x"), Store: store})
				wantStatusPrefix(t, err, codes.Internal, bc.prefix)
			}
			wantStatusPrefix(t, subscribeEventsErr(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "c", Channel: bc.channel}), codes.Internal, bc.prefix)
			wantStatusPrefix(t, subscribeEventsErr(t, cl, &pb.Subscribe{
				SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: "c", Channel: bc.channel, EventsStoreTypeData: pb.Subscribe_StartFromFirst,
			}), codes.Internal, bc.prefix)
			for _, kind := range []pb.Request_RequestType{pb.Request_Command, pb.Request_Query} {
				_, err := cl.SendRequest(context.Background(), &pb.Request{RequestTypeData: kind, ClientID: "c", Channel: bc.channel, Body: []byte("x"), Timeout: 1000})
				wantStatusPrefix(t, err, codes.Internal, bc.prefix)
			}
			for _, typ := range []pb.Subscribe_SubscribeType{pb.Subscribe_Commands, pb.Subscribe_Queries} {
				wantStatusPrefix(t, subscribeRequestsErr(t, cl, &pb.Subscribe{SubscribeTypeData: typ, ClientID: "c", Channel: bc.channel}), codes.Internal, bc.prefix)
			}
			_, err := cl.SendResponse(context.Background(), &pb.Response{ClientID: "c", RequestID: "r", ReplyChannel: bc.channel})
			wantStatusPrefix(t, err, codes.Internal, bc.prefix)
			// In the events stream, in-band.
			stream, err := cl.SendEventsStream(testCtx(t, 5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&pb.Event{EventID: "bad", ClientID: "c", Channel: bc.channel, Body: []byte("x"), Store: true}); err != nil {
				t.Fatal(err)
			}
			res, err := stream.Recv()
			if err != nil || res.Sent || res.EventID != "bad" || !strings.HasPrefix(res.Error, bc.prefix) {
				t.Fatalf("stream result %+v %v", res, err)
			}
			_ = stream.CloseSend()
		})
	}
	// `>` is a wildcard only as the last token of a subscription.
	for _, ch := range []string{"a.>.b", ">.a", "a>"} {
		wantStatusPrefix(t, subscribeEventsErr(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "c", Channel: ch}), codes.Internal, "Error 107:")
	}
	// 255 bytes is still a channel, for events and the store.
	long := strings.Repeat("y", 255)
	for _, st := range []bool{false, true} {
		if res, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "c", Channel: long, Body: []byte("b1"), Store: st}); err != nil || !res.Sent {
			t.Fatalf("255-byte channel, store=%v: %+v %v", st, res, err)
		}
	}
	wantSeqs(t, esSub(t, cl, long, "c", "", pb.Subscribe_StartFromFirst, 0), 1)
	// Non-ASCII letters and the other punctuation work.
	for _, ch := range []string{"ünï.cødé", "A-b_c?d#e", "foo:bar", "🙂"} {
		if res, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "c", Channel: ch, Body: []byte("x"), Store: true}); err != nil || !res.Sent {
			t.Fatalf("channel %q: %+v %v", ch, res, err)
		}
	}
	serverStillWorks(t, srv)
}

// serverStillWorks does a plain event and an events-store round trip on a
// fresh connection.
func serverStillWorks(t *testing.T, srv *heraldtest.Server) {
	t.Helper()
	cl := rawClient(t, srv)
	ch := uniq("still.works")
	s := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "c", Channel: ch})
	waitEventsReady(t, cl, ch, hasProbe(s))
	store(t, cl, ch, "b1")
	wantSeqs(t, esSub(t, cl, ch, "c", "", pb.Subscribe_StartFromFirst, 0), 1)
}

// Hand-encoded messages (field numbers of spec §4.1, §4.3, §6.1), for inputs
// the generated stubs will not produce.
func encEvent(clientID, channel string, body []byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, clientID)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, channel)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func encSubscribe(typ uint64, clientID, channel string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, typ)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, clientID)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, channel)
	return b
}

func encRequest(typ uint64, clientID, channel string, timeout uint64) []byte {
	var b []byte
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, typ)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, clientID)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, channel)
	b = protowire.AppendTag(b, 6, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("x"))
	b = protowire.AppendTag(b, 8, protowire.VarintType)
	return protowire.AppendVarint(b, timeout)
}

// TestValidationInvalidUTF8: a channel that is not valid UTF-8 (which crashed
// the reference) is refused and the server keeps serving.
func TestValidationInvalidUTF8(t *testing.T) {
	srv := heraldtest.NewServer(t)
	conn := rawConn(t, srv)
	call := func(method string, msg []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := rawCall(ctx, conn, "/kubemq.kubemq/"+method, msg)
		return err
	}
	// The encodings are right: with a valid name they work.
	if err := call("SendEvent", encEvent("c", "ok", []byte("x"))); err != nil {
		t.Fatalf("hand-encoded event: %v", err)
	}
	if err := call("SendRequest", encRequest(1, "c", "ok", 10)); status.Convert(err).Message() != timeoutText {
		t.Fatalf("hand-encoded request: %v", err)
	}
	for _, bad := range []string{"a\xffb", "\xc3", "ok.\xed\xa0\x80"} {
		for _, tc := range []struct {
			method string
			msg    []byte
		}{
			{"SendEvent", encEvent("c", bad, []byte("x"))},
			{"SendEvent", encEvent(bad, "ok", []byte("x"))},
			{"SendEventsStream", encEvent("c", bad, []byte("x"))},
			{"SubscribeToEvents", encSubscribe(1, "c", bad)},
			{"SubscribeToEvents", encSubscribe(2, "c", bad)},
			{"SubscribeToRequests", encSubscribe(3, "c", bad)},
			{"SendRequest", encRequest(2, "c", bad, 1000)},
		} {
			err := call(tc.method, tc.msg)
			if err == nil {
				t.Fatalf("%s with %q: accepted", tc.method, bad)
			}
			if st := status.Convert(err); st.Code() == codes.Unknown || st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded {
				t.Fatalf("%s with %q: %v", tc.method, bad, err)
			}
		}
	}
	serverStillWorks(t, srv)
}

// TestValidationGarbage: request bytes that are not protobuf at all get an
// error status and do not hurt the server.
func TestValidationGarbage(t *testing.T) {
	srv := heraldtest.NewServer(t)
	conn := rawConn(t, srv)
	rng := rand.New(rand.NewPCG(1, 2))
	var samples [][]byte
	for len(samples) < 20 {
		b := make([]byte, 1+rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if !validWire(b) { // keep only bytes no message can decode
			samples = append(samples, b)
		}
	}
	samples = append(samples, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte{0x0a, 0x7f}, []byte{0x07})
	for _, m := range []string{"SendEvent", "SendRequest", "SendResponse", "SubscribeToEvents", "SubscribeToRequests", "SendEventsStream", "Ping"} {
		for i, b := range samples {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, err := rawCall(ctx, conn, "/kubemq.kubemq/"+m, b)
			cancel()
			if err == nil {
				t.Fatalf("%s accepted garbage sample %d %x", m, i, b)
			}
			if st := status.Convert(err); st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded {
				t.Fatalf("%s, sample %d: %v", m, i, err)
			}
		}
	}
	serverStillWorks(t, srv)
}

// validWire reports whether b parses as a sequence of protobuf fields.
func validWire(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}
