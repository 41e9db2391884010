package queues

import "context"

// Tracer records the spans of the queue's own steps in the trace of the
// message they concern: the durable write of a send and every settlement.
// internal/tracing's Steps implements it; a nil Tracer records nothing.
// Both methods return the context the step runs in and a func that ends
// the span with the step's outcome; they must not block.
type Tracer interface {
	// Store begins the durable write of a message carrying tags to channel.
	Store(ctx context.Context, channel string, tags map[string]string) (context.Context, func(error))
	// Settle begins a settlement (one of the Settle… actions) of a message
	// of channel carrying tags.
	Settle(ctx context.Context, channel, action string, tags map[string]string) (context.Context, func(error))
}

// The settle actions told to a Tracer.
const (
	SettleAck        = "ack"         // removed: acknowledged, or received with auto-ack
	SettleReject     = "reject"      // settled negatively: back at the tail, or dead-lettered
	SettleRequeue    = "requeue"     // moved to a queue (re-sent, replaced, re-queued elsewhere)
	SettleReturn     = "return"      // returned in place, the receive not counted
	SettleDeadLetter = "dead_letter" // its receive count was used up when it came to be delivered
	SettleExpire     = "expire"      // its expiration passed before it was delivered
)

func nopEnd(error) {}

// traceStore begins the store span of a message to channel.
func (s *Service) traceStore(ctx context.Context, channel string, tags map[string]string) (context.Context, func(error)) {
	if s.cfg.Tracer == nil {
		return ctx, nopEnd
	}
	return s.cfg.Tracer.Store(ctx, channel, tags)
}

// traceSettle begins the settle span of the leased message d.
func (s *Service) traceSettle(ctx context.Context, d *delivery, action string) (context.Context, func(error)) {
	if s.cfg.Tracer == nil {
		return ctx, nopEnd
	}
	d.mu.Lock()
	gone := d.settled
	d.mu.Unlock()
	if gone { // settle will refuse it: nothing happens to the message
		return ctx, nopEnd
	}
	return s.cfg.Tracer.Settle(ctx, d.q.name, action, d.msg.Tags)
}
