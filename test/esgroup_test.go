package test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	"github.com/kubemq-io/kubemq-go/queues_stream"
	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// createGroupView sends the create-channel query for an acked durable read
// (_herald.es.<group>.<channel>) with its start tag.
func createGroupView(t *testing.T, ctx context.Context, c *kubemq.Client, name, start string) {
	t.Helper()
	tags := map[string]string{"channel_type": "queues", "channel": name, "client_id": "t"}
	if start != "" {
		tags["herald.start"] = start
	}
	resp, err := c.Q().SetChannel("kubemq.cluster.internal.requests").SetMetadata("create-channel").
		SetTags(tags).SetTimeout(5 * time.Second).Send(ctx)
	if err != nil || resp.Error != "" {
		t.Fatalf("create %s: %v %+v", name, err, resp)
	}
}

func storeN(t *testing.T, ctx context.Context, c *kubemq.Client, ch string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if r, err := c.ES().SetChannel(ch).SetBody([]byte(fmt.Sprint(i))).Send(ctx); err != nil || !r.Sent {
			t.Fatal(err, r)
		}
	}
}

func receiveAll(t *testing.T, ctx context.Context, c *kubemq.Client, name string) []string {
	t.Helper()
	r, err := c.RQM().SetChannel(name).SetMaxNumberOfMessages(100).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || r.IsError {
		t.Fatalf("receive %s: %v %+v", name, err, r)
	}
	var out []string
	for _, m := range r.Messages {
		out = append(out, string(m.Body))
	}
	return out
}

func TestESGroupFanOutAndStart(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "h3")
	ctx := testCtx(t, 30*time.Second)
	ch := uniq("h3.ch")
	storeN(t, ctx, c, ch, 0, 2) // history
	a, b, hist := "_herald.es.ga."+ch, "_herald.es.gb."+ch, "_herald.es.hist."+ch
	createGroupView(t, ctx, c, a, "")
	createGroupView(t, ctx, c, b, "new")
	createGroupView(t, ctx, c, hist, "first")
	storeN(t, ctx, c, ch, 2, 3)
	if got := receiveAll(t, ctx, c, a); strings.Join(got, ",") != "2,3,4" {
		t.Fatalf("group a got %v", got)
	}
	if got := receiveAll(t, ctx, c, b); strings.Join(got, ",") != "2,3,4" {
		t.Fatalf("group b got %v", got)
	}
	if got := receiveAll(t, ctx, c, hist); strings.Join(got, ",") != "0,1,2,3,4" {
		t.Fatalf("group from first got %v", got)
	}
	// messages keep their events-store identity
	storeN(t, ctx, c, ch, 5, 1)
	r, err := c.RQM().SetChannel(a).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || len(r.Messages) != 1 {
		t.Fatal(err, r)
	}
	m := r.Messages[0]
	if m.Channel != ch || m.Attributes.Sequence != 6 || m.Attributes.ReceiveCount != 1 || m.Attributes.Timestamp == 0 {
		t.Fatalf("message %+v attrs %+v", m, m.Attributes)
	}
	// created again: idempotent, keeps its position
	createGroupView(t, ctx, c, a, "first")
	if got := receiveAll(t, ctx, c, a); len(got) != 0 {
		t.Fatalf("re-create moved the position: %v", got)
	}
}

func TestESGroupMembersSplitAndRedeliver(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "h3")
	ctx := testCtx(t, 40*time.Second)
	ch := uniq("h3.split")
	g := "_herald.es.workers." + ch
	createGroupView(t, ctx, c, g, "")
	storeN(t, ctx, c, ch, 0, 20)
	qc, err := queues_stream.NewQueuesStreamClient(ctx, queues_stream.WithAddress(srv.Host, srv.Port), queues_stream.WithClientId("m2"))
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	var first []string
	r, err := c.RQM().SetChannel(g).SetMaxNumberOfMessages(10).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Messages {
		first = append(first, string(m.Body))
	}
	pr, err := qc.Poll(ctx, queues_stream.NewPollRequest().SetChannel(g).SetMaxItems(20).SetWaitTimeout(1000))
	if err != nil {
		t.Fatal(err)
	}
	var second []string
	for _, m := range pr.Messages {
		second = append(second, string(m.Body))
	}
	if err := pr.AckAll(); err != nil {
		t.Fatal(err)
	}
	all := append(append([]string{}, first...), second...)
	sort.Slice(all, func(i, j int) bool { return len(all[i]) < len(all[j]) || len(all[i]) == len(all[j]) && all[i] < all[j] })
	if len(first) != 10 || len(second) != 10 || fmt.Sprint(all) != "[0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19]" {
		t.Fatalf("members got %v and %v", first, second)
	}
	// a message held and never settled comes back with ReceiveCount 2
	storeN(t, ctx, c, ch, 20, 1)
	// raw stream: kubemq-go's Next races with itself when the server ends a
	// stream the client never touched again
	st, err := rawClient(t, srv).StreamQueueMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.StreamQueueMessagesRequest{RequestID: "r1", ClientID: "holder", StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage,
		Channel: g, VisibilitySeconds: 1, WaitTimeSeconds: 2}); err != nil {
		t.Fatal(err)
	}
	held, err := st.Recv()
	if err != nil || held.Message == nil || string(held.Message.Body) != "20" {
		t.Fatalf("receive: %v %+v", err, held)
	}
	if exp, err := st.Recv(); err != nil || !strings.Contains(exp.Error, "Error 129") {
		t.Fatalf("visibility expiry: %v %+v", err, exp)
	}
	var again *kubemq.QueueMessage
	eventually(t, 10*time.Second, func() error {
		m, err := c.NewStreamQueueMessage().SetChannel(g).Next(ctx, 30, 1)
		if err != nil {
			return err
		}
		again = m
		return nil
	})
	if string(again.Body) != "20" || again.Attributes.ReceiveCount != 2 {
		t.Fatalf("redelivered %+v %+v", again, again.Attributes)
	}
	// reject redelivers too
	if err := again.Reject(); err != nil {
		t.Fatal(err)
	}
	m, err := c.NewStreamQueueMessage().SetChannel(g).Next(ctx, 30, 2)
	if err != nil || string(m.Body) != "20" || m.Attributes.ReceiveCount != 3 {
		t.Fatalf("after reject: %v %+v", err, m)
	}
	if err := m.Ack(); err != nil {
		t.Fatal(err)
	}
	if got := receiveAll(t, ctx, c, g); len(got) != 0 {
		t.Fatalf("acked message came back: %v", got)
	}
}

func TestESGroupRefusalsAndRestart(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "h3")
	ctx := testCtx(t, 30*time.Second)
	ch := uniq("h3.r")
	g := "_herald.es.keep." + ch
	createGroupView(t, ctx, c, g, "")
	r, err := c.QM().SetChannel(g).SetBody([]byte("x")).Send(ctx)
	if err != nil || !r.IsError || !strings.Contains(r.Error, "Error 120") {
		t.Fatalf("send to a group view: %v %+v", err, r)
	}
	pk, err := c.RQM().SetChannel(g).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).SetIsPeak(true).Send(ctx)
	if err != nil || !pk.IsError {
		t.Fatalf("peek of a group view: %v %+v", err, pk)
	}
	aa, err := c.AQM().SetChannel(g).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || !aa.IsError {
		t.Fatalf("ack-all of a group view: %v %+v", err, aa)
	}
	storeN(t, ctx, c, ch, 0, 3)
	if got := receiveAll(t, ctx, c, g); len(got) != 3 {
		t.Fatalf("got %v", got)
	}
	storeN(t, ctx, c, ch, 3, 2)
	srv.Restart()
	c2 := newClient(t, srv, "h3b")
	if got := receiveAll(t, ctx, c2, g); strings.Join(got, ",") != "3,4" {
		t.Fatalf("after restart the durable kept no position: %v", got)
	}
	if err := kubemq.DeleteChannel(ctx, c2, "h3b", g, "queues"); err != nil {
		t.Fatal(err)
	}
	// the events-store channel itself is untouched
	errCh := make(chan error, 1)
	sub, err := c2.SubscribeToEventsStore(ctx, ch, "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-sub:
		if string(e.Body) != "0" {
			t.Fatalf("first event %q", e.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("events-store channel lost with its group view")
	}
}
