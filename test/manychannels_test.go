package test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// engineFootprint counts the engine's streams, their consumers and the
// files of the data dir.
func engineFootprint(t *testing.T, js jetstream.JetStream, dir string) (streams, consumers, files int) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	for info := range js.ListStreams(ctx).Info() {
		streams++
		consumers += info.State.Consumers
	}
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	return streams, consumers, files
}

// TestManyChannels: a few thousand queue and events-store channels cost
// the engine no stream, consumer or file each; after a restart every
// message is there, numbered 1, 2, 3 in its channel, and the listings are
// complete. (The figures at 20,000 channels are a benchmark: BENCHMARKS.md.)
func TestManyChannels(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	const per = 3
	srv := heraldtest.NewServer(t, server.Options{NATSAddr: "127.0.0.1:0"})
	cl := rawClient(t, srv)
	nc, err := nats.Connect(srv.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	// The footprint of a server that has one channel of each kind.
	prefix := uniq("many")
	qName := func(i int) string { return fmt.Sprintf("%s.q.%d", prefix, i) }
	esName := func(i int) string { return fmt.Sprintf("%s.es.%d", prefix, i) }
	send := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for k := 1; k <= per; k++ {
			body := []byte(fmt.Sprintf("m%d", k))
			r, err := cl.SendQueueMessage(ctx, &pb.QueueMessage{ClientID: "many", Channel: qName(i), Body: body})
			if err != nil || r.IsError {
				return fmt.Errorf("queue %d: %w %v", i, err, r)
			}
			e, err := cl.SendEvent(ctx, &pb.Event{ClientID: "many", Channel: esName(i), Body: body, Store: true})
			if err != nil || !e.Sent {
				return fmt.Errorf("events store %d: %w %v", i, err, e)
			}
		}
		return nil
	}
	if err := send(0); err != nil {
		t.Fatal(err)
	}
	// The delay stream and its consumer are made in the background at
	// start; on a busy machine only after the first sends.
	eventually(t, 30*time.Second, func() error {
		st, err := js.Stream(context.Background(), queues.DelayStream)
		if err != nil {
			return err
		}
		if n := st.CachedInfo().State.Consumers; n != 1 {
			return fmt.Errorf("the delay stream has %d consumers", n)
		}
		return nil
	})
	streams0, consumers0, files0 := engineFootprint(t, js, srv.DataDir)

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := send(i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := 1; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	streams, consumers, files := engineFootprint(t, js, srv.DataDir)
	t.Logf("engine with 1+1 channels: %d streams, %d consumers, %d files; with %d+%d: %d, %d, %d",
		streams0, consumers0, files0, n, n, streams, consumers, files)
	if streams != streams0 || consumers != consumers0 || files > files0+16 {
		t.Fatalf("the engine grew with the channels: streams %d → %d, consumers %d → %d, files %d → %d",
			streams0, streams, consumers0, consumers, files0, files)
	}

	srv.Restart()
	cl = rawClient(t, srv)
	c := newClient(t, srv, "many-admin")
	ctx := testCtx(t, 120*time.Second)
	qs, err := kubemq.ListQueuesChannels(ctx, c, "many-admin", prefix+".q.")
	if err != nil || len(qs) != n {
		t.Fatalf("queue channels listed after the restart: %d, want %d (%v)", len(qs), n, err)
	}
	for _, q := range qs {
		if q.Outgoing.Waiting != per {
			t.Fatalf("queue %s lists %d waiting, want %d", q.Name, q.Outgoing.Waiting, per)
		}
	}
	ess, err := kubemq.ListPubSubChannels(ctx, c, "many-admin", "events_store", prefix+".es.")
	if err != nil || len(ess) != n {
		t.Fatalf("events-store channels listed after the restart: %d, want %d (%v)", len(ess), n, err)
	}
	info, err := cl.QueuesInfo(ctx, &pb.QueuesInfoRequest{})
	if err != nil || info.Info.TotalQueue < int32(n) {
		t.Fatalf("QueuesInfo after the restart: %v %d queues", err, info.Info.GetTotalQueue())
	}

	work = make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := checkChannel(cl, qName(i), esName(i), per); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// checkChannel receives a queue channel's messages and replays an
// events-store channel: per messages each, sequences 1…per in order.
func checkChannel(cl pb.KubemqClient, q, es string, per int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "many", Channel: q, MaxNumberOfMessages: int32(per + 1), WaitTimeSeconds: 1})
	if err != nil || res.IsError || len(res.Messages) != per {
		return fmt.Errorf("queue %s: %w %v", q, err, res)
	}
	for k, m := range res.Messages {
		if m.Attributes.Sequence != uint64(k+1) || string(m.Body) != fmt.Sprintf("m%d", k+1) {
			return fmt.Errorf("queue %s message %d: seq %d body %q", q, k, m.Attributes.Sequence, m.Body)
		}
	}
	st, err := cl.SubscribeToEvents(ctx, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: "many", Channel: es,
		EventsStoreTypeData: pb.Subscribe_StartFromFirst})
	if err != nil {
		return err
	}
	for k := 1; k <= per; k++ {
		ev, err := st.Recv()
		if err != nil {
			return fmt.Errorf("events store %s: %w", es, err)
		}
		if ev.Sequence != uint64(k) || string(ev.Body) != fmt.Sprintf("m%d", k) {
			return fmt.Errorf("events store %s event %d: seq %d body %q", es, k, ev.Sequence, ev.Body)
		}
	}
	return nil
}
