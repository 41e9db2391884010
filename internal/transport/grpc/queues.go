package grpctransport

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/internal/tracing"
)

func queueMsgFromPB(in *kubemqpb.QueueMessage) *queues.Message {
	m := &queues.Message{
		ID: in.MessageID, ClientID: in.ClientID, Channel: in.Channel, Metadata: in.Metadata,
		Body: in.Body, Tags: in.Tags, Topic: in.Topic, Partition: in.Partition, PartitionKey: in.PartitionKey,
	}
	if p := in.Policy; p != nil {
		m.Policy = queues.Policy{
			Expiration: seconds(p.ExpirationSeconds), Delay: seconds(p.DelaySeconds),
			MaxReceiveCount: p.MaxReceiveCount, MaxReceiveQueue: p.MaxReceiveQueue,
		}
	}
	return m
}

func queueMsgToPB(m *queues.Message) *kubemqpb.QueueMessage {
	a := &m.Attributes
	return &kubemqpb.QueueMessage{
		MessageID: m.ID, ClientID: m.ClientID, Channel: m.Channel, Metadata: m.Metadata, Body: m.Body, Tags: m.Tags,
		Attributes: &kubemqpb.QueueMessageAttributes{
			Timestamp: a.Timestamp, Sequence: a.Sequence, ReceiveCount: a.ReceiveCount, ReRouted: a.ReRouted,
			ReRoutedFromQueue: a.ReRoutedFromQueue, ExpirationAt: a.ExpirationAt, DelayedTo: a.DelayedTo,
		},
		Policy: &kubemqpb.QueueMessagePolicy{
			ExpirationSeconds: int32(m.Policy.Expiration / time.Second), DelaySeconds: int32(m.Policy.Delay / time.Second),
			MaxReceiveCount: m.Policy.MaxReceiveCount, MaxReceiveQueue: m.Policy.MaxReceiveQueue,
		},
		Topic: m.Topic, Partition: m.Partition, PartitionKey: m.PartitionKey,
	}
}

// seconds turns a wire count of seconds into a duration (int32 seconds
// cannot overflow it).
func seconds(n int32) time.Duration { return time.Duration(n) * time.Second }

func queueMsgsToPB(ms []*queues.Message) []*kubemqpb.QueueMessage {
	out := make([]*kubemqpb.QueueMessage, len(ms))
	for i, m := range ms {
		out[i] = queueMsgToPB(m)
	}
	return out
}

func resultToPB(r queues.Result) *kubemqpb.SendQueueMessageResult {
	out := &kubemqpb.SendQueueMessageResult{MessageID: r.MessageID, SentAt: r.SentAt, ExpirationAt: r.ExpirationAt, DelayedTo: r.DelayedTo}
	if r.Err != nil {
		out.IsError, out.Error = true, r.Err.Error()
	}
	return out
}

// SendQueueMessage stores one message; every failure is in-band but a
// refused caller (Unauthenticated, PermissionDenied).
func (s *Server) SendQueueMessage(ctx context.Context, in *kubemqpb.QueueMessage) (*kubemqpb.SendQueueMessageResult, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeQueueMessage(c, in.ClientID, in.Channel, in.GetPolicy().GetMaxReceiveQueue()); err != nil {
		if errors.Is(err, kmq.ErrAccessDenied) {
			return nil, accessDenied()
		}
		return resultToPB(refused(in, err)), nil
	}
	ctx, span := s.tr.Send(ctx, queueSpan(in))
	r := s.svc.Queues.Send(ctx, queueMsgFromPB(in))
	tracing.MessageID(span, r.MessageID)
	tracing.End(span, r.Err)
	return resultToPB(r), nil
}

// queueSpan describes a queue message for its spans.
func queueSpan(in *kubemqpb.QueueMessage) tracing.Message {
	return tracing.Message{Pattern: tracing.Queues, Channel: in.Channel, ClientID: in.ClientID, ID: in.MessageID, Tags: in.Tags, BodySize: len(in.Body)}
}

// deliverSpans starts the deliver spans of the messages a receiver (or,
// from the queue stream, client id receiver) is handed; nil when tracing is
// off. endSpans ends them.
func (s *Server) deliverSpans(ctx context.Context, receiver string, msgs []*kubemqpb.QueueMessage) []trace.Span {
	if !s.tr.On() || len(msgs) == 0 {
		return nil
	}
	spans := make([]trace.Span, len(msgs))
	for i, m := range msgs {
		spans[i] = s.tr.Deliver(ctx, queueSpan(m), receiver, "")
	}
	return spans
}

func endSpans(spans []trace.Span, err error) {
	for _, sp := range spans {
		tracing.End(sp, err)
	}
}

// refused is the result of a message that was not sent because of err,
// with the message id the server would have given it.
func refused(in *kubemqpb.QueueMessage, err error) queues.Result {
	id := in.MessageID
	if id == "" {
		id = kmq.NewID()
	}
	return queues.Result{MessageID: id, Err: err}
}

// sendBatch stores the messages check lets through and reports, in order,
// a result per message: check's error for the others. check's
// Unauthenticated status is returned as the error, nothing sent.
func (s *Server) sendBatch(ctx context.Context, in []*kubemqpb.QueueMessage, check func(*kubemqpb.QueueMessage) error) ([]queues.Result, error) {
	res := make([]queues.Result, len(in))
	send := make([]*queues.Message, 0, len(in))
	at := make([]int, 0, len(in))
	for i, m := range in {
		if err := check(m); err != nil {
			if unauthenticated(err) {
				return nil, err
			}
			res[i] = refused(m, err)
			continue
		}
		send = append(send, queueMsgFromPB(m))
		at = append(at, i)
	}
	if len(send) > 0 {
		span := nopSpan
		if s.tr.On() {
			channels, tags := make([]string, len(send)), make([]map[string]string, len(send))
			for i, m := range send {
				channels[i], tags[i] = m.Channel, m.Tags
			}
			ctx, span = s.tr.SendBatch(ctx, tracing.Queues, channels, tags)
		}
		for j, r := range s.svc.Queues.SendBatch(ctx, send) {
			res[at[j]] = r
			if r.Err != nil {
				tracing.Fail(span, r.Err.Error())
			}
		}
		span.End()
	}
	return res, nil
}

// SendQueueMessagesBatch stores a batch; each item's failure, a refusal by
// the access-control list included, is in its result and HaveErrors is set
// when any item failed.
func (s *Server) SendQueueMessagesBatch(ctx context.Context, in *kubemqpb.QueueMessagesBatchRequest) (*kubemqpb.QueueMessagesBatchResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if len(in.Messages) == 0 {
		return nil, status.Error(codes.Unknown, "empty messages batch")
	}
	res, _ := s.sendBatch(ctx, in.Messages, func(m *kubemqpb.QueueMessage) error {
		return s.authorizeQueueMessage(c, m.ClientID, m.Channel, m.GetPolicy().GetMaxReceiveQueue())
	})
	out := &kubemqpb.QueueMessagesBatchResponse{BatchID: in.BatchID, Results: make([]*kubemqpb.SendQueueMessageResult, len(res))}
	for i, r := range res {
		out.Results[i] = resultToPB(r)
		out.HaveErrors = out.HaveErrors || r.Err != nil
	}
	return out, nil
}

// ReceiveQueueMessages receives or peeks; failures are in-band. The server
// serves this unary method through receiveQueueMessagesStream, which
// settles the messages only after the reply was handed to the transport;
// this unary form counts them delivered when it returns.
func (s *Server) ReceiveQueueMessages(ctx context.Context, in *kubemqpb.ReceiveQueueMessagesRequest) (*kubemqpb.ReceiveQueueMessagesResponse, error) {
	var out *kubemqpb.ReceiveQueueMessagesResponse
	err := s.ReceiveQueueMessagesWith(ctx, in, func(r *kubemqpb.ReceiveQueueMessagesResponse) error {
		out = r
		return nil
	})
	return out, err
}

// ReceiveQueueMessagesWith runs a receive or peek and hands the reply to
// deliver; the received messages are removed only once deliver returned
// nil (and queues.ReplyGrace later), and returned to the queue otherwise.
func (s *Server) ReceiveQueueMessagesWith(ctx context.Context, in *kubemqpb.ReceiveQueueMessagesRequest, deliver func(*kubemqpb.ReceiveQueueMessagesResponse) error) error {
	out, res, err := s.receiveQueueMessages(ctx, in)
	if err != nil {
		return err
	}
	var spans []trace.Span
	if !in.IsPeak {
		spans = s.deliverSpans(ctx, in.ClientID, out.Messages)
	}
	err = deliver(out)
	endSpans(spans, err)
	if res != nil {
		if err == nil {
			res.SettleDelivered()
		} else {
			res.Settle(context.WithoutCancel(ctx), false)
		}
	}
	return err
}

func (s *Server) receiveQueueMessages(ctx context.Context, in *kubemqpb.ReceiveQueueMessagesRequest) (*kubemqpb.ReceiveQueueMessagesResponse, *queues.ReceiveResult, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := &kubemqpb.ReceiveQueueMessagesResponse{RequestID: in.RequestID, IsPeak: in.IsPeak}
	if out.RequestID == "" {
		out.RequestID = kmq.NewID()
	}
	if err := s.authorizeQueue(c, in.ClientID, in.Channel, auth.Read); err != nil {
		if errors.Is(err, kmq.ErrAccessDenied) {
			return nil, nil, accessDenied()
		}
		out.IsError, out.Error = true, err.Error()
		return out, nil, nil
	}
	res, err := s.svc.Queues.Receive(ctx, &queues.ReceiveRequest{
		ClientID: in.ClientID, Channel: in.Channel, MaxMessages: int(in.MaxNumberOfMessages),
		Wait: seconds(in.WaitTimeSeconds), Peek: in.IsPeak,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, status.FromContextError(ctx.Err()).Err()
		}
		out.IsError, out.Error = true, err.Error()
		return out, nil, nil
	}
	out.Messages = queueMsgsToPB(res.Messages)
	out.MessagesReceived = int32(len(res.Messages))
	out.MessagesExpired = res.Expired
	return out, res, nil
}

// receiveQueueMessagesStream serves the unary ReceiveQueueMessages as a
// stream handler (the wire is the same: one request, one reply), so that
// received messages are removed only after SendMsg handed the reply to the
// transport (and queues.ReplyGrace later). A reply that cannot be sent
// (client gone, over the size limit) returns them to the queue. Should the
// process die in between, the engine redelivers them: at least once.
func (s *Server) receiveQueueMessagesStream(_ any, stream grpc.ServerStream) error {
	in := new(kubemqpb.ReceiveQueueMessagesRequest)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	return s.ReceiveQueueMessagesWith(stream.Context(), in, func(out *kubemqpb.ReceiveQueueMessagesResponse) error {
		return stream.SendMsg(out)
	})
}

// AckAllQueueMessages removes the channel's ready messages; failures in-band.
func (s *Server) AckAllQueueMessages(ctx context.Context, in *kubemqpb.AckAllQueueMessagesRequest) (*kubemqpb.AckAllQueueMessagesResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	out := &kubemqpb.AckAllQueueMessagesResponse{RequestID: in.RequestID}
	if out.RequestID == "" {
		out.RequestID = kmq.NewID()
	}
	if err := s.authorizeQueue(c, in.ClientID, in.Channel, auth.Write); err != nil {
		if errors.Is(err, kmq.ErrAccessDenied) {
			return nil, accessDenied()
		}
		out.IsError, out.Error = true, err.Error()
		return out, nil
	}
	n, err := s.svc.Queues.AckAll(ctx, in.ClientID, in.Channel, seconds(in.WaitTimeSeconds))
	out.AffectedMessages = n
	if err != nil {
		out.IsError, out.Error = true, err.Error()
	}
	return out, nil
}

// QueuesInfo reports the queue channels and their counters. With an
// access-control list, only the queues the caller may read are listed,
// the caller being the one client id its identity allows (a JWT's
// identity claim, a static token's literal pattern); callers without one
// (anonymous, wildcard patterns, unbound tokens) see none.
func (s *Server) QueuesInfo(ctx context.Context, in *kubemqpb.QueuesInfoRequest) (*kubemqpb.QueuesInfoResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.svc.Queues.Info(ctx, in.QueueName)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	filter := s.guard != nil && s.guard.AuthorizationEnabled()
	out := &kubemqpb.QueuesInfo{TotalQueue: info.TotalQueue, Sent: info.Sent, Delivered: info.Delivered, Waiting: info.Waiting}
	if filter {
		out = &kubemqpb.QueuesInfo{}
	}
	for _, q := range info.Queues {
		if filter && !s.mayRead(c, q.Name) {
			continue
		}
		out.Queues = append(out.Queues, &kubemqpb.QueueInfo{
			Name: q.Name, Messages: q.Messages, Bytes: q.Bytes, FirstSequence: q.FirstSequence,
			LastSequence: q.LastSequence, Sent: q.Sent, Delivered: q.Delivered, Waiting: q.Waiting, Subscribers: q.Subscribers,
		})
		if filter {
			out.TotalQueue++
			out.Sent += q.Sent
			out.Delivered += q.Delivered
			out.Waiting += q.Waiting
		}
	}
	return &kubemqpb.QueuesInfoResponse{RefRequestID: in.RequestID, Info: out}, nil
}

// mayRead reports whether the list lets c's own client id read queue.
func (s *Server) mayRead(c caller, queue string) bool {
	id := c.id.ClientIDs
	if id == "" || strings.Contains(id, "*") {
		return false
	}
	res, ch := queueResource(queue)
	return s.guard.Allowed(res, id, ch, auth.Read)
}

// lockedSender serialises Send on a stream written by several goroutines.
type lockedSender[T any] struct {
	mu   sync.Mutex
	send func(*T) error
}

func (l *lockedSender[T]) Send(m *T) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.send(m)
}

// recvLoop reads a stream into a channel until it fails; the error (io.EOF
// on half-close) is delivered on errc.
func recvLoop[T any](ctx context.Context, recv func() (*T, error)) (<-chan *T, <-chan error) {
	ch, errc := make(chan *T), make(chan error, 1)
	go func() {
		for {
			m, err := recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case ch <- m:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	return ch, errc
}

// StreamQueueMessage runs one transaction per stream: receive one message,
// then settle it; the stream ends after a settlement, after Error 138 and
// after the visibility timer fired (Error 129).
func (s *Server) StreamQueueMessage(stream grpc.BidiStreamingServer[kubemqpb.StreamQueueMessagesRequest, kubemqpb.StreamQueueMessagesResponse]) error {
	const method = "StreamQueueMessage"
	c, err := s.caller(stream.Context())
	if err != nil {
		return err
	}
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	sess := s.svc.Queues.NewSession()
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		sess.Close()
	}()
	out := &lockedSender[kubemqpb.StreamQueueMessagesResponse]{send: stream.Send}
	reqs, recvErr := recvLoop(ctx, stream.Recv)
	end := make(chan struct{})
	var endOnce sync.Once
	finish := func() { endOnce.Do(func() { close(end) }) }
	var lastMu sync.Mutex
	lastID, lastType := "", kubemqpb.StreamRequestType_StreamRequestTypeUnknown
	held := "" // the channel of the receive, once one began
	reply := func(in *kubemqpb.StreamQueueMessagesRequest, err error) {
		r := &kubemqpb.StreamQueueMessagesResponse{RequestID: in.RequestID, StreamRequestTypeData: in.StreamRequestTypeData}
		if err != nil {
			r.IsError, r.Error = true, err.Error()
		}
		_ = out.Send(r)
	}
	for {
		select {
		case <-ctx.Done():
			return s.endStream(method, ctx, nil)
		case err := <-recvErr:
			return s.endStream(method, ctx, err)
		case <-end:
			return nil
		case <-sess.Expired():
			lastMu.Lock()
			r := &kubemqpb.StreamQueueMessagesResponse{RequestID: lastID, StreamRequestTypeData: lastType, IsError: true, Error: kmq.ErrVisibilityExpired.Error()}
			lastMu.Unlock()
			_ = out.Send(r)
			return nil
		case in := <-reqs:
			if in.RequestID == "" {
				in.RequestID = kmq.NewID()
			}
			lastMu.Lock()
			lastID, lastType = in.RequestID, in.StreamRequestTypeData
			lastMu.Unlock()
			if err := kmq.ValidateClientID(in.ClientID); err != nil {
				reply(in, err)
				continue
			}
			var err error
			if c, err = s.reverify(c); err != nil {
				return err
			}
			if err := s.checkStreamRequest(c, in, held); err != nil {
				reply(in, err)
				continue
			}
			vis, wait := seconds(in.VisibilitySeconds), seconds(in.WaitTimeSeconds)
			settled := false
			switch in.StreamRequestTypeData {
			case kubemqpb.StreamRequestType_ReceiveMessage:
				if err = sess.BeginReceive(in.Channel, vis, wait); err != nil {
					break
				}
				held = in.Channel
				wg.Add(1)
				go func() {
					defer wg.Done()
					m, err := sess.Receive(ctx, in.ClientID, in.Channel, vis, wait)
					if ctx.Err() != nil {
						return
					}
					if err != nil {
						reply(in, err)
						if errors.Is(err, kmq.ErrNoNewMessage) {
							finish()
						}
						return
					}
					pm := queueMsgToPB(m)
					span := s.tr.Deliver(ctx, queueSpan(pm), in.ClientID, "")
					tracing.End(span, out.Send(&kubemqpb.StreamQueueMessagesResponse{RequestID: in.RequestID, StreamRequestTypeData: in.StreamRequestTypeData, Message: pm}))
				}()
				continue
			case kubemqpb.StreamRequestType_AckMessage:
				err = sess.Ack(ctx, in.RefSequence)
				settled = err == nil
			case kubemqpb.StreamRequestType_RejectMessage:
				err = sess.Reject(ctx, in.RefSequence)
				settled = err == nil
			case kubemqpb.StreamRequestType_ModifyVisibility:
				err = sess.Extend(vis)
			case kubemqpb.StreamRequestType_ResendMessage:
				err = sess.Resend(ctx, in.Channel)
				settled = err == nil
			case kubemqpb.StreamRequestType_SendModifiedMessage:
				var m *queues.Message
				if in.ModifiedMessage != nil {
					m = queueMsgFromPB(in.ModifiedMessage)
				}
				err = sess.SendModified(ctx, m, vis)
				settled = err == nil
			default:
				err = kmq.ErrStreamRequestType
			}
			reply(in, err)
			if settled {
				return nil
			}
		}
	}
}

// checkStreamRequest authorizes one StreamQueueMessage request: its client
// id, and reading the channel it receives from or, once a message is held,
// the one the message came from; Resend and SendModified write to their
// target as a send does.
func (s *Server) checkStreamRequest(c caller, in *kubemqpb.StreamQueueMessagesRequest, held string) error {
	if err := s.bind(c, in.ClientID); err != nil {
		return err
	}
	switch in.StreamRequestTypeData {
	case kubemqpb.StreamRequestType_ReceiveMessage:
		return s.authorizeQueue(c, in.ClientID, in.Channel, auth.Read)
	case kubemqpb.StreamRequestType_AckMessage, kubemqpb.StreamRequestType_RejectMessage, kubemqpb.StreamRequestType_ModifyVisibility:
		if held != "" {
			return s.authorizeQueue(c, in.ClientID, held, auth.Read)
		}
	case kubemqpb.StreamRequestType_ResendMessage:
		return s.authorizeQueue(c, in.ClientID, in.Channel, auth.Write)
	case kubemqpb.StreamRequestType_SendModifiedMessage:
		if m := in.ModifiedMessage; m != nil {
			return s.authorizeQueueMessage(c, m.ClientID, m.Channel, m.GetPolicy().GetMaxReceiveQueue())
		}
	}
	return nil
}

// downstreamOps maps the wire's settlement request types to the pattern's.
var downstreamOps = map[kubemqpb.QueuesDownstreamRequestType]queues.Op{
	kubemqpb.QueuesDownstreamRequestType_AckAll:        queues.OpAckAll,
	kubemqpb.QueuesDownstreamRequestType_AckRange:      queues.OpAckRange,
	kubemqpb.QueuesDownstreamRequestType_NAckAll:       queues.OpNAckAll,
	kubemqpb.QueuesDownstreamRequestType_NAckRange:     queues.OpNAckRange,
	kubemqpb.QueuesDownstreamRequestType_ReQueueAll:    queues.OpReQueueAll,
	kubemqpb.QueuesDownstreamRequestType_ReQueueRange:  queues.OpReQueueRange,
	kubemqpb.QueuesDownstreamRequestType_ActiveOffsets: queues.OpActiveOffsets,
	kubemqpb.QueuesDownstreamRequestType_CloseByClient: queues.OpClose,
}

// downstream is one QueuesDownstream stream being served.
type downstream struct {
	s   *Server
	ctx context.Context
	ds  *queues.Downstream
	out *lockedSender[kubemqpb.QueuesDownstreamResponse]
	wg  sync.WaitGroup

	mu  sync.Mutex
	txs map[string]txOwner // open transactions: who opened them, on what
}

// txOwner is the client id and channel of a transaction's Get, which its
// settlements are checked against.
type txOwner struct{ clientID, channel string }

func (d *downstream) fail(resp *kubemqpb.QueuesDownstreamResponse, err error) {
	resp.IsError, resp.Error = true, err.Error()
	_ = d.out.Send(resp)
}

// get runs a Get apart from the stream's loop: settlements of the stream
// never wait behind it.
func (d *downstream) get(in *kubemqpb.QueuesDownstreamRequest, resp *kubemqpb.QueuesDownstreamResponse) {
	if err := d.ds.ReserveGet(); err != nil {
		resp.TransactionId = kmq.NewUUID() // as for other refused Gets
		d.fail(resp, err)
		return
	}
	d.wg.Go(func() {
		d.ds.Get(d.ctx, queues.GetRequest{
			ClientID: in.ClientID, Channel: in.Channel, MaxItems: int(in.MaxItems),
			Wait: time.Duration(in.WaitTimeout) * time.Millisecond, AutoAck: in.AutoAck,
		}, func(id string, msgs []*queues.Message, err error) error {
			if d.ctx.Err() != nil {
				return d.ctx.Err()
			}
			resp.TransactionId = id
			if err != nil {
				d.fail(resp, err)
				return nil
			}
			if len(msgs) > 0 { // auto-acked ones too: a settlement may come before the ack
				d.own(id, txOwner{in.ClientID, in.Channel})
			}
			resp.Messages = queueMsgsToPB(msgs)
			spans := d.s.deliverSpans(d.ctx, in.ClientID, resp.Messages)
			err = d.out.Send(resp)
			endSpans(spans, err)
			return err
		})
	})
}

func (d *downstream) status(in *kubemqpb.QueuesDownstreamRequest, resp *kubemqpb.QueuesDownstreamResponse) {
	complete, err := d.ds.Status(in.RefTransactionId)
	if err != nil {
		d.fail(resp, err)
		return
	}
	resp.TransactionComplete = complete
	_ = d.out.Send(resp)
}

// settle applies a settlement; only failures and ActiveOffsets are answered.
func (d *downstream) settle(in *kubemqpb.QueuesDownstreamRequest, resp *kubemqpb.QueuesDownstreamResponse) {
	op := downstreamOps[in.RequestTypeData]
	offsets, err := d.ds.Settle(d.ctx, op, in.RefTransactionId, in.SequenceRange, in.ReQueueChannel)
	if err != nil {
		d.fail(resp, err)
		return
	}
	if op == queues.OpActiveOffsets {
		resp.ActiveOffsets = offsets
		_ = d.out.Send(resp)
	}
}

func (d *downstream) unknown(in *kubemqpb.QueuesDownstreamRequest, resp *kubemqpb.QueuesDownstreamResponse) {
	if _, err := d.ds.Status(in.RefTransactionId); err != nil {
		d.fail(resp, err)
		return
	}
	resp.RequestTypeData = kubemqpb.QueuesDownstreamRequestType_PollRequestTypeUnknown
	d.fail(resp, kmq.ErrRequestUnknown)
}

// own records who opened transaction id, forgetting completed
// transactions now and then.
func (d *downstream) own(id string, o txOwner) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.txs) >= 64 && len(d.txs)&63 == 0 {
		for t := range d.txs {
			if complete, _ := d.ds.Status(t); complete {
				delete(d.txs, t)
			}
		}
	}
	d.txs[id] = o
}

// owner returns who opened transaction id (zero when it is not known).
func (d *downstream) owner(id string) txOwner {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.txs[id]
}

// checkDownstream authorizes one QueuesDownstream request: its client id;
// a Get reads its channel; a settlement reads the channel of the
// transaction's Get (as the client id of the request, or of the Get when
// the request has none) and a re-queue also writes to its target.
func (s *Server) checkDownstream(c caller, d *downstream, in *kubemqpb.QueuesDownstreamRequest) error {
	if err := s.bind(c, in.ClientID); err != nil {
		return err
	}
	if in.RequestTypeData == kubemqpb.QueuesDownstreamRequestType_Get {
		return s.authorizeQueue(c, in.ClientID, in.Channel, auth.Read)
	}
	op, ok := downstreamOps[in.RequestTypeData]
	if !ok || op == queues.OpActiveOffsets || op == queues.OpClose {
		return nil
	}
	tx := d.owner(in.RefTransactionId)
	if tx.channel == "" {
		// Every transaction holding messages was recorded before its id
		// reached the client: this one holds nothing, and the settlement
		// says so.
		return nil
	}
	clientID := cmp.Or(in.ClientID, tx.clientID)
	if err := s.authorizeQueue(c, clientID, tx.channel, auth.Read); err != nil {
		return err
	}
	if (op == queues.OpReQueueAll || op == queues.OpReQueueRange) && in.ReQueueChannel != "" {
		return s.authorizeQueue(c, clientID, in.ReQueueChannel, auth.Write)
	}
	return nil
}

// handler returns what serves a request type.
func (d *downstream) handler(t kubemqpb.QueuesDownstreamRequestType) func(*kubemqpb.QueuesDownstreamRequest, *kubemqpb.QueuesDownstreamResponse) {
	switch t {
	case kubemqpb.QueuesDownstreamRequestType_Get:
		return d.get
	case kubemqpb.QueuesDownstreamRequestType_TransactionStatus:
		return d.status
	}
	if _, ok := downstreamOps[t]; ok {
		return d.settle
	}
	return d.unknown
}

// QueuesDownstream serves poll transactions. Gets run concurrently with the
// settlements of the same stream; settlements are applied in arrival order
// and answered only when they fail (or, for ActiveOffsets and
// TransactionStatus, with their answer).
func (s *Server) QueuesDownstream(stream grpc.BidiStreamingServer[kubemqpb.QueuesDownstreamRequest, kubemqpb.QueuesDownstreamResponse]) error {
	c, err := s.caller(stream.Context())
	if err != nil {
		return err
	}
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	d := &downstream{
		s: s, ctx: ctx, ds: s.svc.Queues.NewDownstream(), txs: make(map[string]txOwner),
		out: &lockedSender[kubemqpb.QueuesDownstreamResponse]{send: stream.Send},
	}
	defer func() {
		d.wg.Wait() // pending Gets answer, then the transactions close
		d.ds.Close()
	}()
	reqs, recvErr := recvLoop(ctx, stream.Recv)
	for {
		var in *kubemqpb.QueuesDownstreamRequest
		select {
		case <-ctx.Done():
			return s.endStream("QueuesDownstream", ctx, nil)
		case err := <-recvErr:
			return s.endStream("QueuesDownstream", ctx, err)
		case in = <-reqs:
		}
		resp := &kubemqpb.QueuesDownstreamResponse{TransactionId: in.RefTransactionId, RefRequestId: in.RequestID, RequestTypeData: in.RequestTypeData}
		if c, err = s.reverify(c); err != nil {
			return err
		}
		if err := s.checkDownstream(c, d, in); err != nil {
			if in.RequestTypeData == kubemqpb.QueuesDownstreamRequestType_Get {
				resp.TransactionId = kmq.NewUUID() // as a Get that fails validation
			}
			d.fail(resp, err)
			continue
		}
		d.handler(in.RequestTypeData)(in, resp)
	}
}

// QueuesUpstream stores each request's messages as a batch and answers by
// RefRequestID; requests run concurrently (at most 16 per stream).
func (s *Server) QueuesUpstream(stream grpc.BidiStreamingServer[kubemqpb.QueuesUpstreamRequest, kubemqpb.QueuesUpstreamResponse]) error {
	c, err := s.caller(stream.Context())
	if err != nil {
		return err
	}
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	settle, stopSettle := settleContext(ctx)
	defer stopSettle()
	var wg sync.WaitGroup
	defer wg.Wait()
	out := &lockedSender[kubemqpb.QueuesUpstreamResponse]{send: stream.Send}
	sem := make(chan struct{}, 16)
	reqs, recvErr := recvLoop(ctx, stream.Recv)
	for {
		var in *kubemqpb.QueuesUpstreamRequest
		select {
		case in = <-reqs:
		case err := <-recvErr:
			return s.endStream("QueuesUpstream", ctx, err)
		case <-ctx.Done():
			return s.endStream("QueuesUpstream", ctx, nil)
		}
		if len(in.Messages) == 0 {
			_ = out.Send(&kubemqpb.QueuesUpstreamResponse{RefRequestID: in.RequestID, IsError: true, Error: "no messages to send"})
			continue
		}
		// Each message is checked, its refusal its result; a token that
		// stopped being valid ends the stream.
		if c, err = s.reverify(c); err != nil {
			return err
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		c := c
		wg.Go(func() {
			defer func() { <-sem }()
			// Taken: stored to the end and answered, also when the stream
			// ends meanwhile (the server shuts down: the handler waits).
			res, _ := s.sendBatch(settle, in.Messages, func(m *kubemqpb.QueueMessage) error {
				return s.authorizeQueueMessage(c, m.ClientID, m.Channel, m.GetPolicy().GetMaxReceiveQueue())
			})
			resp := &kubemqpb.QueuesUpstreamResponse{RefRequestID: in.RequestID, Results: make([]*kubemqpb.SendQueueMessageResult, len(res))}
			for i, r := range res {
				resp.Results[i] = resultToPB(r)
			}
			_ = out.Send(resp)
		})
	}
}
