package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// memSeqs is a SeqStore in memory that can be made to fail.
type memSeqs struct {
	mu       sync.Mutex
	floor    map[string]uint64
	reserved map[string]uint64
	calls    int
	fail     error
	delay    time.Duration
}

func newMemSeqs() *memSeqs {
	return &memSeqs{floor: map[string]uint64{}, reserved: map[string]uint64{}}
}

func (m *memSeqs) Recover(ch string) (uint64, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.floor[ch], m.reserved[ch]
}

func (m *memSeqs) Reserve(_ context.Context, ch string, upTo uint64) error {
	m.mu.Lock()
	d, err := m.delay, m.fail
	m.calls++
	m.mu.Unlock()
	time.Sleep(d) // a slow store, to let appends park behind it
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.reserved[ch] = max(m.reserved[ch], upTo)
	m.floor[ch] = max(m.floor[ch], upTo) // as after a crash: the reservation is the floor
	m.mu.Unlock()
	return nil
}

func openLog(t *testing.T, e *Engine, seqs SeqStore, mod func(*LogConfig)) *Log {
	t.Helper()
	cfg := LogConfig{Name: "TL", Subject: "tl", Shards: 3, Seqs: seqs, KeepsLast: true, Duplicates: time.Minute}
	if mod != nil {
		mod(&cfg)
	}
	l, err := e.OpenLog(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendWait(t *testing.T, l *Log, a Append) Appended {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := l.Append(ctx, a).Wait(ctx)
	if err != nil {
		t.Fatalf("append %s: %v", a.Channel, err)
	}
	return res
}

// chanSeqs reads every message of channel and returns the channel
// sequences in stream order.
func chanSeqs(t *testing.T, l *Log, channel string) []uint64 {
	t.Helper()
	ctx := context.Background()
	var out []uint64
	for seq := uint64(0); ; {
		m, err := l.Next(ctx, channel, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			return out
		}
		out = append(out, m.ChanSeq)
		seq = m.Seq + 1
	}
}

func wantSeqs(t *testing.T, what string, got []uint64, from, to uint64) {
	t.Helper()
	if uint64(len(got)) != to-from+1 {
		t.Fatalf("%s: %d messages %v, want %d..%d", what, len(got), got, from, to)
	}
	for i, s := range got {
		if s != from+uint64(i) {
			t.Fatalf("%s: sequences %v, want %d..%d", what, got, from, to)
		}
	}
}

// Concurrent appends to many channels sharing three streams: every channel
// numbers its messages 1..n in order, with no gap and no repeat.
func TestLogSequencesPerChannel(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), nil)
	const channels, per = 40, 25
	var wg sync.WaitGroup
	for c := range channels {
		wg.Go(func() {
			ch := fmt.Sprintf("ch.%d", c)
			futs := make([]Pending, per)
			for i := range per {
				futs[i] = l.Append(context.Background(), Append{Channel: ch, Data: []byte(strconv.Itoa(i))})
			}
			for i, f := range futs {
				res, err := f.Wait(context.Background())
				if err != nil || res.Seq != uint64(i+1) {
					t.Errorf("%s #%d: %+v %v", ch, i, res, err)
				}
			}
		})
	}
	wg.Wait()
	for c := range channels {
		wantSeqs(t, "channel", chanSeqs(t, l, fmt.Sprintf("ch.%d", c)), 1, per)
	}
	if len(l.Streams()) != 3 {
		t.Fatalf("streams %v", l.Streams())
	}
}

// A batch is stored as its appends one after another would be: every
// channel's messages in batch order with dense numbers, across shards; a
// message refused before the writer (too large) or by it (a duplicate id)
// fails or is reported alone.
func TestLogAppendBatch(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), nil)
	appendWait(t, l, Append{Channel: "b.0", Data: []byte("before"), MsgID: "dup"})
	var as []Append
	for i := range 60 {
		as = append(as, Append{Channel: fmt.Sprintf("b.%d", i%6), Data: []byte(strconv.Itoa(i))})
	}
	as[7].Data = make([]byte, MaxStoredRecord+1)
	as[12].MsgID = "dup" // channel b.0, stored before
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	futs := l.AppendBatch(ctx, as)
	if len(futs) != len(as) {
		t.Fatalf("%d results for %d appends", len(futs), len(as))
	}
	next := map[string]uint64{"b.0": 2}
	for i, f := range futs {
		res, err := f.Wait(ctx)
		ch := as[i].Channel
		switch i {
		case 7:
			if !errors.Is(err, ErrPayloadTooLarge) {
				t.Fatalf("#7 (too large): %+v %v", res, err)
			}
			continue
		case 12:
			if err != nil || !res.Duplicate {
				t.Fatalf("#12 (duplicate): %+v %v", res, err)
			}
			continue
		}
		if next[ch] == 0 {
			next[ch] = 1
		}
		if err != nil || res.Seq != next[ch] {
			t.Fatalf("#%d on %s: %+v %v, want number %d", i, ch, res, err, next[ch])
		}
		next[ch]++
	}
	for c := range 6 {
		ch := fmt.Sprintf("b.%d", c)
		wantSeqs(t, ch, chanSeqs(t, l, ch), 1, next[ch]-1)
	}
	// An empty batch and a batch after Close.
	if got := l.AppendBatch(ctx, nil); len(got) != 0 {
		t.Fatalf("empty batch: %d results", len(got))
	}
	l.Close()
	for _, f := range l.AppendBatch(ctx, as[:3]) {
		if _, err := f.Wait(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("append after Close: %v", err)
		}
	}
}

// A duplicate id stores nothing and takes no number; the appends pipelined
// behind it fail the stream's check and are sent again, in order.
func TestLogDuplicateKeepsNumbersDense(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), nil)
	appendWait(t, l, Append{Channel: "d", Data: []byte("a"), MsgID: "id-1"})
	futs := []Pending{
		l.Append(context.Background(), Append{Channel: "d", Data: []byte("a again"), MsgID: "id-1"}),
		l.Append(context.Background(), Append{Channel: "d", Data: []byte("b")}),
		l.Append(context.Background(), Append{Channel: "other", Data: []byte("x")}),
		l.Append(context.Background(), Append{Channel: "d", Data: []byte("c"), MsgID: "id-3"}),
	}
	var res []Appended
	for _, f := range futs {
		r, err := f.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	if !res[0].Duplicate || res[1].Seq != 2 || res[3].Seq != 3 || res[2].Seq != 1 {
		t.Fatalf("results %+v", res)
	}
	wantSeqs(t, "d", chanSeqs(t, l, "d"), 1, 3)
	// The same id on another channel is not a duplicate: ids are per channel.
	if r := appendWait(t, l, Append{Channel: "other", Data: []byte("y"), MsgID: "id-1"}); r.Duplicate || r.Seq != 2 {
		t.Fatalf("id on another channel: %+v", r)
	}
}

// A message written to a shard behind the writer's back (the NATS side
// door) makes the writer's prediction fail: it re-reads the stream and
// stores everything once, with unique numbers that grow in stream order
// (which replays rely on), though one message may lose its place.
func TestLogResyncsAfterAForeignWrite(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), func(c *LogConfig) { c.Shards = 1 })
	appendWait(t, l, Append{Channel: "r", Data: []byte("1")})
	if _, err := e.PublishStored(context.Background(), l.Subject("foreign"), []byte("f"), PubOpts{}); err != nil {
		t.Fatal(err)
	}
	var futs []Pending
	for i := range 50 {
		futs = append(futs, l.Append(context.Background(), Append{Channel: "r", Data: []byte(strconv.Itoa(i))}))
	}
	seen := map[uint64]bool{}
	for i, f := range futs {
		r, err := f.Wait(context.Background())
		if err != nil || r.Seq < 2 || seen[r.Seq] {
			t.Fatalf("#%d: %+v %v", i, r, err)
		}
		seen[r.Seq] = true
	}
	got := chanSeqs(t, l, "r")
	if len(got) != 51 {
		t.Fatalf("%d messages stored, want 51", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("numbers do not grow in stream order: %v", got)
		}
	}
	// Later appends continue after the highest number.
	if r := appendWait(t, l, Append{Channel: "r", Data: []byte("next")}); r.Seq != got[len(got)-1]+1 {
		t.Fatalf("next append %+v after %v", r, got[len(got)-1])
	}
}

// A message the store refuses fails alone; the ones behind it are stored
// with the numbers it did not take.
func TestLogRefusedMessageFailsAlone(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), func(c *LogConfig) { c.Shards = 1 })
	ok1 := l.Append(context.Background(), Append{Channel: "f", Data: []byte("1")})
	bad := l.Append(context.Background(), Append{Channel: "f", Data: []byte("2"), Header: map[string]string{"Nats-TTL": "not-a-ttl"}})
	ok2 := l.Append(context.Background(), Append{Channel: "f", Data: []byte("3")})
	if r, err := ok1.Wait(context.Background()); err != nil || r.Seq != 1 {
		t.Fatalf("first: %+v %v", r, err)
	}
	if _, err := bad.Wait(context.Background()); err == nil {
		t.Fatal("a message with an invalid TTL was stored")
	}
	if r, err := ok2.Wait(context.Background()); err != nil || r.Seq != 2 {
		t.Fatalf("after the refused one: %+v %v", r, err)
	}
	wantSeqs(t, "f", chanSeqs(t, l, "f"), 1, 2)
}

// Numbers are reserved ahead in the SeqStore; a channel whose messages are
// all gone continues after its floor, and a failing store fails the appends
// that need a reservation rather than use unreserved numbers.
func TestLogReservations(t *testing.T) {
	e := open(t)
	seqs := newMemSeqs()
	l := openLog(t, e, seqs, func(c *LogConfig) { c.KeepsLast = false })
	r := appendWait(t, l, Append{Channel: "q", Data: []byte("1")})
	if r.Seq != 1 || seqs.reserved["q"] < 1 {
		t.Fatalf("first append %+v, reserved %d", r, seqs.reserved["q"])
	}
	if err := l.Purge(context.Background(), "q"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// A new writer (as after a crash): nothing left in the stream, so the
	// numbering continues after the reservation.
	l2 := openLog(t, e, seqs, func(c *LogConfig) { c.KeepsLast = false })
	r = appendWait(t, l2, Append{Channel: "q", Data: []byte("2")})
	if r.Seq != ReserveStep+1 {
		t.Fatalf("after restart: seq %d, want %d", r.Seq, ReserveStep+1)
	}
	seqs.mu.Lock()
	seqs.fail = errors.New("store down")
	seqs.mu.Unlock()
	if _, err := l2.Append(context.Background(), Append{Channel: "new", Data: []byte("x")}).Wait(context.Background()); err == nil {
		t.Fatal("an append without a reservation was stored")
	}
}

// Appends wait, in order, behind a slow reservation while other channels
// go on.
func TestLogParksBehindReservation(t *testing.T) {
	e := open(t)
	seqs := newMemSeqs()
	seqs.delay = 200 * time.Millisecond
	l := openLog(t, e, seqs, func(c *LogConfig) { c.Shards = 1 })
	var futs []Pending
	for i := range 20 {
		futs = append(futs, l.Append(context.Background(), Append{Channel: "slow", Data: []byte(strconv.Itoa(i))}))
	}
	for i, f := range futs {
		if r, err := f.Wait(context.Background()); err != nil || r.Seq != uint64(i+1) {
			t.Fatalf("#%d: %+v %v", i, r, err)
		}
	}
	wantSeqs(t, "slow", chanSeqs(t, l, "slow"), 1, 20)
}

// Seal refuses what comes after it and lets what came before finish.
func TestLogSeal(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), nil)
	before := l.Append(context.Background(), Append{Channel: "s", Data: []byte("1")})
	if err := l.Seal(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	if r, err := before.Wait(context.Background()); err != nil || r.Seq != 1 {
		t.Fatalf("before the seal: %+v %v", r, err)
	}
	if _, err := l.Append(context.Background(), Append{Channel: "s", Data: []byte("2")}).Wait(context.Background()); !errors.Is(err, ErrChannelSealed) {
		t.Fatalf("after the seal: %v", err)
	}
}

// A forced number (a copy) continues the channel from there.
func TestLogForcedSeq(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), nil)
	if r := appendWait(t, l, Append{Channel: "m", Data: []byte("a"), Seq: 7}); r.Seq != 7 {
		t.Fatalf("forced: %+v", r)
	}
	if r := appendWait(t, l, Append{Channel: "m", Data: []byte("b")}); r.Seq != 8 {
		t.Fatalf("after forced: %+v", r)
	}
}

// The numbering of a channel survives a restart of its writer: it
// continues after the newest message.
func TestLogContinuesAfterRestart(t *testing.T) {
	e := open(t)
	seqs := newMemSeqs()
	l := openLog(t, e, seqs, nil)
	for range 3 {
		appendWait(t, l, Append{Channel: "c", Data: []byte("x")})
	}
	last := l.Close()
	if last["c"] != 3 {
		t.Fatalf("Close reported %v", last)
	}
	l2 := openLog(t, e, seqs, nil)
	if r := appendWait(t, l2, Append{Channel: "c", Data: []byte("y")}); r.Seq != 4 {
		t.Fatalf("after restart: %+v", r)
	}
}

// StreamSeqOf finds the message with a channel sequence in O(log n) reads,
// among other channels' messages.
func TestLogStreamSeqOf(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), func(c *LogConfig) { c.Shards = 1 })
	streamSeq := map[uint64]uint64{}
	for i := range 300 {
		if i%3 == 0 {
			r := appendWait(t, l, Append{Channel: "s", Data: []byte("x")})
			streamSeq[r.Seq] = r.StreamSeq
		} else {
			appendWait(t, l, Append{Channel: "noise", Data: []byte("n")})
		}
	}
	ctx := context.Background()
	for want := uint64(1); want <= 100; want++ {
		got, err := l.StreamSeqOf(ctx, "s", want)
		if err != nil || got != streamSeq[want] {
			t.Fatalf("seq %d: stream seq %d %v, want %d", want, got, err, streamSeq[want])
		}
	}
	if got, _ := l.StreamSeqOf(ctx, "s", 500); got != 301 {
		t.Fatalf("beyond the end: %d, want 301 (after the stream's end)", got)
	}
	if got, _ := l.StreamSeqOf(ctx, "empty", 1); got != 301 {
		t.Fatalf("empty channel: %d, want 301", got)
	}
}

// A message stored while StreamSeqOf looks (after its search, before it
// reads the channel's last message) is where a reader of the channel from
// its first message must start, not skipped.
func TestLogStreamSeqOfRacesAnAppend(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), func(c *LogConfig) { c.Shards = 1 })
	appendWait(t, l, Append{Channel: "noise", Data: []byte("n")})
	var stored Appended
	streamSeqOfSearched = func() {
		streamSeqOfSearched = nil
		stored = appendWait(t, l, Append{Channel: "s", Data: []byte("x")})
	}
	t.Cleanup(func() { streamSeqOfSearched = nil })
	got, err := l.StreamSeqOf(context.Background(), "s", 1)
	if err != nil || got != stored.StreamSeq {
		t.Fatalf("stream seq %d %v, want %d: the first message, stored meanwhile", got, err, stored.StreamSeq)
	}
}

func TestLogCountsAndLasts(t *testing.T) {
	e := open(t)
	l := openLog(t, e, newMemSeqs(), nil)
	for c := range 10 {
		for range c + 1 {
			appendWait(t, l, Append{Channel: fmt.Sprintf("n.%d", c), Data: []byte("x")})
		}
	}
	counts, err := l.Counts(context.Background())
	if err != nil || len(counts) != 10 {
		t.Fatalf("counts %v %v", counts, err)
	}
	var names []string
	for c := range 10 {
		names = append(names, fmt.Sprintf("n.%d", c))
	}
	lasts, err := l.Lasts(context.Background(), names)
	if err != nil || len(lasts) != 10 {
		t.Fatalf("lasts %v %v", lasts, err)
	}
	for c := range 10 {
		ch := fmt.Sprintf("n.%d", c)
		if counts[ch] != uint64(c+1) || lasts[ch].ChanSeq != uint64(c+1) {
			t.Fatalf("%s: count %d, last %+v", ch, counts[ch], lasts[ch])
		}
	}
}

// TestReaderReportsALostDelivery: when a delivery of a reader's own
// consumer never reaches it (as when the client library's buffer is full),
// Next says so at the next delivery instead of handing out the messages
// after it (the lost one would come back only after the ack wait, out of
// order); a reader of a durable shared with others cannot tell and does not.
func TestReaderReportsALostDelivery(t *testing.T) {
	l, start := sixMessages(t, "g")
	t.Cleanup(LoseDeliveries(func(m *StoredMsg) bool { return m.ChanSeq == 3 && m.NumDelivered == 1 }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := readChannel(ctx, t, l, "g", ConsumerSpec{Deliver: DeliverByStartSeq, StartSeq: start, AckWait: time.Minute}, 5, true)
	if !errors.Is(err, ErrReaderGap) || !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("own consumer: read %v, then %v; want 1 2, then ErrReaderGap", got, err)
	}
	got, err = readChannel(ctx, t, l, "g", ConsumerSpec{Durable: "shared", Deliver: DeliverByStartSeq, StartSeq: start, AckWait: time.Minute}, 5, true)
	if err != nil || !slices.Equal(got, []uint64{1, 2, 4, 5, 6}) {
		t.Fatalf("shared durable: read %v, %v; want 1 2 4 5 6 (the gap is another reader's delivery as far as it knows)", got, err)
	}
}

// sixMessages stores six messages on channel ch of a one-shard log and
// returns the log and the stream sequence of the first.
func sixMessages(t *testing.T, ch string) (*Log, uint64) {
	t.Helper()
	l := openLog(t, open(t), newMemSeqs(), func(c *LogConfig) { c.Shards = 1 })
	for i := range 6 {
		appendWait(t, l, Append{Channel: ch, Data: []byte(fmt.Sprint(i))})
	}
	start, err := l.StreamSeqOf(context.Background(), ch, 1)
	if err != nil {
		t.Fatal(err)
	}
	return l, start
}

// readChannel reads ch through a reader of spec until Next fails or limit
// messages came (0: no limit), acknowledging them when ack is set, and
// returns their channel sequences and Next's error.
func readChannel(ctx context.Context, t *testing.T, l *Log, ch string, spec ConsumerSpec, limit int, ack bool) (got []uint64, err error) {
	t.Helper()
	rd, err := l.OpenReader(ctx, ch, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for limit == 0 || len(got) < limit {
		m, err := rd.Next(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, m.ChanSeq)
		if ack {
			_ = m.Ack()
		}
	}
	return got, nil
}

// A reader of its own consumer does not wait out the ack wait when the
// delivery it misses is the last one (no later delivery shows the gap), nor
// when its first one is lost; nor while its consumer holds messages for it
// that do not come.
func TestReaderReportsAStall(t *testing.T) {
	l, start := sixMessages(t, "s")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	spec := ConsumerSpec{Deliver: DeliverByStartSeq, StartSeq: start, AckWait: time.Minute}
	for _, c := range []struct {
		lose uint64
		want []uint64
	}{{6, []uint64{1, 2, 3, 4, 5}}, {1, nil}} {
		restore := LoseDeliveries(func(m *StoredMsg) bool { return m.ChanSeq == c.lose && m.NumDelivered == 1 })
		got, err := readChannel(ctx, t, l, "s", spec, 0, true)
		restore()
		if !errors.Is(err, ErrReaderGap) || !slices.Equal(got, c.want) {
			t.Fatalf("losing delivery %d: read %v, then %v; want %v, then ErrReaderGap", c.lose, got, err, c.want)
		}
	}
	// Unacknowledged up to MaxAckPending, the consumer holds the rest back.
	spec.MaxAckPending = 2
	got, err := readChannel(ctx, t, l, "s", spec, 0, false)
	if !errors.Is(err, ErrReaderGap) || !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("held back: read %v, then %v; want 1 2, then ErrReaderGap", got, err)
	}
	// Nothing waiting: an idle reader keeps waiting.
	short, cancelShort := context.WithTimeout(ctx, readerIdleCheck+2*time.Second)
	defer cancelShort()
	rd, err := l.OpenReader(ctx, "s", ConsumerSpec{Deliver: DeliverByStartSeq, StartSeq: start + 6, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if m, err := rd.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle reader: %v %v, want the context's deadline", m, err)
	}
}
