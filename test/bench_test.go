package test

// Benchmarks of Herald through the official KubeMQ Go SDK over loopback gRPC,
// next to the same operations on a raw in-process JetStream (the engine alone,
// no gRPC, no protobuf), run in the same process so the broker's own cost is
// visible, and to the same SDK calls answered by a bare gRPC server (the
// transport floors, floor_bench_test.go). 1 KB payloads. Unary benchmarks
// also report their median latency (p50-µs), throughput benchmarks the CPU
// time per message (cpu-µs/op). Figures are recorded in BENCHMARKS.md.
//
//	go test ./test -run '^$' -bench . -benchtime 1s -count 1   # one round

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	"github.com/kubemq-io/kubemq-go/queues_stream"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/server/heraldtest"
)

var payload = make([]byte, 1024)

// latencies collects per-operation durations and reports their median.
type latencies []time.Duration

func (l *latencies) time(fn func()) {
	start := time.Now()
	fn()
	*l = append(*l, time.Since(start))
}

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds())/1e3, "p50-µs")
}

// cpuPerOp reports, as cpu-µs/op, the CPU time the whole process (client,
// server and engine alike) used per op from this call to the end of the
// benchmark. On two cores an op can take no less than half of it in wall
// time: the sum of two such figures bounds what doing both can reach.
// Call it right after the set-up, and run the returned func at the end.
func cpuPerOp(b *testing.B) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
		}
	}
}

func benchClient(b *testing.B) (*heraldtest.Server, *kubemq.Client, context.Context) {
	b.Helper()
	srv := heraldtest.NewServer(b)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	c, err := kubemq.NewClient(ctx, kubemq.WithAddress(srv.Host, srv.Port), kubemq.WithClientId("bench"),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return srv, c, ctx
}

func BenchmarkHeraldPing(b *testing.B) {
	_, c, ctx := benchClient(b)
	benchPing(b, ctx, c)
}

func benchPing(b *testing.B, ctx context.Context, c *kubemq.Client) {
	var lat latencies
	b.ResetTimer()
	for b.Loop() {
		lat.time(func() {
			if _, err := c.Ping(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}

func BenchmarkHeraldEventSend(b *testing.B) {
	_, c, ctx := benchClient(b)
	benchEventSend(b, ctx, c)
}

func benchEventSend(b *testing.B, ctx context.Context, c *kubemq.Client) {
	var lat latencies
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		lat.time(func() {
			if err := c.E().SetChannel("bench.events").SetBody(payload).Send(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}

// BenchmarkHeraldEventStream: one publisher streams events, one subscriber
// receives them; an op is one event received.
func BenchmarkHeraldEventStream(b *testing.B) {
	_, c, ctx := benchClient(b)
	benchEventStream(b, ctx, c)
}

// eventWindow is how far an events publisher may run ahead of its
// subscriber in the stream benchmarks.
const eventWindow = 4096

func benchEventStream(b *testing.B, ctx context.Context, c *kubemq.Client) {
	errCh := make(chan error, 4)
	sub, err := c.SubscribeToEvents(ctx, "bench.stream", "", errCh)
	if err != nil {
		b.Fatal(err)
	}
	waitSubscribed(b, ctx, c, sub, "bench.stream")
	in := make(chan *kubemq.Event, 1024)
	go c.StreamEvents(ctx, in, errCh)
	b.SetBytes(int64(len(payload)))
	defer cpuPerOp(b)()
	// Events are at-most-once and a subscriber's backlog is bounded
	// (docs/limits.md): a publisher that keeps outrunning its subscriber
	// has events dropped, as in NATS. The publisher stays at most
	// eventWindow events ahead, so this measures what is delivered.
	window := make(chan struct{}, eventWindow)
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			in <- c.E().SetChannel("bench.stream").SetBody(payload)
		}
	}()
	for i := 0; i < b.N; i++ {
		select {
		case <-sub:
			<-window
		case err := <-errCh:
			b.Fatal(err)
		case <-time.After(10 * time.Second):
			b.Fatalf("received %d of %d (events are at-most-once: a drop stalls this benchmark)", i, b.N)
		}
	}
}

// waitSubscribed sends probe events until the subscription sees one.
func waitSubscribed(b *testing.B, ctx context.Context, c *kubemq.Client, sub <-chan *kubemq.Event, ch string) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_ = c.E().SetChannel(ch).SetMetadata("probe").Send(ctx)
		select {
		case <-sub:
			for {
				select {
				case <-sub:
				case <-time.After(50 * time.Millisecond):
					return
				}
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.Fatal("subscription not ready")
}

func BenchmarkHeraldEventsStoreSend(b *testing.B) {
	_, c, ctx := benchClient(b)
	var lat latencies
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		lat.time(func() {
			if _, err := c.ES().SetChannel("bench.store").SetBody(payload).Send(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}

// BenchmarkHeraldEventsStoreStream: stored events streamed by one publisher;
// an op is one stored-and-confirmed event.
func BenchmarkHeraldEventsStoreStream(b *testing.B) {
	_, c, ctx := benchClient(b)
	benchEventsStoreStream(b, ctx, c)
}

func benchEventsStoreStream(b *testing.B, ctx context.Context, c *kubemq.Client) {
	in := make(chan *kubemq.EventStore, 1024)
	results := make(chan *kubemq.EventStoreResult, 1024)
	errCh := make(chan error, 4)
	go c.StreamEventsStore(ctx, in, results, errCh)
	b.SetBytes(int64(len(payload)))
	defer cpuPerOp(b)()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			in <- c.ES().SetChannel("bench.storestream").SetBody(payload)
		}
	}()
	for i := 0; i < b.N; i++ {
		select {
		case r := <-results:
			if !r.Sent {
				b.Fatal(r.Err)
			}
		case err := <-errCh:
			b.Fatal(err)
		}
	}
}

// BenchmarkHeraldEventsStoreReplay: b.N stored events replayed from the first.
func BenchmarkHeraldEventsStoreReplay(b *testing.B) {
	_, c, ctx := benchClient(b)
	in := make(chan *kubemq.EventStore, 1024)
	results := make(chan *kubemq.EventStoreResult, 1024)
	errCh := make(chan error, 4)
	go c.StreamEventsStore(ctx, in, results, errCh)
	ch := fmt.Sprintf("bench.replay.%d", b.N)
	go func() {
		for i := 0; i < b.N; i++ {
			in <- c.ES().SetChannel(ch).SetBody(payload)
		}
	}()
	for i := 0; i < b.N; i++ {
		if r := <-results; !r.Sent {
			b.Fatal(r.Err)
		}
	}
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	sub, err := c.SubscribeToEventsStore(ctx, ch, "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		select {
		case <-sub:
		case err := <-errCh:
			b.Fatal(err)
		}
	}
}

func benchRequests(b *testing.B, ctx context.Context, c *kubemq.Client, query bool) {
	errCh := make(chan error, 4)
	if query {
		qs, err := c.SubscribeToQueries(ctx, "bench.rpc", "", errCh)
		if err != nil {
			b.Fatal(err)
		}
		go func() { // kubemq-go never closes qs
			for {
				select {
				case q := <-qs:
					_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).SetBody(payload).Send(ctx)
				case <-ctx.Done():
					return
				}
			}
		}()
	} else {
		cs, err := c.SubscribeToCommands(ctx, "bench.rpc", "", errCh)
		if err != nil {
			b.Fatal(err)
		}
		go func() { // kubemq-go never closes cs
			for {
				select {
				case q := <-cs:
					_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).Send(ctx)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	timeout := 200 * time.Millisecond // until the responder is registered
	send := func() error {
		if query {
			_, err := c.Q().SetChannel("bench.rpc").SetBody(payload).SetTimeout(timeout).Send(ctx)
			return err
		}
		_, err := c.C().SetChannel("bench.rpc").SetBody(payload).SetTimeout(timeout).Send(ctx)
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for send() != nil {
		if time.Now().After(deadline) {
			b.Fatal("responder not ready")
		}
	}
	timeout = 5 * time.Second
	var lat latencies
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for b.Loop() {
		lat.time(func() {
			if err := send(); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}

func BenchmarkHeraldCommand(b *testing.B) {
	_, c, ctx := benchClient(b)
	benchRequests(b, ctx, c, false)
}

func BenchmarkHeraldQuery(b *testing.B) {
	_, c, ctx := benchClient(b)
	benchRequests(b, ctx, c, true)
}

func BenchmarkHeraldQueueSend(b *testing.B) {
	_, c, ctx := benchClient(b)
	benchQueueSend(b, ctx, c)
}

func benchQueueSend(b *testing.B, ctx context.Context, c *kubemq.Client) {
	var lat latencies
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		lat.time(func() {
			if r, err := c.QM().SetChannel("bench.q").SetBody(payload).Send(ctx); err != nil || r.IsError {
				b.Fatal(err, r)
			}
		})
	}
	lat.report(b)
}

// BenchmarkHeraldQueueBatchSend: batches of 100; an op is one message.
func BenchmarkHeraldQueueBatchSend(b *testing.B) {
	_, c, ctx := benchClient(b)
	benchQueueBatchSend(b, ctx, c)
}

func benchQueueBatchSend(b *testing.B, ctx context.Context, c *kubemq.Client) {
	defer cpuPerOp(b)()
	b.SetBytes(int64(len(payload)))
	for sent := 0; sent < b.N; {
		n := min(100, b.N-sent)
		batch := c.QMB()
		for i := 0; i < n; i++ {
			batch.Add(c.QM().SetChannel("bench.qbatch").SetBody(payload))
		}
		if _, err := batch.Send(ctx); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
}

// BenchmarkHeraldQueueBatchSendParallel: as HeraldQueueBatchSend with four
// batches in flight (four goroutines on one connection), so that the
// engine's pipeline does not empty while a batch's answer travels back.
func BenchmarkHeraldQueueBatchSendParallel(b *testing.B) {
	_, c, ctx := benchClient(b)
	defer cpuPerOp(b)()
	b.SetBytes(int64(len(payload)))
	const workers = 4
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				from := next.Add(100) - 100
				if from >= int64(b.N) {
					return
				}
				n := min(100, int64(b.N)-from)
				batch := c.QMB()
				for i := int64(0); i < n; i++ {
					batch.Add(c.QM().SetChannel("bench.qbatchpar").SetBody(payload))
				}
				if _, err := batch.Send(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func fillQueue(b *testing.B, ctx context.Context, c *kubemq.Client, ch string, n int) {
	b.Helper()
	for sent := 0; sent < n; {
		k := min(500, n-sent)
		batch := c.QMB()
		for i := 0; i < k; i++ {
			batch.Add(c.QM().SetChannel(ch).SetBody(payload))
		}
		if _, err := batch.Send(ctx); err != nil {
			b.Fatal(err)
		}
		sent += k
	}
}

// BenchmarkHeraldQueueBatchReceive: receives of up to 100; an op is one message.
func BenchmarkHeraldQueueBatchReceive(b *testing.B) {
	_, c, ctx := benchClient(b)
	ch := fmt.Sprintf("bench.qrecv.%d", b.N)
	fillQueue(b, ctx, c, ch, b.N)
	benchQueueBatchReceive(b, ctx, c, ch)
}

func benchQueueBatchReceive(b *testing.B, ctx context.Context, c *kubemq.Client, ch string) {
	b.SetBytes(int64(len(payload)))
	defer cpuPerOp(b)()
	b.ResetTimer()
	for got := 0; got < b.N; {
		r, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(min(100, b.N-got)).SetWaitTimeSeconds(5).Send(ctx)
		if err != nil || r.IsError {
			b.Fatal(err, r)
		}
		got += len(r.Messages)
	}
}

// BenchmarkHeraldQueueStreamReceiveAck: one StreamQueueMessage transaction
// (receive, then ack) per message.
func BenchmarkHeraldQueueStreamReceiveAck(b *testing.B) {
	_, c, ctx := benchClient(b)
	ch := fmt.Sprintf("bench.qstream.%d", b.N)
	fillQueue(b, ctx, c, ch, b.N)
	benchQueueStreamReceiveAck(b, ctx, c, ch)
}

func benchQueueStreamReceiveAck(b *testing.B, ctx context.Context, c *kubemq.Client, ch string) {
	var lat latencies
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat.time(func() {
			m, err := c.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 30, 5)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Ack(); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}

// BenchmarkHeraldQueuePollAck: queues_stream Poll of up to 100, then AckAll.
func BenchmarkHeraldQueuePollAck(b *testing.B) {
	srv, c, ctx := benchClient(b)
	ch := fmt.Sprintf("bench.qpoll.%d", b.N)
	fillQueue(b, ctx, c, ch, b.N)
	qc, err := queues_stream.NewQueuesStreamClient(ctx, queues_stream.WithAddress(srv.Host, srv.Port), queues_stream.WithClientId("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer qc.Close()
	// The SDK opens its downstream stream on the first poll, which takes a
	// second: do that outside the timer.
	if _, err := qc.Poll(ctx, queues_stream.NewPollRequest().SetChannel(ch+".warmup").SetMaxItems(1).SetWaitTimeout(1000)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for got := 0; got < b.N; {
		r, err := qc.Poll(ctx, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(min(100, b.N-got)).SetWaitTimeout(5000))
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Messages) > 0 {
			if err := r.AckAll(); err != nil {
				b.Fatal(err)
			}
		}
		got += len(r.Messages)
	}
}

// Raw in-process JetStream: the engine alone, for comparison.

func rawJS(b *testing.B) (*nats.Conn, jetstream.JetStream) {
	b.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{JetStream: true, StoreDir: b.TempDir(), DontListen: true, NoSigs: true, NoLog: true})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats not ready")
	}
	b.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	return nc, js
}

func BenchmarkRawCorePubSub(b *testing.B) {
	nc, _ := rawJS(b)
	var n atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	sub, _ := nc.Subscribe("raw.e", func(*nats.Msg) {
		if n.Add(1) == target {
			close(done)
		}
	})
	_ = sub.SetPendingLimits(-1, -1)
	_ = nc.Flush()
	b.SetBytes(int64(len(payload)))
	defer cpuPerOp(b)()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = nc.Publish("raw.e", payload)
	}
	<-done
}

func BenchmarkRawRequestReply(b *testing.B) {
	nc, _ := rawJS(b)
	_, _ = nc.Subscribe("raw.rpc", func(m *nats.Msg) { _ = m.Respond(payload) })
	var lat latencies
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		lat.time(func() {
			if _, err := nc.Request("raw.rpc", payload, 5*time.Second); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}

func rawStream(b *testing.B, js jetstream.JetStream, name string, wq bool) {
	b.Helper()
	cfg := jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage}
	if wq {
		cfg.Retention = jetstream.WorkQueuePolicy
	}
	if _, err := js.CreateStream(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRawJSPublishSync(b *testing.B) {
	_, js := rawJS(b)
	rawStream(b, js, "RAWSYNC", false)
	ctx := context.Background()
	var lat latencies
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		lat.time(func() {
			if _, err := js.Publish(ctx, "RAWSYNC.x", payload); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}

func rawPublishAsync(b *testing.B, js jetstream.JetStream, subject string, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		if _, err := js.PublishAsync(subject, payload); err != nil {
			b.Fatal(err)
		}
	}
	waitPublished(b, js)
}

// waitPublished waits until js has every async publish confirmed.
func waitPublished(b *testing.B, js jetstream.JetStream) {
	b.Helper()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		b.Fatal("async publish did not complete")
	}
}

func BenchmarkRawJSPublishAsync(b *testing.B) {
	_, js := rawJS(b)
	rawStream(b, js, "RAWASYNC", false)
	b.SetBytes(int64(len(payload)))
	defer cpuPerOp(b)()
	b.ResetTimer()
	rawPublishAsync(b, js, "RAWASYNC.x", b.N)
}

// BenchmarkRawJSPublishBatches: what a queue batch send asks of the engine,
// alone: batches of 100 async publishes into a work queue, each with a
// deduplication id, each batch waited for before the next.
func BenchmarkRawJSPublishBatches(b *testing.B) { rawPublishBatches(b, true) }

// BenchmarkRawJSPublishBatchesNoDedup: as RawJSPublishBatches without
// deduplication ids (Herald with DedupWindow -1).
func BenchmarkRawJSPublishBatchesNoDedup(b *testing.B) { rawPublishBatches(b, false) }

func rawPublishBatches(b *testing.B, dedup bool) {
	_, js := rawJS(b)
	rawStream(b, js, "RAWBATCH", true)
	fs := make([]jetstream.PubAckFuture, 0, 100)
	defer cpuPerOp(b)()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		fs = fs[:0]
		for ; len(fs) < 100 && sent < b.N; sent++ {
			m := &nats.Msg{Subject: "RAWBATCH.x", Data: payload}
			if dedup {
				m.Header = nats.Header{jetstream.MsgIDHeader: []string{strconv.Itoa(sent)}}
			}
			f, err := js.PublishMsgAsync(m)
			if err != nil {
				b.Fatal(err)
			}
			fs = append(fs, f)
		}
		for _, f := range fs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				b.Fatal(err)
			}
		}
	}
}

// rawFilledQueue is a work-queue stream holding n messages, and a durable
// consumer on it with explicit acks.
func rawFilledQueue(b *testing.B, name string, n int) jetstream.Consumer {
	b.Helper()
	_, js := rawJS(b)
	rawStream(b, js, name, true)
	rawPublishAsync(b, js, name+".x", n)
	cons, err := js.CreateConsumer(context.Background(), name, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		b.Fatal(err)
	}
	return cons
}

// BenchmarkRawJSFetchAck: work-queue fetch of 100 and ack each.
func BenchmarkRawJSFetchAck(b *testing.B) {
	cons := rawFilledQueue(b, "RAWWQ", b.N)
	b.SetBytes(int64(len(payload)))
	defer cpuPerOp(b)()
	b.ResetTimer()
	for got := 0; got < b.N; {
		batch, err := cons.Fetch(min(100, b.N-got), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			_ = m.Ack()
			got++
		}
	}
}

// BenchmarkRawJSFetchOneAckSync: the engine's part of one queue stream
// transaction, alone: pull one message, then ack it and wait for the
// confirmation.
func BenchmarkRawJSFetchOneAckSync(b *testing.B) {
	cons := rawFilledQueue(b, "RAWONE", b.N)
	ctx := context.Background()
	var lat latencies
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat.time(func() {
			m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				b.Fatal(err)
			}
			if err := m.DoubleAck(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
	lat.report(b)
}

// BenchmarkRawJSReceiveAsHerald: the engine's part of a Herald batch
// receive, alone: what Herald asks of JetStream, not what it could ask.
// Messages are stored as Herald stores a 1 KB queue message (its envelope,
// 1074 bytes, with a deduplication id) in a work queue with Herald's stream
// and consumer settings; they are fetched 100 at a time, each message's
// metadata read, and settled as Herald settles a receive: the batch acked
// together after the reply, the last ack confirmed. settleAtOnce acks right
// after the batch; afterGrace acks queues.ReplyGrace later, as Herald does
// so that a reply lost with the process is redelivered.
func BenchmarkRawJSReceiveAsHerald(b *testing.B) {
	for _, c := range []struct {
		name string
		lag  time.Duration
	}{{"settleAtOnce", 0}, {"afterGrace", queues.ReplyGrace}} {
		b.Run(c.name, func(b *testing.B) {
			cons := heraldShapedQueue(b, b.N)
			ctx := context.Background()
			b.SetBytes(int64(len(payload)))
			defer cpuPerOp(b)()
			b.ResetTimer()
			var settled sync.WaitGroup
			for got := 0; got < b.N; {
				batch, err := cons.Fetch(min(100, b.N-got), jetstream.FetchMaxWait(5*time.Second))
				if err != nil {
					b.Fatal(err)
				}
				ms := make([]jetstream.Msg, 0, 100)
				for m := range batch.Messages() {
					if _, err := m.Metadata(); err != nil {
						b.Fatal(err)
					}
					ms = append(ms, m)
				}
				got += len(ms)
				settled.Add(1)
				time.AfterFunc(c.lag, func() {
					defer settled.Done()
					for _, m := range ms[:len(ms)-1] {
						_ = m.Ack()
					}
					if err := ms[len(ms)-1].DoubleAck(ctx); err != nil {
						b.Error(err)
					}
				})
			}
			settled.Wait()
		})
	}
}

// heraldShapedQueue is a work-queue stream holding n messages the size of
// a 1 KB body in Herald's envelope, each with a deduplication id, and a
// durable consumer with the settings Herald gives a queue's consumer.
func heraldShapedQueue(b *testing.B, n int) jetstream.Consumer {
	b.Helper()
	_, js := rawJS(b)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "RAWHERALD", Subjects: []string{"ready.bench"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute, MaxMsgSize: -1, MaxConsumers: -1, AllowDirect: true,
	}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1074)
	for i := 0; i < n; i++ {
		m := &nats.Msg{Subject: "ready.bench", Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{fmt.Sprintf("%026d", i)}}}
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	waitPublished(b, js)
	cons, err := js.CreateConsumer(ctx, "RAWHERALD", jetstream.ConsumerConfig{
		Durable: "c", FilterSubject: "ready.bench", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxDeliver: -1, MaxAckPending: 1 << 20,
	})
	if err != nil {
		b.Fatal(err)
	}
	return cons
}

func BenchmarkRawJSOrderedReplay(b *testing.B) {
	_, js := rawJS(b)
	rawStream(b, js, "RAWREPLAY", false)
	rawPublishAsync(b, js, "RAWREPLAY.x", b.N)
	cons, err := js.OrderedConsumer(context.Background(), "RAWREPLAY", jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	it, err := cons.Messages()
	if err != nil {
		b.Fatal(err)
	}
	defer it.Stop()
	for i := 0; i < b.N; i++ {
		if _, err := it.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
