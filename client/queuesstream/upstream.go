package queuesstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"crypto/rand"
	"google.golang.org/grpc"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client"
)

func newID() string { return rand.Text() }

type upResult struct {
	resp *kubemqpb.QueuesUpstreamResponse
	err  error
}

// upstream multiplexes sends over one QueuesUpstream stream, matching
// answers by request id. A broken stream fails the sends waiting on it and
// is re-opened by the next send.
type upstream struct {
	q *QueuesStreamClient

	mu      sync.Mutex
	stream  grpc.BidiStreamingClient[kubemqpb.QueuesUpstreamRequest, kubemqpb.QueuesUpstreamResponse]
	cancel  context.CancelFunc
	pending map[string]chan upResult
	sendMu  sync.Mutex
}

var errStreamEnded = errors.New("queuesstream: stream ended by the server")

// open returns the current stream, opening one if needed; u.mu is held.
func (u *upstream) open() (grpc.BidiStreamingClient[kubemqpb.QueuesUpstreamRequest, kubemqpb.QueuesUpstreamResponse], error) {
	if u.stream != nil {
		return u.stream, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := u.q.rpc.QueuesUpstream(ctx)
	if err != nil {
		cancel()
		u.q.connectionState(fmt.Sprintf("grpc queue client upstream connection error, %s", err.Error()))
		return nil, err
	}
	if !u.q.goroutine(func() { u.read(stream, cancel) }) {
		cancel()
		return nil, client.ErrClientClosed
	}
	u.stream, u.cancel = stream, cancel
	u.q.connectionState("grpc queue client upstream connected")
	return stream, nil
}

func (u *upstream) read(stream grpc.BidiStreamingClient[kubemqpb.QueuesUpstreamRequest, kubemqpb.QueuesUpstreamResponse], cancel context.CancelFunc) {
	defer cancel()
	for {
		res, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = errStreamEnded
			}
			u.mu.Lock()
			if u.stream == stream {
				u.stream, u.cancel = nil, nil
			}
			pending := u.pending
			u.pending = map[string]chan upResult{}
			u.mu.Unlock()
			for _, ch := range pending {
				ch <- upResult{err: err}
			}
			u.q.connectionState("grpc queue client upstream disconnected")
			return
		}
		u.mu.Lock()
		ch, ok := u.pending[res.RefRequestID]
		delete(u.pending, res.RefRequestID)
		u.mu.Unlock()
		if ok {
			ch <- upResult{resp: res}
		}
	}
}

func (u *upstream) send(ctx context.Context, req *kubemqpb.QueuesUpstreamRequest) (*kubemqpb.QueuesUpstreamResponse, error) {
	ch := make(chan upResult, 1)
	u.mu.Lock()
	stream, err := u.open()
	if err != nil {
		u.mu.Unlock()
		return nil, err
	}
	u.pending[req.RequestID] = ch
	u.mu.Unlock()
	forget := func() {
		u.mu.Lock()
		delete(u.pending, req.RequestID)
		u.mu.Unlock()
	}
	u.sendMu.Lock()
	err = stream.Send(req)
	u.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) { // on EOF the reader reports the stream's status
		forget()
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		if r.resp.IsError {
			return nil, inBand(r.resp.Error)
		}
		return r.resp, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

func (u *upstream) close() {
	u.mu.Lock()
	if u.cancel != nil {
		u.cancel()
	}
	u.mu.Unlock()
}
