package test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc/codes"

	"github.com/heraldmq/herald/server/heraldtest"
)

// TestRestartKeepsEventsStore: stored events, their sequences, ids and store
// times, and durable cursors survive a restart; sequences continue.
func TestRestartKeepsEventsStore(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "before")
	ctx := testCtx(t, 60*time.Second)
	a, b := uniq("restart.a"), uniq("restart.b")
	for i := 1; i <= 5; i++ {
		for _, ch := range []string{a, b} {
			if ch == b && i > 3 {
				continue
			}
			res, err := c.ES().SetId(fmt.Sprint("id-b", i)).SetChannel(ch).SetBody([]byte(fmt.Sprint("b", i))).
				SetMetadata("m").AddTag("i", fmt.Sprint(i)).Send(ctx)
			if err != nil || !res.Sent {
				t.Fatalf("send: %v %+v", err, res)
			}
		}
	}
	cl := rawClient(t, srv)
	before := wantSeqs(t, esSub(t, cl, a, "reader", "", pb.Subscribe_StartFromFirst, 0), 1, 2, 3, 4, 5)
	// A durable cursor that has read 1–3 of b.
	d := esSub(t, cl, b, "durable", "", pb.Subscribe_StartFromFirst, 0)
	wantSeqs(t, d, 1, 2, 3)
	d.cancel()

	srv.Restart()

	cl = rawClient(t, srv)
	after := wantSeqs(t, esSub(t, cl, a, "new-reader", "", pb.Subscribe_StartFromFirst, 0), 1, 2, 3, 4, 5)
	for i := range after {
		x, y := before[i], after[i]
		if x.EventID != y.EventID || x.Timestamp != y.Timestamp || x.Metadata != y.Metadata || y.Tags["i"] != fmt.Sprint(i+1) {
			t.Fatalf("event %d before %+v, after %+v", i+1, x, y)
		}
	}
	store(t, cl, a, "b6")
	store(t, cl, b, "b4")
	wantSeqs(t, esSub(t, cl, a, "another", "", pb.Subscribe_StartAtSequence, 5), 5, 6)
	// The cursor of "durable" continues after 3.
	wantSeqs(t, esSub(t, cl, b, "durable", "", pb.Subscribe_StartFromFirst, 0), 4)
}

// TestShutdownRefusesCalls: once shutdown has begun, a call on an open
// events stream gets Error 409 (spec §1.3, §4.1 row 0).
func TestShutdownRefusesCalls(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	stream, err := cl.SendEventsStream(testCtx(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ch := uniq("shutdown")
	if err := stream.Send(&pb.Event{EventID: "before", ClientID: "c", Channel: ch, Body: []byte("x"), Store: true}); err != nil {
		t.Fatal(err)
	}
	if res, err := stream.Recv(); err != nil || !res.Sent {
		t.Fatalf("before shutdown: %+v %v", res, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Stop() // waits for the open stream, up to 10 s
	}()
	// Shutdown has begun once the listener refuses new connections.
	eventually(t, 5*time.Second, func() error {
		conn, err := net.DialTimeout("tcp", srv.Addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return fmt.Errorf("still accepting connections")
		}
		return nil
	})
	if err := stream.Send(&pb.Event{EventID: "after", ClientID: "c", Channel: ch, Body: []byte("x"), Store: true}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	wantStatus(t, err, codes.Internal, "Error 409: server is in shutdown mode")
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown did not finish")
	}
}
