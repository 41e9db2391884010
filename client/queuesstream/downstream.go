package queuesstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client"
)

type dsStream = grpc.BidiStreamingClient[kubemqpb.QueuesDownstreamRequest, kubemqpb.QueuesDownstreamResponse]

type dsResult struct {
	resp *kubemqpb.QueuesDownstreamResponse
	err  error
}

// downstream multiplexes poll transactions over one QueuesDownstream stream.
// Every answer carries the id of the request it answers (RefRequestId), so
// requests wait for their answer by id. A broken stream fails what waits on
// it, ends the open transactions (the server returns their messages to the
// queues) and is re-opened by the next poll.
type downstream struct {
	q *QueuesStreamClient

	mu       sync.Mutex
	stream   dsStream
	cancel   context.CancelFunc
	waiters  map[string]chan dsResult
	handlers map[string]*responseHandler // open transactions by id
	sendMu   sync.Mutex
}

// open returns the current stream, opening one if needed; d.mu is held.
func (d *downstream) open() (dsStream, error) {
	if d.stream != nil {
		return d.stream, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := d.q.rpc.QueuesDownstream(ctx)
	if err != nil {
		cancel()
		d.q.connectionState(fmt.Sprintf("grpc queue client downstream connection error, %s", err.Error()))
		return nil, err
	}
	if !d.q.goroutine(func() { d.read(stream, cancel) }) {
		cancel()
		return nil, client.ErrClientClosed
	}
	d.stream, d.cancel = stream, cancel
	d.q.connectionState("grpc queue client downstream connected")
	return stream, nil
}

func (d *downstream) read(stream dsStream, cancel context.CancelFunc) {
	defer cancel()
	for {
		res, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = errStreamEnded
			}
			d.mu.Lock()
			if d.stream == stream {
				d.stream, d.cancel = nil, nil
			}
			waiters, handlers := d.waiters, d.handlers
			d.waiters, d.handlers = map[string]chan dsResult{}, map[string]*responseHandler{}
			d.mu.Unlock()
			for _, ch := range waiters {
				ch <- dsResult{err: err}
			}
			for _, h := range handlers {
				h.sendError(err)
				h.sendComplete()
			}
			d.q.connectionState("grpc queue client downstream disconnected")
			return
		}
		d.mu.Lock()
		ch, ok := d.waiters[res.RefRequestId]
		delete(d.waiters, res.RefRequestId)
		h := d.handlers[res.TransactionId]
		d.mu.Unlock()
		switch {
		case ok:
			ch <- dsResult{resp: res}
		case res.RequestTypeData == kubemqpb.QueuesDownstreamRequestType_Get:
			d.closeUnwanted(res) // nobody waits for this poll any more
		case h != nil && res.TransactionComplete:
			h.sendComplete()
		case h != nil && res.IsError:
			h.sendError(inBand(res.Error))
		}
	}
}

// send sends reqs in order on the current stream (opening one), registering
// a waiter for each first.
func (d *downstream) send(reqs ...*kubemqpb.QueuesDownstreamRequest) ([]chan dsResult, error) {
	d.mu.Lock()
	stream, err := d.open()
	if err != nil {
		d.mu.Unlock()
		return nil, err
	}
	chans := make([]chan dsResult, len(reqs))
	for i, r := range reqs {
		chans[i] = make(chan dsResult, 1)
		d.waiters[r.RequestID] = chans[i]
	}
	d.mu.Unlock()
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	for _, r := range reqs {
		if err := stream.Send(r); err != nil && !errors.Is(err, io.EOF) { // on EOF the reader reports the stream's status
			d.forget(reqs...)
			return nil, err
		}
	}
	return chans, nil
}

// abandon gives up waiting for the answer to the poll req: an answer that
// arrives later, or arrived just now, has its transaction closed.
func (d *downstream) abandon(req *kubemqpb.QueuesDownstreamRequest, ch chan dsResult) {
	d.forget(req)
	select {
	case r := <-ch: // delivered between the wait's end and forget
		if r.err == nil {
			d.closeUnwanted(r.resp)
		}
	default:
	}
}

// closeUnwanted ends the transaction of a poll answer nobody waits for, so
// that its messages return to the queue at once rather than when the
// stream ends.
func (d *downstream) closeUnwanted(res *kubemqpb.QueuesDownstreamResponse) {
	if len(res.Messages) == 0 || res.IsError || res.TransactionId == "" {
		return
	}
	closeReq := &kubemqpb.QueuesDownstreamRequest{
		RequestID: newID(), RequestTypeData: kubemqpb.QueuesDownstreamRequestType_CloseByClient,
		RefTransactionId: res.TransactionId,
	}
	d.q.goroutine(func() { _, _ = d.send(closeReq); d.forget(closeReq) })
}

func (d *downstream) forget(reqs ...*kubemqpb.QueuesDownstreamRequest) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range reqs {
		delete(d.waiters, r.RequestID)
	}
}

func (d *downstream) register(h *responseHandler) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handlers[h.transactionID] = h
}

func (d *downstream) unregister(h *responseHandler) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.handlers[h.transactionID] == h {
		delete(d.handlers, h.transactionID)
	}
}

// settle sends a settlement of a transaction followed by an ActiveOffsets
// request. The server applies a stream's settlements in order and answers a
// settlement only when it fails, so once the ActiveOffsets answer is in, the
// settlement was applied, or its error arrived before.
func (d *downstream) settle(ctx context.Context, req *kubemqpb.QueuesDownstreamRequest) error {
	barrier := &kubemqpb.QueuesDownstreamRequest{
		RequestID: newID(), ClientID: req.ClientID, RequestTypeData: kubemqpb.QueuesDownstreamRequestType_ActiveOffsets,
		Channel: req.Channel, RefTransactionId: req.RefTransactionId,
	}
	chans, err := d.send(req, barrier)
	if err != nil {
		return err
	}
	defer d.forget(req, barrier)
	select {
	case r := <-chans[1]:
		if r.err != nil {
			return r.err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case r := <-chans[0]:
		if r.err != nil {
			return r.err
		}
		if r.resp.IsError {
			return inBand(r.resp.Error)
		}
	default:
	}
	return nil
}

func (d *downstream) poll(ctx context.Context, request *PollRequest, clientID string) (*PollResponse, error) {
	req, err := request.validateAndComplete(clientID)
	if err != nil {
		return nil, err
	}
	chans, err := d.send(req)
	if err != nil {
		return nil, err
	}
	wait := time.Duration(req.WaitTimeout)*time.Millisecond + time.Second
	if req.WaitTimeout == 0 {
		wait = 60 * time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var res *kubemqpb.QueuesDownstreamResponse
	select {
	case r := <-chans[0]:
		if r.err != nil {
			return nil, fmt.Errorf("grpcClient connection error, %w", r.err)
		}
		res = r.resp
	case <-timer.C:
		d.abandon(req, chans[0])
		return nil, fmt.Errorf("timout waiting response for poll messages request: %w", client.ErrTimeout)
	case <-ctx.Done():
		d.abandon(req, chans[0])
		return nil, ctx.Err()
	}
	if res.IsError {
		return nil, inBand(res.Error)
	}
	h := &responseHandler{
		d: d, transactionID: res.TransactionId, requestClientID: req.ClientID, requestChannel: req.Channel,
		visibilitySeconds: request.VisibilitySeconds, isAutoAck: req.AutoAck,
		onErrorFunc: request.OnErrorFunc, onCompleteFunc: request.OnComplete,
	}
	resp := newPollResponse(res.Messages, h)
	if len(resp.Messages) > 0 && !req.AutoAck {
		d.register(h)
		h.start(ctx)
	} else {
		h.sendComplete()
	}
	return resp, nil
}

func (d *downstream) close() {
	d.mu.Lock()
	if d.cancel != nil {
		d.cancel()
	}
	d.mu.Unlock()
}
