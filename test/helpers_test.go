// Package test drives an in-process Herald through the official KubeMQ Go
// SDK v1.9.0 over real gRPC: the end-to-end proof of wire compatibility.
// Where a test needs exact status codes, or inputs the SDK will not send, it
// uses the SDK's raw generated stubs (github.com/kubemq-io/protobuf/go).
package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

var seq atomic.Int64

// uniq returns a channel name unique within the test binary.
func uniq(prefix string) string { return fmt.Sprintf("%s.%d", prefix, seq.Add(1)) }

// newClient connects the official SDK to srv and closes it at cleanup.
func newClient(t *testing.T, srv *heraldtest.Server, clientID string) *kubemq.Client {
	t.Helper()
	// The SDK ties the connection's life to this context.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := kubemq.NewClient(ctx,
		kubemq.WithAddress(srv.Host, srv.Port),
		kubemq.WithClientId(clientID),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC),
	)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually is adaptertest.Eventually: fn until it returns nil, or t
// fails with fn's last error once timeout has passed.
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	adaptertest.Eventually(t, timeout, fn)
}

// rawConn opens a plain gRPC connection to srv, closed at cleanup.
func rawConn(t testing.TB, srv *heraldtest.Server) *grpc.ClientConn {
	t.Helper()
	return rawConnTo(t, srv.Addr)
}

// rawConnTo opens a plain gRPC connection to addr, closed at cleanup.
func rawConnTo(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// rawClient returns the SDK's generated stub over a fresh connection.
func rawClient(t *testing.T, srv *heraldtest.Server) pb.KubemqClient {
	t.Helper()
	return pb.NewKubemqClient(rawConn(t, srv))
}

// wantStatus fails unless err is a gRPC status with code and exactly msg.
func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("got %v, want status %v %q", err, code, msg)
	}
	if st.Code() != code || st.Message() != msg {
		t.Fatalf("got status %v %q, want %v %q", st.Code(), st.Message(), code, msg)
	}
}

// wantStatusPrefix fails unless err is a gRPC status with code and a
// message starting with prefix.
func wantStatusPrefix(t *testing.T, err error, code codes.Code, prefix string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("got %v, want status %v %q…", err, code, prefix)
	}
	if st.Code() != code || !strings.HasPrefix(st.Message(), prefix) {
		t.Fatalf("got status %v %q, want %v %q…", st.Code(), st.Message(), code, prefix)
	}
}

// collector gathers what a stream delivers, for tests to wait on.
type collector[T any] struct {
	mu     sync.Mutex
	items  []T
	err    error
	notify chan struct{}
}

func newCollector[T any]() *collector[T] { return &collector[T]{notify: make(chan struct{})} }

func (c *collector[T]) add(v T) {
	c.mu.Lock()
	c.items = append(c.items, v)
	close(c.notify)
	c.notify = make(chan struct{})
	c.mu.Unlock()
}

func (c *collector[T]) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	close(c.notify)
	c.notify = make(chan struct{})
	c.mu.Unlock()
}

func (c *collector[T]) snapshot() ([]T, error, chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.items...), c.err, c.notify
}

func (c *collector[T]) all() []T {
	items, _, _ := c.snapshot()
	return items
}

// waitFor waits until ok is true of everything collected so far and returns
// it; it fails the test on timeout or when the stream failed first.
func (c *collector[T]) waitFor(t *testing.T, d time.Duration, what string, ok func([]T) bool) []T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		items, err, notify := c.snapshot()
		if ok(items) {
			return items
		}
		if err != nil {
			t.Fatalf("waiting for %s: stream failed: %v (got %d items)", what, err, len(items))
		}
		select {
		case <-notify:
		case <-timer.C:
			t.Fatalf("waiting for %s: timed out after %v (got %d items)", what, d, len(items))
		}
	}
}

// tryWait is waitFor without failing: it reports whether ok became true
// within d (and the stream did not fail).
func (c *collector[T]) tryWait(d time.Duration, ok func([]T) bool) ([]T, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		items, err, notify := c.snapshot()
		if ok(items) {
			return items, true
		}
		if err != nil {
			return items, false
		}
		select {
		case <-notify:
		case <-timer.C:
			return items, false
		}
	}
}

// waitN waits for at least n items.
func (c *collector[T]) waitN(t *testing.T, d time.Duration, n int) []T {
	t.Helper()
	return c.waitFor(t, d, fmt.Sprintf("%d items", n), func(items []T) bool { return len(items) >= n })
}

// sub is an open raw subscription: what it delivered, and how to end it.
type sub[T any] struct {
	*collector[T]
	cancel context.CancelFunc
}

// rawSubscribeEvents opens SubscribeToEvents with the raw stub (events or
// events store, as req says) and collects what it delivers. A stream that
// ends, with any status, fails the collector (io.EOF for status OK).
func rawSubscribeEvents(t *testing.T, cl pb.KubemqClient, req *pb.Subscribe) *sub[*pb.EventReceive] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &sub[*pb.EventReceive]{collector: newCollector[*pb.EventReceive](), cancel: cancel}
	stream, err := cl.SubscribeToEvents(ctx, req)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				s.fail(err)
				return
			}
			s.add(ev)
		}
	}()
	return s
}

// rawSubscribeRequests opens SubscribeToRequests with the raw stub.
func rawSubscribeRequests(t *testing.T, cl pb.KubemqClient, req *pb.Subscribe) *sub[*pb.Request] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &sub[*pb.Request]{collector: newCollector[*pb.Request](), cancel: cancel}
	stream, err := cl.SubscribeToRequests(ctx, req)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				s.fail(err)
				return
			}
			s.add(r)
		}
	}()
	return s
}

// collectSDK drains an SDK subscription channel into a collector until
// the channel closes, an error arrives or the test ends (kubemq-go never
// closes the channels of a subscription it ended).
func collectSDK[T any](t *testing.T, ch <-chan T, errCh <-chan error) *collector[T] {
	c := newCollector[T]()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-done:
				return
			case v, ok := <-ch:
				if !ok {
					c.fail(io.EOF)
					return
				}
				c.add(v)
			case err := <-errCh:
				c.fail(err)
				return
			}
		}
	}()
	return c
}

// probeMeta marks readiness probes, which tests leave out of their counts.
const probeMeta = "probe"

// waitEventsReady sends probe events to channel until every ready function
// reports true (typically: "this subscriber has received a probe"). Events
// subscriptions have no readiness signal, so this is how a test learns that
// the server has registered them.
func waitEventsReady(t *testing.T, cl pb.KubemqClient, channel string, ready ...func() bool) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if _, err := cl.SendEvent(context.Background(), &pb.Event{ClientID: "prober", Channel: channel, Metadata: probeMeta}); err != nil {
			return err
		}
		time.Sleep(30 * time.Millisecond) // let the probe travel before checking
		for i, r := range ready {
			if !r() {
				return fmt.Errorf("subscriber %d has not seen a probe on %s", i, channel)
			}
		}
		return nil
	})
}

// hasProbe reports whether a raw events subscription received a probe.
func hasProbe(s *sub[*pb.EventReceive]) func() bool {
	return func() bool {
		for _, ev := range s.all() {
			if ev.Metadata == probeMeta {
				return true
			}
		}
		return false
	}
}

// real leaves out readiness probes.
func real(evs []*pb.EventReceive) []*pb.EventReceive {
	var out []*pb.EventReceive
	for _, ev := range evs {
		if ev.Metadata != probeMeta {
			out = append(out, ev)
		}
	}
	return out
}

func bodiesOf(evs []*pb.EventReceive) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = string(ev.Body)
	}
	return out
}

func seqsOf(evs []*pb.EventReceive) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Sequence
	}
	return out
}

// newSideDoorServer starts a server with the embedded NATS client port open,
// so tests can observe engine state (events-store consumers) that has no
// gRPC signal, and returns a JetStream handle on it.
func newSideDoorServer(t *testing.T) (*heraldtest.Server, jetstream.JetStream) {
	t.Helper()
	srv := heraldtest.NewServer(t, server.Options{NATSAddr: "127.0.0.1:0"})
	nc, err := nats.Connect(srv.NATSURL())
	if err != nil {
		t.Fatalf("nats side door: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return srv, js
}

// storeConsumers counts the subscription cursors of an events-store
// channel as the engine holds them: durable ones (a position kept in the
// cursor bucket or read by a live subscription, and group consumers) and
// ephemeral ones (a second subscription of a client, reading from a
// position of its own).
func storeConsumers(js jetstream.JetStream, channel string) (durable, ephemeral int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cursors := map[string]bool{}
	prefix := strings.SplitN(eventsstore.CursorKey(channel, "x"), ".", 2)[0]
	kv, err := js.KeyValue(ctx, "HERALD_CURSORS")
	if err != nil {
		return 0, 0, err
	}
	if keys, err := kv.ListKeysFiltered(ctx, prefix+".>"); err == nil {
		for k := range keys.Keys() {
			cursors[k] = true
		}
	} else if !errors.Is(err, jetstream.ErrNoKeysFound) {
		return 0, 0, err
	}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, "HES_") {
			continue
		}
		st, err := js.Stream(ctx, name)
		if err != nil {
			return 0, 0, err
		}
		l := st.ListConsumers(ctx)
		for ci := range l.Info() {
			if !strings.HasSuffix(ci.Config.FilterSubject, "."+channel) || strings.Count(ci.Config.FilterSubject, ".") != strings.Count(channel, ".")+2 {
				continue
			}
			key, reader := ci.Config.Metadata[eventsstore.CursorMetadata]
			switch {
			case ci.Config.Durable != "":
				durable++
			case reader && key != "":
				cursors[key] = true
			default:
				ephemeral++
			}
		}
		if err := l.Err(); err != nil {
			return 0, 0, err
		}
	}
	return durable + len(cursors), ephemeral, names.Err()
}

// waitConsumers waits until the channel has the given numbers of durable and
// ephemeral cursors: the readiness signal for events-store subscriptions.
func waitConsumers(t *testing.T, js jetstream.JetStream, channel string, durable, ephemeral int) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		d, e, err := storeConsumers(js, channel)
		if err != nil {
			return err
		}
		if d != durable || e != ephemeral {
			return fmt.Errorf("channel %s has %d durable and %d ephemeral cursors, want %d and %d", channel, d, e, durable, ephemeral)
		}
		return nil
	})
}

// store sends events-store events with the given bodies through the raw stub
// and returns their results.
func store(t *testing.T, cl pb.KubemqClient, channel string, bodies ...string) []*pb.Result {
	t.Helper()
	var out []*pb.Result
	for _, b := range bodies {
		res, err := cl.SendEvent(context.Background(), &pb.Event{
			EventID: "id-" + b, ClientID: "storer", Channel: channel, Body: []byte(b), Store: true,
		})
		if err != nil {
			t.Fatalf("store %s: %v", b, err)
		}
		if !res.Sent || res.Error != "" || res.EventID != "id-"+b {
			t.Fatalf("store %s: %+v", b, res)
		}
		out = append(out, res)
	}
	return out
}

// esSub opens a raw events-store subscription.
func esSub(t *testing.T, cl pb.KubemqClient, channel, clientID, group string, start pb.Subscribe_EventsStoreType, value int64) *sub[*pb.EventReceive] {
	t.Helper()
	return rawSubscribeEvents(t, cl, &pb.Subscribe{
		SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: clientID, Channel: channel, Group: group,
		EventsStoreTypeData: start, EventsStoreTypeValue: value,
	})
}

// wantSeqs waits for len(want) events and checks their sequences and bodies
// (body "b<seq>" by convention of the events-store tests).
func wantSeqs(t *testing.T, s *sub[*pb.EventReceive], want ...uint64) []*pb.EventReceive {
	t.Helper()
	evs := s.waitN(t, 10*time.Second, len(want))
	for i, w := range want {
		if evs[i].Sequence != w || string(evs[i].Body) != fmt.Sprintf("b%d", w) {
			t.Fatalf("event %d: seq %d body %q, want seq %d body b%d (all: %v)", i, evs[i].Sequence, evs[i].Body, w, w, seqsOf(evs))
		}
	}
	return evs
}

// bodies returns "b<from>" … "b<to>".
func bodies(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("b%d", i))
	}
	return out
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func statusCode(err error) codes.Code { return status.Code(err) }
