//go:build fixture

package test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// TestWriteDataDirFixture writes testdata/datadir-v1.tar.gz, the data
// directory of the previous storage layout (one JetStream stream per
// channel) that TestMigrateV1DataDir starts from. It was run in a checkout
// of commit b69563e, the last with that layout; run with a later Herald it
// would write that Herald's own layout, which is not what the migration
// test needs:
//
//	git worktree add /tmp/v1 b69563e && cp test/fixture_gen_test.go /tmp/v1/test/
//	(cd /tmp/v1 && go test -tags fixture -run TestWriteDataDirFixture ./test)
func TestWriteDataDirFixture(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)

	// Queues: mig.q1 holds 3 of 5 messages (sequences 3–5) after a receive
	// of 2; mig.q2 one message with a dead-letter policy; one delayed
	// message due long ago by the time the test runs and one due in a
	// year; mig.qempty created but empty.
	qSendBodies(t, cl, "mig.q1", "q1-1", "q1-2", "q1-3", "q1-4", "q1-5")
	qWant(t, "take", qTake(t, cl, "mig.q1", 2, 2), []string{"q1-1", "q1-2"}, nil, nil)
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "gen", Channel: "mig.q2", Body: []byte("q2-1"),
		Policy: &pb.QueueMessagePolicy{MaxReceiveCount: 1, MaxReceiveQueue: "mig.dlq"}})
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "gen", Channel: "mig.q3", Body: []byte("due-soon"),
		Policy: &pb.QueueMessagePolicy{DelaySeconds: 1}})
	qSendOK(t, cl, &pb.QueueMessage{ClientID: "gen", Channel: "mig.q3", Body: []byte("due-late"),
		Policy: &pb.QueueMessagePolicy{DelaySeconds: 43200}})
	createChannel(t, cl, "queues", "mig.qempty")

	// Events store: mig.es1 holds 5 events; group g1 read the first 2,
	// client c1 the first 3 (each before the later ones were stored, so
	// their positions are exactly there), and the acked group view
	// _herald.es.g2.mig.es1 took 1.
	esSend(t, cl, "mig.es1", "es1-1")
	esSend(t, cl, "mig.es1", "es1-2")
	esReadN(t, cl, "mig.es1", "gen-g1", "g1", 2)
	esSend(t, cl, "mig.es1", "es1-3")
	esReadN(t, cl, "mig.es1", "c1", "", 3)
	esSend(t, cl, "mig.es1", "es1-4")
	esSend(t, cl, "mig.es1", "es1-5")
	createChannel(t, cl, "queues", "_herald.es.g2.mig.es1", "herald.start", "first")
	qWant(t, "group view", qTake(t, cl, "_herald.es.g2.mig.es1", 1, 2), []string{"es1-1"}, nil, nil)
	// mig.sealed: two events, then sealed.
	esSend(t, cl, "mig.sealed", "s-1")
	esSendTags(t, cl, "mig.sealed", "s-2", map[string]string{"herald.seal": "true"})
	createChannel(t, cl, "events_store", "mig.esempty")

	srv.Stop()
	out := filepath.Join("testdata", "datadir-v1.tar.gz")
	if err := tarDir(srv.DataDir, out); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}

func esSend(t *testing.T, cl pb.KubemqClient, channel, body string) {
	t.Helper()
	esSendTags(t, cl, channel, body, nil)
}

func esSendTags(t *testing.T, cl pb.KubemqClient, channel, body string, tags map[string]string) {
	t.Helper()
	res, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "gen", Channel: channel, Body: []byte(body), Store: true, Tags: tags})
	if err != nil || !res.Sent {
		t.Fatalf("store %q on %q: %v %+v", body, channel, err, res)
	}
}

// esReadN reads n events from the first with a durable subscription and
// cancels it.
func esReadN(t *testing.T, cl pb.KubemqClient, channel, clientID, group string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := cl.SubscribeToEvents(ctx, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: clientID,
		Channel: channel, Group: group, EventsStoreTypeData: pb.Subscribe_StartFromFirst})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := st.Recv(); err != nil {
			t.Fatalf("read %d of %q: %v", i, channel, err)
		}
	}
	cancel()
	time.Sleep(500 * time.Millisecond) // the server ends the subscription and settles
}

func createChannel(t *testing.T, cl pb.KubemqClient, typ, channel string, tags ...string) {
	t.Helper()
	m := map[string]string{"channel_type": typ, "channel": channel}
	for i := 0; i+1 < len(tags); i += 2 {
		m[tags[i]] = tags[i+1]
	}
	resp, err := cl.SendRequest(context.Background(), &pb.Request{RequestTypeData: pb.Request_Query, ClientID: "gen",
		Channel: "kubemq.cluster.internal.requests", Metadata: "create-channel", Timeout: 5000, Tags: m})
	if err != nil || !resp.Executed {
		t.Fatalf("create %s %q: %v %+v", typ, channel, err, resp)
	}
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = io.Copy(tw, src)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
