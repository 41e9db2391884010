package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// The clients of TestManyClients run in a child process (this test binary
// again, in TestManyClientsHelper), so that the server's goroutines and
// memory, measured in this process, are the server's alone.

// manyClients is the number of connections TestManyClients opens:
// HERALD_MANY_CLIENTS, 200 by default (2,000 is the benchmark; it takes a
// minute and about 1 GiB).
func manyClients(t *testing.T) int {
	n := 200
	if v := os.Getenv("HERALD_MANY_CLIENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			t.Fatalf("HERALD_MANY_CLIENTS=%q: want a number ≥ 10", v)
		}
	}
	return n
}

// serverFootprint is what the server process holds now, after a GC.
type serverFootprint struct {
	goroutines int
	heap       uint64 // bytes in use
	rss        uint64 // resident set, bytes (0 where unknown)
}

func footprint() serverFootprint {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return serverFootprint{goroutines: runtime.NumGoroutine(), heap: ms.HeapInuse, rss: rss()}
}

// rss reads VmRSS from /proc (Linux); 0 elsewhere.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (f serverFootprint) String() string {
	return fmt.Sprintf("%d goroutines, heap %.1f MiB, RSS %.1f MiB", f.goroutines, float64(f.heap)/(1<<20), float64(f.rss)/(1<<20))
}

// perClient is the growth from base to f, per client.
func perClient(base, f serverFootprint, n int) string {
	return fmt.Sprintf("%.1f goroutines, heap %.1f KiB, RSS %.1f KiB per client",
		float64(f.goroutines-base.goroutines)/float64(n), (float64(f.heap)-float64(base.heap))/float64(n)/1024,
		(float64(f.rss)-float64(base.rss))/float64(n)/1024)
}

// dropCounter counts, from the server's logs, the events dropped for slow
// subscribers (each subscription logs its total when it ends).
type dropCounter struct {
	slog.Handler
	dropped *atomic.Int64
}

func (d dropCounter) Enabled(context.Context, slog.Level) bool { return true }

func (d dropCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "events dropped due to slow consumer" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "dropped" {
				d.dropped.Add(a.Value.Int64())
			}
			return true
		})
	}
	return nil
}

func (d dropCounter) WithAttrs([]slog.Attr) slog.Handler { return d }
func (d dropCounter) WithGroup(string) slog.Handler      { return d }

// clientsHelper is the child process that holds the clients.
type clientsHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startClients starts the helper with the given job.
func startClients(t *testing.T, addr string, env ...string) *clientsHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestManyClientsHelper$", "-test.v")
	cmd.Env = append(os.Environ(), append([]string{"HERALD_CLIENTS_HELPER=1", "HERALD_CLIENTS_ADDR=" + addr}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &clientsHelper{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return h
}

// expect waits for a line starting with prefix and returns it.
func (h *clientsHelper) expect(t *testing.T, prefix string, d time.Duration) string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				t.Fatalf("the clients process ended before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timer.C:
			t.Fatalf("the clients process did not say %q within %v", prefix, d)
		}
	}
}

// stop ends the helper: it closes its connections and exits.
func (h *clientsHelper) stop(t *testing.T) {
	t.Helper()
	_ = h.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("clients process: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the clients process did not end")
	}
}

// waitGoroutines waits until the server is back to at most base+slack
// goroutines and returns its footprint.
func waitGoroutines(t *testing.T, base serverFootprint, slack int, what string) serverFootprint {
	t.Helper()
	var f serverFootprint
	deadline := time.Now().Add(60 * time.Second)
	for {
		f = footprint()
		if f.goroutines <= base.goroutines+slack {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines left, %d at the start: a leak", what, f.goroutines, base.goroutines)
		}
		time.Sleep(200 * time.Millisecond) // polling the count, bounded by the deadline
	}
}

// TestManyClients holds N connections (HERALD_MANY_CLIENTS, 200 by
// default; HERALD_MC_SECONDS sets how long events are published to the
// slow subscribers, 5 s) with one events subscription each and N/10 queue receivers
// waiting in long polls, and records what the server holds per client; then
// N/10 subscribers stop reading while events are published to them: the
// events are dropped and counted and the server's memory stays bounded;
// then N clients connect, subscribe and drop in a loop: the server's
// goroutines return to where they were.
func TestManyClients(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	n := manyClients(t)
	receivers, slow := n/10, n/10
	var dropped atomic.Int64
	srv := heraldtest.NewServer(t, server.Options{Logger: slog.New(dropCounter{dropped: &dropped})})
	cl := rawClient(t, srv)
	const queues = 20
	for i := range queues {
		qPrime(t, cl, fmt.Sprintf("mc.q.%d", i))
	}
	base := footprint()
	t.Logf("server before the clients: %v", base)

	// N subscribers and N/10 waiting receivers.
	start := time.Now()
	h := startClients(t, srv.Addr, fmt.Sprintf("HERALD_CLIENTS_SUBS=%d", n), fmt.Sprintf("HERALD_CLIENTS_RECEIVERS=%d", receivers),
		fmt.Sprintf("HERALD_CLIENTS_QUEUES=%d", queues), fmt.Sprintf("HERALD_CLIENTS_SLOW=%d", slow))
	h.expect(t, "subscribed", 5*time.Minute)
	subsReady := footprint()
	h.expect(t, "ready", 5*time.Minute)
	eventually(t, 60*time.Second, func() error {
		for i := range queues {
			if q := qInfo(t, cl, fmt.Sprintf("mc.q.%d", i)); q == nil || q.Subscribers < int64(receivers/queues) {
				return fmt.Errorf("queue mc.q.%d: %+v", i, q)
			}
		}
		return nil
	})
	all := footprint()
	t.Logf("%d connections, each with an events subscription, %d of them slow, and %d receivers in long polls (ready in %v): %v",
		n+slow, slow, receivers, time.Since(start).Round(time.Millisecond), all)
	t.Logf("per connection with a subscription: %s", perClient(base, subsReady, n+slow))
	t.Logf("per connection, receivers included: %s", perClient(base, all, n+slow+receivers))
	t.Logf("per receiver in a long poll: %s", perClient(subsReady, all, receivers))

	// The slow subscribers stop reading (they read only their readiness
	// probe): publish to them and watch the server's heap.
	size, seconds := 1024, 5
	if v, err := strconv.Atoi(os.Getenv("HERALD_MC_SECONDS")); err == nil {
		seconds = v
	}
	body := make([]byte, size)
	pubCtx, stopPub := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer stopPub()
	var published atomic.Int64
	var pubs sync.WaitGroup
	for range 4 {
		pubs.Go(func() {
			for pubCtx.Err() == nil {
				if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "pub", Channel: "mc.slow", Body: body}); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				published.Add(1)
			}
		})
	}
	peak := all
	for pubCtx.Err() == nil {
		time.Sleep(250 * time.Millisecond) // sampling, bounded by the publishing time
		f := footprint()                   // the live heap, after a GC
		peak.heap, peak.rss = max(peak.heap, f.heap), max(peak.rss, f.rss)
	}
	pubs.Wait()
	// Per slow subscriber at most its buffer (100) and the engine's backlog
	// of events wait, each holding the body and some 1 KiB more on the way.
	// The backlog fills only during the subscriber's first 2 s wait, after
	// which its events are dropped at once: what arrives in 2 s (twice the
	// mean rate, for bursts), at most engine.SubscriberBacklog. And the
	// embedded NATS server holds up to its pending limit (three of the
	// largest messages) for the engine's connection, through which all
	// deliveries pass, before it stalls the publishers. A bound by
	// subscriber and rate, not by the number of events published.
	inWait := min(int64(engine.SubscriberBacklog), 2*published.Load()*2/int64(seconds))
	bound := uint64(slow)*uint64(100+inWait)*uint64(size+1024) + 3*engine.DefaultMaxPayload + 64<<20
	growth := peak.heap - min(peak.heap, all.heap)
	t.Logf("%d events of %d bytes published in %ds to %d subscribers that do not read (%d deliveries): heap peak %.1f MiB (+%.1f MiB, bound %.1f MiB), RSS peak %.1f MiB",
		published.Load(), size, seconds, slow, published.Load()*int64(slow), float64(peak.heap)/(1<<20), float64(growth)/(1<<20),
		float64(bound)/(1<<20), float64(peak.rss)/(1<<20))
	if growth > bound {
		t.Errorf("the heap grew by %.1f MiB for %d slow subscribers: more than %.1f MiB, the buffers are not bounded", float64(growth)/(1<<20), slow, float64(bound)/(1<<20))
	}
	h.stop(t)
	after := waitGoroutines(t, base, 25, "after the clients left")
	t.Logf("after the clients left: %v", after)
	eventually(t, 10*time.Second, func() error {
		if dropped.Load() == 0 {
			return fmt.Errorf("no dropped events counted")
		}
		return nil
	})
	t.Logf("dropped for the slow subscribers: %d of %d deliveries (%.0f%%)", dropped.Load(), published.Load()*int64(slow),
		100*float64(dropped.Load())/float64(max(1, published.Load()*int64(slow))))
	// Each stopped subscriber takes its buffer and then, after one wait,
	// has what arrives dropped at once: nearly all of it. (When each event
	// waited its own 2 s, 0.05 % were dropped and the rest piled up.)
	if d := dropped.Load(); d < published.Load()*int64(slow)/2 {
		t.Errorf("only %d of %d deliveries to the stopped subscribers were dropped: the rest wait in memory", d, published.Load()*int64(slow))
	}

	// Churn: connect, subscribe, drop, N times, 50 at once.
	start = time.Now()
	churn := startClients(t, srv.Addr, fmt.Sprintf("HERALD_CLIENTS_CHURN=%d", n))
	churn.expect(t, "churned", 5*time.Minute)
	churn.stop(t)
	churned := waitGoroutines(t, base, 25, "after the churn")
	t.Logf("after %d connect/subscribe/drop cycles (%v): %v", n, time.Since(start).Round(time.Millisecond), churned)
	healthy(t, cl)
}

// TestManyClientsHelper is the clients process of TestManyClients; it does
// nothing when run on its own.
func TestManyClientsHelper(t *testing.T) {
	if os.Getenv("HERALD_CLIENTS_HELPER") == "" {
		t.Skip("the clients process of TestManyClients")
	}
	addr := os.Getenv("HERALD_CLIENTS_ADDR")
	num := func(k string) int { n, _ := strconv.Atoi(os.Getenv(k)); return n }
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // the parent closes stdin to end this process
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	dial := func() *grpc.ClientConn {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	control := dial()
	defer func() { _ = control.Close() }()
	cl := pb.NewKubemqClient(control)

	if n := num("HERALD_CLIENTS_CHURN"); n > 0 {
		sem := make(chan struct{}, 50)
		var wg sync.WaitGroup
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c := dial()
				defer func() { _ = c.Close() }()
				sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
				defer scancel()
				ch := fmt.Sprint("mc.churn.", i)
				s, err := pb.NewKubemqClient(c).SubscribeToEvents(sctx, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events,
					ClientID: fmt.Sprint("churn-", i), Channel: ch})
				if err != nil {
					t.Errorf("churn subscribe: %v", err)
					return
				}
				got := make(chan error, 1)
				go func() { _, err := s.Recv(); got <- err }()
				for { // until the subscription delivers a probe: the server serves it
					_, _ = cl.SendEvent(sctx, &pb.Event{ClientID: "probe", Channel: ch, Body: []byte("p")})
					select {
					case err := <-got:
						if err != nil {
							t.Errorf("churn subscription: %v", err)
						}
						return // and drop the connection
					case <-time.After(20 * time.Millisecond):
					}
				}
			})
		}
		wg.Wait()
		fmt.Println("churned")
		<-ctx.Done()
		return
	}

	subs, slow := num("HERALD_CLIENTS_SUBS"), num("HERALD_CLIENTS_SLOW")
	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	var ready sync.WaitGroup
	subscribe := func(channel, id string, keepReading bool) {
		c := dial()
		conns = append(conns, c)
		s, err := pb.NewKubemqClient(c).SubscribeToEvents(ctx, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: id, Channel: channel})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		ready.Add(1)
		go func() {
			first := true
			for {
				if _, err := s.Recv(); err != nil {
					if first {
						ready.Done()
					}
					return
				}
				if first {
					first = false
					ready.Done()
					if !keepReading {
						<-ctx.Done() // a slow subscriber: it stops reading
						return
					}
				}
			}
		}()
	}
	for i := range subs {
		subscribe(fmt.Sprint("mc.ev.", i), fmt.Sprint("sub-", i), true)
	}
	for i := range slow {
		subscribe("mc.slow", fmt.Sprint("slow-", i), false)
	}
	fmt.Println("subscribed")
	// Probe every subscription until each has received one event.
	probed := make(chan struct{})
	go func() { ready.Wait(); close(probed) }()
	for done := false; !done; {
		for i := range subs {
			_, _ = cl.SendEvent(ctx, &pb.Event{ClientID: "probe", Channel: fmt.Sprint("mc.ev.", i), Body: []byte("p")})
		}
		_, _ = cl.SendEvent(ctx, &pb.Event{ClientID: "probe", Channel: "mc.slow", Body: []byte("p")})
		select {
		case <-probed:
			done = true
		case <-time.After(500 * time.Millisecond):
		}
	}
	queues := max(num("HERALD_CLIENTS_QUEUES"), 1)
	for i := range num("HERALD_CLIENTS_RECEIVERS") {
		c := dial()
		conns = append(conns, c)
		rcl := pb.NewKubemqClient(c)
		go func() {
			for ctx.Err() == nil {
				_, _ = rcl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: fmt.Sprint("recv-", i),
					Channel: fmt.Sprint("mc.q.", i%queues), MaxNumberOfMessages: 10, WaitTimeSeconds: 60})
			}
		}()
	}
	fmt.Println("ready")
	<-ctx.Done()
}
