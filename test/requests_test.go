package test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc/codes"

	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/server/heraldtest"
)

const timeoutText = "Error 301: timeout for request message"

// responder subscribes to requests with the raw stub and answers each one
// with answer(req) (no answer when it returns nil). It records every request.
func responder(t *testing.T, cl pb.KubemqClient, req *pb.Subscribe, answer func(*pb.Request) *pb.Response) *sub[*pb.Request] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &sub[*pb.Request]{collector: newCollector[*pb.Request](), cancel: cancel}
	stream, err := cl.SubscribeToRequests(ctx, req)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				s.fail(err)
				return
			}
			s.add(r)
			if resp := answer(r); resp != nil {
				if _, err := cl.SendResponse(ctx, resp); err != nil && ctx.Err() == nil {
					s.fail(fmt.Errorf("send response: %w", err))
					return
				}
			}
		}
	}()
	return s
}

// echo answers a request with its own metadata and body.
func echo(clientID string) func(*pb.Request) *pb.Response {
	return func(r *pb.Request) *pb.Response {
		return &pb.Response{
			ClientID: clientID, RequestID: r.RequestID, ReplyChannel: r.ReplyChannel,
			Metadata: r.Metadata, Body: r.Body, Executed: true, Timestamp: time.Now().Unix(),
		}
	}
}

func cmdSub(ch, clientID, group string) *pb.Subscribe {
	return &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Commands, ClientID: clientID, Channel: ch, Group: group}
}

func querySub(ch, clientID, group string) *pb.Subscribe {
	return &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Queries, ClientID: clientID, Channel: ch, Group: group}
}

// waitRequestsReady sends short probe requests of kind until every ready
// function reports true.
func waitRequestsReady(t *testing.T, cl pb.KubemqClient, kind pb.Request_RequestType, ch string, ready ...func() bool) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		_, err := cl.SendRequest(context.Background(), &pb.Request{
			RequestTypeData: kind, ClientID: "prober", Channel: ch, Metadata: probeMeta, Timeout: 200,
		})
		for i, r := range ready {
			if !r() {
				return fmt.Errorf("responder %d has not seen a probe: %w", i, err)
			}
		}
		return nil
	})
}

func hasProbeReq(s *sub[*pb.Request]) func() bool {
	return func() bool {
		for _, r := range s.all() {
			if r.Metadata == probeMeta {
				return true
			}
		}
		return false
	}
}

func realReqs(rs []*pb.Request) []*pb.Request {
	var out []*pb.Request
	for _, r := range rs {
		if r.Metadata != probeMeta {
			out = append(out, r)
		}
	}
	return out
}

// TestCommandsSDK: a command round trip through the SDK; the responder sees
// the request with its id, reply channel and fields; the requester gets the
// responder's outcome, and a handler error comes back as Executed=false with
// the text, not as an RPC error.
func TestCommandsSDK(t *testing.T) {
	srv := heraldtest.NewServer(t)
	req := newClient(t, srv, "requester")
	res := newClient(t, srv, "cmd-responder")
	ch := uniq("cmd.sdk")
	ctx := testCtx(t, 30*time.Second)
	errCh := make(chan error, 1)
	cmds, err := res.SubscribeToCommands(ctx, ch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []*kubemq.CommandReceive
	)
	go func() {
		for {
			select {
			case cmd := <-cmds:
				mu.Lock()
				seen = append(seen, cmd)
				mu.Unlock()
				r := res.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).SetExecutedAt(time.Unix(1700000000, 0)).
					SetMetadata("ignored").SetBody([]byte("ignored")).SetTags(map[string]string{"from": "responder"})
				if string(cmd.Body) == "fail" {
					r.SetError(errors.New("boom"))
				}
				_ = r.Send(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	var resp *kubemq.CommandResponse
	eventually(t, 10*time.Second, func() error {
		resp, err = req.C().SetId("cmd-1").SetChannel(ch).SetMetadata("meta").SetBody([]byte("do")).
			AddTag("k", "v").SetTimeout(500 * time.Millisecond).Send(ctx)
		return err
	})
	if resp.CommandId != "cmd-1" || resp.ResponseClientId != "cmd-responder" || !resp.Executed || resp.Error != "" ||
		resp.ExecutedAt.Unix() != 1700000000 || !reflect.DeepEqual(resp.Tags, map[string]string{"from": "responder"}) {
		t.Fatalf("response %+v", resp)
	}
	mu.Lock()
	got := seen[len(seen)-1]
	mu.Unlock()
	if got.Id != "cmd-1" || got.ClientId != "requester" || got.Channel != ch || got.Metadata != "meta" ||
		string(got.Body) != "do" || got.ResponseTo == "" || !reflect.DeepEqual(got.Tags, map[string]string{"k": "v"}) {
		t.Fatalf("responder received %+v", got)
	}

	resp, err = req.C().SetChannel(ch).SetBody([]byte("fail")).SetTimeout(2 * time.Second).Send(ctx)
	if err != nil {
		t.Fatalf("a failed command is not an RPC error: %v", err)
	}
	if resp.Executed || resp.Error != "boom" || resp.CommandId == "" {
		t.Fatalf("response %+v, want Executed=false Error=boom and a generated id", resp)
	}
}

// TestQueriesSDK: a query round trip through the SDK; query responses carry
// the responder's metadata, body and tags.
func TestQueriesSDK(t *testing.T) {
	srv := heraldtest.NewServer(t)
	req := newClient(t, srv, "requester")
	res := newClient(t, srv, "query-responder")
	ch := uniq("query.sdk")
	ctx := testCtx(t, 30*time.Second)
	errCh := make(chan error, 1)
	qs, err := res.SubscribeToQueries(ctx, ch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case q := <-qs:
				r := res.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).
					SetMetadata("re:" + q.Metadata).SetBody(append([]byte("re:"), q.Body...)).SetTags(map[string]string{"t": q.Tags["t"]})
				if q.Metadata == "fail" {
					r.SetError(errors.New("no such thing"))
				}
				_ = r.Send(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	var resp *kubemq.QueryResponse
	eventually(t, 10*time.Second, func() error {
		resp, err = req.Q().SetId("q-1").SetChannel(ch).SetMetadata("m").SetBody([]byte("b")).AddTag("t", "x").
			SetTimeout(500 * time.Millisecond).Send(ctx)
		return err
	})
	if resp.QueryId != "q-1" || resp.ResponseClientId != "query-responder" || !resp.Executed || resp.Error != "" ||
		resp.Metadata != "re:m" || string(resp.Body) != "re:b" || resp.CacheHit ||
		!reflect.DeepEqual(resp.Tags, map[string]string{"t": "x"}) {
		t.Fatalf("response %+v", resp)
	}
	resp, err = req.Q().SetChannel(ch).SetMetadata("fail").SetTimeout(2 * time.Second).Send(ctx)
	if err != nil || resp.Executed || resp.Error != "no such thing" {
		t.Fatalf("response %+v, err %v", resp, err)
	}
}

// TestRequestsResponseFields checks the Response a requester gets, field by
// field, with raw stubs: commands lose Body and Metadata and get CacheHit
// false; queries keep everything, CacheHit included; RequestID is as the
// responder set it.
func TestRequestsResponseFields(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	for _, kind := range []pb.Request_RequestType{pb.Request_Command, pb.Request_Query} {
		t.Run(kind.String(), func(t *testing.T) {
			ch := uniq("req.fields")
			s := &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Commands, ClientID: "resp", Channel: ch}
			if kind == pb.Request_Query {
				s.SubscribeTypeData = pb.Subscribe_Queries
			}
			r := responder(t, cl, s, func(r *pb.Request) *pb.Response {
				return &pb.Response{
					ClientID: "resp", RequestID: r.RequestID + "-answer", ReplyChannel: r.ReplyChannel,
					Metadata: "rmeta", Body: []byte("rbody"), CacheHit: true, Timestamp: 1234567890123,
					Executed: r.Metadata != "fail", Error: map[bool]string{true: "it failed"}[r.Metadata == "fail"],
					Span: []byte{1, 2, 3}, Tags: map[string]string{"rt": "1"},
				}
			})
			waitRequestsReady(t, cl, kind, ch, hasProbeReq(r))

			resp, err := cl.SendRequest(testCtx(t, 10*time.Second), &pb.Request{
				RequestTypeData: kind, ClientID: "asker", Channel: ch, Metadata: "m", Body: []byte("b"),
				Timeout: 5000, Span: []byte{9}, Tags: map[string]string{"qt": "2"},
			})
			if err != nil {
				t.Fatal(err)
			}
			got := realReqs(r.all())
			if len(got) != 1 {
				t.Fatalf("responder got %d requests", len(got))
			}
			in := got[0]
			// A generated id, the server's reply handle, and everything else as sent.
			if in.RequestID == "" || in.ReplyChannel == "" || in.RequestTypeData != kind || in.ClientID != "asker" ||
				in.Channel != ch || in.Metadata != "m" || string(in.Body) != "b" || in.Timeout != 5000 ||
				!reflect.DeepEqual(in.Span, []byte{9}) || !reflect.DeepEqual(in.Tags, map[string]string{"qt": "2"}) {
				t.Fatalf("responder received %+v", in)
			}
			want := &pb.Response{
				ClientID: "resp", RequestID: in.RequestID + "-answer", Metadata: "rmeta", Body: []byte("rbody"),
				CacheHit: true, Timestamp: 1234567890123, Executed: true, Span: []byte{1, 2, 3},
				Tags: map[string]string{"rt": "1"},
			}
			if kind == pb.Request_Command {
				want.Metadata, want.Body, want.CacheHit = "", nil, false
			}
			if resp.ClientID != want.ClientID || resp.RequestID != want.RequestID || resp.ReplyChannel != "" ||
				resp.Metadata != want.Metadata || !reflect.DeepEqual(resp.Body, want.Body) && len(resp.Body)+len(want.Body) > 0 ||
				resp.CacheHit != want.CacheHit || resp.Timestamp != want.Timestamp || resp.Executed != want.Executed ||
				resp.Error != "" || !reflect.DeepEqual(resp.Span, want.Span) || !reflect.DeepEqual(resp.Tags, want.Tags) {
				t.Fatalf("response %+v, want %+v", resp, want)
			}

			// A responder's failure is passed through with status OK.
			resp, err = cl.SendRequest(testCtx(t, 10*time.Second), &pb.Request{
				RequestID: "given-id", RequestTypeData: kind, ClientID: "asker", Channel: ch, Metadata: "fail", Timeout: 5000,
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Executed || resp.Error != "it failed" || resp.RequestID != "given-id-answer" {
				t.Fatalf("response %+v", resp)
			}
		})
	}
}

// TestRequestsTimeout: with nobody answering, SendRequest fails with status
// Internal Error 301 after the full timeout, not earlier; a responder that
// answers too late changes nothing, and its SendResponse still succeeds.
func TestRequestsTimeout(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	for _, kind := range []pb.Request_RequestType{pb.Request_Command, pb.Request_Query} {
		t.Run("nobody "+kind.String(), func(t *testing.T) {
			t.Parallel()
			const timeout = 500 * time.Millisecond
			start := time.Now()
			_, err := cl.SendRequest(testCtx(t, 10*time.Second), &pb.Request{
				RequestTypeData: kind, ClientID: "asker", Channel: uniq("req.nobody"), Body: []byte("x"), Timeout: int32(timeout / time.Millisecond),
			})
			elapsed := time.Since(start)
			wantStatus(t, err, codes.Internal, timeoutText)
			if elapsed < timeout || elapsed > timeout+2*time.Second {
				t.Fatalf("timed out after %v, want about %v", elapsed, timeout)
			}
		})
	}
	t.Run("late responder", func(t *testing.T) {
		t.Parallel()
		ch := uniq("req.late")
		late := make(chan *pb.Request, 10)
		r := responder(t, cl, cmdSub(ch, "late", ""), func(r *pb.Request) *pb.Response {
			if r.Metadata == probeMeta {
				return nil
			}
			late <- r
			return nil
		})
		waitRequestsReady(t, cl, pb.Request_Command, ch, hasProbeReq(r))
		start := time.Now()
		_, err := cl.SendRequest(testCtx(t, 10*time.Second), &pb.Request{
			RequestTypeData: pb.Request_Command, ClientID: "asker", Channel: ch, Body: []byte("x"), Timeout: 300,
		})
		elapsed := time.Since(start)
		wantStatus(t, err, codes.Internal, timeoutText)
		if elapsed < 300*time.Millisecond {
			t.Fatalf("timed out after %v, want at least 300ms", elapsed)
		}
		var in *pb.Request
		select {
		case in = <-late:
		case <-time.After(5 * time.Second):
			t.Fatal("the responder never got the request")
		}
		if _, err := cl.SendResponse(context.Background(), &pb.Response{
			ClientID: "late", RequestID: in.RequestID, ReplyChannel: in.ReplyChannel, Executed: true,
		}); err != nil {
			t.Fatalf("a late response is accepted and ignored, got %v", err)
		}
	})
	t.Run("client deadline", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := cl.SendRequest(ctx, &pb.Request{
			RequestTypeData: pb.Request_Query, ClientID: "asker", Channel: uniq("req.deadline"), Body: []byte("x"), Timeout: 5000,
		})
		if code := statusCode(err); code != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
	})
}

// TestRequestsRouting: without a group every responder gets each request
// and the first answer wins; in a group one member gets it (plain responders
// still do); wildcard responders see the actual channel; commands never reach
// query responders.
func TestRequestsRouting(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)

	t.Run("first response wins", func(t *testing.T) {
		ch := uniq("req.first")
		a := responder(t, cl, querySub(ch, "a", ""), echo("a"))
		b := responder(t, cl, querySub(ch, "b", ""), echo("b"))
		waitRequestsReady(t, cl, pb.Request_Query, ch, hasProbeReq(a), hasProbeReq(b))
		resp, err := cl.SendRequest(testCtx(t, 5*time.Second), &pb.Request{
			RequestID: "both", RequestTypeData: pb.Request_Query, ClientID: "asker", Channel: ch, Body: []byte("x"), Timeout: 5000,
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.ClientID != "a" && resp.ClientID != "b" || string(resp.Body) != "x" {
			t.Fatalf("response %+v", resp)
		}
		for _, s := range []*sub[*pb.Request]{a, b} {
			s.waitFor(t, 5*time.Second, "the request", func(rs []*pb.Request) bool {
				rs = realReqs(rs)
				return len(rs) == 1 && rs[0].RequestID == "both"
			})
		}
	})

	t.Run("groups", func(t *testing.T) {
		ch := uniq("req.group")
		g1 := responder(t, cl, cmdSub(ch, "g1", "G"), echo("g1"))
		g2 := responder(t, cl, cmdSub(ch, "g2", "G"), echo("g2"))
		plain := responder(t, cl, cmdSub(ch, "plain", ""), func(*pb.Request) *pb.Response { return nil })
		waitRequestsReady(t, cl, pb.Request_Command, ch, hasProbeReq(g1), hasProbeReq(g2), hasProbeReq(plain))
		const n = 30
		for i := range n {
			resp, err := cl.SendRequest(testCtx(t, 5*time.Second), &pb.Request{
				RequestID: fmt.Sprint(i), RequestTypeData: pb.Request_Command, ClientID: "asker", Channel: ch, Body: []byte("x"), Timeout: 5000,
			})
			if err != nil || !resp.Executed || resp.ClientID != "g1" && resp.ClientID != "g2" {
				t.Fatalf("command %d: %+v %v", i, resp, err)
			}
		}
		plain.waitFor(t, 5*time.Second, "all commands", func(rs []*pb.Request) bool { return len(realReqs(rs)) == n })
		var ids []string
		for _, s := range []*sub[*pb.Request]{g1, g2} {
			for _, r := range realReqs(s.all()) {
				ids = append(ids, r.RequestID)
			}
		}
		sort.Strings(ids)
		var want []string
		for i := range n {
			want = append(want, fmt.Sprint(i))
		}
		sort.Strings(want)
		if !reflect.DeepEqual(ids, want) {
			t.Fatalf("group members executed %v, want each command once", ids)
		}
		t.Logf("distribution: g1 %d, g2 %d", len(realReqs(g1.all())), len(realReqs(g2.all())))
	})

	t.Run("wildcard responder", func(t *testing.T) {
		base := uniq("req.wild")
		r := responder(t, cl, cmdSub(base+".*", "w", ""), func(r *pb.Request) *pb.Response {
			return &pb.Response{ClientID: "w", RequestID: r.RequestID, ReplyChannel: r.ReplyChannel, Metadata: r.Channel, Executed: true}
		})
		waitRequestsReady(t, cl, pb.Request_Command, base+".probe", hasProbeReq(r))
		if _, err := cl.SendRequest(testCtx(t, 5*time.Second), &pb.Request{
			RequestTypeData: pb.Request_Command, ClientID: "asker", Channel: base + ".a", Body: []byte("x"), Timeout: 5000,
		}); err != nil {
			t.Fatal(err)
		}
		got := realReqs(r.all())
		if len(got) != 1 || got[0].Channel != base+".a" {
			t.Fatalf("wildcard responder received %+v", got)
		}
	})

	t.Run("commands and queries are separate", func(t *testing.T) {
		ch := uniq("req.kinds")
		q := responder(t, cl, querySub(ch, "q", ""), echo("q"))
		waitRequestsReady(t, cl, pb.Request_Query, ch, hasProbeReq(q))
		_, err := cl.SendRequest(testCtx(t, 5*time.Second), &pb.Request{
			RequestTypeData: pb.Request_Command, ClientID: "asker", Channel: ch, Body: []byte("cmd"), Timeout: 300,
		})
		wantStatus(t, err, codes.Internal, timeoutText)
		if _, err := cl.SendRequest(testCtx(t, 5*time.Second), &pb.Request{
			RequestTypeData: pb.Request_Query, ClientID: "asker", Channel: ch, Body: []byte("query"), Timeout: 5000,
		}); err != nil {
			t.Fatal(err)
		}
		got := realReqs(q.all())
		if len(got) != 1 || string(got[0].Body) != "query" || got[0].RequestTypeData != pb.Request_Query {
			t.Fatalf("query responder received %+v", got)
		}
	})

	t.Run("responses only reach pending requests", func(t *testing.T) {
		// Answering a reply channel nobody waits on is accepted and ignored,
		// also when it names an internal subject (here: an events channel's).
		ch := uniq("req.hijack")
		s := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "c", Channel: ch})
		waitEventsReady(t, cl, ch, hasProbe(s))
		for _, reply := range []string{"nobody-waits", "_INBOX.unknown.token", events.SubjectPrefix + ch, "_EVENTS_." + ch, ch} {
			if _, err := cl.SendResponse(context.Background(), &pb.Response{ClientID: "x", RequestID: "r", ReplyChannel: reply, Body: []byte("response")}); err != nil {
				t.Fatalf("reply to %q: %v", reply, err)
			}
		}
		if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "c", Channel: ch, Body: []byte("marker")}); err != nil {
			t.Fatal(err)
		}
		evs := real(s.waitFor(t, 5*time.Second, "marker", func(evs []*pb.EventReceive) bool { return len(real(evs)) > 0 }))
		if b := bodiesOf(evs); !reflect.DeepEqual(b, []string{"marker"}) {
			t.Fatalf("events subscriber received %q", b)
		}
	})
}

// TestQueryCacheSDK: a query with CacheKey is answered by the responder once,
// then from the cache with CacheHit=true without reaching the responder; a
// different key or channel misses; a failed response is not cached; commands
// never use the cache. Go SDK v1.9.0 sends CacheTTL in ms, which Herald reads
// as seconds (and caps), so its 2 s here mean a long time.
func TestQueryCacheSDK(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "asker")
	cl := rawClient(t, srv)
	ch, other := uniq("cache"), uniq("cache")
	answer := func(r *pb.Request) *pb.Response {
		resp := echo("resp")(r)
		resp.Body = append([]byte("re:"), r.Body...)
		if r.Metadata == "fail" {
			resp.Executed, resp.Error = false, "failed"
		}
		return resp
	}
	rs := []*sub[*pb.Request]{responder(t, cl, querySub(ch, "resp", ""), answer), responder(t, cl, querySub(other, "resp", ""), echo("resp"))}
	waitRequestsReady(t, cl, pb.Request_Query, ch, hasProbeReq(rs[0]))
	waitRequestsReady(t, cl, pb.Request_Query, other, hasProbeReq(rs[1]))
	ctx := testCtx(t, 30*time.Second)
	query := func(ch, key, meta, body string) *kubemq.QueryResponse {
		t.Helper()
		q := c.Q().SetChannel(ch).SetMetadata(meta).SetBody([]byte(body)).SetTimeout(5 * time.Second)
		if key != "" {
			q.SetCacheKey(key).SetCacheTTL(2 * time.Second)
		}
		resp, err := q.Send(ctx)
		if err != nil {
			t.Fatalf("query %s/%s: %v", ch, key, err)
		}
		return resp
	}
	// seen returns the bodies the responder on ch received, after a marker
	// query proved that nothing else is on its way.
	seen := func(s *sub[*pb.Request], ch string) []string {
		t.Helper()
		marker := fmt.Sprint("marker", seq.Add(1))
		query(ch, "", "m", marker)
		var out []string
		for _, r := range realReqs(s.all()) {
			if !strings.HasPrefix(string(r.Body), "marker") {
				out = append(out, string(r.Body))
			}
		}
		return out
	}

	first := query(ch, "k1", "m", "one")
	if first.CacheHit || string(first.Body) != "re:one" || !first.Executed {
		t.Fatalf("first query %+v", first)
	}
	hit := query(ch, "k1", "m", "one-again")
	if !hit.CacheHit || string(hit.Body) != "re:one" || hit.Metadata != "m" || !hit.Executed || hit.ResponseClientId != "resp" ||
		!hit.ExecutedAt.Equal(first.ExecutedAt) {
		t.Fatalf("second query %+v, want the cached first response with CacheHit", hit)
	}
	if got := seen(rs[0], ch); !reflect.DeepEqual(got, []string{"one"}) {
		t.Fatalf("responder received %q, want only the first query", got)
	}

	if r := query(ch, "k2", "m", "two"); r.CacheHit {
		t.Fatalf("another key hit the cache: %+v", r)
	}
	if r := query(other, "k1", "m", "three"); r.CacheHit {
		t.Fatalf("another channel hit the cache: %+v", r)
	}
	// Failed responses are not kept.
	if r := query(ch, "kf", "fail", "f1"); r.CacheHit || r.Executed || r.Error != "failed" {
		t.Fatalf("failing query %+v", r)
	}
	if r := query(ch, "kf", "fail", "f2"); r.CacheHit {
		t.Fatalf("a failed response was cached: %+v", r)
	}
	if got := seen(rs[0], ch); !reflect.DeepEqual(got, []string{"one", "two", "f1", "f2"}) {
		t.Fatalf("responder received %q", got)
	}

	// Commands never use the cache (the SDK sends no cache fields for them).
	cr := responder(t, cl, cmdSub(ch, "cresp", ""), echo("cresp"))
	waitRequestsReady(t, cl, pb.Request_Command, ch, hasProbeReq(cr))
	for i := range 2 {
		resp, err := cl.SendRequest(ctx, &pb.Request{
			RequestTypeData: pb.Request_Command, ClientID: "asker", Channel: ch, Body: []byte(fmt.Sprint("c", i)),
			Timeout: 5000, CacheKey: "k1", CacheTTL: 60,
		})
		if err != nil || resp.CacheHit {
			t.Fatalf("command %d: %+v %v", i, resp, err)
		}
	}
	if got := len(realReqs(cr.all())); got != 2 {
		t.Fatalf("command responder executed %d commands, want 2", got)
	}
}

// TestQueryCacheExpiry: with CacheTTL=1 (seconds, as Go SDK v2 and Python
// send it) the entry is gone after about a second.
func TestQueryCacheExpiry(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("cache.ttl")
	r := responder(t, cl, querySub(ch, "resp", ""), echo("resp"))
	waitRequestsReady(t, cl, pb.Request_Query, ch, hasProbeReq(r))
	q := func(body string) *pb.Response {
		t.Helper()
		resp, err := cl.SendRequest(testCtx(t, 5*time.Second), &pb.Request{
			RequestTypeData: pb.Request_Query, ClientID: "asker", Channel: ch, Body: []byte(body), Timeout: 5000,
			CacheKey: "k", CacheTTL: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := q("a"); resp.CacheHit || string(resp.Body) != "a" {
		t.Fatalf("first %+v", resp)
	}
	cached := time.Now()
	if resp := q("b"); !resp.CacheHit || string(resp.Body) != "a" {
		t.Fatalf("second %+v, want a hit", resp)
	}
	var missAt time.Duration
	eventually(t, 6*time.Second, func() error {
		resp := q("c")
		if resp.CacheHit {
			return fmt.Errorf("still cached after %v", time.Since(cached))
		}
		missAt = time.Since(cached)
		if string(resp.Body) != "c" {
			t.Fatalf("miss answered with %q", resp.Body)
		}
		return nil
	})
	if missAt < 900*time.Millisecond {
		t.Fatalf("entry with a 1 s TTL gone after %v", missAt)
	}
	t.Logf("entry gone after %v", missAt)
}
