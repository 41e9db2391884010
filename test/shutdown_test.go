package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// shutdownLoad is what clients saw while a server was stopped under them.
type shutdownLoad struct {
	mu        sync.Mutex
	sent      map[string]bool // queue sends answered as stored
	delivered map[string]bool // queue messages a classic receive returned
	held      map[string]bool // leased by a stream or a poll transaction, never settled
	stored    map[string]bool // events-store sends answered as stored
	unclean   []string        // errors that are not a clean end of a call
	stopping  atomic.Bool     // SIGTERM was sent
}

// end records how a call that failed after SIGTERM ended: a shutdown error
// (Error 409, in-band or as a status), the connection going away
// (Unavailable) or the stream ending are clean; anything else (a call cut
// off by a deadline, an internal error) is not. Failures before SIGTERM are
// never clean. It reports whether the caller should stop.
func (l *shutdownLoad) end(what string, err error) bool {
	if err == nil {
		return false
	}
	clean := l.stopping.Load() && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "server is in shutdown mode") ||
		status.Code(err) == codes.Unavailable || status.Code(err) == codes.Canceled)
	if !clean {
		l.mu.Lock()
		l.unclean = append(l.unclean, fmt.Sprintf("%s: %v", what, err))
		l.mu.Unlock()
	}
	return true
}

func (l *shutdownLoad) add(m map[string]bool, ids ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		m[id] = true
	}
}

func (l *shutdownLoad) count(m map[string]bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(m)
}

// TestGracefulShutdownUnderLoad sends SIGTERM to a herald process while
// clients send, receive (long polls), hold leased messages in streams and
// poll transactions, wait for a command nobody answers and read an
// events-store channel. Every call in flight ends cleanly, the process
// exits 0 well within its grace period, and after a restart (with a 30 s
// ack wait, so that only the shutdown can have returned them) every leased
// message is back and no acknowledged send is lost.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const grace = 10 * time.Second
	h := &herald{t: t, bin: buildHerald(t), dataDir: t.TempDir(), addr: freePort(t),
		extra: []string{"--shutdown-timeout", grace.String()}}
	h.start()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	cl := pb.NewKubemqClient(conn)
	l := &shutdownLoad{sent: map[string]bool{}, delivered: map[string]bool{}, held: map[string]bool{}, stored: map[string]bool{}}
	const q, es = "shutdown.q", "shutdown.es"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup

	for p := range 2 { // producers
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("p%d-%d", p, i)
				r, err := cl.SendQueueMessage(ctx, &pb.QueueMessage{MessageID: id, ClientID: "p", Channel: q, Body: []byte(id)})
				if err == nil && r.IsError {
					err = errors.New(r.Error)
				}
				if l.end("queue send", err) {
					return
				}
				l.add(l.sent, id)
			}
		})
	}
	wg.Go(func() { // an upstream producer, batches of 10
		up, err := cl.QueuesUpstream(ctx)
		if l.end("upstream open", err) {
			return
		}
		for i := 0; ; i++ {
			var ms []*pb.QueueMessage
			for k := range 10 {
				id := fmt.Sprintf("u-%d-%d", i, k)
				ms = append(ms, &pb.QueueMessage{MessageID: id, ClientID: "u", Channel: q, Body: []byte(id)})
			}
			if l.end("upstream send", up.Send(&pb.QueuesUpstreamRequest{RequestID: fmt.Sprint(i), Messages: ms})) {
				return
			}
			r, err := up.Recv()
			if l.end("upstream answer", err) {
				return
			}
			for k, res := range r.Results {
				if res.IsError {
					l.end("upstream item", errors.New(res.Error))
					continue
				}
				l.add(l.sent, ms[k].MessageID)
			}
		}
	})
	wg.Go(func() { // events-store producer
		for i := 0; ; i++ {
			id := fmt.Sprintf("e-%d", i)
			r, err := cl.SendEvent(ctx, &pb.Event{EventID: id, ClientID: "e", Channel: es, Body: []byte(id), Store: true})
			if err == nil && !r.Sent {
				err = errors.New(r.Error)
			}
			if l.end("events-store send", err) {
				return
			}
			l.add(l.stored, id)
		}
	})
	for range 2 { // classic receivers, long polls
		wg.Go(func() {
			for {
				r, err := cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "r", Channel: q, MaxNumberOfMessages: 10, WaitTimeSeconds: 30})
				if err == nil && r.IsError {
					err = errors.New(r.Error)
				}
				if l.end("receive", err) {
					return
				}
				for _, m := range r.Messages {
					l.add(l.delivered, string(m.Body))
				}
			}
		})
	}
	for range 3 { // stream receivers that never settle
		wg.Go(func() {
			s, err := cl.StreamQueueMessage(ctx)
			if l.end("stream open", err) {
				return
			}
			err = s.Send(&pb.StreamQueueMessagesRequest{RequestID: "r", ClientID: "s", StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage,
				Channel: q, VisibilitySeconds: 600, WaitTimeSeconds: 30})
			if l.end("stream receive", err) {
				return
			}
			for {
				r, err := s.Recv()
				if err == nil && r.IsError {
					err = errors.New(r.Error)
				}
				if l.end("stream", err) {
					return
				}
				if r.Message != nil {
					l.add(l.held, string(r.Message.Body))
				}
			}
		})
	}
	wg.Go(func() { // a poll transaction that is never settled
		ds, err := cl.QueuesDownstream(ctx)
		if l.end("downstream open", err) {
			return
		}
		if l.end("downstream get", ds.Send(&pb.QueuesDownstreamRequest{RequestID: "g", ClientID: "d", RequestTypeData: pb.QueuesDownstreamRequestType_Get,
			Channel: q, MaxItems: 5, WaitTimeout: 30000})) {
			return
		}
		for {
			r, err := ds.Recv()
			if err == nil && r.IsError {
				err = errors.New(r.Error)
			}
			if l.end("downstream", err) {
				return
			}
			for _, m := range r.Messages {
				l.add(l.held, string(m.Body))
			}
		}
	})
	var requestEnded atomic.Int64 // ns since SIGTERM
	wg.Go(func() {                // a command nobody answers, with a long timeout
		_, err := cl.SendRequest(ctx, &pb.Request{RequestTypeData: pb.Request_Command, ClientID: "c", Channel: "shutdown.nobody",
			Body: []byte("x"), Timeout: 600_000})
		l.end("command", err)
		if !strings.Contains(fmt.Sprint(err), "server is in shutdown mode") {
			l.end("command", fmt.Errorf("want Error 409, got %w", err))
		}
		requestEnded.Store(time.Now().UnixNano())
	})
	wg.Go(func() { // an events-store reader
		s, err := cl.SubscribeToEvents(ctx, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_EventsStore, ClientID: "sub", Channel: es,
			EventsStoreTypeData: pb.Subscribe_StartFromFirst})
		if l.end("subscribe", err) {
			return
		}
		for {
			if _, err := s.Recv(); l.end("subscription", err) {
				return
			}
		}
	})

	eventually(t, 30*time.Second, func() error {
		if n, h, e := l.count(l.sent), l.count(l.held), l.count(l.stored); n < 500 || h < 4 || e < 50 {
			return fmt.Errorf("load: %d queue sends, %d held, %d events stored", n, h, e)
		}
		return nil
	})
	l.stopping.Store(true)
	sigterm := time.Now()
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- h.cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-time.After(grace + 5*time.Second):
		t.Fatalf("herald did not exit within its %v grace period", grace)
	}
	took := time.Since(sigterm)
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		t.Fatalf("herald exited with %v after SIGTERM", waitErr)
	}
	if took > grace {
		t.Fatalf("herald took %v to exit, more than its grace period of %v", took, grace)
	}
	if took > grace/2 { // nothing here should hold the shutdown: long polls and waits end at once
		t.Errorf("herald took %v to exit: something held the shutdown", took)
	}
	wg.Wait()
	t.Logf("SIGTERM under load: exited 0 after %v; %d queue sends and %d events stored, %d messages received, %d held unsettled",
		took.Round(time.Millisecond), len(l.sent), len(l.stored), len(l.delivered), len(l.held))
	if e := requestEnded.Load(); e == 0 || time.Duration(e-sigterm.UnixNano()) > grace {
		t.Errorf("the waiting command did not end with the shutdown")
	}
	for i, u := range l.unclean {
		if i == 10 {
			t.Errorf("… and %d more", len(l.unclean)-10)
			break
		}
		t.Errorf("not a clean end: %s", u)
	}

	// Restart with a 30 s ack wait: leased messages can only be back at
	// once if the shutdown returned them.
	h.extra = append(h.extra, "--queue-ack-wait", "30s")
	h.start()
	conn2, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn2.Close() }()
	cl = pb.NewKubemqClient(conn2)
	left := map[string]int{}
	for empty := 0; empty < 2; {
		r := qReceive(t, cl, q, 1000, 1, false)
		if r.IsError {
			t.Fatal(r.Error)
		}
		if len(r.Messages) == 0 {
			empty++
		}
		for _, m := range r.Messages {
			left[string(m.Body)]++
		}
	}
	// A held message returned at the shutdown may have gone to a receive
	// still running then; otherwise it is in the queue, once.
	back := 0
	for id := range l.held {
		switch {
		case left[id] == 1 && !l.delivered[id]:
			back++
		case left[id] == 0 && l.delivered[id]:
		default:
			t.Errorf("message %s was leased at the shutdown: %d times in the queue after the restart, received during the shutdown: %v",
				id, left[id], l.delivered[id])
		}
	}
	t.Logf("of the %d messages leased at the shutdown, %d were in the queue after the restart, the others went to receives running during the shutdown", len(l.held), back)
	lost := 0
	for id := range l.sent {
		if !l.delivered[id] && left[id] == 0 {
			lost++
			if lost <= 10 {
				t.Errorf("message %s was acknowledged to its sender and is gone", id)
			}
		}
		if l.delivered[id] && left[id] > 0 {
			t.Errorf("message %s was received before the shutdown and is in the queue again", id)
		}
	}
	evs := esSub(t, cl, es, "after", "", pb.Subscribe_StartFromFirst, 0).waitN(t, 30*time.Second, len(l.stored))
	got := map[string]bool{}
	for _, ev := range evs {
		got[ev.EventID] = true
	}
	for id := range l.stored {
		if !got[id] {
			t.Errorf("event %s was acknowledged as stored and is gone", id)
		}
	}
}
