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

// readAll reads a stream to its end.
func readAll(t *testing.T, s cloudevents.ReplyStream) ([]string, error) {
	t.Helper()
	var out []string
	for s.ExpectNext() {
		ce, err := s.Next()
		if errors.Is(err, io.EOF) {
			break // ended after ExpectNext was asked: a clean end
		}
		if err != nil {
			return out, err
		}
		out = append(out, dataOf(ce))
	}
	return out, nil
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
	got, err := readAll(t, s)
	if err != nil || !slices.Equal(got, []string{"a-1", "a-2", "a-3"}) {
		t.Fatalf("replies %v, %v", got, err)
	}
	if s.ExpectNext() {
		t.Error("ExpectNext true after the last reply")
	}
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
		got, err := readAll(t, s)
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
	got, err := readAll(t, s)
	if err != nil && !errors.Is(err, io.EOF) {
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
	got, err := readAll(t, s)
	if !errors.Is(err, cloudevents.ErrReplyStreamBroken) {
		t.Fatalf("replies %v, err %v: want ErrReplyStreamBroken", got, err)
	}
	if !slices.Equal(got, []string{"a-1"}) {
		t.Errorf("replies before the gap: %v", got)
	}
	if s.ExpectNext() {
		t.Error("ExpectNext true after an error")
	}
}
