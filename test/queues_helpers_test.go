package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go/queues_stream"
	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// Byte-exact texts of the queue pattern (grpc-behaviour.md §16, Appendix A).
const (
	qErr101 = "Error 101: invalid clientID value, cannot be empty"
	qErr110 = "Error 110: invalid message, cannot be empty"
	qErr120 = "Error 120: invalid queue name value, cannot be empty, contains wildcards ,white spaces and end with dot"
	qErr122 = "Error 122: max messages should be between 1 and max message setting in kubemq config  "
	qErr124 = "Error 124: no active message to ack"
	qErr125 = "Error 125: ack sequence cannot be 0 or negative"
	qErr126 = "Error 126: no active message to send"
	qErr127 = "Error 127: invalid visibility time, cannot be negative or exceed setting in kubemq config"
	qErr128 = "Error 128: subscription to queue is already active"
	qErr129 = "Error 129: current visibility timer expired"
	qErr131 = "Error 131: invalid queue message"
	qErr132 = "Error 132: invalid stream queue messages request type"
	qErr133 = "Error 133: invalid expiration seconds, exceed max expiration seconds setting in kubemq config"
	qErr134 = "Error 134: invalid max received count, cannot be negative or exceed max receive count setting in kubemq config"
	qErr135 = "Error 135: invalid delay seconds, exceed max delay seconds setting in kubemq config"
	qErr136 = "Error 136: invalid wait timeout, value cannot be negative or exceed max wait timeout seconds setting in kubemq config"
	qErr137 = "Error 137: no active message to reject"
	qErr138 = "Error 138: no new message in queue, wait time expired"

	// qErr120Family prefixes Herald's extra queue-name refusals (empty
	// tokens, `/`), which have no reference text.
	qErr120Family = "Error 120: invalid queue name value, "

	qTxNotFound = "transaction is completed or transaction id not found"
)

// sleepUntil lets wall-clock time pass up to when. It is for tests of
// time-based behaviour (expiration, delay, visibility), never to wait for
// the server to reach some state (that is what eventually is for).
func sleepUntil(when time.Time) { time.Sleep(time.Until(when)) }

// nsNear fails unless the Unix-ns time got is within [want-lo, want+hi].
func nsNear(t *testing.T, what string, got int64, want time.Time, lo, hi time.Duration) {
	t.Helper()
	g := time.Unix(0, got)
	if g.Before(want.Add(-lo)) || g.After(want.Add(hi)) {
		t.Fatalf("%s = %v, want within [-%v, +%v] of %v", what, g, lo, hi, want)
	}
}

// qMsg builds a raw queue message with a body.
func qMsg(channel, body string) *pb.QueueMessage {
	return &pb.QueueMessage{ClientID: "qsender", Channel: channel, Body: []byte(body)}
}

// qSendRaw sends one message and returns the result (in-band errors
// included); a transport error fails the test.
func qSendRaw(t *testing.T, cl pb.KubemqClient, m *pb.QueueMessage) *pb.SendQueueMessageResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := cl.SendQueueMessage(ctx, m)
	if err != nil {
		t.Fatalf("send %q to %q: %v", m.Body, m.Channel, err)
	}
	return res
}

// qSendOK sends one message and fails unless it was stored.
func qSendOK(t *testing.T, cl pb.KubemqClient, m *pb.QueueMessage) *pb.SendQueueMessageResult {
	t.Helper()
	res := qSendRaw(t, cl, m)
	if res.IsError || res.SentAt == 0 || res.MessageID == "" {
		t.Fatalf("send %q to %q: %+v", m.Body, m.Channel, res)
	}
	return res
}

// qSendBodies stores one message per body on channel, in order.
func qSendBodies(t *testing.T, cl pb.KubemqClient, channel string, bodies ...string) []*pb.SendQueueMessageResult {
	t.Helper()
	out := make([]*pb.SendQueueMessageResult, len(bodies))
	for i, b := range bodies {
		out[i] = qSendOK(t, cl, qMsg(channel, b))
	}
	return out
}

// qReceive runs a classic receive (or peek) and returns the response; a
// transport error fails the test, an in-band error does not.
func qReceive(t *testing.T, cl pb.KubemqClient, channel string, max, wait int32, peek bool) *pb.ReceiveQueueMessagesResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(wait)*time.Second+15*time.Second)
	defer cancel()
	res, err := cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{
		RequestID: "rq", ClientID: "qreceiver", Channel: channel, MaxNumberOfMessages: max, WaitTimeSeconds: wait, IsPeak: peek,
	})
	if err != nil {
		t.Fatalf("receive from %q: %v", channel, err)
	}
	return res
}

// qTake receives up to max messages (waiting up to wait seconds to fill)
// and fails on an in-band error.
func qTake(t *testing.T, cl pb.KubemqClient, channel string, max, wait int32) []*pb.QueueMessage {
	t.Helper()
	res := qReceive(t, cl, channel, max, wait, false)
	if res.IsError {
		t.Fatalf("receive from %q: %s", channel, res.Error)
	}
	if int(res.MessagesReceived) != len(res.Messages) {
		t.Fatalf("receive from %q: MessagesReceived %d, %d messages", channel, res.MessagesReceived, len(res.Messages))
	}
	return res.Messages
}

// qPeek peeks up to max messages and fails on an in-band error.
func qPeek(t *testing.T, cl pb.KubemqClient, channel string, max, wait int32) []*pb.QueueMessage {
	t.Helper()
	res := qReceive(t, cl, channel, max, wait, true)
	if res.IsError || !res.IsPeak {
		t.Fatalf("peek %q: %+v", channel, res)
	}
	return res.Messages
}

// qWantEmpty fails unless a one-second receive finds nothing.
func qWantEmpty(t *testing.T, cl pb.KubemqClient, channel string) {
	t.Helper()
	if got := qTake(t, cl, channel, 10, 1); len(got) != 0 {
		t.Fatalf("queue %q: got %v (seqs %v), want empty", channel, qBodies(got), qSeqs(got))
	}
}

func qBodies(ms []*pb.QueueMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Body)
	}
	return out
}

func qSeqs(ms []*pb.QueueMessage) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Attributes.GetSequence()
	}
	return out
}

func qCounts(ms []*pb.QueueMessage) []int32 {
	out := make([]int32, len(ms))
	for i, m := range ms {
		out[i] = m.Attributes.GetReceiveCount()
	}
	return out
}

// qWant fails unless ms have exactly the given bodies, sequences and
// receive counts (nil seqs or counts: not checked).
func qWant(t *testing.T, what string, ms []*pb.QueueMessage, bodies []string, seqs []uint64, counts []int32) {
	t.Helper()
	if !slices.Equal(qBodies(ms), bodies) || (seqs != nil && !slices.Equal(qSeqs(ms), seqs)) || (counts != nil && !slices.Equal(qCounts(ms), counts)) {
		t.Fatalf("%s: got bodies %q seqs %v counts %v, want %q %v %v", what, qBodies(ms), qSeqs(ms), qCounts(ms), bodies, seqs, counts)
	}
}

// qInfo returns the QueuesInfo entry of channel (nil when not listed).
func qInfo(t *testing.T, cl pb.KubemqClient, channel string) *pb.QueueInfo {
	t.Helper()
	res, err := cl.QueuesInfo(context.Background(), &pb.QueuesInfoRequest{RequestID: "qi", QueueName: channel})
	if err != nil {
		t.Fatalf("queues info: %v", err)
	}
	for _, q := range res.Info.GetQueues() {
		if q.Name == channel {
			return q
		}
	}
	return nil
}

// qWaitSubscribers waits until channel reports at least n active receivers
// (the signal that a receive or poll is waiting).
func qWaitSubscribers(t *testing.T, cl pb.KubemqClient, channel string, n int64) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		q := qInfo(t, cl, channel)
		if q == nil || q.Subscribers < n {
			return fmt.Errorf("queue %q: info %+v, want %d subscribers", channel, q, n)
		}
		return nil
	})
}

// qPrime makes channel exist (and be listed by QueuesInfo) while leaving it
// empty: it stores one message and takes it.
func qPrime(t *testing.T, cl pb.KubemqClient, channel string) {
	t.Helper()
	qSendBodies(t, cl, channel, "prime")
	qWant(t, "prime", qTake(t, cl, channel, 1, 5), []string{"prime"}, nil, nil)
}

// ---- StreamQueueMessage over the raw stub ----

// sqStream is a raw StreamQueueMessage stream whose responses are collected
// in the background.
type sqStream struct {
	t      *testing.T
	s      pb.Kubemq_StreamQueueMessageClient
	cancel context.CancelFunc
	resps  chan *pb.StreamQueueMessagesResponse
	end    chan error // the Recv error that ended the stream (io.EOF: status OK)
}

func openSQ(t *testing.T, cl pb.KubemqClient) *sqStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := cl.StreamQueueMessage(ctx)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	sq := &sqStream{t: t, s: s, cancel: cancel, resps: make(chan *pb.StreamQueueMessagesResponse, 16), end: make(chan error, 1)}
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				sq.end <- err
				return
			}
			sq.resps <- r
		}
	}()
	return sq
}

func (sq *sqStream) send(r *pb.StreamQueueMessagesRequest) {
	sq.t.Helper()
	if r.ClientID == "" {
		r.ClientID = "sqclient"
	}
	if err := sq.s.Send(r); err != nil {
		sq.t.Fatalf("stream send %v: %v", r.StreamRequestTypeData, err)
	}
}

// recv returns the next response, failing when none comes within d.
func (sq *sqStream) recv(d time.Duration) *pb.StreamQueueMessagesResponse {
	sq.t.Helper()
	select {
	case r := <-sq.resps:
		return r
	case err := <-sq.end:
		// the reader queues every response before the end
		select {
		case r := <-sq.resps:
			sq.end <- err
			return r
		default:
		}
		sq.t.Fatalf("stream ended (%v) before a response", err)
	case <-time.After(d):
		sq.t.Fatalf("no stream response within %v", d)
	}
	return nil
}

// call sends r and returns its response.
func (sq *sqStream) call(r *pb.StreamQueueMessagesRequest) *pb.StreamQueueMessagesResponse {
	sq.t.Helper()
	sq.send(r)
	resp := sq.recv(10 * time.Second)
	if resp.RequestID != r.RequestID || resp.StreamRequestTypeData != r.StreamRequestTypeData {
		sq.t.Fatalf("response %+v does not answer request %s/%v", resp, r.RequestID, r.StreamRequestTypeData)
	}
	return resp
}

// wantErr sends r and fails unless it is answered with exactly text.
func (sq *sqStream) wantErr(r *pb.StreamQueueMessagesRequest, text string) {
	sq.t.Helper()
	resp := sq.call(r)
	if !resp.IsError || resp.Error != text || resp.Message != nil {
		sq.t.Fatalf("%v: got %+v, want error %q", r.StreamRequestTypeData, resp, text)
	}
}

// wantOK sends r and fails unless it is answered without error.
func (sq *sqStream) wantOK(r *pb.StreamQueueMessagesRequest) {
	sq.t.Helper()
	if resp := sq.call(r); resp.IsError {
		sq.t.Fatalf("%v: %s", r.StreamRequestTypeData, resp.Error)
	}
}

// receive asks for one message of channel and fails unless one comes.
func (sq *sqStream) receive(channel string, visibility, wait int32) *pb.QueueMessage {
	sq.t.Helper()
	r := &pb.StreamQueueMessagesRequest{RequestID: "recv", StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage,
		Channel: channel, VisibilitySeconds: visibility, WaitTimeSeconds: wait}
	sq.send(r)
	resp := sq.recv(time.Duration(wait)*time.Second + 10*time.Second)
	if resp.IsError || resp.Message == nil || resp.RequestID != "recv" || resp.StreamRequestTypeData != pb.StreamRequestType_ReceiveMessage {
		sq.t.Fatalf("stream receive from %q: %+v", channel, resp)
	}
	return resp.Message
}

// wantEnd fails unless the server ends the stream with status OK within d
// (and without another response first).
func (sq *sqStream) wantEnd(d time.Duration) {
	sq.t.Helper()
	select {
	case r := <-sq.resps:
		sq.t.Fatalf("got response %+v, want the stream to end", r)
	case err := <-sq.end:
		select {
		case r := <-sq.resps:
			sq.t.Fatalf("got response %+v, want the stream to end", r)
		default:
		}
		if !errors.Is(err, io.EOF) {
			sq.t.Fatalf("stream ended with %v, want io.EOF (status OK)", err)
		}
	case <-time.After(d):
		sq.t.Fatalf("stream still open after %v", d)
	}
}

func sqReq(typ pb.StreamRequestType, id string) *pb.StreamQueueMessagesRequest {
	return &pb.StreamQueueMessagesRequest{RequestID: id, StreamRequestTypeData: typ}
}

// ---- QueuesDownstream over the raw stub ----

type dsStream struct {
	t      *testing.T
	s      pb.Kubemq_QueuesDownstreamClient
	cancel context.CancelFunc
	resps  chan *pb.QueuesDownstreamResponse
	end    chan error
	n      int
}

func openDS(t *testing.T, cl pb.KubemqClient) *dsStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := cl.QueuesDownstream(ctx)
	if err != nil {
		t.Fatalf("open downstream: %v", err)
	}
	ds := &dsStream{t: t, s: s, cancel: cancel, resps: make(chan *pb.QueuesDownstreamResponse, 64), end: make(chan error, 1)}
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				ds.end <- err
				return
			}
			ds.resps <- r
		}
	}()
	return ds
}

func (ds *dsStream) send(r *pb.QueuesDownstreamRequest) {
	ds.t.Helper()
	if r.RequestID == "" {
		ds.n++
		r.RequestID = fmt.Sprintf("dreq-%d", ds.n)
	}
	if err := ds.s.Send(r); err != nil {
		ds.t.Fatalf("downstream send %v: %v", r.RequestTypeData, err)
	}
}

func (ds *dsStream) recv(d time.Duration) *pb.QueuesDownstreamResponse {
	ds.t.Helper()
	select {
	case r := <-ds.resps:
		return r
	case err := <-ds.end:
		select {
		case r := <-ds.resps:
			ds.end <- err
			return r
		default:
		}
		ds.t.Fatalf("downstream ended (%v) before a response", err)
	case <-time.After(d):
		ds.t.Fatalf("no downstream response within %v", d)
	}
	return nil
}

// get opens a transaction and returns the Get response (errors included).
func (ds *dsStream) get(channel string, maxItems, waitMS int32, autoAck bool) *pb.QueuesDownstreamResponse {
	ds.t.Helper()
	r := &pb.QueuesDownstreamRequest{ClientID: "dsclient", RequestTypeData: pb.QueuesDownstreamRequestType_Get,
		Channel: channel, MaxItems: maxItems, WaitTimeout: waitMS, AutoAck: autoAck}
	ds.send(r)
	resp := ds.recv(time.Duration(waitMS)*time.Millisecond + 10*time.Second)
	if resp.RefRequestId != r.RequestID || resp.RequestTypeData != pb.QueuesDownstreamRequestType_Get {
		ds.t.Fatalf("get: response %+v does not answer request %s", resp, r.RequestID)
	}
	return resp
}

// getOK opens a transaction that must succeed.
func (ds *dsStream) getOK(channel string, maxItems, waitMS int32) *pb.QueuesDownstreamResponse {
	ds.t.Helper()
	resp := ds.get(channel, maxItems, waitMS, false)
	if resp.IsError || len(resp.TransactionId) != 36 {
		ds.t.Fatalf("get from %q: %+v", channel, resp)
	}
	return resp
}

// settle sends a request on a transaction without waiting for an answer.
func (ds *dsStream) settle(typ pb.QueuesDownstreamRequestType, tx string, seqs []int64, requeueTo string) *pb.QueuesDownstreamRequest {
	ds.t.Helper()
	r := &pb.QueuesDownstreamRequest{RequestTypeData: typ, RefTransactionId: tx, SequenceRange: seqs, ReQueueChannel: requeueTo}
	ds.send(r)
	return r
}

// barrier proves that every earlier settlement has been processed without
// an answer: settlements are handled in order, and the barrier (a request
// on an unknown transaction) is the next thing answered.
func (ds *dsStream) barrier() {
	ds.t.Helper()
	r := ds.settle(pb.QueuesDownstreamRequestType_ActiveOffsets, "no-such-tx", nil, "")
	resp := ds.recv(10 * time.Second)
	if resp.RefRequestId != r.RequestID || resp.Error != qTxNotFound {
		ds.t.Fatalf("got %+v before the barrier's answer (a settlement was answered?)", resp)
	}
}

// settleOK sends a settlement and proves it was processed without answer.
func (ds *dsStream) settleOK(typ pb.QueuesDownstreamRequestType, tx string, seqs []int64, requeueTo string) {
	ds.t.Helper()
	ds.settle(typ, tx, seqs, requeueTo)
	ds.barrier()
}

// settleErr sends a settlement and fails unless it is answered with text.
func (ds *dsStream) settleErr(typ pb.QueuesDownstreamRequestType, tx string, seqs []int64, requeueTo, text string) *pb.QueuesDownstreamResponse {
	ds.t.Helper()
	r := ds.settle(typ, tx, seqs, requeueTo)
	resp := ds.recv(10 * time.Second)
	if resp.RefRequestId != r.RequestID || resp.TransactionId != tx || !resp.IsError || resp.Error != text {
		ds.t.Fatalf("%v on %s: got %+v, want error %q", typ, tx, resp, text)
	}
	return resp
}

// offsets returns the transaction's active offsets.
func (ds *dsStream) offsets(tx string) []int64 {
	ds.t.Helper()
	r := ds.settle(pb.QueuesDownstreamRequestType_ActiveOffsets, tx, nil, "")
	resp := ds.recv(10 * time.Second)
	if resp.RefRequestId != r.RequestID || resp.IsError || resp.TransactionId != tx || resp.RequestTypeData != pb.QueuesDownstreamRequestType_ActiveOffsets {
		ds.t.Fatalf("active offsets of %s: %+v", tx, resp)
	}
	return resp.ActiveOffsets
}

// ---- queues_stream SDK ----

// newQueuesStreamClient connects the SDK's queues_stream client to srv.
func newQueuesStreamClient(t *testing.T, srv *heraldtest.Server, clientID string) *queues_stream.QueuesStreamClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	qc, err := queues_stream.NewQueuesStreamClient(ctx, queues_stream.WithAddress(srv.Host, srv.Port), queues_stream.WithClientId(clientID))
	if err != nil {
		t.Fatalf("queues stream client: %v", err)
	}
	t.Cleanup(func() { _ = qc.Close() })
	return qc
}
