package queuesstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
	queues_stream "github.com/heraldmq/herald/client/queuesstream"
	"github.com/heraldmq/herald/server/heraldtest"
)

var seq atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s.%d", prefix, seq.Add(1)) }

func newStreamClient(t *testing.T, srv *heraldtest.Server, opts ...queues_stream.Option) *queues_stream.QueuesStreamClient {
	t.Helper()
	all := append([]queues_stream.Option{queues_stream.WithAddress(srv.Host, srv.Port), queues_stream.WithClientId(uniq("qs"))}, opts...)
	c, err := queues_stream.NewQueuesStreamClient(context.Background(), all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// send stores n messages with bodies "1" … "n" in ch.
func send(t *testing.T, c *queues_stream.QueuesStreamClient, ch string, n int) {
	t.Helper()
	var msgs []*queues_stream.QueueMessage
	for i := 1; i <= n; i++ {
		msgs = append(msgs, queues_stream.NewQueueMessage().SetChannel(ch).SetBody(fmt.Appendf(nil, "%d", i)))
	}
	res, err := c.Send(testCtx(t, 10*time.Second), msgs...)
	if err != nil || len(res.Results) != n {
		t.Fatalf("send: %v %v", err, res)
	}
	for _, r := range res.Results {
		if r.IsError {
			t.Fatalf("send result %v", r)
		}
	}
}

func poll(t *testing.T, c *queues_stream.QueuesStreamClient, req *queues_stream.PollRequest) *queues_stream.PollResponse {
	t.Helper()
	resp, err := c.Poll(testCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return resp
}

func bodies(r *queues_stream.PollResponse) string {
	var b []string
	for _, m := range r.Messages {
		b = append(b, string(m.Body))
	}
	return strings.Join(b, ",")
}

func TestSendAndPollAutoAck(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	var notes sync.Map
	c := newStreamClient(t, srv, queues_stream.WithConnectionNotificationFunc(func(msg string) { notes.Store(msg, true) }))
	ch := uniq("auto")
	msg := queues_stream.NewQueueMessage().SetId("m1").SetChannel(ch).SetMetadata("meta").SetBody([]byte("1")).
		SetTags(map[string]string{"a": "1"}).AddTag("b", "2").SetPolicyExpirationSeconds(60).
		SetPolicyDelaySeconds(0).SetPolicyMaxReceiveCount(2).SetPolicyMaxReceiveQueue(ch + ".dlq")
	res, err := c.Send(testCtx(t, 10*time.Second), msg, queues_stream.NewQueueMessage().SetChannel(ch).SetBody([]byte("2")))
	if err != nil || len(res.Results) != 2 || res.Results[0].MessageID != "m1" || res.String() == "" {
		t.Fatalf("send: %v %v", err, res)
	}
	r := poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(2).SetWaitTimeout(1000).SetAutoAck(true))
	if bodies(r) != "1,2" || !r.HasMessages() {
		t.Fatalf("poll: %s", bodies(r))
	}
	m := r.Messages[0]
	if m.MessageID != "m1" || m.Metadata != "meta" || m.Tags["b"] != "2" || m.Policy.MaxReceiveCount != 2 || m.Attributes.Sequence != 1 || m.String() == "" {
		t.Fatalf("message %v", m)
	}
	if err := m.Ack(); err == nil || !strings.Contains(err.Error(), "auto ack") {
		t.Fatalf("ack of an auto-acked message: %v", err)
	}
	// Empty: nothing to settle.
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(100))
	if r.HasMessages() || r.AckAll() == nil {
		t.Fatalf("empty poll: %s", bodies(r))
	}
	if _, ok := notes.Load("grpc queue client upstream connected"); !ok {
		t.Error("no upstream connection notification")
	}
	if _, ok := notes.Load("grpc queue client downstream connected"); !ok {
		t.Error("no downstream connection notification")
	}
	// Refusals.
	if _, err := c.Send(testCtx(t, 5*time.Second)); err == nil {
		t.Fatal("empty send")
	}
	res, err = c.Send(testCtx(t, 5*time.Second), queues_stream.NewQueueMessage().SetChannel("bad queue").SetBody([]byte("x")))
	if err != nil || !res.Results[0].IsError {
		t.Fatalf("bad queue: %v %v", err, res)
	}
	for name, req := range map[string]*queues_stream.PollRequest{
		"no channel": queues_stream.NewPollRequest(),
		"visibility": queues_stream.NewPollRequest().SetChannel(ch).SetAutoAck(true).SetVisibilitySeconds(1),
		"negative":   queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(-1),
	} {
		if _, err := c.Poll(testCtx(t, 5*time.Second), req); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Poll(testCtx(t, 5*time.Second), queues_stream.NewPollRequest().SetChannel("bad queue")); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("bad queue poll: %v", err)
	}
}

func TestTransactionSettlements(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newStreamClient(t, srv)
	ch := uniq("tx")
	send(t, c, ch, 3)
	completed := make(chan struct{}, 10)
	r := poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(3).SetWaitTimeout(1000).
		SetOnComplete(func() { completed <- struct{}{} }).SetOnErrorFunc(func(error) {}))
	if bodies(r) != "1,2,3" {
		t.Fatalf("poll: %s", bodies(r))
	}
	// Per message: ack 1, nack 2, requeue 3.
	if err := r.Messages[0].Ack(); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if err := r.Messages[0].Ack(); err == nil {
		t.Fatal("acked twice")
	}
	if err := r.Messages[1].NAck(); err != nil {
		t.Fatalf("nack: %v", err)
	}
	if err := r.Messages[2].ReQueue(ch + ".other"); err != nil {
		t.Fatalf("requeue: %v", err)
	}
	select {
	case <-completed:
	case <-time.After(time.Second):
		t.Fatal("transaction not completed after every message was settled")
	}
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(1000))
	if bodies(r) != "2" || r.Messages[0].Attributes.ReceiveCount != 2 {
		t.Fatalf("nacked message: %s", bodies(r))
	}
	if err := r.AckAll(); err != nil {
		t.Fatal(err)
	}
	if err := r.AckAll(); err == nil {
		t.Fatal("AckAll on a completed transaction")
	}
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch+".other").SetMaxItems(1).SetWaitTimeout(1000))
	if bodies(r) != "3" {
		t.Fatalf("requeued message: %s", bodies(r))
	}
	if err := r.AckAll(); err != nil {
		t.Fatal(err)
	}

	// Whole transactions: NAckAll, ReQueueAll, Close.
	send(t, c, ch, 2)
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(2).SetWaitTimeout(1000))
	if err := r.NAckAll(); err != nil {
		t.Fatal(err)
	}
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(2).SetWaitTimeout(1000))
	if bodies(r) != "1,2" || r.Messages[0].Attributes.ReceiveCount != 2 {
		t.Fatalf("after NAckAll: %s", bodies(r))
	}
	if err := r.ReQueueAll(ch + ".all"); err != nil {
		t.Fatal(err)
	}
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch+".all").SetMaxItems(2).SetWaitTimeout(1000))
	if bodies(r) != "1,2" {
		t.Fatalf("after ReQueueAll: %s", bodies(r))
	}
	seq1 := r.Messages[0].Attributes.Sequence
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch+".all").SetMaxItems(2).SetWaitTimeout(1000))
	if bodies(r) != "1,2" || r.Messages[0].Attributes.Sequence != seq1 || r.Messages[0].Attributes.ReceiveCount != 1 {
		t.Fatalf("after Close (returned in place): %s", bodies(r))
	}
	// Ranges.
	s1, s2 := int64(r.Messages[0].Attributes.Sequence), int64(r.Messages[1].Attributes.Sequence)
	if err := r.AckOffsets(s1); err != nil {
		t.Fatal(err)
	}
	if err := r.AckOffsets(9999); err == nil || !strings.Contains(err.Error(), "invalid ack sequence id 9999") {
		t.Fatalf("ack of an unknown sequence: %v", err)
	}
	if err := r.NAckOffsets(); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("nack of no offsets: %v", err)
	}
	if err := r.ReQueueOffsets("", s2); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("requeue without channel: %v", err)
	}
	if err := r.ReQueueOffsets(ch+".range", s2); err != nil {
		t.Fatal(err)
	}
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch+".range").SetMaxItems(1).SetWaitTimeout(1000))
	if bodies(r) != "2" {
		t.Fatalf("after ReQueueOffsets: %s", bodies(r))
	}
	if err := r.NAckOffsets(int64(r.Messages[0].Attributes.Sequence)); err != nil {
		t.Fatal(err)
	}
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch+".range").SetMaxItems(1).SetWaitTimeout(1000))
	if bodies(r) != "2" || r.Messages[0].Attributes.ReceiveCount != 2 {
		t.Fatalf("after NAckOffsets: %s", bodies(r))
	}
	if err := r.ReQueueAll(""); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("ReQueueAll without channel: %v", err)
	}
	if err := r.AckAll(); err != nil {
		t.Fatal(err)
	}
}

func TestVisibility(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newStreamClient(t, srv)
	ch := uniq("vis")
	send(t, c, ch, 2)
	r := poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(2).SetWaitTimeout(1000).SetVisibilitySeconds(1))
	if bodies(r) != "1,2" {
		t.Fatalf("poll: %s", bodies(r))
	}
	if err := r.Messages[1].ExtendVisibility(3); err != nil {
		t.Fatal(err)
	}
	if err := r.Messages[1].ExtendVisibility(0); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("extend by 0: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	// 1 was NAcked by its timer; 2 is still held.
	if err := r.Messages[0].Ack(); err == nil || !strings.Contains(err.Error(), "visibility") {
		t.Fatalf("ack after visibility: %v", err)
	}
	if err := r.Messages[1].Ack(); err != nil {
		t.Fatalf("ack of the extended message: %v", err)
	}
	r = poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(1000))
	if bodies(r) != "1" || r.Messages[0].Attributes.ReceiveCount != 2 {
		t.Fatalf("after visibility: %s", bodies(r))
	}
	if err := r.Messages[0].ExtendVisibility(1); err == nil {
		t.Fatal("extend without a visibility timer")
	}
	if err := r.AckAll(); err != nil {
		t.Fatal(err)
	}
}

func TestAckAllInfoAndChannels(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newStreamClient(t, srv)
	ctx := testCtx(t, 10*time.Second)
	ch := uniq("all")
	if err := c.Create(ctx, ch); err != nil {
		t.Fatal(err)
	}
	send(t, c, ch, 3)
	info, err := c.QueuesInfo(ctx, ch)
	if err != nil || len(info.Queues) != 1 || info.Queues[0].Messages != 3 {
		t.Fatalf("info: %v %+v", err, info)
	}
	list, err := c.List(ctx, ch)
	if err != nil || len(list) != 1 || list[0].Name != ch {
		t.Fatalf("list: %v %v", err, list)
	}
	res, err := c.AckAll(ctx, queues_stream.NewAckAllRequest().SetChannel(ch).SetWaitTimeSeconds(1).SetClientId("acker"))
	if err != nil || res.IsError || res.AffectedMessages != 3 {
		t.Fatalf("ack all: %v %+v", err, res)
	}
	if _, err := c.AckAll(ctx, queues_stream.NewAckAllRequest().SetChannel(ch)); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("ack all without wait: %v", err)
	}
	if err := c.Delete(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if c.GlobalClientId() == "" {
		t.Fatal("GlobalClientId")
	}
	if err := queues_stream.GetDefaultOptions().Validate(); err == nil {
		t.Fatal("default options valid without an address")
	}
}

// TestStreamsReopenAfterRestart: the downstream stream breaks with the
// broker, its open transaction is told, and the next Poll opens a new one;
// the first Send after the restart opens the upstream. (The messages are
// stored with a plain client first: Herald's shutdown waits its whole grace
// period for an idle upstream stream.)
func TestStreamsReopenAfterRestart(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newStreamClient(t, srv, queues_stream.WithReconnectInterval(200*time.Millisecond))
	defer c.Close() // before the restarted server's own cleanup
	plain, err := client.NewClient(context.Background(), client.WithAddress(srv.Host, srv.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ch := uniq("restart")
	for _, body := range []string{"1", "2"} {
		if r, err := plain.QM().SetChannel(ch).SetBody([]byte(body)).Send(testCtx(t, 5*time.Second)); err != nil || r.IsError {
			t.Fatal(err, r)
		}
	}
	errs := make(chan error, 10)
	r := poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(1000).
		SetOnErrorFunc(func(err error) { errs <- err }))
	if bodies(r) != "1" {
		t.Fatalf("poll: %s", bodies(r))
	}
	srv.Restart()
	select {
	case <-errs:
	case <-time.After(5 * time.Second):
		t.Fatal("open transaction not told about the broken stream")
	}
	if err := r.AckAll(); err == nil {
		t.Fatal("AckAll of a transaction whose stream broke")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Send(testCtx(t, 5*time.Second), queues_stream.NewQueueMessage().SetChannel(ch).SetBody([]byte("3")))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("send after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got string
	for {
		resp, err := c.Poll(testCtx(t, 5*time.Second), queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(2).SetWaitTimeout(1000).SetAutoAck(true))
		if err == nil {
			got = bodies(resp)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poll after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A graceful restart returns the messages of open transactions in place.
	if got != "1,2" {
		t.Fatalf("after restart: %q", got)
	}
}

func TestGrpcClient(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	g, err := queues_stream.NewGrpcClient(context.Background(), queues_stream.WithAddress(srv.Host, srv.Port),
		queues_stream.WithClientId("raw"), queues_stream.WithAuthToken("t"), queues_stream.WithCheckConnection(true),
		queues_stream.WithKeepalive(0), queues_stream.WithAutoReconnect(true), queues_stream.WithMaxReconnects(0),
		queues_stream.WithReceiveBufferSize(1), queues_stream.WithDefaultChannel("x"), queues_stream.WithDefaultCacheTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if res, err := g.Ping(testCtx(t, 5*time.Second)); err != nil || res.Version == "" || g.GlobalClientId() != "raw" {
		t.Fatalf("ping: %v %v", err, res)
	}
	if r := queues_stream.NewSubscribeRequest().SetChannels("a", "b").SetMaxItems(1).SetWaitTimeout(1).SetAutoAck(true); len(r.Channels) != 2 {
		t.Fatal("SubscribeRequest")
	}
	if queues_stream.NewSubscribeResponse() == nil {
		t.Fatal("SubscribeResponse")
	}
	if _, err := queues_stream.NewGrpcClient(context.Background()); err == nil {
		t.Fatal("NewGrpcClient without address")
	}
	if _, err := queues_stream.NewQueuesStreamClient(context.Background(), queues_stream.WithCredentials("/nonexistent", "")); err == nil {
		t.Fatal("NewQueuesStreamClient with a missing address and cert")
	}
}

func TestOptionsAndSetters(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newStreamClient(t, srv, queues_stream.WithToken("token"))
	ch := uniq("setters")
	res, err := c.Send(testCtx(t, 5*time.Second), queues_stream.NewQueueMessage().SetChannel(ch).SetClientId("setter").SetBody([]byte("x")))
	if err != nil || res.Results[0].IsError {
		t.Fatal(err, res)
	}
	r := poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(1000).SetAutoAck(true))
	if r.Messages[0].ClientID != "setter" {
		t.Fatalf("client id %q", r.Messages[0].ClientID)
	}
	if _, err := queues_stream.NewQueuesStreamClient(context.Background(), queues_stream.WithAddress(srv.Host, srv.Port),
		queues_stream.WithCertificate("not a pem", "")); !errors.Is(err, client.ErrInvalidArgument) || err.Error() == "" {
		t.Fatalf("bad certificate: %v", err)
	}
	if _, err := c.Poll(testCtx(t, time.Second), queues_stream.NewPollRequest()); err == nil || err.Error() != "request channel cannot be empty" {
		t.Fatalf("argument error text: %v", err)
	}
}

// TestAbandonedPollReturnsMessages: a poll whose caller gave up before the
// answer does not keep the messages it was given.
func TestAbandonedPollReturnsMessages(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	c := newStreamClient(t, srv)
	ch := uniq("abandoned")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Waits to fill 2 for 2 s; the caller leaves after 300 ms.
	send(t, c, ch, 1)
	if _, err := c.Poll(ctx, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(2).SetWaitTimeout(2000)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll: %v", err)
	}
	r := poll(t, c, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(5000).SetAutoAck(true))
	if bodies(r) != "1" {
		t.Fatalf("after the abandoned poll: %q", bodies(r))
	}
}

// TestFromClientBorrowsTheConnection: a QueuesStreamClient built on a
// client's connection sends and polls with that client's id, and its Close
// leaves the client open.
func TestFromClientBorrowsTheConnection(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	ctx := testCtx(t, 20*time.Second)
	id := uniq("borrower")
	c, err := client.NewClient(context.Background(), client.WithAddress(srv.Host, srv.Port), client.WithClientId(id))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ClientID() != id {
		t.Fatalf("ClientID %q", c.ClientID())
	}
	q, err := queues_stream.FromClient(c)
	if err != nil {
		t.Fatal(err)
	}
	ch := uniq("borrow")
	send(t, q, ch, 2)
	resp := poll(t, q, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(2).SetWaitTimeout(2000).SetAutoAck(true))
	if got := bodies(resp); got != "1,2" {
		t.Fatalf("polled %q", got)
	}
	if q.GlobalClientId() != id || resp.Messages[0].ClientID != id {
		t.Fatalf("client id %q / %q", q.GlobalClientId(), resp.Messages[0].ClientID)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("the borrowed client was closed: %v", err)
	}
}
