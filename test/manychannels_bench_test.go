package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"
)

// BenchmarkManyChannels is the many-channels scenario of BENCHMARKS.md: N
// queue channels and N events-store channels (HERALD_BENCH_CHANNELS,
// default 10,000), 3 messages of 1 KiB each sent by 32 clients of the
// official kubemq-go v1.9.0, against a herald process. It reports, per
// run:
//
//	q-msg/s, es-msg/s        messages a second while the channels are created
//	q-first-p50-ms, es-…     latency of the first send to a new channel
//	rss-MiB                  the server's RSS after creation
//	idle-cpu-%, idle2-cpu-%  its CPU over the first and the next 10 s of idleness
//	datadir-MiB, files       the data dir's size and number of files
//	list-q-ms, list-es-ms    list-channels of each kind
//	queues-info-ms           QueuesInfo of every queue
//	shutdown-s               SIGTERM to exit
//	restart-ping-s           start to the first Ping answered
//	restart-receive-s        start to the first message received
//
// Run it alone, once a run: go test -run '^$' -bench ManyChannels -benchtime 1x ./test
func BenchmarkManyChannels(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("HERALD_BENCH_CHANNELS")); err == nil && v > 0 {
		n = v
	}
	const per, clients = 3, 32
	body := make([]byte, 1024)
	for range b.N {
		h := &herald{t: b, bin: buildHerald(b), dataDir: b.TempDir(), addr: freePort(b)}
		h.start()
		host, portText, _ := net.SplitHostPort(h.addr)
		port, _ := strconv.Atoi(portText)
		// kubemq-go's client keeps a goroutine until its context ends.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cls := make([]*kubemq.Client, clients)
		for i := range cls {
			c, err := kubemq.NewClient(ctx, kubemq.WithAddress(host, port), kubemq.WithClientId(fmt.Sprint("many-", i)),
				kubemq.WithTransportType(kubemq.TransportTypeGRPC))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cls[i] = c
		}
		create := func(kind string) (msgsPerSec float64, firstP50 time.Duration) {
			var (
				mu    sync.Mutex
				first []time.Duration
				wg    sync.WaitGroup
			)
			work := make(chan int)
			start := time.Now()
			for _, c := range cls {
				wg.Go(func() {
					for i := range work {
						ch := fmt.Sprintf("bench.%s.%d", kind, i)
						for k := range per {
							t0 := time.Now()
							var err error
							if kind == "q" {
								var r *kubemq.SendQueueMessageResult
								r, err = c.QM().SetChannel(ch).SetBody(body).Send(ctx)
								if err == nil && r.IsError {
									err = fmt.Errorf("%s", r.Error)
								}
							} else {
								var r *kubemq.EventStoreResult
								r, err = c.ES().SetChannel(ch).SetBody(body).Send(ctx)
								if err == nil && !r.Sent {
									err = r.Err
								}
							}
							if err != nil {
								b.Errorf("send to %s: %v", ch, err)
								return
							}
							if k == 0 {
								mu.Lock()
								first = append(first, time.Since(t0))
								mu.Unlock()
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
			slices.Sort(first)
			return float64(n*per) / time.Since(start).Seconds(), first[len(first)/2]
		}
		qRate, qP50 := create("q")
		esRate, esP50 := create("es")
		b.ReportMetric(qRate, "q-msg/s")
		b.ReportMetric(esRate, "es-msg/s")
		b.ReportMetric(float64(qP50.Microseconds())/1000, "q-first-p50-ms")
		b.ReportMetric(float64(esP50.Microseconds())/1000, "es-first-p50-ms")

		pid := h.cmd.Process.Pid
		b.ReportMetric(float64(procRSS(b, pid))/(1<<20), "rss-MiB")
		// Idle: the CPU used over 10 s right after creation (the counters'
		// save, the collection of creation's garbage), then over the next
		// 10 s.
		cpu0 := procCPU(b, pid)
		time.Sleep(10 * time.Second)
		cpu1 := procCPU(b, pid)
		time.Sleep(10 * time.Second)
		b.ReportMetric(float64(cpu1-cpu0)/float64(10*time.Second)*100, "idle-cpu-%")
		b.ReportMetric(float64(procCPU(b, pid)-cpu1)/float64(10*time.Second)*100, "idle2-cpu-%")
		size, files := dirSize(h.dataDir)
		b.ReportMetric(float64(size)/(1<<20), "datadir-MiB")
		b.ReportMetric(float64(files), "files")

		timed := func(fn func() error) time.Duration {
			t0 := time.Now()
			if err := fn(); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0)
		}
		c := cls[0]
		b.ReportMetric(float64(timed(func() error {
			l, err := kubemq.ListQueuesChannels(ctx, c, "bench", "bench.q.")
			if err == nil && len(l) != n {
				err = fmt.Errorf("listed %d queue channels, want %d", len(l), n)
			}
			return err
		}).Microseconds())/1000, "list-q-ms")
		b.ReportMetric(float64(timed(func() error {
			l, err := kubemq.ListPubSubChannels(ctx, c, "bench", "events_store", "bench.es.")
			if err == nil && len(l) != n {
				err = fmt.Errorf("listed %d events-store channels, want %d", len(l), n)
			}
			return err
		}).Microseconds())/1000, "list-es-ms")
		b.ReportMetric(float64(timed(func() error {
			info, err := c.QueuesInfo(ctx, "")
			if err == nil && info.TotalQueues < n {
				err = fmt.Errorf("QueuesInfo listed %d queues, want %d", info.TotalQueues, n)
			}
			return err
		}).Microseconds())/1000, "queues-info-ms")
		for _, c := range cls {
			_ = c.Close()
		}

		t0 := time.Now()
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		_ = h.cmd.Wait()
		b.ReportMetric(time.Since(t0).Seconds(), "shutdown-s")

		t0 = time.Now()
		h.start() // returns at the ready line
		conn := rawConnTo(b, h.addr)
		cl := pb.NewKubemqClient(conn)
		for {
			if _, err := cl.Ping(ctx, &pb.Empty{}); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "restart-ping-s")
		for {
			r, err := cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "bench", Channel: "bench.q.0", MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
			if err == nil && len(r.Messages) == 1 {
				break
			}
		}
		b.ReportMetric(time.Since(t0).Seconds(), "restart-receive-s")
		_ = conn.Close()
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		_ = h.cmd.Wait()
	}
}

// procRSS is a process's resident memory in bytes.
func procRSS(tb testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procCPU is the CPU time a process used so far.
func procCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks of 1/100 s
}

// dirSize sums the sizes of the files under dir and counts them.
func dirSize(dir string) (size int64, files int) {
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
			files++
		}
		return nil
	})
	return size, files
}
