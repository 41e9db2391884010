package test

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// untar unpacks a data dir fixture into dir.
func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(os.PathSeparator)) {
			t.Fatalf("fixture entry %q leaves the data dir", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o750); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		}
	}
}

// TestMigrateV1DataDir starts on a data dir written by the previous Herald
// (one stream per channel, testdata/datadir-v1.tar.gz, see
// fixture_gen_test.go) and finds everything there: queue messages with
// their sequences and policies, pending and due delays, events with their
// sequences and store times, each kind of subscription position, a sealed
// channel, empty channels and the statistics; and no stream per channel
// is left. A second restart changes nothing.
func TestMigrateV1DataDir(t *testing.T) {
	dir := t.TempDir()
	untar(t, filepath.Join("testdata", "datadir-v1.tar.gz"), dir)
	srv := heraldtest.NewServer(t, server.Options{DataDir: dir, NATSAddr: "127.0.0.1:0", StoreMaxAge: -1})
	cl := rawClient(t, srv)
	c := newClient(t, srv, "mig")
	ctx := testCtx(t, 60*time.Second)

	// No stream per channel is left.
	nc, err := nats.Connect(srv.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for name := range js.StreamNames(ctx).Name() {
		if strings.HasPrefix(name, "Q_") || strings.HasPrefix(name, "ES_") {
			t.Errorf("stream %s of the old layout is still there", name)
		}
	}

	// Events: sequences 1–5 with their original store times (before the
	// fixture was made), and the next event gets 6.
	all := esSub(t, cl, "mig.es1", "fresh-reader", "", pb.Subscribe_StartFromFirst, 0)
	evs := all.waitN(t, 10*time.Second, 5)
	for i, ev := range evs {
		if ev.Sequence != uint64(i+1) || string(ev.Body) != "es1-"+string(rune('1'+i)) {
			t.Fatalf("event %d: %d %q", i, ev.Sequence, ev.Body)
		}
		if ts := time.Unix(0, ev.Timestamp); !ts.Before(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) || ts.Before(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("event %d: store time %v is not the original's", i, ts)
		}
	}
	// Client c1 had read 3: it resumes at 4, whatever start it asks for.
	c1 := esSub(t, cl, "mig.es1", "c1", "", pb.Subscribe_StartFromFirst, 0)
	if got := seqsOf(c1.waitN(t, 10*time.Second, 2)); got[0] != 4 || got[1] != 5 {
		t.Fatalf("c1 resumed at %v, want 4, 5", got)
	}
	// Group g1 had read 2: it resumes at 3.
	g1 := esSub(t, cl, "mig.es1", "someone", "g1", pb.Subscribe_StartFromFirst, 0)
	if got := seqsOf(g1.waitN(t, 10*time.Second, 3)); got[0] != 3 || got[2] != 5 {
		t.Fatalf("g1 resumed at %v, want 3, 4, 5", got)
	}
	// The acked group view had taken es1-1: the next is es1-2.
	qWant(t, "group view", qTake(t, cl, "_herald.es.g2.mig.es1", 1, 5), []string{"es1-2"}, nil, nil)
	if res, err := cl.SendEvent(ctx, &pb.Event{ClientID: "x", Channel: "mig.es1", Body: []byte("es1-6"), Store: true}); err != nil || !res.Sent {
		t.Fatalf("store after the migration: %v %+v", err, res)
	}
	if got := all.waitN(t, 10*time.Second, 6)[5]; got.Sequence != 6 {
		t.Fatalf("new event got sequence %d, want 6", got.Sequence)
	}

	// The sealed channel keeps its events and takes no more.
	sealed := esSub(t, cl, "mig.sealed", "r", "", pb.Subscribe_StartFromFirst, 0)
	if got := bodiesOf(sealed.waitN(t, 10*time.Second, 2)); got[0] != "s-1" || got[1] != "s-2" {
		t.Fatalf("sealed channel: %v", got)
	}
	if res, err := cl.SendEvent(ctx, &pb.Event{ClientID: "x", Channel: "mig.sealed", Body: []byte("late"), Store: true}); err == nil && res.Sent {
		t.Fatal("a sealed channel took an event after the migration")
	}

	// Queues: the 3 messages left keep their sequences 3–5, and the next
	// send gets 6.
	got := qTake(t, cl, "mig.q1", 10, 2)
	qWant(t, "mig.q1", got, []string{"q1-3", "q1-4", "q1-5"}, []uint64{3, 4, 5}, []int32{1, 1, 1})
	if r := qSendBodies(t, cl, "mig.q1", "q1-6"); r[0].IsError {
		t.Fatal(r[0])
	}
	qWant(t, "after migration", qTake(t, cl, "mig.q1", 10, 2), []string{"q1-6"}, []uint64{6}, nil)
	// The policy stayed with the message: one rejection dead-letters it.
	sq := openSQ(t, cl)
	m := sq.receive("mig.q2", 10, 2)
	if string(m.Body) != "q2-1" || m.Policy.MaxReceiveCount != 1 || m.Policy.MaxReceiveQueue != "mig.dlq" {
		t.Fatalf("mig.q2: %+v", m)
	}
	rej := sqReq(pb.StreamRequestType_RejectMessage, "reject")
	rej.RefSequence = m.Attributes.Sequence
	sq.wantOK(rej)
	qWant(t, "dead letter", qTake(t, cl, "mig.dlq", 1, 5), []string{"q2-1"}, nil, nil)
	// The delay due long ago is delivered; the other still waits.
	qWant(t, "due delay", qTake(t, cl, "mig.q3", 1, 10), []string{"due-soon"}, nil, nil)
	list, err := kubemq.ListQueuesChannels(ctx, c, "mig", "mig.")
	if err != nil {
		t.Fatal(err)
	}
	q3, empty := findQueue(list, "mig.q3"), findQueue(list, "mig.qempty")
	if q3 == nil || q3.Incoming.Delayed != 1 || empty == nil {
		t.Fatalf("queue channels after the migration: %+v", list)
	}
	if q1 := findQueue(list, "mig.q1"); q1 == nil || q1.Incoming.Messages < 5 {
		t.Fatalf("statistics of mig.q1 lost: %+v", q1)
	}
	esList, err := kubemq.ListPubSubChannels(ctx, c, "mig", "events_store", "mig.")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, ch := range esList {
		names[ch.Name] = true
	}
	if !names["mig.es1"] || !names["mig.esempty"] || !names["mig.sealed"] {
		t.Fatalf("events-store channels after the migration: %v", names)
	}

	// A second start migrates nothing again.
	c1.cancel()
	srv.Restart()
	cl = rawClient(t, srv)
	again := esSub(t, cl, "mig.es1", "fresh-reader-2", "", pb.Subscribe_StartFromFirst, 0)
	if got := seqsOf(again.waitN(t, 10*time.Second, 6)); got[0] != 1 || got[5] != 6 || len(again.all()) != 6 {
		t.Fatalf("after a second restart: %v", got)
	}
	qWantEmpty(t, cl, "mig.q1")
}
