package cloudevents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/rs/xid"

	"github.com/heraldmq/herald/client"
)

// GatherOption tunes Gather.
type GatherOption func(*gatherOptions)

type gatherOptions struct{ maxResponders int }

// MaxResponders ends a gather cleanly once n responders have sent all
// their replies (0: only the deadline ends it).
func MaxResponders(n int) GatherOption { return func(o *gatherOptions) { o.maxResponders = n } }

// inbox is a QueryConn's events channel for streamed replies.
type inbox struct {
	channel string
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	live    bool
	probes  map[string]chan struct{}
	streams map[string]*replyStream
	err     error
}

const tagProbe = "herald.probe"

// getInbox returns the live inbox, subscribing and probing it on first use.
func (q *QueryConn) getInbox(ctx context.Context) (*inbox, error) {
	q.inboxMu.Lock()
	defer q.inboxMu.Unlock()
	if q.c.isClosed() {
		return nil, ErrClosed
	}
	in := q.inbox
	if in == nil {
		channel := q.c.s.QueryPrefix + "_inbox." + q.connID
		sctx, cancel := context.WithCancel(q.c.ctx)
		ch, err := q.c.cl.SubscribeToEvents(sctx, channel, "", nil)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("cloudevents: reply inbox %s: %w", channel, err)
		}
		in = &inbox{channel: channel, cancel: cancel, done: make(chan struct{}), probes: map[string]chan struct{}{},
			streams: map[string]*replyStream{}}
		q.inbox = in
		go in.read(ch)
	}
	in.mu.Lock()
	live, ended := in.live, in.err
	in.mu.Unlock()
	if ended != nil {
		return nil, ended
	}
	if live {
		return in, nil
	}
	for {
		nonce := xid.New().String()
		seen := make(chan struct{})
		in.mu.Lock()
		in.probes[nonce] = seen
		in.mu.Unlock()
		err := q.c.cl.E().SetChannel(in.channel).SetMetadata("herald/probe").AddTag(tagProbe, nonce).Send(ctx)
		var ok bool
		if err == nil {
			select {
			case <-seen:
				ok = true
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
			}
		}
		in.mu.Lock()
		delete(in.probes, nonce)
		if ok {
			in.live = true
		}
		in.mu.Unlock()
		if ok {
			return in, nil
		}
		if ctx.Err() != nil {
			return nil, ctxErr("reply inbox "+in.channel+" not live", ctx, err)
		}
		if err != nil && !errors.Is(err, client.ErrUnavailable) {
			return nil, fmt.Errorf("cloudevents: reply inbox %s: %w", in.channel, err)
		}
	}
}

func (in *inbox) read(ch <-chan *client.Event) {
	defer close(in.done)
	for ev := range ch {
		in.mu.Lock()
		if nonce := ev.Tags[tagProbe]; nonce != "" {
			if seen := in.probes[nonce]; seen != nil {
				close(seen)
				delete(in.probes, nonce)
			}
			in.mu.Unlock()
			continue
		}
		s := in.streams[ev.Tags[tagRequestID]]
		in.mu.Unlock()
		if s != nil {
			s.receive(ev)
		}
	}
	in.mu.Lock()
	in.err = fmt.Errorf("cloudevents: reply inbox %s ended: %w", in.channel, ErrClosed)
	streams := in.streams
	in.streams = map[string]*replyStream{}
	in.mu.Unlock()
	for _, s := range streams {
		s.fail(ErrReplyStreamBroken)
	}
}

func (q *QueryConn) closeInbox() {
	q.inboxMu.Lock()
	in := q.inbox
	q.inboxMu.Unlock()
	if in != nil {
		in.cancel()
		<-in.done
	}
}

// inboxSend sends a streamed reply (or the end event) to a requester's inbox.
func (q *QueryConn) inboxSend(channel string, w Wire) error {
	if err := validName(channel); err != nil && !errors.Is(err, ErrInvalidName) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.c.s.RequestTimeout)
	defer cancel()
	err := q.c.cl.E().SetId(w.ID).SetChannel(channel).SetMetadata(w.Metadata).SetBody(w.Body).SetTags(w.Tags).Send(ctx)
	if err != nil {
		return fmt.Errorf("cloudevents: streamed reply to %s: %w", channel, err)
	}
	return nil
}

// replyStream is the requester's side of RequestStream and Gather.
type replyStream struct {
	in     *inbox
	id     string
	gather bool
	max    int
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	signal    chan struct{}
	responder string                   // single: the acknowledged responder
	early     []*client.Event          // single: replies before the acknowledgement
	next      map[string]int           // per responder: next sequence to queue
	held      map[string]map[int]Event // per responder: replies waiting for their turn
	ends      map[string]int           // per responder: end count
	failures  map[string]*ReplyError   // per responder: handler failure
	ready     []Event                  // queued for Next, in order
	finished  int                      // responders whose stream is complete
	err       error                    // terminal error, after ready is empty
	over      bool                     // nothing more will be queued
	reported  bool                     // Next has returned the end (err or io.EOF)
}

var _ ReplyStream = (*replyStream)(nil)

// RequestStream sends requestCe to one responder, which may answer with
// several replies (see StreamingReplyWriter); Next returns them in order.
// The stream ends at the responder's end, at ctx's deadline (an error
// matching ErrTimeout), with ErrReplyStreamBroken if replies were lost, or
// with ctx's error when ctx is cancelled.
func (q *QueryConn) RequestStream(ctx context.Context, requestCe Event) (ReplyStream, error) {
	return q.stream(ctx, requestCe, false, 0)
}

// Gather sends requestCe to every responder of its operation (one per
// queue group) and returns the replies of all of them, in arrival order.
// The stream ends cleanly (ExpectNext false, Next io.EOF) when
// MaxResponders responders have finished or ctx's deadline passes, and
// with ctx's error when ctx is cancelled.
func (q *QueryConn) Gather(ctx context.Context, requestCe Event, opts ...GatherOption) (ReplyStream, error) {
	var o gatherOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxResponders < 0 {
		return nil, fmt.Errorf("%w: MaxResponders %d", ErrInvalidOption, o.maxResponders)
	}
	return q.stream(ctx, requestCe, true, o.maxResponders)
}

func (q *QueryConn) stream(ctx context.Context, requestCe Event, gather bool, maxResponders int) (ReplyStream, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	done, err := q.c.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	ce, err := q.c.prepare(requestCe)
	if err != nil {
		return nil, err
	}
	w, err := Encode(ce, q.c.s.Encoding)
	if err != nil {
		return nil, err
	}
	deadline := q.deadline(ctx)
	in, err := q.getInbox(ctx)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	s := &replyStream{in: in, id: xid.New().String(), gather: gather, max: maxResponders, ctx: sctx, cancel: cancel,
		signal: make(chan struct{}), next: map[string]int{}, held: map[string]map[int]Event{}, ends: map[string]int{},
		failures: map[string]*ReplyError{}}
	stopOnCancel := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.expire() // ctx's timer fired before sctx's, same deadline
			return
		}
		s.fail(ctxErr("reply stream", ctx, nil))
	})
	context.AfterFunc(sctx, func() {
		stopOnCancel()
		s.expire()
	})
	in.mu.Lock()
	in.streams[s.id] = s
	in.mu.Unlock()
	kind := "single"
	if gather {
		kind = "gather"
	}
	w.Tags[tagDeadline] = deadline.UTC().Format(time.RFC3339Nano)
	w.Tags[tagStream], w.Tags[tagReplyTo], w.Tags[tagRequestID] = kind, in.channel, s.id
	ackTimeout := min(time.Until(deadline), q.c.s.RequestTimeout)
	resp, err := q.send(ctx, w, q.c.s.QueryPrefix+ce.Type(), time.Now().Add(ackTimeout), ackTimeout, "", 0)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	if resp.Metadata != metaStreamAck {
		// A responder that does not stream answered with one reply.
		reply, err := replyFrom(resp)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.mu.Lock()
		s.ready, s.over = append(s.ready, reply), true
		s.wake()
		s.mu.Unlock()
		return s, nil
	}
	if !gather {
		s.acknowledged(resp.Tags[tagResponder])
	}
	return s, nil
}

// wake tells Next something changed; s.mu is held.
func (s *replyStream) wake() {
	close(s.signal)
	s.signal = make(chan struct{})
}

func (s *replyStream) acknowledged(responder string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responder = responder
	early := s.early
	s.early = nil
	for _, ev := range early {
		s.add(ev)
	}
	s.wake()
}

func (s *replyStream) receive(ev *client.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return
	}
	if !s.gather && s.responder == "" {
		s.early = append(s.early, ev)
		return
	}
	s.add(ev)
	s.wake()
}

// add files one inbox event; s.mu is held.
func (s *replyStream) add(ev *client.Event) {
	r := ev.Tags[tagResponder]
	if !s.gather && r != s.responder {
		return // another responder's replies: the first acknowledgement won
	}
	if _, ok := s.next[r]; !ok {
		s.next[r] = 1
		s.held[r] = map[int]Event{}
	}
	if n, ok := ev.Tags[tagReplyEnd]; ok {
		count, _ := strconv.Atoi(n)
		s.ends[r] = count
		if text := ev.Tags[tagError]; text != "" {
			s.failures[r] = &ReplyError{Responder: r, Message: text}
		}
	} else {
		seq, err := strconv.Atoi(ev.Tags[tagReplySeq])
		if err != nil || seq < s.next[r] {
			return
		}
		ce, err := Decode(Wire{ID: ev.Id, Metadata: ev.Metadata, Body: ev.Body, Tags: ev.Tags})
		if err != nil {
			return
		}
		s.held[r][seq] = ce
	}
	for {
		ce, ok := s.held[r][s.next[r]]
		if !ok {
			break
		}
		delete(s.held[r], s.next[r])
		s.next[r]++
		s.ready = append(s.ready, ce)
	}
	end, ended := s.ends[r]
	if !ended {
		return
	}
	switch {
	case s.next[r]-1 < end:
		// One responder's events arrive in order: missing ones were lost.
		if s.gather {
			s.finished++
		} else {
			s.over, s.err = true, fmt.Errorf("%w: %d of %d replies received from %s", ErrReplyStreamBroken, s.next[r]-1, end, r)
		}
	default:
		s.finished++
		if !s.gather {
			s.over = true
			if f := s.failures[r]; f != nil {
				s.err = f
			} else {
				s.err = io.EOF
			}
		}
	}
	delete(s.ends, r)
	if s.gather && s.max > 0 && s.finished >= s.max {
		s.over, s.err = true, io.EOF
	}
	if s.over {
		s.in.forget(s.id)
	}
}

func (in *inbox) forget(id string) {
	in.mu.Lock()
	delete(in.streams, id)
	in.mu.Unlock()
}

// expire ends the stream at its deadline: cleanly for a gather.
func (s *replyStream) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return
	}
	s.over = true
	if s.gather {
		s.err = io.EOF
	} else {
		s.err = fmt.Errorf("cloudevents: reply stream: %w: %w", ErrTimeout, context.DeadlineExceeded)
	}
	s.in.forget(s.id)
	s.wake()
}

func (s *replyStream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return
	}
	s.over, s.err = true, err
	s.in.forget(s.id)
	s.wake()
}

// ExpectNext waits until it knows whether Next has something to return,
// as bufio.Scanner.Scan does: true when a reply is ready or the stream
// ended with an error Next has not returned yet (a timeout, a broken or
// failed stream, a cancelled context, Close); false at a clean end (Next
// would return io.EOF) and after Next returned the error. It waits at most
// until the request's deadline.
func (s *replyStream) ExpectNext() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.await()
	return len(s.ready) > 0 || (!s.reported && s.err != nil && !errors.Is(s.err, io.EOF))
}

// Next returns the next reply, waiting until it arrives or the stream
// ends: io.EOF after the last reply, ErrReplyStreamBroken, *ReplyError
// when the responder failed, an ErrTimeout error at the deadline.
func (s *replyStream) Next() (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.await()
	if len(s.ready) > 0 {
		ce := s.ready[0]
		s.ready = s.ready[1:]
		return ce, nil
	}
	s.reported = true
	if s.err == nil {
		return Event{}, io.EOF
	}
	return Event{}, s.err
}

// await waits until a reply is ready or the stream is over; s.mu is held.
func (s *replyStream) await() {
	for len(s.ready) == 0 && !s.over {
		sig := s.signal
		s.mu.Unlock()
		<-sig
		s.mu.Lock()
	}
}

// Close stops receiving and frees the stream; Next then returns ErrClosed.
func (s *replyStream) Close() error {
	s.fail(ErrClosed)
	s.cancel()
	return nil
}
