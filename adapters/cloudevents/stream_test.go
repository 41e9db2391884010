package cloudevents_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/cloudevents"
)

// threeReplies writes "<tag>-1..3" through a ReplyStreamWriter and flushes.
func threeReplies(tag string) cloudevents.QueryHandlerFunc {
	return func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
		if sw, ok := w.(cloudevents.StreamingReplyWriter); !ok || !sw.Streaming() {
			panic("not a streamed request")
		}
		rw := cloudevents.NewReplyStreamWriter(w)
		for i := 1; i <= 3; i++ {
			_ = rw.Write(newEvent(nil, "org.test.Part", fmt.Sprintf("%s-%d", tag, i)))
		}
		if err := rw.Flush(); err != nil {
			panic(err)
		}
	}
}

// readAll reads a stream with the loop of ReplyStream's documentation,
// calling afterEach (unless nil) after each reply.
func readAll(s cloudevents.ReplyStream, afterEach func()) ([]string, error) {
	var out []string
	for s.ExpectNext() {
		ce, err := s.Next()
		if err != nil {
			return out, err
		}
		out = append(out, dataOf(ce))
		if afterEach != nil {
			afterEach()
		}
	}
	return out, nil
}

// expectEnd checks a stream that was read to its end: ExpectNext is false
// and Next returns an error matching want (io.EOF for a clean end).
func expectEnd(t *testing.T, s cloudevents.ReplyStream, want error) {
	t.Helper()
	if s.ExpectNext() {
		t.Error("ExpectNext true after the end")
	}
	if _, err := s.Next(); !errors.Is(err, want) {
		t.Errorf("Next after the end: %v, want %v", err, want)
	}
}

// replyThenWait writes "<tag>-1" and "<tag>-2", then returns (which ends
// its stream) after hold or when stop is closed, whatever the request's
// deadline.
func replyThenWait(tag string, hold time.Duration, stop <-chan struct{}) cloudevents.QueryHandlerFunc {
	return func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
		for i := 1; i <= 2; i++ {
			if err := w.Write(newEvent(nil, "org.test.Part", fmt.Sprintf("%s-%d", tag, i))); err != nil {
				panic(err)
			}
		}
		select {
		case <-time.After(hold):
		case <-stop:
		}
	}
}

// TestCEReplyStreamLoop: the loop of ReplyStream's documentation, on a
// RequestStream and on a Gather (ending at the first responder's end). It
// ends without an error after the last reply, also when the end comes a
// while after it; at the deadline with ErrTimeout (a Gather: cleanly, its
// deadline is its normal end); and with context.Canceled when the caller
// cancels.
func TestCEReplyStreamLoop(t *testing.T) {
	srv := newServer(t)
	q := queryConn(t, config(srv, "requester"))
	kinds := []struct {
		name     string
		open     func(ctx context.Context, ce cloudevents.Event) (cloudevents.ReplyStream, error)
		deadline error // what the loop ends with at the deadline
	}{
		{"RequestStream", func(ctx context.Context, ce cloudevents.Event) (cloudevents.ReplyStream, error) {
			return q.RequestStream(ctx, ce)
		}, cloudevents.ErrTimeout},
		{"Gather", func(ctx context.Context, ce cloudevents.Event) (cloudevents.ReplyStream, error) {
			return q.Gather(ctx, ce, cloudevents.MaxResponders(1))
		}, nil},
	}
	for _, kind := range kinds {
		for _, tc := range []struct {
			name   string
			hold   time.Duration // how long the responder takes to end after its replies
			cancel bool          // after the first reply
			want   error         // what the loop ends with
		}{
			{"End", 300 * time.Millisecond, false, nil},
			{"Deadline", time.Minute, false, kind.deadline},
			{"Cancel", time.Minute, true, context.Canceled},
		} {
			t.Run(kind.name+"/"+tc.name, func(t *testing.T) {
				// A responder of its own: a handler that outlives its request
				// would hold up the next one.
				op := cloudevents.QueryOp("org.test.Loop" + kind.name + tc.name)
				stop := make(chan struct{})
				listenQueries(t, queryConn(t, config(srv, "responder")),
					map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{op: replyThenWait("a", tc.hold, stop)})
				// Closed before the listener's clean-up waits for the handler.
				t.Cleanup(func() { close(stop) })
				// 3 s: room for the set-up of the requester's inbox.
				ctx, cancel := context.WithCancel(ctxFor(t, 3*time.Second))
				defer cancel()
				s, err := kind.open(ctx, newEvent(t, string(op), "x"))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var afterEach func()
				if tc.cancel {
					afterEach = cancel
				}
				got, err := readAll(s, afterEach)
				if !errors.Is(err, tc.want) {
					t.Fatalf("loop ended with %v, want %v", err, tc.want)
				}
				want := []string{"a-1", "a-2"}
				if tc.cancel && len(got) == 1 {
					want = want[:1] // the second reply may come after the cancel
				}
				if !slices.Equal(got, want) {
					t.Errorf("replies %v, want %v", got, want)
				}
				if deadline, _ := ctx.Deadline(); tc.name == "Deadline" && time.Now().Before(deadline) {
					t.Errorf("ended %v before the deadline", time.Until(deadline))
				}
				end := tc.want
				if end == nil {
					end = io.EOF
				}
				expectEnd(t, s, end)
			})
		}
	}
}

func TestCERequestStreamFlush(t *testing.T) {
	srv := newServer(t)
	q := queryConn(t, config(srv, "rs"))
	listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Stream": threeReplies("a")})
	s, err := q.RequestStream(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Stream", "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(s, nil)
	if err != nil || !slices.Equal(got, []string{"a-1", "a-2", "a-3"}) {
		t.Fatalf("replies %v, %v", got, err)
	}
	expectEnd(t, s, io.EOF)
	// On a plain request, the second flushed event is refused.
	flushErr := make(chan error, 1)
	listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Plain": func(ctx context.Context, r cloudevents.Event, w cloudevents.ReplyWriter) {
		rw := cloudevents.NewReplyStreamWriter(w)
		_ = rw.Write(newEvent(nil, "org.test.Part", "one"))
		_ = rw.Write(newEvent(nil, "org.test.Part", "two"))
		flushErr <- rw.Flush()
	}})
	reply, err := q.Request(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Plain", "x"))
	if err != nil || dataOf(reply) != "one" {
		t.Fatalf("plain reply %v %v", reply, err)
	}
	if err := <-flushErr; !errors.Is(err, cloudevents.ErrReplyAlreadySent) {
		t.Errorf("flush of two on a plain request: %v", err)
	}
}

func TestCERequestStreamOneResponder(t *testing.T) {
	srv := newServer(t)
	for _, tag := range []string{"a", "b"} {
		q := queryConn(t, config(srv, "resp"))
		listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Two": threeReplies(tag)})
	}
	req := queryConn(t, config(srv, "req"))
	for range 5 {
		s, err := req.RequestStream(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Two", "x"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(s, nil)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{"a-1", "a-2", "a-3"}) && !slices.Equal(got, []string{"b-1", "b-2", "b-3"}) {
			t.Fatalf("replies %v: not exactly one responder's three", got)
		}
	}
}

func TestCEGatherCollectsAll(t *testing.T) {
	srv := newServer(t)
	for _, tag := range []string{"a", "b", "c"} {
		q := queryConn(t, config(srv, "resp"))
		listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Gather": threeReplies(tag)})
	}
	req := queryConn(t, config(srv, "req"))
	start := time.Now()
	s, err := req.Gather(ctxFor(t, 10*time.Second), newEvent(t, "org.test.Gather", "x"), cloudevents.MaxResponders(3))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"a-1", "a-2", "a-3", "b-1", "b-2", "b-3", "c-1", "c-2", "c-3"}
	if !slices.Equal(got, want) {
		t.Fatalf("gathered %v, want %v", got, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gather ended after %v: not at the third responder's end", d)
	}
}

func TestCEReplyStreamGap(t *testing.T) {
	srv := newServer(t)
	q := queryConn(t, config(srv, "gap"))
	cloudevents.DropReplies(q, func(seq int) bool { return seq == 2 })
	listenQueries(t, q, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{"org.test.Gap": threeReplies("a")})
	s, err := q.RequestStream(ctxFor(t, 5*time.Second), newEvent(t, "org.test.Gap", "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(s, nil)
	if !errors.Is(err, cloudevents.ErrReplyStreamBroken) {
		t.Fatalf("replies %v, err %v: want ErrReplyStreamBroken", got, err)
	}
	if !slices.Equal(got, []string{"a-1"}) {
		t.Errorf("replies before the gap: %v", got)
	}
	expectEnd(t, s, cloudevents.ErrReplyStreamBroken)
}
