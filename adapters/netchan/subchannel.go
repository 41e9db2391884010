package netchan

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"
)

// SubOption configures a SubChannel.
type SubOption func(*subOptions)

type subOptions struct {
	start  start
	resume bool
	buffer int
	verify bool
	err    error
}

// FromFirst reads the channel from its first message (the default).
func FromFirst() SubOption { return func(o *subOptions) { o.start = start{kind: startFirst} } }

// From reads the messages stored at or after t (broker clock, inclusive;
// pass t.Add(time.Nanosecond) to exclude a message stored exactly at t).
func From(t time.Time) SubOption {
	return func(o *subOptions) { o.start = start{kind: startAtTime, t: t} }
}

// FromSequence reads the messages with Sequence ≥ seq (seq ≥ 1).
func FromSequence(seq uint64) SubOption {
	return func(o *subOptions) {
		if seq == 0 {
			o.err = fmt.Errorf("%w: FromSequence(0): sequences start at 1", ErrInvalidOption)
			return
		}
		o.start = start{kind: startSequence, seq: seq}
	}
}

// FromLast reads the last stored message, then new ones.
func FromLast() SubOption { return func(o *subOptions) { o.start = start{kind: startLast} } }

// FromNew reads only messages stored from now: it looks one second back
// (broker clock), so it may also see messages stored up to a second
// before the call, and never misses one stored after it returned.
func FromNew() SubOption { return func(o *subOptions) { o.start = start{kind: startNew} } }

// Resume keeps a durable cursor named by the subscriber id: a later
// SubChannel with the same id continues where this one stopped, and
// SubChannels with the same id share the messages. On Herald it is an acked
// durable read (at least once: a message is acknowledged once handed to the
// view); elsewhere an events-store group (at most once). The first use
// starts at the other start option (default the first message; FromLast
// starts at the next message); later uses ignore it.
func Resume() SubOption { return func(o *subOptions) { o.resume = true } }

// WithBuffer sets the capacity of the view's Go channel (default 0).
func WithBuffer(n int) SubOption {
	return func(o *subOptions) {
		if n < 0 {
			o.err = fmt.Errorf("%w: WithBuffer(%d)", ErrInvalidOption, n)
			return
		}
		o.buffer = n
	}
}

// WithVerify compares the MD5 of the payloads read with the one the
// closing publisher recorded in the close marker, when the reader started
// at the first message and the counts match: Err then reports
// ErrChecksumMismatch if they differ.
func WithVerify() SubOption { return func(o *subOptions) { o.verify = true } }

// CloseInfo is what the close marker of a channel records.
type CloseInfo struct {
	Md5       []byte    // MD5 the closing handle computed over what it published
	Count     uint64    // messages the closing handle published
	Sequence  uint64    // sequence of the close marker
	Timestamp time.Time // when the channel was closed (broker clock)
}

const (
	viewNone = iota
	viewBytes
	viewMessages
)

// SubChannel reads a network channel. One reader goroutine feeds the view
// (Channel or Messages, whichever is asked for first). Methods are safe for
// concurrent use.
type SubChannel struct {
	c       *Client
	name    string
	channel string
	opts    subOptions
	src     source
	dec     decoder

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	bytesCh chan []byte
	msgCh   chan Message
	chosen  chan struct{}

	mu          sync.Mutex
	view        int
	viewErr     error
	bytesClosed bool
	msgsClosed  bool
	reason      error // why the handle was stopped (Cancel / Close)
	err         error
	sealed      bool
	info        CloseInfo
	md5         hash.Hash
	count       uint64
}

// NewSubChannel opens a reader of the network channel name (see
// OpenSubChannel), with the publish timeout as deadline for opening.
func (c *Client) NewSubChannel(subscriberID, name string, opts ...SubOption) (*SubChannel, error) {
	ctx, cancel := c.timeoutCtx()
	defer cancel()
	return c.OpenSubChannel(ctx, subscriberID, name, opts...)
}

// OpenSubChannel opens a reader of the network channel name, from its
// first message unless an option says otherwise. The channel need not
// exist yet. The subscriber id names the reader (and, with Resume, its
// durable cursor).
func (c *Client) OpenSubChannel(ctx context.Context, subscriberID, name string, opts ...SubOption) (*SubChannel, error) {
	ch, err := channelName(c.opts.prefix, name)
	if err != nil {
		return nil, err
	}
	var so subOptions
	for _, o := range opts {
		if o != nil {
			o(&so)
		}
	}
	if so.err != nil {
		return nil, so.err
	}
	if so.resume && subscriberID == "" {
		return nil, fmt.Errorf("%w: Resume needs a subscriber id", ErrInvalidOption)
	}
	src, err := c.openSource(ctx, ch, subscriberID, so.start, so.resume)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	s := &SubChannel{c: c, name: name, channel: ch, opts: so, src: src, dec: decoder{c: c},
		ctx: rctx, cancel: cancel, bytesCh: make(chan []byte, so.buffer), msgCh: make(chan Message, so.buffer),
		chosen: make(chan struct{}), md5: md5.New()}
	if err := c.track(s); err != nil {
		cancel()
		src.close()
		return nil, err
	}
	s.wg.Go(s.run)
	return s, nil
}

// Name returns the network channel name.
func (s *SubChannel) Name() string { return s.name }

// Channel returns the payload view: every payload in order, closed at the
// close marker, on Cancel/Close, deletion or failure (see Err). If
// Messages was called first it returns a closed channel and ViewErr
// reports ErrViewInUse.
func (s *SubChannel) Channel() <-chan []byte {
	s.choose(viewBytes)
	return s.bytesCh
}

// Messages returns the full view (sequence, timestamp, …); see Channel.
func (s *SubChannel) Messages() <-chan Message {
	s.choose(viewMessages)
	return s.msgCh
}

// choose makes v the view if none was chosen yet (closing the other one);
// asking for the other view once one is chosen sets ErrViewInUse.
func (s *SubChannel) choose(v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.view {
	case viewNone:
		s.view = v
		if v == viewBytes {
			s.closeMsgs()
		} else {
			s.closeBytes()
		}
		close(s.chosen)
	case v:
	default:
		s.viewErr = ErrViewInUse
	}
}

func (s *SubChannel) closeBytes() {
	if !s.bytesClosed {
		s.bytesClosed = true
		close(s.bytesCh)
	}
}

func (s *SubChannel) closeMsgs() {
	if !s.msgsClosed {
		s.msgsClosed = true
		close(s.msgCh)
	}
}

// Err tells why the view closed: nil after the publisher closed the
// channel (or while it is open), ErrCanceled after Cancel (an error that
// also matches ErrClosed after Close), ErrChannelDeleted,
// ErrChecksumMismatch, or the failure.
func (s *SubChannel) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ViewErr returns ErrViewInUse once the view other than the first one was
// asked for, nil otherwise.
func (s *SubChannel) ViewErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewErr
}

// Closed reports whether the reader reached the close marker: the
// publisher closed the channel.
func (s *SubChannel) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealed
}

// CloseInfo returns what the close marker recorded, and whether it was
// reached.
func (s *SubChannel) CloseInfo() (CloseInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info, s.sealed
}

// Md5 returns the MD5 of the payloads handed to the view so far.
func (s *SubChannel) Md5() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.md5.Sum(nil)
}

// Count returns how many payloads were handed to the view.
func (s *SubChannel) Count() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Cancel stops reading and closes the view (Err: ErrCanceled); it returns
// once the reader goroutine has exited.
func (s *SubChannel) Cancel() { s.stop(ErrCanceled) }

// Close is Cancel, and releases the handle (Err then also matches
// ErrClosed). It is idempotent.
func (s *SubChannel) Close() error {
	s.stop(closedError{})
	s.c.untrack(s)
	return nil
}

func (s *SubChannel) stop(reason error) {
	s.mu.Lock()
	if s.reason == nil || reason == (closedError{}) {
		s.reason = reason
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	if s.err != nil && s.err == ErrCanceled && reason == (closedError{}) {
		s.err = reason
	}
	s.mu.Unlock()
}

func (s *SubChannel) run() {
	var err error
	defer func() {
		s.src.close()
		s.mu.Lock()
		if err != nil && s.ctx.Err() != nil && s.reason != nil {
			err = s.reason
		}
		s.err = err
		s.closeBytes()
		s.closeMsgs()
		s.mu.Unlock()
	}()
	verify := s.opts.verify && !s.opts.resume && s.opts.start.kind == startFirst
	for {
		var d *delivery
		d, err = s.src.next(s.ctx)
		if err != nil {
			return
		}
		if isMarker(d.tags) {
			s.src.nack(d) // every member of a group must see the marker
			err = s.sealedAt(d, verify)
			return
		}
		if err = s.hand(d); err != nil {
			return
		}
		s.src.ack(d)
	}
}

// hand gives d to the view, keeping its visibility while it waits.
func (s *SubChannel) hand(d *delivery) error {
	select {
	case <-s.chosen:
	case <-s.ctx.Done():
		s.src.nack(d)
		return s.ctx.Err()
	}
	var tick <-chan time.Time
	if iv := s.src.interval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	s.mu.Lock()
	view := s.view
	s.mu.Unlock()
	payload := d.body
	if payload == nil {
		payload = []byte{}
	}
	for {
		var sent bool
		if view == viewBytes {
			select {
			case s.bytesCh <- payload:
				sent = true
			case <-tick:
				s.src.extend(d)
			case <-s.ctx.Done():
			}
		} else {
			select {
			case s.msgCh <- s.dec.message(d, -1):
				sent = true
			case <-tick:
				s.src.extend(d)
			case <-s.ctx.Done():
			}
		}
		if sent {
			s.mu.Lock()
			s.md5.Write(payload)
			s.count++
			s.mu.Unlock()
			return nil
		}
		if s.ctx.Err() != nil {
			s.src.nack(d)
			return s.ctx.Err()
		}
	}
}

// sealedAt records the close marker d and returns the view's final error.
func (s *SubChannel) sealedAt(d *delivery, verify bool) error {
	info := CloseInfo{Sequence: d.seq, Timestamp: d.ts}
	info.Md5, _ = hex.DecodeString(d.tags[tagMD5])
	info.Count, _ = strconv.ParseUint(d.tags[tagCount], 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealed, s.info = true, info
	if verify && info.Count == s.count && hex.EncodeToString(info.Md5) != hex.EncodeToString(s.md5.Sum(nil)) {
		return fmt.Errorf("%w: %s: publisher %x, read %x", ErrChecksumMismatch, s.name, info.Md5, s.md5.Sum(nil))
	}
	return nil
}
