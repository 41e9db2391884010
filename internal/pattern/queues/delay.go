package queues

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// Delayed messages wait in one work-queue stream shared by all queue
// channels, as engine schedules on qd.s.<id>.<channel>. When one is due the
// engine republishes it inside that stream on qd.r.<channel>, and the
// mover takes it from there into the channel's queue, where it takes the
// next sequence then, as on KubeMQ. The mover's copy carries an
// idempotency id derived from the delay stream's sequence, so a crash
// between the copy and its acknowledgement cannot duplicate the message.
const (
	DelayStream     = "QDELAY"
	delayScheduled  = "qd.s."
	delayReleased   = "qd.r."
	delayConsumer   = "mover"
	moverBatch      = 256
	moverRetryDelay = time.Second
	// moverWait is one pull of the mover; a pull runs to its end, so it
	// bounds how long a shutdown waits for the mover.
	moverWait = 250 * time.Millisecond
)

func (s *Service) delaySpec() engine.StreamSpec {
	return engine.StreamSpec{
		Name: DelayStream, Subjects: []string{"qd.>"}, WorkQueue: true, AllowSchedules: true,
		Duplicates: s.dedupWindow(), Metadata: map[string]string{"herald.type": "queue-delays"},
	}
}

// Delayed returns how many messages wait for their delay, by channel.
func (s *Service) Delayed(ctx context.Context) (map[string]int64, error) {
	subj, err := s.eng.SubjectCounts(ctx, DelayStream, delayScheduled+">")
	if errors.Is(err, engine.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for subject, n := range subj {
		// qd.s.<id>.<channel>: the id is one token.
		rest := strings.TrimPrefix(subject, delayScheduled)
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			out[rest[i+1:]] += int64(n)
		}
	}
	return out, nil
}

// withDelayStream runs fn, and once more after re-creating the delay
// stream when fn found it missing.
func (s *Service) withDelayStream(ctx context.Context, fn func() error) error {
	err := fn()
	if !errors.Is(err, engine.ErrNoStream) && !errors.Is(err, engine.ErrStreamNotFound) {
		return err
	}
	s.eng.ForgetStream(DelayStream)
	if err := s.eng.EnsureStream(ctx, s.delaySpec()); err != nil {
		return err
	}
	return fn()
}

// schedule starts storing a delayed message until due and returns what
// waits for the outcome.
func (s *Service) schedule(channel string, data []byte, msgID string, at time.Time) func(ctx context.Context) error {
	subject := delayScheduled + kmq.NewID() + "." + channel
	opts := engine.PubOpts{ScheduleAt: at, ScheduleTarget: delayReleased + channel}
	if msgID != "" {
		opts.MsgID = strconv.Itoa(len(channel)) + ":" + channel + ":" + msgID // ids are per channel
	}
	f := s.eng.PublishStoredAsync(subject, data, opts)
	return func(ctx context.Context) error {
		_, err := f.Wait(ctx)
		if errors.Is(err, engine.ErrNoStream) {
			err = s.withDelayStream(ctx, func() error {
				_, err := s.eng.PublishStored(ctx, subject, data, opts)
				return err
			})
		}
		return err
	}
}

// purgeDelays drops the delayed messages of a channel.
func (s *Service) purgeDelays(ctx context.Context, channel string) error {
	if err := s.eng.PurgeSubjects(ctx, DelayStream, delayScheduled+"*."+channel); err != nil {
		return err
	}
	return s.eng.PurgeSubjects(ctx, DelayStream, delayReleased+channel)
}

// mover moves released delayed messages into their queues until Close.
func (s *Service) mover() {
	ctx := s.life
	pause := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(moverRetryDelay):
			return true
		}
	}
	var cons engine.Fetcher
	for ctx.Err() == nil {
		if cons == nil {
			err := s.eng.EnsureStream(ctx, s.delaySpec())
			if err == nil {
				cons, err = s.eng.EnsureConsumer(ctx, DelayStream, engine.ConsumerSpec{
					Durable: delayConsumer, FilterSubject: delayReleased + ">", Deliver: engine.DeliverAll,
					AckWait: s.cfg.AckWait, MaxAckPending: 1 << 16,
				})
			}
			if err != nil {
				if ctx.Err() == nil {
					s.logg.Warn("delayed messages: cannot open the delay stream", "err", err)
				}
				if !pause() {
					return
				}
				continue
			}
		}
		err := cons.FetchEach(ctx, moverBatch, moverWait, func(sm *engine.StoredMsg) {
			channel := strings.TrimPrefix(sm.Subject, delayReleased)
			if err := s.release(ctx, channel, sm); err != nil {
				if ctx.Err() == nil {
					s.logg.Warn("delayed message not released yet", "channel", channel, "err", err)
				}
				_ = sm.Nak(moverRetryDelay)
				return
			}
			_ = sm.Ack()
		})
		if err != nil && ctx.Err() == nil {
			s.logg.Warn("delayed messages: fetch failed", "err", err)
			s.eng.ForgetStream(DelayStream)
			cons = nil
			if !pause() {
				return
			}
		}
	}
}

// release stores a due delayed message in its queue; it takes the next
// sequence of the channel then, as on KubeMQ.
func (s *Service) release(ctx context.Context, channel string, sm *engine.StoredMsg) error {
	if err := s.exist(ctx, channel); err != nil {
		return err
	}
	_, err := s.log.Append(ctx, engine.Append{Channel: channel, Data: sm.Data, MsgID: idFor("dly", DelayStream, sm.Seq)}).Wait(ctx)
	return err
}
