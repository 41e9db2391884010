package bus_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kubemq "github.com/kubemq-io/kubemq-go"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/bus"
	"github.com/heraldmq/herald/client"
)

// acceptCounter listens on a loopback port and counts the connections
// made to it, so a test can tell that nothing dialled.
func acceptCounter(t *testing.T) (host string, port int, accepted *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int32)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return "127.0.0.1", l.Addr().(*net.TCPAddr).Port, accepted
}

func TestBusConfigValidation(t *testing.T) {
	host, port, accepted := acceptCounter(t)
	ok := bus.MsgBusConfig{Host: host, Port: port, Topic: "valid.topic", Direction: bus.BusReader}
	with := func(f func(*bus.MsgBusConfig)) bus.MsgBusConfig {
		c := ok
		f(&c)
		return c
	}
	cases := []struct {
		name     string
		cfg      bus.MsgBusConfig
		problems int
		name2    bool // the problem is a bad name (ErrInvalidName)
	}{
		{"unknown BusTech", with(func(c *bus.MsgBusConfig) { c.BusTech = 7 }), 1, false},
		{"unknown Blocking", with(func(c *bus.MsgBusConfig) { c.Blocking = 3 }), 1, false},
		{"unknown Direction", with(func(c *bus.MsgBusConfig) { c.Direction = 4 }), 1, false},
		{"zero Direction", with(func(c *bus.MsgBusConfig) { c.Direction = 0 }), 1, false},
		{"unknown Pattern", with(func(c *bus.MsgBusConfig) { c.Pattern = 9 }), 1, false},
		{"unknown StartAt", with(func(c *bus.MsgBusConfig) { c.StartAt = 5 }), 1, false},
		{"unknown Delivery", with(func(c *bus.MsgBusConfig) { c.Delivery = 5 }), 1, false},
		{"negative ConnectRetries", with(func(c *bus.MsgBusConfig) { c.ConnectRetries = -1 }), 1, false},
		{"negative ReadBufferSize", with(func(c *bus.MsgBusConfig) { c.ReadBufferSize = -1 }), 1, false},
		{"negative WriteBufferSize", with(func(c *bus.MsgBusConfig) { c.WriteBufferSize = -1 }), 1, false},
		{"negative WriteTimeout", with(func(c *bus.MsgBusConfig) { c.WriteTimeout = -time.Second }), 1, false},
		{"negative Visibility", with(func(c *bus.MsgBusConfig) { c.Visibility = -time.Second }), 1, false},
		{"negative MaxDeliver", with(func(c *bus.MsgBusConfig) { c.MaxDeliver = -1 }), 1, false},
		{"missing topic", with(func(c *bus.MsgBusConfig) { c.Topic = "" }), 1, true},
		{"topic with a wildcard", with(func(c *bus.MsgBusConfig) { c.Topic = "a.*" }), 1, true},
		{"topic with white space", with(func(c *bus.MsgBusConfig) { c.Topic = "a b" }), 1, true},
		{"topic ending in a dot", with(func(c *bus.MsgBusConfig) { c.Topic = "a." }), 1, true},
		{"topic with an empty token", with(func(c *bus.MsgBusConfig) { c.Topic = "a..b" }), 1, true},
		{"reserved topic", with(func(c *bus.MsgBusConfig) { c.Topic = "_herald.es.g.c" }), 1, true},
		{"group with a control character", with(func(c *bus.MsgBusConfig) { c.GroupId = "g\x01" }), 1, true},
		{"group with white space", with(func(c *bus.MsgBusConfig) { c.GroupId = "my group" }), 1, true},
		{"bad dead-letter topic", with(func(c *bus.MsgBusConfig) { c.DeadLetterTopic = "dlq>" }), 1, true},
		{"group with a queue", with(func(c *bus.MsgBusConfig) { c.Pattern, c.GroupId = bus.PatternQueue, "g" }), 1, false},
		{"everything at once", bus.MsgBusConfig{Host: host, Port: port, BusTech: 9, Blocking: 9, Pattern: 9, StartAt: 9,
			Delivery: 9, ConnectRetries: -1, ReadBufferSize: -1, WriteBufferSize: -1, WriteTimeout: -1, Visibility: -1,
			MaxDeliver: -1}, 13, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := bus.ConnectContext(context.Background(), tc.cfg)
			if c != nil {
				t.Fatal("a handle with the error")
			}
			if !errors.Is(err, bus.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			var ce *bus.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != tc.problems {
				t.Fatalf("err = %v, want a *ConfigError with %d problem(s)", err, tc.problems)
			}
			if tc.name2 != errors.Is(err, bus.ErrInvalidName) {
				t.Fatalf("errors.Is(%v, ErrInvalidName) = %v", err, !tc.name2)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("took %v", d)
			}
			// Connect (the hms-msgbus signature) returns a nil interface.
			if h, err := bus.Connect(tc.cfg); h != nil || err == nil {
				t.Fatalf("Connect = %v, %v; want a nil interface and an error", h, err)
			}
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connection(s) were made for refused configurations", n)
	}
	t.Run("AtLeastOnceNeedsHerald", func(t *testing.T) {
		srv := newServer(t)
		_, err := bus.ConnectContext(context.Background(), bus.MsgBusConfig{Host: srv.Host, Port: srv.Port,
			Topic: "t", GroupId: "g", Direction: bus.BusReader, Delivery: bus.DeliveryAtLeastOnce, AssumeHerald: herald(false)})
		if !errors.Is(err, bus.ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
	})
}

func TestBusConnectGivesUpAfterRetries(t *testing.T) {
	t.Parallel() // a server of its own; slow waits overlap
	host, port := adaptertest.ClosedAddress(t)
	start := time.Now()
	_, err := bus.ConnectContext(context.Background(), bus.MsgBusConfig{Host: host, Port: port, Topic: "t", Direction: bus.BusWriter, ConnectRetries: 2})
	var ce *bus.ConnectError
	if !errors.As(err, &ce) || ce.Attempts != 2 || !errors.Is(err, bus.ErrConnect) || !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("err = %v, want a *ConnectError after 2 attempts wrapping ErrUnavailable", err)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("gave up after %v, want about 1 s (attempts 1 s apart)", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = bus.ConnectContext(ctx, bus.MsgBusConfig{Host: host, Port: port, Topic: "t", Direction: bus.BusWriter})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unlimited retries with a deadline: %v, want context.DeadlineExceeded", err)
	}
}

func TestBusDefaults(t *testing.T) {
	srv := newServer(t)
	c, err := bus.ConnectContext(context.Background(), bus.MsgBusConfig{Topic: "defaults", Direction: bus.BusWriter, Client: srv.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := c.Config()
	host, _ := os.Hostname()
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"BusTech", got.BusTech, bus.BusTechHerald},
		{"Host", got.Host, "localhost"},
		{"Port", got.Port, bus.DefaultPort},
		{"Blocking", got.Blocking, bus.Blocking},
		{"ReadBufferSize", got.ReadBufferSize, bus.DefaultReadBufferSize},
		{"WriteBufferSize", got.WriteBufferSize, bus.DefaultWriteBufferSize},
		{"WriteTimeout", got.WriteTimeout, bus.DefaultWriteTimeout},
		{"Visibility", got.Visibility, bus.DefaultVisibility},
		{"Pattern", got.Pattern, bus.PatternEventsStore},
		{"StartAt", got.StartAt, bus.StartNewest},
		{"DeadLetterTopic", got.DeadLetterTopic, "defaults.dlq"},
		{"ClientID", got.ClientID, "bus-" + host + "-" + itoa(os.Getpid())},
		{"Status", bus.BusStatus(c.Status()), bus.StatusOpen},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
}

func TestBusIllegalCallsByDirection(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("illegal")
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader})
	ctx := testCtx(t, 10*time.Second)
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	_, err := w.MessageRead()
	check("writer MessageRead", err, bus.ErrWrongDirection)
	_, err = w.MessageReadContext(ctx)
	check("writer MessageReadContext", err, bus.ErrWrongDirection)
	_, err = w.Receive(ctx)
	check("writer Receive", err, bus.ErrWrongDirection)
	check("writer RegisterCB", w.RegisterCB(func(string) {}), bus.ErrWrongDirection)
	check("writer UnregisterCB", w.UnregisterCB(), bus.ErrWrongDirection)
	if n := w.MessageAvailable(); n != 0 {
		t.Errorf("writer MessageAvailable = %d", n)
	}
	check("reader MessageWrite", r.MessageWrite("x"), bus.ErrWrongDirection)
	check("reader MessageWriteContext", r.MessageWriteContext(ctx, "x"), bus.ErrWrongDirection)
	check("reader Flush", r.Flush(ctx), bus.ErrWrongDirection)

	check("empty write", w.MessageWrite(""), bus.ErrEmptyMessage)
	check("nil callback", r.RegisterCB(nil), bus.ErrNilCallback)
	if err := r.UnregisterCB(); err != nil {
		t.Errorf("UnregisterCB with none registered: %v", err)
	}
	if err := r.RegisterCB(func(string) {}); err != nil {
		t.Fatal(err)
	}
	check("second RegisterCB", r.RegisterCB(func(string) {}), bus.ErrCallbackRegistered)
	_, err = r.MessageRead()
	check("MessageRead with a callback", err, bus.ErrCallbackRegistered)

	nb := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, Blocking: bus.NonBlocking})
	_, err = nb.MessageRead()
	check("NonBlocking read of nothing", err, bus.ErrWouldBlock)

	for _, c := range []*bus.Conn{w, r} {
		if err := c.Disconnect(); err != nil {
			t.Fatal(err)
		}
		if err := c.Disconnect(); err != nil {
			t.Errorf("second Disconnect: %v", err)
		}
		check("MessageWrite after Disconnect", c.MessageWrite("x"), bus.ErrClosed)
		_, err := c.MessageRead()
		check("MessageRead after Disconnect", err, bus.ErrClosed)
		check("RegisterCB after Disconnect", c.RegisterCB(func(string) {}), bus.ErrClosed)
		check("UnregisterCB after Disconnect", c.UnregisterCB(), bus.ErrClosed)
		check("Flush after Disconnect", c.Flush(ctx), bus.ErrClosed)
		if s := bus.BusStatus(c.Status()); s != bus.StatusClosed {
			t.Errorf("Status after Disconnect = %v", s)
		}
		if n := c.MessageAvailable(); n != 0 {
			t.Errorf("MessageAvailable after Disconnect = %d", n)
		}
	}
}

// kubemqClient is the official KubeMQ Go SDK, an independent reader and
// writer of the wire format.
func kubemqClient(t *testing.T, srv *adaptertest.Server) *kubemq.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := kubemq.NewClient(ctx, kubemq.WithAddress(srv.Host, srv.Port), kubemq.WithClientId(adaptertest.UniqueName("kubemq-go")),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); cancel() })
	return c
}

func TestBusBlockingWriteIsStoredBeforeReturn(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("stored")
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	if err := w.MessageWrite("hello, kafka users"); err != nil {
		t.Fatal(err)
	}
	// The write returned: a reader from the first event sees it, as a plain body.
	kc := kubemqClient(t, srv)
	ctx := testCtx(t, 10*time.Second)
	events, err := kc.SubscribeToEventsStore(ctx, topic, "", make(chan error, 8), kubemq.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if string(ev.Body) != "hello, kafka users" || ev.Metadata != "" || len(ev.Tags) != 0 || ev.Sequence != 1 {
			t.Fatalf("kubemq-go read %+v, want the plain string as the body", ev)
		}
	case <-ctx.Done():
		t.Fatal("kubemq-go saw nothing")
	}
	// And the other way round: a bus reader reads what kubemq-go stores.
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, StartAt: bus.StartOldest})
	res, err := kc.ES().SetChannel(topic).SetBody([]byte("from kubemq-go")).Send(ctx)
	if err != nil || !res.Sent || res.Err != nil {
		t.Fatalf("kubemq-go send: %v %+v", err, res)
	}
	if got := readN(t, ctx, r, 2); got[0] != "hello, kafka users" || got[1] != "from kubemq-go" {
		t.Fatalf("read %q", got)
	}
}

func TestBusReaderSeesWritesAfterConnect(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("after")
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader})
	ctx := testCtx(t, 30*time.Second)
	writeN(t, ctx, w, 0, 100)
	if got := readN(t, ctx, r, 100); !equal(got, want(0, 100)) {
		t.Fatalf("read %.200q", got)
	}
	expectNothing(t, r, 200*time.Millisecond)
}

func TestBusUngroupedReadersFanOut(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("fanout")
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	r1 := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader})
	// The same client id: readers still keep cursors of their own.
	r2 := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, ClientID: r1.Config().ClientID})
	ctx := testCtx(t, 30*time.Second)
	writeN(t, ctx, w, 0, 100)
	for i, r := range []*bus.Conn{r1, r2} {
		if got := readN(t, ctx, r, 100); !equal(got, want(0, 100)) {
			t.Fatalf("reader %d read %.200q", i+1, got)
		}
	}
}

// collect reads from readers concurrently until n messages were read in
// all, and returns what each read.
func collect(t *testing.T, ctx context.Context, n int, readers ...*bus.Conn) [][]string {
	t.Helper()
	var mu sync.Mutex
	out := make([][]string, len(readers))
	total := 0
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Go(func() {
			for {
				m, err := r.MessageReadContext(rctx)
				if err != nil {
					return
				}
				mu.Lock()
				out[i] = append(out[i], m)
				total++
				if total >= n {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("read %d of %d messages", total, n)
	}
	return out
}

func TestBusGroupSplits(t *testing.T) {
	t.Parallel() // a server of its own; slow waits overlap
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			srv := newServer(t)
			topic := adaptertest.UniqueName("split")
			cfg := bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, GroupId: "hmnfd.consumers", AssumeHerald: v.assume, StartAt: bus.StartOldest}
			a, b := open(t, srv, cfg), open(t, srv, cfg)
			cfg.GroupId = "other.group%2A>"
			other := open(t, srv, cfg)
			w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter, Blocking: bus.NonBlocking})
			ctx := testCtx(t, 30*time.Second)
			writeN(t, ctx, w, 0, 200)
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := collect(t, ctx, 200, a, b)
			if err := sameSet(append(got[0], got[1]...), want(0, 200)); err != nil {
				t.Fatalf("the group's members (%d + %d): %v", len(got[0]), len(got[1]), err)
			}
			if err := sameSet(readN(t, ctx, other, 200), want(0, 200)); err != nil {
				t.Fatalf("the second group: %v", err)
			}
			expectNothing(t, a, 300*time.Millisecond)
			expectNothing(t, other, 100*time.Millisecond)
		})
	}
}

func TestBusAckedGroupRedeliversAfterCrash(t *testing.T) {
	t.Parallel() // a server of its own; slow waits overlap
	srv := newServer(t)
	topic := adaptertest.UniqueName("crash")
	cfg := bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, GroupId: "g", Delivery: bus.DeliveryAtLeastOnce}
	crashing := srv.Client(t)
	acfg := cfg
	acfg.Client = crashing
	a := open(t, srv, acfg)
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	ctx := testCtx(t, 20*time.Second)
	if err := w.MessageWrite("work item"); err != nil {
		t.Fatal(err)
	}
	m, err := a.Receive(ctx)
	if err != nil || m.Body != "work item" || m.ReceiveCount != 1 || m.Sequence != 1 || m.Timestamp.IsZero() {
		t.Fatalf("first delivery: %+v, %v", m, err)
	}
	_ = crashing.Close() // the process dies before acknowledging
	b := open(t, srv, cfg)
	m, err = b.Receive(ctx)
	if err != nil || m.Body != "work item" || m.ReceiveCount != 2 || m.Sequence != 1 {
		t.Fatalf("redelivery: %+v, %v; want the message with ReceiveCount 2", m, err)
	}
	if err := m.Ack(); err != nil {
		t.Fatal(err)
	}
	if s := bus.BusStatus(a.Status()); s != bus.StatusClosed {
		t.Errorf("the crashed reader's Status = %v", s)
	}
	expectNothing(t, b, 300*time.Millisecond)
}

func TestBusAtMostOnceFallbackDrainLosesNothing(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("drain")
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, GroupId: "g", AssumeHerald: herald(false), StartAt: bus.StartOldest})
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	ctx := testCtx(t, 20*time.Second)
	writeN(t, ctx, w, 0, 50)
	adaptertest.Eventually(t, 10*time.Second, func() error {
		if n := r.MessageAvailable(); n != 50 {
			return errors.New("buffered " + itoa(n))
		}
		return nil
	})
	drained := make(chan error, 1)
	go func() { drained <- r.Drain(ctx) }()
	got := readN(t, ctx, r, 50)
	if !equal(got, want(0, 50)) {
		t.Fatalf("read %.200q", got)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Drain did not return once the buffer was read")
	}
	if _, err := r.MessageRead(); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("read after Drain: %v", err)
	}
}

func TestBusMaxDeliverDeadLetters(t *testing.T) {
	t.Parallel() // a server of its own; slow waits overlap
	for _, tc := range []struct {
		name string
		cfg  bus.MsgBusConfig
	}{
		{"AckedGroup", bus.MsgBusConfig{GroupId: "workers", Delivery: bus.DeliveryAtLeastOnce}},
		{"Queue", bus.MsgBusConfig{Pattern: bus.PatternQueue}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			topic := adaptertest.UniqueName("poison")
			cfg := tc.cfg
			cfg.Topic, cfg.Direction, cfg.MaxDeliver = topic, bus.BusReader, 3
			r := open(t, srv, cfg)
			var calls atomic.Int32
			if err := r.RegisterCB(func(string) { calls.Add(1); panic("cannot handle this") }); err != nil {
				t.Fatal(err)
			}
			w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter, Pattern: cfg.Pattern})
			if err := w.MessageWrite("poison"); err != nil {
				t.Fatal(err)
			}
			dlq := open(t, srv, bus.MsgBusConfig{Topic: topic + ".dlq", Direction: bus.BusReader, Pattern: bus.PatternQueue})
			ctx := testCtx(t, 20*time.Second)
			m, err := dlq.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Body != "poison" || m.Tags["herald.dlq.attempts"] != "3" || m.Tags["herald.dlq.reason"] == "" ||
				m.Tags["herald.dlq.group"] != tc.cfg.GroupId || m.Tags["herald.dlq.sequence"] == "" {
				t.Fatalf("dead letter %+v", m)
			}
			if n := calls.Load(); n != 3 {
				t.Fatalf("the callback ran %d times before dead-lettering, want 3", n)
			}
			// Not delivered again: the reader sees nothing more.
			if err := r.UnregisterCB(); err != nil {
				t.Fatal(err)
			}
			expectNothing(t, r, time.Second)
			if n := calls.Load(); n != 3 {
				t.Fatalf("the callback ran %d times", n)
			}
		})
	}
}

func TestBusNonBlockingBufferFull(t *testing.T) {
	t.Parallel() // a server of its own; slow waits overlap
	srv := newServer(t)
	w := open(t, srv, bus.MsgBusConfig{Topic: adaptertest.UniqueName("full"), Direction: bus.BusWriter, Blocking: bus.NonBlocking,
		WriteBufferSize: 2, WriteTimeout: 500 * time.Millisecond})
	srv.Stop()
	var full bool
	for i := 0; i < 4 && !full; i++ {
		start := time.Now()
		err := w.MessageWrite(msg(i))
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("write %d blocked for %v", i, d)
		}
		switch {
		case errors.Is(err, bus.ErrWriteBufferFull):
			full = true
		case err != nil:
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if !full {
		t.Fatal("four writes into a buffer of two with the broker down: no ErrWriteBufferFull")
	}
	err := w.Flush(testCtx(t, 10*time.Second))
	var we *bus.WriteError
	if !errors.As(err, &we) || we.Failed < 2 || !errors.Is(err, bus.ErrWriteFailed) {
		t.Fatalf("Flush: %v, want a *WriteError for the queued writes", err)
	}
	if !errors.Is(err, client.ErrUnavailable) && !errors.Is(err, client.ErrTimeout) {
		t.Errorf("Flush: %v, want the cause (unavailable or timeout)", err)
	}
	if err := w.Flush(testCtx(t, time.Second)); err != nil {
		t.Errorf("second Flush: %v, want nil (failures are reported once)", err)
	}
}

func TestBusCallbackGetsBufferedFirst(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("cbfirst")
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader})
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	ctx := testCtx(t, 20*time.Second)
	writeN(t, ctx, w, 0, 5)
	adaptertest.Eventually(t, 10*time.Second, func() error {
		if n := r.MessageAvailable(); n != 5 {
			return errors.New("buffered " + itoa(n))
		}
		return nil
	})
	got := make(chan string, 20)
	if err := r.RegisterCB(func(m string) { got <- m }); err != nil {
		t.Fatal(err)
	}
	writeN(t, ctx, w, 5, 10)
	var seen []string
	for len(seen) < 10 {
		select {
		case m := <-got:
			seen = append(seen, m)
		case <-ctx.Done():
			t.Fatalf("callback got %q", seen)
		}
	}
	if !equal(seen, want(0, 10)) {
		t.Fatalf("callback got %q, want the buffered messages first, in order", seen)
	}
	if _, err := r.MessageRead(); !errors.Is(err, bus.ErrCallbackRegistered) {
		t.Fatalf("MessageRead: %v", err)
	}
	if n := r.MessageAvailable(); n != 0 {
		t.Fatalf("MessageAvailable = %d", n)
	}
}

func TestBusUnregisterInsideCallback(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("unreg")
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader})
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	var calls atomic.Int32
	first := make(chan string, 1)
	if err := r.RegisterCB(func(m string) {
		calls.Add(1)
		if err := r.UnregisterCB(); err != nil {
			t.Errorf("UnregisterCB inside the callback: %v", err)
		}
		first <- m
	}); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 20*time.Second)
	writeN(t, ctx, w, 0, 3)
	select {
	case m := <-first:
		if m != msg(0) {
			t.Fatalf("callback got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("no callback")
	}
	if got := readN(t, ctx, r, 2); !equal(got, want(1, 3)) {
		t.Fatalf("read %q after unregistering", got)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("callback ran %d times", n)
	}
}

func TestBusMessageAvailableCountsBuffer(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("avail")
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader})
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	ctx := testCtx(t, 20*time.Second)
	if n := r.MessageAvailable(); n != 0 {
		t.Fatalf("MessageAvailable before any write = %d", n)
	}
	writeN(t, ctx, w, 0, 7)
	adaptertest.Eventually(t, 10*time.Second, func() error {
		if n := r.MessageAvailable(); n != 7 {
			return errors.New("buffered " + itoa(n))
		}
		return nil
	})
	readN(t, ctx, r, 3)
	if n := r.MessageAvailable(); n != 4 {
		t.Fatalf("after 3 reads MessageAvailable = %d, want 4", n)
	}
	readN(t, ctx, r, 4)
	if n := r.MessageAvailable(); n != 0 {
		t.Fatalf("after reading everything MessageAvailable = %d", n)
	}
}

func TestBusReconnectNoGap(t *testing.T) {
	t.Parallel() // a server of its own; slow waits overlap
	srv := newServer(t)
	topic := adaptertest.UniqueName("reconnect")
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader})
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	ctx := testCtx(t, 40*time.Second)

	var sawReconnecting atomic.Bool
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watchCtx.Err() == nil {
			if bus.BusStatus(r.Status()) == bus.StatusReconnecting {
				sawReconnecting.Store(true)
			}
			time.Sleep(time.Millisecond)
		}
	}()

	writeN(t, ctx, w, 0, 20)
	if got := readN(t, ctx, r, 5); !equal(got, want(0, 5)) {
		t.Fatalf("read %q", got)
	}
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		srv.Restart(t)
	}()
	writeN(t, ctx, w, 20, 40) // during: Blocking writes wait and retry
	<-restarted
	writeN(t, ctx, w, 40, 60)
	got := append(want(0, 5), readN(t, ctx, r, 55)...)
	if !equal(got, want(0, 60)) {
		t.Fatalf("read %.300q", got)
	}
	expectNothing(t, r, 300*time.Millisecond)
	adaptertest.Eventually(t, 10*time.Second, func() error {
		if s := bus.BusStatus(r.Status()); s != bus.StatusOpen {
			return errors.New("status " + itoa(int(s)))
		}
		return nil
	})
	stopWatch()
	<-watched
	if !sawReconnecting.Load() {
		t.Error("Status never reported StatusReconnecting during the restart")
	}
}

func TestBusGroupSurvivesRestart(t *testing.T) {
	t.Parallel() // a server of its own; slow waits overlap
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			srv := newServer(t)
			topic := adaptertest.UniqueName("grouprestart")
			cfg := bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, GroupId: "g", AssumeHerald: v.assume}
			first := open(t, srv, cfg)
			w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
			ctx := testCtx(t, 40*time.Second)
			// The group exists on the server once a member has read from it.
			adaptertest.Eventually(t, 10*time.Second, func() error {
				if err := w.MessageWriteContext(ctx, "warm-up"); err != nil {
					return err
				}
				rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
				_, err := first.MessageReadContext(rctx)
				return err
			})
			_ = first.Close()
			// A restart ends whatever the server still ran for the member
			// (in the fallback a late push to it is redelivered only after
			// the server's ack wait).
			srv.Restart(t)
			writeN(t, ctx, w, 0, 50)
			srv.Restart(t)
			second := open(t, srv, cfg)
			got := readN(t, ctx, second, 50)
			// A warm-up write the first member never read comes first.
			for len(got) > 0 && got[0] == "warm-up" {
				got = append(got[1:], readN(t, ctx, second, 1)...)
			}
			if !equal(got, want(0, 50)) {
				t.Fatalf("read %.300q", got)
			}
		})
	}
}

func TestBusEventsPatternNotStored(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("events")
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter, Pattern: bus.PatternEvents})
	if err := w.MessageWrite("before"); err != nil {
		t.Fatal(err)
	}
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, Pattern: bus.PatternEvents})
	if err := w.MessageWrite("after"); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 10*time.Second)
	m, err := r.Receive(ctx)
	if err != nil || m.Body != "after" || m.Sequence != 0 || !m.Timestamp.IsZero() {
		t.Fatalf("read %+v, %v; want only the message written after connecting", m, err)
	}
	expectNothing(t, r, 200*time.Millisecond)
}

func TestBusQueueExactlyOneReader(t *testing.T) {
	t.Parallel() // a server of its own; slow waits overlap
	srv := newServer(t)
	topic := adaptertest.UniqueName("queue")
	cfg := bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader, Pattern: bus.PatternQueue}
	a, b := open(t, srv, cfg), open(t, srv, cfg)
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter, Pattern: bus.PatternQueue, Blocking: bus.NonBlocking})
	ctx := testCtx(t, 40*time.Second)
	writeN(t, ctx, w, 0, 500)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := collect(t, ctx, 500, a, b)
	if err := sameSet(append(got[0], got[1]...), want(0, 500)); err != nil {
		t.Fatalf("readers (%d + %d): %v", len(got[0]), len(got[1]), err)
	}
	expectNothing(t, a, 300*time.Millisecond)
	expectNothing(t, b, 100*time.Millisecond)
}

func TestBusReadWriterSeesOwnWrites(t *testing.T) {
	srv := newServer(t)
	rw := open(t, srv, bus.MsgBusConfig{Topic: adaptertest.UniqueName("rw"), Direction: bus.BusReadWriter})
	ctx := testCtx(t, 20*time.Second)
	writeN(t, ctx, rw, 0, 10)
	if got := readN(t, ctx, rw, 10); !equal(got, want(0, 10)) {
		t.Fatalf("read %q", got)
	}
}

// blockedIn reports whether a goroutine's stack shows fn.
func blockedIn(fn string) error {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	if !strings.Contains(string(buf), fn) {
		return errors.New("no goroutine in " + fn)
	}
	return nil
}

func TestBusDisconnectUnblocksRead(t *testing.T) {
	adaptertest.NoLeaks(t)
	srv := newServer(t)
	r := open(t, srv, bus.MsgBusConfig{Topic: adaptertest.UniqueName("unblock"), Direction: bus.BusReader})
	read := make(chan error, 1)
	go func() {
		_, err := r.MessageRead()
		read <- err
	}()
	adaptertest.Eventually(t, 5*time.Second, func() error { return blockedIn("bus.(*Conn).take") })
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- r.Disconnect() }()
	select {
	case err := <-read:
		if !errors.Is(err, bus.ErrClosed) {
			t.Fatalf("blocked read returned %v", err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("read returned %v after Disconnect", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Disconnect did not unblock the read")
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func TestBusNoSignalHandling(t *testing.T) {
	srv := newServer(t)
	topic := adaptertest.UniqueName("signal")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	r := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReader})
	w := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusWriter})
	ctx := testCtx(t, 20*time.Second)
	read := make(chan string, 1)
	go func() {
		m, _ := r.MessageReadContext(ctx)
		read <- m
	}()
	adaptertest.Eventually(t, 5*time.Second, func() error { return blockedIn("bus.(*Conn).take") })
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sig:
	case <-ctx.Done():
		t.Fatal("the test's own handler got no SIGINT")
	}
	if s := bus.BusStatus(r.Status()); s != bus.StatusOpen {
		t.Fatalf("Status after SIGINT = %v", s)
	}
	if err := w.MessageWrite("still here"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-read:
		if m != "still here" {
			t.Fatalf("read %q", m)
		}
	case <-ctx.Done():
		t.Fatal("the reader stopped after SIGINT")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestBusChannelDeletedUnderReader: deleting the topic's channel under a
// reader ends its reads with ErrChannelDeleted and closes the handle.
func TestBusChannelDeletedUnderReader(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	topic := adaptertest.UniqueName("deleted")
	rw := open(t, srv, bus.MsgBusConfig{Topic: topic, Direction: bus.BusReadWriter})
	ctx := testCtx(t, 20*time.Second)
	if err := rw.MessageWriteContext(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if m, err := rw.MessageReadContext(ctx); err != nil || m != "one" {
		t.Fatalf("read %q, %v", m, err)
	}
	if err := srv.Client(t).DeleteChannel(ctx, "events_store", topic); err != nil {
		t.Fatal(err)
	}
	_, err := rw.MessageReadContext(ctx)
	if !errors.Is(err, bus.ErrChannelDeleted) {
		t.Fatalf("read after delete: %v, want ErrChannelDeleted", err)
	}
	if s := rw.Status(); s != int(bus.StatusClosed) {
		t.Fatalf("status %d after delete, want StatusClosed", s)
	}
}
