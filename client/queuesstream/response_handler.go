package queuesstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// requestTimeout bounds a settlement's wait for the server.
const requestTimeout = 60 * time.Second

// responseHandler is one poll transaction. Its exported methods are promoted
// to PollResponse (and, as in kubemq-go, to each QueueMessage of it).
type responseHandler struct {
	d                 *downstream
	transactionID     string
	requestClientID   string
	requestChannel    string
	visibilitySeconds int
	isAutoAck         bool
	isEmptyResponse   bool
	onErrorFunc       func(err error)
	onCompleteFunc    func()
	handlerMessages   []*QueueMessage

	active   atomic.Bool
	mu       sync.Mutex
	open     map[int64]bool // sequences not settled yet
	complete sync.Once
}

func (r *responseHandler) start(context.Context) {
	r.mu.Lock()
	r.open = map[int64]bool{}
	for _, m := range r.handlerMessages {
		r.open[int64(m.sequence())] = true
	}
	r.mu.Unlock()
	r.active.Store(true)
	for _, m := range r.handlerMessages {
		m.startVisibilityTimer()
	}
}

func (r *responseHandler) sendError(err error) {
	if r.onErrorFunc != nil && err != nil {
		r.onErrorFunc(err)
	}
}

// sendComplete ends the transaction on the client side (once).
func (r *responseHandler) sendComplete() {
	r.complete.Do(func() {
		r.active.Store(false)
		r.markCompleted("transaction completed")
		if r.d != nil {
			r.d.unregister(r)
		}
		if r.onCompleteFunc != nil {
			r.onCompleteFunc()
		}
	})
}

func (r *responseHandler) request(kind kubemqpb.QueuesDownstreamRequestType) *kubemqpb.QueuesDownstreamRequest {
	return &kubemqpb.QueuesDownstreamRequest{
		RequestID: newID(), ClientID: r.requestClientID, RequestTypeData: kind, Channel: r.requestChannel,
		RefTransactionId: r.transactionID,
	}
}

// settle sends req; all says it settles every message of the transaction,
// otherwise offsets are the sequences it settles.
func (r *responseHandler) settle(req *kubemqpb.QueuesDownstreamRequest, all bool, offsets []int64) error {
	if !r.active.Load() {
		return errors.New("transaction is not ready to accept requests or already closed by AutoAck")
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := r.d.settle(ctx, req); err != nil {
		return err
	}
	r.mu.Lock()
	if all {
		clear(r.open)
	}
	for _, o := range offsets {
		delete(r.open, o)
	}
	done := len(r.open) == 0
	r.mu.Unlock()
	if done {
		r.sendComplete()
	}
	return nil
}

func checkOffsets(verb string, offsets []int64) error {
	if len(offsets) == 0 {
		return invalidArgument(fmt.Errorf("no available offsets messages to %s", verb))
	}
	for _, o := range offsets {
		if o <= 0 {
			return invalidArgument(fmt.Errorf("invalid offset %d for %s, must be greater than 0", o, verb))
		}
	}
	return nil
}

// Close ends the transaction: its unsettled messages return to their queue in
// place (same sequence, receive count unchanged).
func (r *responseHandler) Close() error {
	if err := r.settle(r.request(kubemqpb.QueuesDownstreamRequestType_CloseByClient), true, nil); err != nil {
		return err
	}
	r.markCompleted("closed")
	return nil
}

// AckAll removes every message of the transaction from its queue.
func (r *responseHandler) AckAll() error {
	if r.isEmptyResponse {
		return errors.New("no available messages to ack")
	}
	if err := r.settle(r.request(kubemqpb.QueuesDownstreamRequestType_AckAll), true, nil); err != nil {
		return err
	}
	r.markCompleted("ack all")
	return nil
}

// AckOffsets removes the messages with the given sequences.
func (r *responseHandler) AckOffsets(offsets ...int64) error {
	if r.isEmptyResponse {
		return errors.New("no available messages to ack")
	}
	if err := checkOffsets("ack", offsets); err != nil {
		return err
	}
	req := r.request(kubemqpb.QueuesDownstreamRequestType_AckRange)
	req.SequenceRange = offsets
	return r.settle(req, false, offsets)
}

// NAckAll returns every message of the transaction to the tail of its queue
// (their receive counts grow; see QueueMessage.SetPolicyMaxReceiveCount).
func (r *responseHandler) NAckAll() error {
	if r.isEmptyResponse {
		return errors.New("no available messages to nack")
	}
	if err := r.settle(r.request(kubemqpb.QueuesDownstreamRequestType_NAckAll), true, nil); err != nil {
		return err
	}
	r.markCompleted("nack all")
	return nil
}

// NAckOffsets returns the messages with the given sequences to the tail of
// their queue.
func (r *responseHandler) NAckOffsets(offsets ...int64) error {
	if r.isEmptyResponse {
		return errors.New("no available messages to nack")
	}
	if err := checkOffsets("nack", offsets); err != nil {
		return err
	}
	req := r.request(kubemqpb.QueuesDownstreamRequestType_NAckRange)
	req.SequenceRange = offsets
	return r.settle(req, false, offsets)
}

// ReQueueAll moves every message of the transaction to the queue channel.
func (r *responseHandler) ReQueueAll(channel string) error {
	if r.isEmptyResponse {
		return errors.New("no available messages to requeue")
	}
	if channel == "" {
		return invalidArgument(errors.New("requeue channel cannot be empty"))
	}
	req := r.request(kubemqpb.QueuesDownstreamRequestType_ReQueueAll)
	req.ReQueueChannel = channel
	if err := r.settle(req, true, nil); err != nil {
		return err
	}
	r.markCompleted("requeue all")
	return nil
}

// ReQueueOffsets moves the messages with the given sequences to the queue
// channel.
func (r *responseHandler) ReQueueOffsets(channel string, offsets ...int64) error {
	if r.isEmptyResponse {
		return errors.New("no available messages to requeue")
	}
	if err := checkOffsets("requeue", offsets); err != nil {
		return err
	}
	if channel == "" {
		return invalidArgument(errors.New("requeue channel cannot be empty"))
	}
	req := r.request(kubemqpb.QueuesDownstreamRequestType_ReQueueRange)
	req.ReQueueChannel, req.SequenceRange = channel, offsets
	return r.settle(req, false, offsets)
}

func (r *responseHandler) markCompleted(reason string) {
	for _, m := range r.handlerMessages {
		m.setCompleted(reason)
	}
}
