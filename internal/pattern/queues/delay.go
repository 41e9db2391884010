package queues

import (
	"context"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/engine"
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

// delayedCount is how many messages wait for their delay on channel.
func (s *Service) delayedCount(ctx context.Context, channel string) int64 {
	n, err := s.eng.CountSubjects(ctx, DelayStream, delayScheduled+"*."+channel)
	if err != nil {
		return 0
	}
	return int64(n)
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
	var cons *engine.Consumer
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
					s.log.Warn("delayed messages: cannot open the delay stream", "err", err)
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
					s.log.Warn("delayed message not released yet", "channel", channel, "err", err)
				}
				_ = sm.Nak(moverRetryDelay)
				return
			}
			_ = sm.Ack()
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("delayed messages: fetch failed", "err", err)
			s.eng.ForgetStream(DelayStream)
			cons = nil
			if !pause() {
				return
			}
		}
	}
}

// release stores a due delayed message in its queue.
func (s *Service) release(ctx context.Context, channel string, sm *engine.StoredMsg) error {
	q, err := s.queue(ctx, channel)
	if err != nil {
		return err
	}
	msgID := idFor("dly", DelayStream, sm.Seq)
	_, err = s.eng.PublishStored(ctx, q.ready, sm.Data, engine.PubOpts{MsgID: msgID})
	if err != nil {
		s.forget(channel)
		if q, err = s.queue(ctx, channel); err == nil {
			_, err = s.eng.PublishStored(ctx, q.ready, sm.Data, engine.PubOpts{MsgID: msgID})
		}
	}
	return err
}
