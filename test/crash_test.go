package test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
)

// herald is the herald binary run as a child process.
type herald struct {
	t       testing.TB
	bin     string
	dataDir string
	addr    string
	extra   []string // more flags; later ones win
	cmd     *exec.Cmd
}

// buildHerald builds the herald binary of this tree, or returns
// $HERALD_BIN when set (to benchmark another version in the same session).
func buildHerald(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("HERALD_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "herald")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/herald").CombinedOutput()
	if err != nil {
		t.Fatalf("build herald: %v\n%s", err, out)
	}
	return bin
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs herald and waits for its ready line.
func (h *herald) start() {
	h.t.Helper()
	h.cmd = exec.Command(h.bin, append([]string{"server", "--grpc-addr", h.addr, "--rest-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--data-dir", h.dataDir,
		"--queue-ack-wait", "1s", "--log-level", "warn"}, h.extra...)...)
	h.cmd.Stderr = os.Stderr
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		var once sync.Once
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			once.Do(func() { close(ready) })
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		h.t.Fatal("herald did not start")
	}
	h.t.Cleanup(func() { _ = h.cmd.Process.Kill(); _ = h.cmd.Wait() })
}

func (h *herald) kill() {
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	_ = h.cmd.Wait()
}

// TestQueueCrashSafety runs herald as a child process, keeps sending and
// consuming (classic receives, stream receive+ack, and stream receives that
// are never settled), kills it with SIGKILL, restarts it on the same data
// and proves that every send answered without error was either delivered to
// a consumer or is still in the queue, and that leased messages come back.
// A message may be seen twice only if its settlement was not confirmed
// before the kill: a lease still held, an ack whose answer never came, or a
// receive answered in the last moments before the kill (the server sends a
// classic receive's reply before it removes the messages, so a kill in
// between redelivers them: at least once, never lost).
func TestQueueCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	h := &herald{t: t, bin: buildHerald(t), dataDir: t.TempDir(), addr: freePort(t)}
	h.start()
	host, portText, _ := net.SplitHostPort(h.addr)
	port, _ := strconv.Atoi(portText)
	connect := func(ctx context.Context, id string) *kubemq.Client {
		c, err := kubemq.NewClient(ctx, kubemq.WithAddress(host, port), kubemq.WithClientId(id),
			kubemq.WithTransportType(kubemq.TransportTypeGRPC))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const ch = "crash.q"
	var (
		mu          sync.Mutex
		sent        = map[string]bool{}      // answered without error
		delivered   = map[string]time.Time{} // handed to a consumer, and when
		confirmed   = map[string]int{}       // settled, and the settlement confirmed
		unconfirmed = map[string]bool{}      // delivered, settlement not confirmed
		stop        = make(chan struct{})
		wg          sync.WaitGroup
		holding     int
	)
	deliver := func(id string, settled bool) {
		mu.Lock()
		defer mu.Unlock()
		if _, twice := delivered[id]; twice {
			t.Errorf("message %s delivered twice before the kill", id)
		}
		delivered[id] = time.Now()
		if settled {
			confirmed[id]++
		} else {
			unconfirmed[id] = true
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := connect(ctx, "crash")
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func() { // producers
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("p%d-%d", p, i)
				r, err := c.QM().SetChannel(ch).SetId(id).SetBody([]byte(id)).Send(ctx)
				if err == nil && !r.IsError {
					mu.Lock()
					sent[id] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(3)
	go func() { // classic receiver: messages are removed when the reply is ready
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(10).SetWaitTimeSeconds(1).Send(ctx)
			if err != nil || r.IsError {
				continue
			}
			for _, m := range r.Messages {
				deliver(string(m.Body), true)
			}
		}
	}()
	streamReceiver := func() { // acks most, holds every fifth without settling
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m, err := c.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 60, 1)
			if err != nil || m == nil {
				continue
			}
			if i%5 == 4 {
				deliver(string(m.Body), false)
				mu.Lock()
				holding++
				mu.Unlock()
				continue // leased until the crash
			}
			deliver(string(m.Body), m.Ack() == nil)
		}
	}
	go streamReceiver()
	go streamReceiver()
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n, held := len(sent), holding
		mu.Unlock()
		if (n >= 3000 && held >= 1) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // progress poll, bounded by the deadline
	}
	killed := time.Now()
	h.kill()
	close(stop)
	cancel()
	wg.Wait()
	_ = c.Close()
	mu.Lock()
	t.Logf("before the kill: %d sends answered, %d messages delivered, %d left leased", len(sent), len(delivered), holding)
	mu.Unlock()
	if len(sent) < 50 {
		t.Fatalf("only %d sends before the kill", len(sent))
	}

	h.start()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	c2 := connect(ctx2, "drain")
	defer c2.Close()
	left := map[string]int{}
	quiet := time.Time{}
	for quiet.IsZero() || time.Since(quiet) < 3*time.Second { // leased ones return after the 1 s ack wait
		r, err := c2.RQM().SetChannel(ch).SetMaxNumberOfMessages(500).SetWaitTimeSeconds(1).Send(ctx2)
		if err != nil {
			t.Fatal(err)
		}
		if r.IsError {
			t.Fatal(r.Error)
		}
		for _, m := range r.Messages {
			left[string(m.Body)]++
		}
		if len(r.Messages) == 0 && quiet.IsZero() {
			quiet = time.Now()
		} else if len(r.Messages) > 0 {
			quiet = time.Time{}
		}
	}
	lost, dup, redelivered := 0, 0, 0
	for id := range sent {
		at, seen := delivered[id]
		switch {
		case !seen && left[id] == 0:
			lost++
			t.Errorf("message %s was acknowledged to its sender and is gone", id)
		case left[id] > 1:
			dup++
			t.Errorf("message %s is in the queue %d times", id, left[id])
		case seen && left[id] == 1:
			if unconfirmed[id] || killed.Sub(at) < 2*time.Second {
				redelivered++ // its settlement was not confirmed: at least once
				continue
			}
			dup++
			t.Errorf("message %s was settled %v before the kill and delivered again", id, killed.Sub(at))
		}
		if lost+dup > 10 {
			break
		}
	}
	for id, at := range delivered {
		if !sent[id] && killed.Sub(at) > 2*time.Second {
			// a send whose answer was lost in the kill may still have been stored
			t.Errorf("message %s was delivered but its send was never answered", id)
		}
	}
	t.Logf("after restart: %d messages were still in the queue, %d of them delivered before the kill without a confirmed settlement", len(left), redelivered)
	if holding > 0 && redelivered == 0 {
		t.Errorf("%d leased messages did not come back", holding)
	}
}
