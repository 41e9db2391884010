package eventsstore

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/engine"
)

// memLog is a channel's events in memory, for the start-position logic.
type memLog struct {
	Log  // the rest is not used by these tests
	msgs []*engine.RawMsg
}

func (l *memLog) add(chanSeq uint64, at time.Time) {
	l.msgs = append(l.msgs, &engine.RawMsg{Seq: uint64(len(l.msgs)*3 + 1), ChanSeq: chanSeq, Time: at})
}

func (l *memLog) Last(context.Context, string) (*engine.RawMsg, error) {
	if len(l.msgs) == 0 {
		return nil, nil
	}
	return l.msgs[len(l.msgs)-1], nil
}

func (l *memLog) Search(_ context.Context, _ string, ok func(*engine.RawMsg) bool) (*engine.RawMsg, error) {
	for _, m := range l.msgs {
		if ok(m) {
			return m, nil
		}
	}
	return nil, nil
}

// The six start types as positions: a new subscription receives the
// events after its position. A sequence beyond the end means new events
// only (never a wait for it); times in the future too.
func TestStartPositions(t *testing.T) {
	now := time.Now()
	l := &memLog{}
	// sequences 4..8 retained (1..3 expired), one a minute apart, the last
	// a minute ago
	for i := uint64(4); i <= 8; i++ {
		l.add(i, now.Add(-time.Duration(9-i)*time.Minute))
	}
	s := &Service{}
	for _, tc := range []struct {
		name  string
		start StartType
		value int64
		want  uint64
	}{
		{"new only", StartNewOnly, 0, 8},
		{"first", StartFromFirst, 0, 0},
		{"last", StartFromLast, 0, 7},
		{"at a retained sequence", StartAtSequence, 6, 5},
		{"at an expired sequence", StartAtSequence, 2, 1},
		{"beyond the end", StartAtSequence, 99, 8},
		{"at a time (ns)", StartAtTime, now.Add(-150 * time.Second).UnixNano(), 6},
		{"at a time (seconds)", StartAtTime, now.Add(-150 * time.Second).Unix(), 6},
		{"at a future time", StartAtTime, now.Add(time.Hour).UnixNano(), 8},
		{"a time delta", StartAtTimeDelta, 150, 6},
		{"a delta before 1970", StartAtTimeDelta, now.Unix() + 10, 0},
		{"type 7", StartType(7), 0, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.position(context.Background(), l, &Subscription{Channel: "c", Start: tc.start, StartValue: tc.value}, now)
			if err != nil || got != tc.want {
				t.Fatalf("position %d (%v), want %d", got, err, tc.want)
			}
		})
	}
	empty := &memLog{}
	for _, st := range []StartType{StartFromLast, StartNewOnly, StartFromFirst} {
		if got, _ := s.position(context.Background(), empty, &Subscription{Channel: "c", Start: st}, now); got != 0 {
			t.Fatalf("empty channel, start %d: position %d", st, got)
		}
	}
	// A copied event (sealed, migrated) counts from its original time.
	copied := &memLog{}
	copied.msgs = []*engine.RawMsg{
		engine.RawMsgWithHeader(engine.RawMsg{Seq: 1, ChanSeq: 1, Time: now}, engine.TimeHeader, strconv.FormatInt(now.Add(-time.Hour).UnixNano(), 10)),
		engine.RawMsgWithHeader(engine.RawMsg{Seq: 2, ChanSeq: 2, Time: now}, engine.TimeHeader, strconv.FormatInt(now.Add(-time.Minute).UnixNano(), 10)),
	}
	if got, _ := s.position(context.Background(), copied, &Subscription{Channel: "c", Start: StartAtTimeDelta, StartValue: 600}, now); got != 1 {
		t.Fatalf("copied events: position %d, want 1", got)
	}
}

// memCursors records cursor writes.
type memCursors struct {
	mu     sync.Mutex
	m      map[string]string
	writes int
}

func (c *memCursors) Get(_ context.Context, k string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return []byte(v), ok, nil
}
func (c *memCursors) Put(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = string(v)
	c.writes++
	return nil
}
func (c *memCursors) DeleteMatching(context.Context, string) error { return nil }

// A subscription's position is written as it moves and when it ends; the
// last write of an ended subscription is never overwritten by an older
// one, and a position in use is rewritten before its entry could expire.
func TestCursorWrites(t *testing.T) {
	cur := &memCursors{m: map[string]string{}}
	s := &Service{cursors: cur, cfg: Config{CursorIdle: time.Hour}, dirty: map[string]*cursorState{}}
	ctx := context.Background()
	pos, err := s.openCursor(ctx, "k")
	if err != nil || pos.found {
		t.Fatal(pos, err)
	}
	s.advance(pos, 3)
	s.flushCursors(ctx)
	if cur.m["k"] != "3" {
		t.Fatalf("after a flush: %q", cur.m["k"])
	}
	s.flushCursors(ctx)
	if cur.writes != 1 {
		t.Fatalf("an unchanged position was written again (%d writes)", cur.writes)
	}
	s.advance(pos, 5)
	s.closeCursor(pos)
	s.write(ctx, pos, 4, false, false) // a cursor writer late with an older position
	if cur.m["k"] != "5" {
		t.Fatalf("the ended subscription's position was overwritten: %q", cur.m["k"])
	}
	again, _ := s.openCursor(ctx, "k")
	if !again.found || s.cursorSeq(again) != 5 {
		t.Fatalf("a new subscription resumes at %d (found %v), want 5", s.cursorSeq(again), again.found)
	}
	// A position unchanged for half the idle time is written again.
	again.wmu.Lock()
	again.at = time.Now().Add(-31 * time.Minute)
	again.wmu.Unlock()
	n := cur.writes
	s.flushCursors(ctx)
	if cur.writes != n+1 {
		t.Fatal("a position in use was not refreshed before its entry expired")
	}
}
