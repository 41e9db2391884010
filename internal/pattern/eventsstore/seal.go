package eventsstore

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/heraldmq/herald/internal/engine"
)

// errSealedMoved makes the live subscriptions of a channel reopen on the
// store of sealed channels.
var errSealedMoved = errors.New("sealed and moved")

// Seal seals channel for good: later sends fail with ErrChannelSealed, and
// its events move to the store of sealed channels, which keeps them without
// age or size limit. Live subscriptions and group cursors follow them.
// Sealing a sealed channel is not an error.
func (s *Service) Seal(ctx context.Context, channel string) error {
	if err := s.log.Seal(ctx, channel); err != nil { // refuses later appends, waits for earlier ones
		return err
	}
	if err := s.reg.Seal(ctx, Kind, channel, false); err != nil {
		return err
	}
	return s.move(ctx, channel)
}

// Recover finishes the moves of sealed channels a crash interrupted.
func (s *Service) Recover(ctx context.Context) error {
	for _, rec := range s.reg.List(Kind) {
		if rec.Sealed && !rec.Moved {
			if err := s.move(ctx, rec.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// LogOf is the log holding channel's events now.
func (s *Service) LogOf(channel string) Log {
	if rec, ok := s.reg.Get(Kind, channel); ok && rec.Moved {
		return s.sealed
	}
	return s.log
}

// copyBatch bounds the copies of a move in flight.
const copyBatch = 256

// move copies a sealed channel's events to the sealed store, moves its
// group cursors, then removes the events from the log. Run again after an
// interruption, it continues where the copy stopped.
func (s *Service) move(ctx context.Context, channel string) error {
	if rec, _ := s.reg.Get(Kind, channel); rec.Moved {
		return nil
	}
	done := uint64(0)
	if last, err := s.sealed.Last(ctx, channel); err != nil {
		return err
	} else if last != nil {
		done = last.ChanSeq
	}
	var futs []engine.Pending
	wait := func() error {
		for _, f := range futs {
			if _, err := f.Wait(ctx); err != nil {
				return err
			}
		}
		futs = futs[:0]
		return nil
	}
	for seq := uint64(0); ; {
		m, err := s.log.Next(ctx, channel, seq)
		if err != nil {
			return err
		}
		if m == nil {
			break
		}
		seq = m.Seq + 1
		if m.ChanSeq <= done {
			continue
		}
		ts := m.Header(engine.TimeHeader)
		if ts == "" {
			ts = strconv.FormatInt(m.Time.UnixNano(), 10)
		}
		futs = append(futs, s.sealed.Append(ctx, engine.Append{
			Channel: channel, Data: m.Data, Seq: m.ChanSeq, Header: map[string]string{engine.TimeHeader: ts},
		}))
		if len(futs) >= copyBatch {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	if err := wait(); err != nil {
		return err
	}
	if err := s.moveCursors(ctx, channel); err != nil {
		return err
	}
	if err := s.reg.Seal(ctx, Kind, channel, true); err != nil {
		return err
	}
	s.signal(channel, errSealedMoved)
	return s.log.Purge(ctx, channel)
}

// moveCursors recreates the group consumers of channel on the sealed
// store, each at the first event it has not acknowledged.
func (s *Service) moveCursors(ctx context.Context, channel string) error {
	names, err := s.log.Consumers(ctx, channel)
	if err != nil {
		return err
	}
	for _, name := range names {
		st, err := s.log.ConsumerState(ctx, channel, name)
		if err != nil {
			return err
		}
		next := uint64(1)
		if m, err := s.log.Next(ctx, channel, st.AckFloor+1); err != nil {
			return err
		} else if m != nil {
			next = m.ChanSeq
		} else if last, err := s.log.Last(ctx, channel); err == nil && last != nil {
			next = last.ChanSeq + 1
		}
		start, err := s.sealed.StreamSeqOf(ctx, channel, next)
		if err != nil {
			return err
		}
		spec := engine.ConsumerSpec{Durable: name, Deliver: engine.DeliverByStartSeq, StartSeq: start, AckWait: s.cfg.AckWait}
		if strings.HasPrefix(name, "G_") { // a subscription group; others are queue group views
			spec.MaxAckPending, spec.InactiveThreshold = 1024, s.cfg.CursorIdle
		} else {
			spec.MaxAckPending = 1 << 20
		}
		if _, err := s.sealed.Consumer(ctx, channel, spec); err != nil {
			return err
		}
		if err := s.log.DeleteConsumer(ctx, channel, name); err != nil {
			return err
		}
	}
	return nil
}
