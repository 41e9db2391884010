package eventsstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/kmq"
)

func token(s string) string { return kmq.Token(s) }

// CursorKey is the key of the position of client's subscription to
// channel (without a group).
func CursorKey(channel, clientID string) string { return token(channel) + ".C_" + token(clientID) }

// CursorMetadata, in the engine metadata of a subscription's reader, names
// the cursor it reads for (empty: a second subscription of a client, which
// reads from a position of its own).
const CursorMetadata = "herald.cursor"

// GroupDurable is the durable consumer a group shares on a channel.
func GroupDurable(channel, group string) string { return "G_" + token(channel) + "_" + token(group) }

// Subscribe delivers the channel's events from the subscription's position
// to send until ctx ends (then it returns nil) or send fails. An event is
// confirmed when send returned; unconfirmed events are delivered again to
// the next subscription with the same key.
func (s *Service) Subscribe(ctx context.Context, sub *Subscription, send func(*Received) error) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	// Where the subscription starts is taken as it arrives, before any
	// other work: what is stored after the request reached the server is
	// not missed by a "new" or "since a moment ago" start.
	start, err := s.position(ctx, s.LogOf(sub.Channel), sub, time.Now())
	if err != nil {
		return err
	}
	if _, err := s.reg.Ensure(ctx, Kind, sub.Channel); err != nil {
		return err
	}
	key := CursorKey(sub.Channel, sub.ClientID)
	if sub.Group != "" {
		key = GroupDurable(sub.Channel, sub.Group)
	}
	cursor := sub.Group == ""
	if s.claim(ctx, key, cursor) {
		defer s.unclaim(key)
	} else {
		// The reference refuses a second subscription per client id; Herald
		// serves it with the start it asked for and no cursor.
		key, cursor = "", false
	}
	signal, release := s.watch(sub.Channel)
	defer release()
	defer s.cfg.Stats.Subscribed(Kind, sub.Channel, sub.ClientID)()
	// next is the channel sequence the subscription continues at.
	var (
		pos  *cursorState
		next uint64
	)
	if cursor {
		var err error
		if pos, err = s.openCursor(ctx, key); err != nil {
			return err
		}
		defer s.closeCursor(pos)
		if !pos.found {
			// A new cursor starts where the subscription asked, and the
			// position is kept at once.
			s.advance(pos, start)
			s.write(ctx, pos, start, false, true)
		}
		next = s.cursorSeq(pos) + 1
	} else {
		next = start + 1
	}
	for {
		l := s.LogOf(sub.Channel)
		rctx, stop := mergeCancel(ctx, signal)
		err := s.read(rctx, l, sub, key, pos, &next, send)
		stop()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, engine.ErrReaderGap) {
			// A delivery was lost on the way: read again from the first
			// event not handed out, in order, rather than wait for it.
			s.logg.Warn("events store subscription lost a delivery; reading again from where it was", "channel", sub.Channel, "client_id", sub.ClientID, "sequence", next)
			continue
		}
		switch cause := context.Cause(signal); {
		case errors.Is(cause, errRemoved):
			return fmtRemoved(sub.Channel)
		case errors.Is(cause, errSealedMoved) && err == nil:
			signal, release = s.rewatch(sub.Channel, release)
			continue
		}
		return err
	}
}

// rewatch swaps a subscription's channel signal after it fired.
func (s *Service) rewatch(channel string, release func()) (context.Context, func()) {
	release()
	return s.watch(channel)
}

// mergeCancel is ctx, also cancelled when other is.
func mergeCancel(ctx, other context.Context) (context.Context, func()) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return c, func() { stop(); cancel() }
}

// read serves the subscription from l, starting at channel sequence
// *next, until ctx ends (nil) or send fails; *next is kept up to date.
func (s *Service) read(ctx context.Context, l Log, sub *Subscription, key string, pos *cursorState, next *uint64, send func(*Received) error) error {
	start, err := l.StreamSeqOf(ctx, sub.Channel, *next)
	if err != nil {
		return err
	}
	spec := engine.ConsumerSpec{Deliver: engine.DeliverByStartSeq, StartSeq: start, AckWait: s.cfg.AckWait, MaxAckPending: 1024}
	switch {
	case sub.Group != "" && key != "":
		spec.Durable, spec.InactiveThreshold = key, s.cfg.CursorIdle // an existing durable keeps its position
	case pos != nil:
		spec.Metadata = map[string]string{CursorMetadata: key}
	default:
		spec.Metadata = map[string]string{CursorMetadata: ""} // a position of its own
	}
	rd, err := l.OpenReader(ctx, sub.Channel, spec)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer rd.Close()
	for {
		m, err := rd.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, engine.ErrReaderClosed) {
				return fmtRemoved(sub.Channel)
			}
			return err
		}
		r := received(sub.Channel, m)
		if err := send(r); err != nil {
			_ = m.Return() // first again, also after a restart
			return err
		}
		_ = m.Ack()
		*next = r.Sequence + 1
		if pos != nil {
			s.advance(pos, r.Sequence)
		}
		s.cfg.Stats.Out(Kind, sub.Channel, sub.ClientID, len(r.Body))
	}
}

// position is the channel sequence after which a new subscription starts:
// it receives the events with larger sequences.
func (s *Service) position(ctx context.Context, l Log, sub *Subscription, now time.Time) (uint64, error) {
	last, err := l.Last(ctx, sub.Channel)
	if err != nil {
		return 0, err
	}
	end := uint64(0) // the newest event's sequence
	if last != nil {
		end = last.ChanSeq
	}
	since := func(t time.Time) (uint64, error) {
		m, err := l.Search(ctx, sub.Channel, func(m *engine.RawMsg) bool { return !eventTime(m).Before(t) })
		if err != nil || m == nil {
			return end, err
		}
		return m.ChanSeq - 1, nil
	}
	switch sub.Start {
	case StartFromFirst:
		return 0, nil
	case StartFromLast:
		return max(end, 1) - 1, nil // on an empty channel: live from the first event
	case StartAtSequence:
		// From max(value, first retained); beyond the last: new events
		// only, never a wait for that sequence.
		return min(uint64(sub.StartValue)-1, end), nil
	case StartAtTime:
		t := time.Unix(0, sub.StartValue)
		if sub.StartValue < secondsBelow {
			t = time.Unix(sub.StartValue, 0)
		}
		return since(t)
	case StartAtTimeDelta:
		if sub.StartValue >= now.Unix() { // reaches before 1970: everything
			return 0, nil
		}
		return since(now.Add(-time.Duration(sub.StartValue) * time.Second))
	}
	return end, nil // StartNewOnly, and types above 6 as the reference treats them
}

// eventTime is when an event was first stored (a copy keeps its original's).
func eventTime(m *engine.RawMsg) time.Time {
	if t := m.Header(engine.TimeHeader); t != "" {
		if ns, err := strconv.ParseInt(t, 10, 64); err == nil {
			return time.Unix(0, ns)
		}
	}
	return m.Time
}

// cursorState is the position of a subscription without a group: the
// channel sequence of the last event it delivered.
type cursorState struct {
	key   string
	seq   uint64 // guarded by Service.mu
	found bool   // it was kept from an earlier subscription

	wmu     sync.Mutex // serialises writes; guards the fields below
	written uint64
	at      time.Time // when it was last written
	closed  bool
}

// openCursor reads a cursor and registers it with the cursor writer.
func (s *Service) openCursor(ctx context.Context, key string) (*cursorState, error) {
	pos := &cursorState{key: key}
	b, ok, err := s.cursors.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if ok {
		pos.seq, _ = strconv.ParseUint(string(b), 10, 64)
		pos.written, pos.at, pos.found = pos.seq, time.Now(), true
	}
	s.mu.Lock()
	s.dirty[key] = pos
	s.mu.Unlock()
	return pos, nil
}

func (s *Service) advance(pos *cursorState, seq uint64) {
	s.mu.Lock()
	pos.seq = seq
	s.mu.Unlock()
}

func (s *Service) cursorSeq(pos *cursorState) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pos.seq
}

// write stores seq as pos's position unless a later one is stored (or,
// for the cursor writer, the subscription ended: its last write wins).
func (s *Service) write(ctx context.Context, pos *cursorState, seq uint64, final, force bool) {
	pos.wmu.Lock()
	defer pos.wmu.Unlock()
	if pos.closed || (seq <= pos.written && !force) {
		pos.closed = pos.closed || final
		return
	}
	pos.closed = final
	if err := s.cursors.Put(ctx, pos.key, []byte(strconv.FormatUint(seq, 10))); err != nil {
		if ctx.Err() == nil {
			s.logg.Warn("saving a subscription position failed", "err", err)
		}
		return
	}
	pos.written, pos.at = max(pos.written, seq), time.Now()
}

// closeCursor writes the final position of a subscription that ended.
func (s *Service) closeCursor(pos *cursorState) {
	s.mu.Lock()
	if s.dirty[pos.key] == pos {
		delete(s.dirty, pos.key)
	}
	seq := pos.seq
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.write(ctx, pos, seq, true, false)
}

// dropCursors forgets the live positions of a deleted channel.
func (s *Service) dropCursors(channel string) {
	prefix := token(channel) + "."
	s.mu.Lock()
	var gone []*cursorState
	for k, pos := range s.dirty {
		if strings.HasPrefix(k, prefix) {
			delete(s.dirty, k)
			gone = append(gone, pos)
		}
	}
	s.mu.Unlock()
	for _, pos := range gone {
		pos.wmu.Lock()
		pos.closed = true
		pos.wmu.Unlock()
	}
}

// cursorEvery is how often live positions are written: after a crash a
// subscription resumes at most this far back.
const cursorEvery = time.Second

func (s *Service) writeCursors() {
	t := time.NewTicker(cursorEvery)
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
			s.flushCursors(s.life)
		}
	}
}

// flushCursors writes the live positions that moved, and rewrites those
// not written for half the idle time (their entries must not expire while
// in use).
func (s *Service) flushCursors(ctx context.Context) {
	s.mu.Lock()
	live := make([]*cursorState, 0, len(s.dirty))
	for _, pos := range s.dirty {
		live = append(live, pos)
	}
	s.mu.Unlock()
	now := time.Now()
	for _, pos := range live {
		seq := s.cursorSeq(pos)
		pos.wmu.Lock()
		stale := seq > 0 && now.Sub(pos.at) > s.cfg.CursorIdle/2
		pos.wmu.Unlock()
		s.write(ctx, pos, seq, false, stale)
	}
}
