package test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// healthy fails unless srv still answers Ping and stores and returns a
// queue message: what each abuse test asserts after its hostile request.
func healthy(t *testing.T, cl pb.KubemqClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Ping(ctx, &pb.Empty{}); err != nil {
		t.Fatalf("server does not answer Ping after the request: %v", err)
	}
	ch := uniq("healthy")
	qSendBodies(t, cl, ch, "alive")
	qWant(t, "after the request", qTake(t, cl, ch, 1, 2), []string{"alive"}, nil, nil)
}

// TestAbuseDownstreamMaxItems: a Get asks for up to MaxInt32 messages. The
// server must not size anything by that number (it used to allocate a
// buffer of that many messages and die out of memory).
func TestAbuseDownstreamMaxItems(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("abuse.maxitems")
	qSendBodies(t, cl, ch, "a", "b", "c")
	for _, n := range []int32{math.MaxInt32, 0, -1, math.MinInt32} {
		ds := openDS(t, cl)
		resp := ds.getOK(ch, n, 1000)
		if got := len(resp.Messages); got != 3 {
			t.Fatalf("MaxItems %d: %d messages, want the 3 stored", n, got)
		}
		ds.settleOK(pb.QueuesDownstreamRequestType_CloseByClient, resp.TransactionId, nil, "")
	}
	ds := openDS(t, cl)
	if resp := ds.getOK(uniq("abuse.maxitems.empty"), math.MaxInt32, 1000); len(resp.Messages) != 0 {
		t.Fatalf("empty queue: %+v", resp)
	}
	healthy(t, cl)
}

// The extremes every client-controlled int32 count or duration is tried
// with (docs/limits.md lists each field with its bound).
var int32Extremes = []int32{0, -1, math.MinInt32, math.MaxInt32}

// TestAbuseReceiveCounts: MaxNumberOfMessages and WaitTimeSeconds of a
// receive or peek, and the wait of ack-all, at their extremes: Error 122 and
// 136 at once, never a wait or an allocation by the number.
func TestAbuseReceiveCounts(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("abuse.receive")
	qSendBodies(t, cl, ch, "a")
	for _, peek := range []bool{false, true} {
		for _, n := range append(int32Extremes, 1025) {
			start := time.Now()
			res := qReceive(t, cl, ch, n, 1, peek)
			if !res.IsError || res.Error != qErr122 || time.Since(start) > 2*time.Second {
				t.Fatalf("peek %v, MaxNumberOfMessages %d: %+v after %v, want %q at once", peek, n, res, time.Since(start), qErr122)
			}
		}
		for _, w := range []int32{-1, math.MinInt32, math.MaxInt32, 3601} {
			start := time.Now()
			res, err := cl.ReceiveQueueMessages(testCtx(t, 5*time.Second), &pb.ReceiveQueueMessagesRequest{
				ClientID: "c", Channel: ch, MaxNumberOfMessages: 1, WaitTimeSeconds: w, IsPeak: peek})
			if err != nil {
				t.Fatal(err)
			}
			if !res.IsError || res.Error != qErr136 || time.Since(start) > 2*time.Second {
				t.Fatalf("peek %v, WaitTimeSeconds %d: %+v after %v, want %q at once", peek, w, res, time.Since(start), qErr136)
			}
		}
	}
	if got := qPeek(t, cl, ch, 1, 0); len(got) != 1 { // wait 0: the default wait
		t.Fatalf("peek with wait 0: %d messages", len(got))
	}
	for _, w := range []int32{-1, math.MinInt32, math.MaxInt32} {
		res, err := cl.AckAllQueueMessages(testCtx(t, 5*time.Second), &pb.AckAllQueueMessagesRequest{ClientID: "c", Channel: ch, WaitTimeSeconds: w})
		if err != nil || !res.IsError || res.Error != qErr136 {
			t.Fatalf("ack-all, WaitTimeSeconds %d: %+v %v, want %q", w, res, err, qErr136)
		}
	}
	healthy(t, cl)
}

// TestAbuseStreamQueueCounts: VisibilitySeconds and WaitTimeSeconds of
// StreamQueueMessage (receive and ModifyVisibility), and RefSequence.
func TestAbuseStreamQueueCounts(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("abuse.sq")
	sq := openSQ(t, cl)
	recv := func(vis, wait int32) *pb.StreamQueueMessagesRequest {
		return &pb.StreamQueueMessagesRequest{RequestID: "r", StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage,
			Channel: ch, VisibilitySeconds: vis, WaitTimeSeconds: wait}
	}
	for _, v := range []int32{-1, math.MinInt32, math.MaxInt32} {
		sq.wantErr(recv(v, 1), qErr127)
		sq.wantErr(recv(1, v), qErr136)
		mv := sqReq(pb.StreamRequestType_ModifyVisibility, "mv")
		mv.VisibilitySeconds = v
		sq.wantErr(mv, qErr127)
	}
	ack := sqReq(pb.StreamRequestType_AckMessage, "ack")
	ack.RefSequence = math.MaxUint64
	sq.wantErr(ack, qErr124)
	qSendBodies(t, cl, ch, "m")
	if m := sq.receive(ch, 0, 0); string(m.Body) != "m" { // 0: the defaults
		t.Fatalf("receive with visibility and wait 0: %q", m.Body)
	}
	ack.RefSequence = math.MaxUint64
	sq.wantErr(ack, qErr125)
	healthy(t, cl)
}

// TestAbusePolicy: the policy fields of a queue message at their extremes.
func TestAbusePolicy(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("abuse.policy")
	for _, v := range []int32{-1, math.MinInt32, math.MaxInt32} {
		for _, tc := range []struct {
			p    *pb.QueueMessagePolicy
			want string
		}{
			{&pb.QueueMessagePolicy{ExpirationSeconds: v}, qErr133},
			{&pb.QueueMessagePolicy{DelaySeconds: v}, qErr135},
			{&pb.QueueMessagePolicy{MaxReceiveCount: v}, qErr134},
		} {
			m := qMsg(ch, "x")
			m.Policy = tc.p
			if res := qSendRaw(t, cl, m); !res.IsError || res.Error != tc.want {
				t.Fatalf("policy %+v: %+v, want %q", tc.p, res, tc.want)
			}
		}
	}
	m := qMsg(ch, "zero")
	m.Policy = &pb.QueueMessagePolicy{}
	qSendOK(t, cl, m)
	healthy(t, cl)
}

// TestAbuseDownstreamWait: a Get's WaitTimeout (ms) below 1 s waits 1 s; a
// huge one waits at most queue-max-wait-timeout-seconds, never 24 days.
func TestAbuseDownstreamWait(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t, server.Options{Queue: server.QueueOptions{MaxWaitTimeoutSeconds: 2}})
	cl := rawClient(t, srv)
	ds := openDS(t, cl)
	for _, tc := range []struct {
		wait     int32
		min, max time.Duration
	}{
		{0, time.Second, 3 * time.Second},
		{-1, time.Second, 3 * time.Second},
		{math.MinInt32, time.Second, 3 * time.Second},
		{math.MaxInt32, 2 * time.Second, 4 * time.Second},
	} {
		start := time.Now()
		r := &pb.QueuesDownstreamRequest{ClientID: "c", RequestTypeData: pb.QueuesDownstreamRequestType_Get,
			Channel: uniq("abuse.dswait"), MaxItems: 10, WaitTimeout: tc.wait}
		ds.send(r)
		resp := ds.recv(10 * time.Second)
		took := time.Since(start)
		if resp.IsError || len(resp.Messages) != 0 || took < tc.min-100*time.Millisecond || took > tc.max {
			t.Fatalf("WaitTimeout %d: %+v after %v, want an empty answer within %v–%v", tc.wait, resp, took, tc.min, tc.max)
		}
	}
	healthy(t, cl)
}

// TestAbuseDownstreamGets: a client cannot make a stream run Gets without
// bound: at most 16 wait at once, the next is refused at once.
func TestAbuseDownstreamGets(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ds := openDS(t, cl)
	ch := uniq("abuse.dsgets")
	for range 16 {
		ds.send(&pb.QueuesDownstreamRequest{ClientID: "c", RequestTypeData: pb.QueuesDownstreamRequestType_Get, Channel: ch, MaxItems: 1, WaitTimeout: 3000})
	}
	extra := &pb.QueuesDownstreamRequest{RequestID: "extra", ClientID: "c", RequestTypeData: pb.QueuesDownstreamRequestType_Get, Channel: ch, MaxItems: 1, WaitTimeout: 3000}
	ds.send(extra)
	resp := ds.recv(2 * time.Second)
	const want = "too many Get requests waiting on this stream, at most 16 at once"
	if resp.RefRequestId != "extra" || !resp.IsError || resp.Error != want || len(resp.TransactionId) != 36 {
		t.Fatalf("17th Get: %+v, want %q", resp, want)
	}
	for range 16 {
		if r := ds.recv(10 * time.Second); r.IsError {
			t.Fatalf("waiting Get: %+v", r)
		}
	}
	qSendBodies(t, cl, ch, "after")
	if r := ds.getOK(ch, 1, 1000); len(r.Messages) != 1 {
		t.Fatalf("Get after the others answered: %+v", r)
	}
	healthy(t, cl)
}

// TestAbuseDownstreamClosedTransactions: a long-lived stream forgets its
// oldest closed transactions beyond 1024 instead of keeping them all.
func TestAbuseDownstreamClosedTransactions(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("abuse.dsclosed")
	qSendBodies(t, cl, ch, "m")
	ds := openDS(t, cl)
	const n = 1030
	var txs []string
	for range n { // each Get takes the message, each close returns it
		r := ds.getOK(ch, 1, 1000)
		if len(r.Messages) != 1 {
			t.Fatalf("Get: %+v", r)
		}
		ds.settle(pb.QueuesDownstreamRequestType_CloseByClient, r.TransactionId, nil, "")
		txs = append(txs, r.TransactionId)
	}
	const ackClosed = "cannot ack messages with closed response "
	ds.settleErr(pb.QueuesDownstreamRequestType_AckAll, txs[n-1], nil, "", ackClosed)
	ds.settleErr(pb.QueuesDownstreamRequestType_AckAll, txs[n-1024], nil, "", ackClosed)
	ds.settleErr(pb.QueuesDownstreamRequestType_AckAll, txs[n-1025], nil, "", qTxNotFound)
	ds.settleErr(pb.QueuesDownstreamRequestType_AckAll, txs[0], nil, "", qTxNotFound)
	healthy(t, cl)
}

// TestAbuseDownstreamSequenceRange: sequence numbers at their extremes, and
// a range longer than any transaction can hold.
func TestAbuseDownstreamSequenceRange(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("abuse.dsrange")
	qSendBodies(t, cl, ch, "a")
	ds := openDS(t, cl)
	tx := ds.getOK(ch, 1, 1000).TransactionId
	for _, seq := range []int64{0, -1, math.MinInt64, math.MaxInt64} {
		ds.settleErr(pb.QueuesDownstreamRequestType_AckRange, tx, []int64{seq}, "", fmt.Sprintf("invalid ack sequence id %d", seq))
	}
	ds.settleOK(pb.QueuesDownstreamRequestType_AckAll, tx, nil, "")
	// 1,000,001 sequence numbers, packed: one byte each on the wire.
	b := protowire.AppendTag(nil, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(pb.QueuesDownstreamRequestType_AckRange))
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, make([]byte, 1_000_001))
	wantTooMany(t, rawClientConn(t, srv), "QueuesDownstream", b)
	healthy(t, cl)
}

// tooManyElements is how the gRPC front refuses a request with more than
// 1,000,000 repeated elements, before decoding it.
const tooManyElements = "grpc: failed to unmarshal the received message: request refused: more than 1000000 repeated elements (batch messages, tags, sequence numbers)"

func rawClientConn(t *testing.T, srv *heraldtest.Server) *grpc.ClientConn {
	t.Helper()
	return rawConn(t, srv)
}

// wantTooMany sends the encoded request msg to method and fails unless it
// is refused as too many elements, quickly.
func wantTooMany(t *testing.T, conn *grpc.ClientConn, method string, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := rawCall(ctx, conn, "/kubemq.kubemq/"+method, msg)
	wantStatus(t, err, codes.Internal, tooManyElements)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("%s: refused after %v", method, took)
	}
}

// repeatField encodes n empty occurrences of a length-delimited field.
func repeatField(prefix []byte, num protowire.Number, n int) []byte {
	b := prefix
	for range n {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = append(b, 0)
	}
	return b
}

// TestAbuseBatchLengths: the number of messages of a batch or upstream
// request and of tags of a message. Two bytes on the wire each, they would
// cost a couple of hundred bytes each once decoded: over 1,000,000 the
// request is refused before decoding; an empty batch gets the reference's
// error.
func TestAbuseBatchLengths(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	conn := rawClientConn(t, srv)
	_, err := cl.SendQueueMessagesBatch(testCtx(t, 5*time.Second), &pb.QueueMessagesBatchRequest{BatchID: "empty"})
	wantStatus(t, err, codes.Unknown, "empty messages batch")
	const n = 1_000_001
	wantTooMany(t, conn, "SendQueueMessagesBatch", repeatField(nil, 2, n))
	wantTooMany(t, conn, "QueuesUpstream", repeatField(nil, 2, n))
	wantTooMany(t, conn, "SendEvent", repeatField(encEvent("c", "abuse.tags", []byte("x")), 7, n))
	wantTooMany(t, conn, "SendEventsStream", repeatField(encEvent("c", "abuse.tags", []byte("x")), 7, n))
	wantTooMany(t, conn, "SendQueueMessage", repeatField(nil, 6, n))
	wantTooMany(t, conn, "SendRequest", repeatField(encRequest(1, "c", "abuse.tags", 1000), 12, n))
	// Below the limit a batch is served (each empty message refused in-band).
	big, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = big.Close() }()
	res, err := rawCall(testCtx(t, 60*time.Second), big, "/kubemq.kubemq/SendQueueMessagesBatch", repeatField(nil, 2, 100_000))
	if err != nil || len(res) != 1 {
		t.Fatalf("a batch of 100,000: %v", err)
	}
	healthy(t, cl)
}

// TestAbuseRequestTimeout: a request's Timeout (ms) and CacheTTL (s) at
// their extremes. A huge timeout waits request-max-timeout, not 24 days.
func TestAbuseRequestTimeout(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t, server.Options{RequestMaxTimeout: time.Second})
	cl := rawClient(t, srv)
	req := func(timeout int32, key string, ttl int32) error {
		_, err := cl.SendRequest(testCtx(t, 10*time.Second), &pb.Request{RequestTypeData: pb.Request_Query, ClientID: "c",
			Channel: uniq("abuse.req"), Body: []byte("q"), Timeout: timeout, CacheKey: key, CacheTTL: ttl})
		return err
	}
	for _, v := range []int32{0, -1, math.MinInt32} {
		wantStatus(t, req(v, "", 0), codes.Internal, err109)
		wantStatus(t, req(1000, "k", v), codes.Internal, err116)
	}
	for _, tc := range []struct {
		timeout int32
		key     string
		ttl     int32
	}{{math.MaxInt32, "", 0}, {math.MaxInt32, "k", math.MaxInt32}, {1000, "k", math.MaxInt32}} {
		// Nobody answers: Error 301 after the timeout, capped at 1 s.
		start := time.Now()
		wantStatus(t, req(tc.timeout, tc.key, tc.ttl), codes.Internal, timeoutText)
		if took := time.Since(start); took < 900*time.Millisecond || took > 4*time.Second {
			t.Fatalf("Timeout %d CacheTTL %d: answered after %v, want after 1 s", tc.timeout, tc.ttl, took)
		}
	}
	healthy(t, cl)
}

// TestAbuseEventsStoreStart: EventsStoreTypeValue (int64) and
// EventsStoreTypeData at their extremes: an error at once, or a
// subscription that serves the right events.
func TestAbuseEventsStoreStart(t *testing.T) {
	t.Parallel()
	srv, js := newSideDoorServer(t)
	cl := rawClient(t, srv)
	for _, tc := range []struct {
		typ  pb.Subscribe_EventsStoreType
		want string
	}{
		{pb.Subscribe_StartAtSequence, err112}, {pb.Subscribe_StartAtTime, err113}, {pb.Subscribe_StartAtTimeDelta, err114},
	} {
		for _, v := range []int64{0, -1, math.MinInt64} {
			err := subscribeErr(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: "c", Channel: "abuse.es",
				EventsStoreTypeData: tc.typ, EventsStoreTypeValue: v})
			wantStatus(t, err, codes.Internal, tc.want)
		}
	}
	err := subscribeErr(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: "c", Channel: "abuse.es",
		EventsStoreTypeData: math.MinInt32})
	wantStatus(t, err, codes.Internal, err111)
	for _, tc := range []struct {
		typ  pb.Subscribe_EventsStoreType
		v    int64
		from int // the first stored event (of b1, b2) the subscription gets; 3: new ones only
	}{
		{pb.Subscribe_StartAtSequence, math.MaxInt64, 3},
		{pb.Subscribe_StartAtTime, math.MaxInt64, 3},
		{pb.Subscribe_StartAtTimeDelta, math.MaxInt64, 1},
		{math.MaxInt32, 0, 3},
		{math.MaxInt32, math.MaxInt64, 3},
	} {
		ch := uniq("abuse.es")
		store(t, cl, ch, "b1", "b2")
		s := esSub(t, cl, ch, "c", "", tc.typ, tc.v)
		waitConsumers(t, js, ch, 1, 0)
		store(t, cl, ch, "b3")
		wantSeqs(t, s, seqRange(tc.from, 3)...)
		s.cancel()
	}
	healthy(t, cl)
}

func seqRange(from, to int) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, uint64(i))
	}
	return out
}

// TestAbuseMessageSize: metadata, body and tags above the gRPC message
// limit are refused by gRPC itself before the server allocates them.
func TestAbuseMessageSize(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t, server.Options{MaxMessageSize: 1 << 20})
	cl := rawClient(t, srv)
	big := strings.Repeat("m", 1<<20)
	for _, ev := range []*pb.Event{
		{ClientID: "c", Channel: "abuse.size", Metadata: big},
		{ClientID: "c", Channel: "abuse.size", Body: []byte(big)},
		{ClientID: "c", Channel: "abuse.size", Body: []byte("x"), Tags: map[string]string{"k": big}},
	} {
		_, err := cl.SendEvent(testCtx(t, 10*time.Second), ev)
		wantStatusPrefix(t, err, codes.ResourceExhausted, "grpc: received message larger than max")
	}
	healthy(t, cl)
}

// TestAbuseRESTAndWebSocket: a REST body with more JSON values than the
// limit, and WebSocket frames over the body limit or the values limit.
func TestAbuseRESTAndWebSocket(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t, server.Options{RESTBodyLimit: 16 << 20})
	cl := rawClient(t, srv)
	body := `{"Messages":[` + strings.Repeat(`{},`, 1_000_000) + `{}]}`
	code, env, raw := restCall(t, srv, "POST", "/queue/send_batch", "application/json", body)
	if code != 400 || !strings.Contains(env.Message, "more than 2000000 JSON values") {
		t.Fatalf("a body of 2,000,002 values: %d %.200s", code, raw)
	}
	for _, frame := range []string{
		`{"Channel":"` + strings.Repeat("x", 16<<20) + `"}`, // over the body limit
		`[` + strings.Repeat(`{},`, 1_000_000) + `{}]`,      // over the values limit
	} {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+srv.RESTAddr().String()+"/queue/stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err = c.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("frame of %d bytes: %v, want close 1009 (message too big)", len(frame), err)
		}
		_ = c.Close()
	}
	healthy(t, cl)
}

// TestAbuseNamesAndIDs: a group name long enough to overflow the engine's
// protocol line (it used to close the engine's connection, and with it
// every pattern of the server) is refused; message ids of any length are
// stored and deduplicated.
func TestAbuseNamesAndIDs(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	const tooLong = "invalid group value, longer than 255 bytes"
	for _, typ := range []pb.Subscribe_SubscribeType{pb.Subscribe_Events, pb.Subscribe_EventsStore, pb.Subscribe_Commands, pb.Subscribe_Queries} {
		for _, n := range []int{256, 5000, 1 << 20} {
			err := subscribeErr(t, cl, &pb.Subscribe{SubscribeTypeData: typ, ClientID: "c", Channel: "abuse.group", Group: strings.Repeat("g", n),
				EventsStoreTypeData: map[bool]pb.Subscribe_EventsStoreType{true: pb.Subscribe_StartNewOnly}[typ == pb.Subscribe_EventsStore]})
			wantStatus(t, err, codes.InvalidArgument, tooLong)
		}
	}
	ch := uniq("abuse.group")
	s := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "c", Channel: ch, Group: strings.Repeat("g", 255)})
	waitEventsReady(t, cl, ch, hasProbe(s))

	id := strings.Repeat("i", 1<<20)
	q := uniq("abuse.id")
	for range 2 {
		m := qMsg(q, "once")
		m.MessageID = id
		if res := qSendOK(t, cl, m); res.MessageID != id {
			t.Fatalf("send with a 1 MiB id: id of %d bytes back", len(res.MessageID))
		}
	}
	qWant(t, "a 1 MiB id sent twice", qTake(t, cl, q, 10, 1), []string{"once"}, nil, nil)
	es := uniq("abuse.id")
	for range 2 {
		res, err := cl.SendEvent(testCtx(t, 10*time.Second), &pb.Event{EventID: id, ClientID: "c", Channel: es, Body: []byte("once"), Store: true})
		if err != nil || !res.Sent {
			t.Fatalf("store with a 1 MiB id: %v %+v", err, res.GetError())
		}
	}
	sub := esSub(t, cl, es, "c", "", pb.Subscribe_StartFromFirst, 0)
	evs := sub.waitN(t, 10*time.Second, 1)
	if _, ok := sub.tryWait(500*time.Millisecond, func(e []*pb.EventReceive) bool { return len(e) > 1 }); ok || string(evs[0].Body) != "once" {
		t.Fatalf("a 1 MiB event id sent twice: %d events", len(sub.all()))
	}
	healthy(t, cl)
}
