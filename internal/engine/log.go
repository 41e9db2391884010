package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A Log stores the channels of one kind (every queue channel, say) on a
// fixed number of shard streams: channel c lives on subject
// <Subject>.<i>.<c> of stream <Name>_<i>, i chosen by a hash of c. A
// channel therefore costs no stream, consumer, file or goroutine of its
// own, and the number of streams (and of Raft groups in a cluster) does not
// grow with the number of channels.
//
// Each message carries its channel's own sequence (1, 2, 3… with no gaps)
// in the SeqHeader. One writer per shard hands the numbers out and
// publishes with JetStream's expected-last-sequence check: it predicts the
// stream sequence every message will get, so appends stay pipelined, and a
// message whose prediction fails (another writer, a duplicate id, a store
// error) is not stored, nor is any message after it. The writer then
// re-reads the stream, rolls the channel numbers back and sends the
// messages again, in order. Numbers can therefore neither repeat nor skip.
//
// Numbers are handed out within a durable reservation (SeqStore), so a
// channel whose messages were all consumed or expired continues after the
// last number used, also after a crash (where it may skip up to
// ReserveStep numbers: the reservation is an upper bound).
type Log struct {
	e      *Engine
	cfg    LogConfig
	shards []*shard
	wg     sync.WaitGroup
	stop   chan struct{}
	once   sync.Once
	// closeMu is held (read) by every hand-over to a writer, so that Close
	// stops the writers only after the last one: none is left behind.
	closeMu sync.RWMutex
	closed  bool
}

// Headers of the messages Herald's logs store.
const (
	// SeqHeader holds the channel sequence of a message.
	SeqHeader = "Herald-Seq"
	// TimeHeader holds the original store time (Unix ns) of a message
	// copied from elsewhere (migrated, or moved when sealed).
	TimeHeader = "Herald-Time"
)

// ReserveStep is how many sequence numbers one reservation covers.
const ReserveStep = 1024

// SeqStore keeps a log's per-channel sequence bookkeeping durable.
type SeqStore interface {
	// Recover returns where channel's numbering continues when the stream
	// holds none of its messages (floor: the last number used before a
	// clean shutdown, otherwise the reservation), and the reservation
	// (every number used is at most reserved). Both are 0 for a new channel.
	Recover(channel string) (floor, reserved uint64)
	// Reserve makes durable that numbers up to upTo may be used.
	Reserve(ctx context.Context, channel string, upTo uint64) error
}

// CopiesOnly is the SeqStore of a log that only takes copies numbered as
// their originals (Append.Seq): it keeps nothing and reserves everything.
type CopiesOnly struct{}

// Recover reports no floor and every number reserved.
func (CopiesOnly) Recover(string) (floor, reserved uint64) { return 0, 1 << 62 }

// Reserve does nothing.
func (CopiesOnly) Reserve(context.Context, string, uint64) error { return nil }

// LogConfig describes a log.
type LogConfig struct {
	Name    string // stream names are <Name>_<i>
	Subject string // subjects are <Subject>.<i>.<channel>
	Shards  int
	// WorkQueue: messages leave when a consumer acknowledges them.
	WorkQueue bool
	// KeepsLast: nothing removes the newest message of a channel but
	// Purge, so its SeqHeader is the channel's last number (events store).
	// Otherwise (queues) numbers continue after the SeqStore's floor or
	// the last message, whichever is higher.
	KeepsLast         bool
	MaxAge            time.Duration // 0 = unlimited
	MaxMsgsPerSubject int64         // 0 = unlimited; a per-channel cap
	MaxBytes          int64         // 0 = unlimited; per shard
	Duplicates        time.Duration // deduplication window (ids are scoped by channel)
	AllowMsgTTL       bool
	Seqs              SeqStore
	Metadata          map[string]string
}

// shardOf picks the shard of a channel.
func shardOf(channel string, n int) int { return int(xxhash.Sum64String(channel) % uint64(n)) }

// OpenLog creates (or finds) the shard streams of cfg and starts their
// writers; Close stops them.
func (e *Engine) OpenLog(ctx context.Context, cfg LogConfig) (*Log, error) {
	if cfg.Shards < 1 || cfg.Name == "" || cfg.Subject == "" || cfg.Seqs == nil {
		return nil, errors.New("engine: log needs a name, a subject, shards and a sequence store")
	}
	l := &Log{e: e, cfg: cfg, stop: make(chan struct{})}
	for i := range cfg.Shards {
		sh := &shard{
			log: l, idx: i,
			stream:    fmt.Sprintf("%s_%d", cfg.Name, i),
			prefix:    fmt.Sprintf("%s.%d.", cfg.Subject, i),
			in:        make(chan *appendOp, 1024),
			resv:      make(chan resvResult, 16),
			chans:     make(map[string]*chanState),
			loaded:    make(map[string]bool),
			committed: make(map[string]uint64),
			pending:   make(map[*chanState]struct{}),
		}
		if err := e.EnsureStream(ctx, l.spec(sh)); err != nil {
			return nil, err
		}
		st, err := e.StreamInfo(ctx, sh.stream)
		if err != nil {
			return nil, err
		}
		sh.next = st.LastSeq + 1
		l.shards = append(l.shards, sh)
	}
	for _, sh := range l.shards {
		l.wg.Go(sh.run)
	}
	return l, nil
}

func (l *Log) spec(sh *shard) StreamSpec {
	md := map[string]string{"herald.log": l.cfg.Name, "herald.shard": strconv.Itoa(sh.idx)}
	for k, v := range l.cfg.Metadata {
		md[k] = v
	}
	return StreamSpec{
		Name: sh.stream, Subjects: []string{sh.prefix + ">"}, WorkQueue: l.cfg.WorkQueue,
		MaxAge: l.cfg.MaxAge, MaxBytes: l.cfg.MaxBytes, MaxMsgsPerSubject: l.cfg.MaxMsgsPerSubject,
		Duplicates: l.cfg.Duplicates, AllowMsgTTL: l.cfg.AllowMsgTTL, Metadata: md,
	}
}

// Close stops the writers after the appends already handed to them and
// returns the last number used of every channel they touched, for the
// SeqStore to keep as the floor of a clean restart.
func (l *Log) Close() map[string]uint64 {
	l.once.Do(func() {
		l.closeMu.Lock()
		l.closed = true
		l.closeMu.Unlock()
		close(l.stop)
	})
	l.wg.Wait()
	out := map[string]uint64{}
	for _, sh := range l.shards {
		for ch, st := range sh.chans {
			out[ch] = st.seq
		}
	}
	return out
}

func (l *Log) shard(channel string) *shard { return l.shards[shardOf(channel, len(l.shards))] }

// Stream is the engine stream holding channel.
func (l *Log) Stream(channel string) string { return l.shard(channel).stream }

// Subject is the engine subject of channel.
func (l *Log) Subject(channel string) string { return l.shard(channel).prefix + channel }

// Streams lists the shard streams.
func (l *Log) Streams() []string {
	out := make([]string, len(l.shards))
	for i, sh := range l.shards {
		out[i] = sh.stream
	}
	return out
}

// Channel returns the channel of a subject of this log, or "".
func (l *Log) Channel(subject string) string {
	for _, sh := range l.shards {
		if strings.HasPrefix(subject, sh.prefix) {
			return subject[len(sh.prefix):]
		}
	}
	return ""
}

// Append is a message to store on a channel.
type Append struct {
	Channel string
	Data    []byte
	// MsgID deduplicates within the log's window, per channel.
	MsgID  string
	Header map[string]string
	// Seq, when above the channel's last number, is the number this
	// message takes (copies of messages that already had one).
	Seq uint64
}

// Appended confirms a stored message.
type Appended struct {
	Seq       uint64 // channel sequence; 0 for a duplicate
	StreamSeq uint64
	Duplicate bool // the id was stored before; nothing new was stored
}

// ErrChannelSealed is returned for appends to a channel sealed with Seal.
var ErrChannelSealed = errors.New("engine: channel is sealed")

// Pending is the result of an append, once it is known.
type Pending interface {
	// Wait blocks until the message is stored or failed, or ctx ends.
	Wait(ctx context.Context) (Appended, error)
}

// Wait blocks until the message is stored or failed, or ctx ends.
func (op *appendOp) Wait(ctx context.Context) (Appended, error) {
	select {
	case <-op.done:
		return op.res, op.err
	case <-ctx.Done():
		return Appended{}, ctx.Err()
	}
}

// Append hands a message to its shard's writer; many can be in flight.
// Appends to one channel are stored in the order of the calls.
func (l *Log) Append(ctx context.Context, a Append) Pending {
	op, sh := l.prepare(ctx, a)
	if sh != nil {
		l.submit(ctx, sh, op)
	}
	return op
}

// AppendBatch appends every message of as, as Append would one after
// another, but hands each shard's part of the batch to its writer at once.
func (l *Log) AppendBatch(ctx context.Context, as []Append) []Pending {
	out := make([]Pending, len(as))
	heads := make([]*appendOp, len(l.shards))
	tails := make([]*appendOp, len(l.shards))
	for i, a := range as {
		op, sh := l.prepare(ctx, a)
		out[i] = op
		if sh == nil {
			continue
		}
		if heads[sh.idx] == nil {
			heads[sh.idx] = op
		} else {
			tails[sh.idx].more = op
		}
		tails[sh.idx] = op
	}
	for i, op := range heads {
		if op != nil {
			l.submit(ctx, l.shards[i], op)
		}
	}
	return out
}

// prepare makes the operation of an append and returns the shard to hand
// it to, or no shard when it failed already.
func (l *Log) prepare(ctx context.Context, a Append) (*appendOp, *shard) {
	op := &appendOp{kind: opAppend, a: a, done: make(chan struct{})}
	if len(a.Data) > MaxStoredRecord {
		op.finish(Appended{}, fmt.Errorf("%w: %d bytes, stored messages are limited to %d", ErrPayloadTooLarge, len(a.Data), MaxStoredRecord))
		return op, nil
	}
	if err := l.e.space.check(len(a.Data)); err != nil {
		op.finish(Appended{}, err)
		return op, nil
	}
	sh := l.shard(a.Channel)
	if !sh.isLoaded(a.Channel) {
		p, err := l.prime(ctx, sh, a.Channel)
		if err != nil {
			op.finish(Appended{}, err)
			return op, nil
		}
		op.prime = p
	}
	return op, sh
}

// submit hands op (and the ops chained to it by more) to the writer.
func (l *Log) submit(ctx context.Context, sh *shard, op *appendOp) {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	err := ErrClosed
	if !l.closed {
		select {
		case sh.in <- op:
			return
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	for op != nil {
		next := op.more
		op.more = nil
		op.finish(Appended{}, err)
		op = next
	}
}

// Seal refuses every later append to channel (ErrChannelSealed) and
// returns once the appends before it are stored or failed.
func (l *Log) Seal(ctx context.Context, channel string) error {
	return l.control(ctx, opSeal, channel)
}

// Forget drops the writer's state of a channel (after it was deleted): its
// numbering starts again from what the stream and the SeqStore say.
func (l *Log) Forget(ctx context.Context, channel string) error {
	return l.control(ctx, opForget, channel)
}

func (l *Log) control(ctx context.Context, kind opKind, channel string) error {
	op := &appendOp{kind: kind, a: Append{Channel: channel}, done: make(chan struct{})}
	sh := l.shard(channel)
	if kind == opSeal && !sh.isLoaded(channel) {
		p, err := l.prime(ctx, sh, channel)
		if err != nil {
			return err
		}
		op.prime = p
	}
	l.submit(ctx, sh, op)
	_, err := op.Wait(ctx)
	return err
}

// prime reads where a channel's numbering stands, for a writer that has not
// seen the channel yet.
func (l *Log) prime(ctx context.Context, sh *shard, channel string) (*chanState, error) {
	last, err := l.Last(ctx, channel)
	if err != nil {
		return nil, err
	}
	floor, reserved := l.cfg.Seqs.Recover(channel)
	st := &chanState{reserved: reserved}
	switch {
	case last != nil && l.cfg.KeepsLast:
		st.seq = last.ChanSeq
	case last != nil:
		st.seq = max(last.ChanSeq, floor)
	default:
		st.seq = floor
	}
	st.reserved = max(st.reserved, st.seq)
	return st, nil
}

type opKind int

const (
	opAppend opKind = iota
	opSeal
	opForget
)

// An appendOp is one append (or seal, or forget) from its hand-over to
// the writer until it is finished; it is the Pending of an append.
type appendOp struct {
	kind     opKind
	accepted bool // published once: a retry, which a later Seal does not refuse
	a        Append
	prime    *chanState // the channel's state when the writer does not know it yet
	more     *appendOp  // the next op of a batch handed over with this one
	done     chan struct{}
	res      Appended
	err      error

	// Set by the writer while the append is published and not yet
	// acknowledged.
	st        *chanState
	fut       jetstream.PubAckFuture
	streamSeq uint64 // predicted
	chanSeq   uint64
	prevSeq   uint64 // the channel's last number before this append
}

func (op *appendOp) finish(res Appended, err error) {
	op.res, op.err = res, err
	close(op.done)
}

// chanState is a writer's state of one channel.
type chanState struct {
	channel   string
	subject   string
	seq       uint64 // last number handed out
	reserved  uint64 // durable bound of the numbers handed out
	reserving uint64 // a reservation up to this is being written (0: none)
	parked    []*appendOp
	sealed    bool
	inflight  int
	waiters   []*appendOp // seals waiting for inflight to reach 0
}

type resvResult struct {
	st   *chanState
	upTo uint64
	err  error
}

// shard is one stream of a log and its writer.
type shard struct {
	log    *Log
	idx    int
	stream string
	prefix string
	in     chan *appendOp
	resv   chan resvResult

	// Owned by the writer goroutine.
	next      uint64 // the stream sequence the next stored message gets
	chans     map[string]*chanState
	queue     []*appendOp // published, awaiting their acks, in order
	resyncing bool
	retry     []*appendOp
	pending   map[*chanState]struct{} // channels with a reservation in flight

	loadedMu sync.RWMutex
	loaded   map[string]bool
	// committed is the last number stored per channel, for readers.
	committed map[string]uint64
}

// maxInflight bounds the appends of one shard awaiting their ack (a batch
// taken in may go over by its own length).
const maxInflight = 1024

func (sh *shard) isLoaded(ch string) bool {
	sh.loadedMu.RLock()
	defer sh.loadedMu.RUnlock()
	return sh.loaded[ch]
}

func (sh *shard) setLoaded(ch string, v bool) {
	sh.loadedMu.Lock()
	if v {
		sh.loaded[ch] = true
	} else {
		delete(sh.loaded, ch)
	}
	sh.loadedMu.Unlock()
}

func (sh *shard) run() {
	for {
		var (
			okC  <-chan *jetstream.PubAck
			errC <-chan error
			inC  chan *appendOp
		)
		if len(sh.queue) > 0 {
			okC, errC = sh.queue[0].fut.Ok(), sh.queue[0].fut.Err()
		}
		if !sh.resyncing && len(sh.queue) < maxInflight {
			inC = sh.in
		}
		select {
		case op := <-inC:
			sh.handleAll(op)
			sh.drainIn()
		case ack := <-okC:
			sh.acked(ack, nil)
			sh.drainAcks()
		case err := <-errC:
			sh.acked(nil, err)
			sh.drainAcks()
		case r := <-sh.resv:
			sh.reserved(r)
		case <-sh.log.stop:
			sh.shutdown()
			return
		}
		if sh.resyncing && len(sh.queue) == 0 {
			sh.resync()
		}
	}
}

// drainIn handles the appends already waiting, as run would one select
// at a time: a batch costs the writer one wake-up, not one per message.
func (sh *shard) drainIn() {
	for !sh.resyncing && len(sh.queue) < maxInflight {
		select {
		case op := <-sh.in:
			sh.handleAll(op)
		default:
			return
		}
	}
}

// handleAll handles op and the ops of its batch, in order.
func (sh *shard) handleAll(op *appendOp) {
	for op != nil {
		next := op.more
		op.more = nil
		sh.handle(op)
		op = next
	}
}

// drainAcks takes the acknowledgements already in, in order, as run would
// one select at a time.
func (sh *shard) drainAcks() {
	for len(sh.queue) > 0 && !sh.resyncing {
		f := sh.queue[0].fut
		select {
		case ack := <-f.Ok():
			sh.acked(ack, nil)
		case err := <-f.Err():
			sh.acked(nil, err)
		default:
			return
		}
	}
}

// shutdown stores what was handed over before Close and fails the rest.
func (sh *shard) shutdown() {
	for {
		select {
		case op := <-sh.in:
			sh.handleAll(op)
			continue
		default:
		}
		if len(sh.queue) == 0 && !sh.resyncing && len(sh.pending) == 0 {
			break
		}
		var okC <-chan *jetstream.PubAck
		var errC <-chan error
		if len(sh.queue) > 0 {
			okC, errC = sh.queue[0].fut.Ok(), sh.queue[0].fut.Err()
		}
		t := time.NewTimer(5 * time.Second)
		select {
		case ack := <-okC:
			sh.acked(ack, nil)
		case err := <-errC:
			sh.acked(nil, err)
		case r := <-sh.resv:
			sh.reserved(r)
		case <-t.C:
			t.Stop()
			sh.failAll(ErrClosed)
			return
		}
		t.Stop()
		if sh.resyncing && len(sh.queue) == 0 {
			sh.resync()
		}
	}
	sh.failAll(ErrClosed)
}

// failAll fails whatever still waits: in flight, parked, to retry.
func (sh *shard) failAll(err error) {
	for _, op := range sh.queue {
		op.finish(Appended{}, err)
	}
	sh.queue = nil
	for _, op := range sh.retry {
		op.finish(Appended{}, err)
	}
	sh.retry = nil
	for _, st := range sh.chans {
		for _, op := range st.parked {
			op.finish(Appended{}, err)
		}
		st.parked = nil
		for _, op := range st.waiters {
			op.finish(Appended{}, err)
		}
		st.waiters = nil
	}
}

func (sh *shard) state(op *appendOp) *chanState {
	ch := op.a.Channel
	st := sh.chans[ch]
	if st == nil {
		st = op.prime
		if st == nil {
			st = &chanState{}
		}
		st.channel, st.subject = ch, sh.prefix+ch
		sh.chans[ch] = st
		sh.setLoaded(ch, true)
	}
	return st
}

func (sh *shard) handle(op *appendOp) {
	if op.kind == opForget {
		if st := sh.chans[op.a.Channel]; st != nil {
			for _, p := range st.parked {
				p.finish(Appended{}, ErrStreamNotFound)
			}
			st.parked = nil
			delete(sh.chans, op.a.Channel)
		}
		sh.setLoaded(op.a.Channel, false)
		sh.loadedMu.Lock()
		delete(sh.committed, op.a.Channel)
		sh.loadedMu.Unlock()
		op.finish(Appended{}, nil)
		return
	}
	st := sh.state(op)
	if len(st.parked) > 0 {
		st.parked = append(st.parked, op)
		return
	}
	switch op.kind {
	case opSeal:
		st.sealed = true
		if st.inflight == 0 {
			op.finish(Appended{}, nil)
		} else {
			st.waiters = append(st.waiters, op)
		}
		return
	}
	if st.sealed && !op.accepted {
		op.finish(Appended{}, ErrChannelSealed)
		return
	}
	if need := max(st.seq+1, op.a.Seq); need > st.reserved {
		st.parked = append(st.parked, op)
		sh.reserve(st, need+ReserveStep-1)
		return
	}
	sh.publish(op, st)
}

// reserve starts a reservation of numbers up to upTo unless one runs.
func (sh *shard) reserve(st *chanState, upTo uint64) {
	if st.reserving != 0 {
		return
	}
	st.reserving = upTo
	sh.pending[st] = struct{}{}
	seqs, ch := sh.log.cfg.Seqs, st.channel
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := seqs.Reserve(ctx, ch, upTo)
		cancel()
		sh.resv <- resvResult{st: st, upTo: upTo, err: err}
	}()
}

func (sh *shard) reserved(r resvResult) {
	st := r.st
	st.reserving = 0
	delete(sh.pending, st)
	if r.err == nil {
		st.reserved = max(st.reserved, r.upTo)
	}
	if sh.resyncing {
		return // resync republishes the channel's retries first, then these
	}
	sh.unpark(st, r.err)
}

// unpark hands a channel's parked appends to handle, in order, until one
// has to wait for a reservation again; a failed reservation fails them.
func (sh *shard) unpark(st *chanState, err error) {
	parked := st.parked
	st.parked = nil
	for i, op := range parked {
		if err != nil && op.kind == opAppend {
			op.finish(Appended{}, fmt.Errorf("engine: reserve sequence numbers: %w", err))
			continue
		}
		sh.handle(op)
		if len(st.parked) > 0 {
			st.parked = append(st.parked, parked[i+1:]...)
			return
		}
	}
}

func (sh *shard) publish(op *appendOp, st *chanState) {
	cs := st.seq + 1
	if op.a.Seq > cs {
		cs = op.a.Seq
	}
	prevSeq := st.seq
	st.seq = cs
	m := &nats.Msg{Subject: st.subject, Data: op.a.Data, Header: make(nats.Header, len(op.a.Header)+3)}
	for k, v := range op.a.Header {
		m.Header.Set(k, v)
	}
	// The values of the three headers Herald sets are cut from one string
	// and their slices from one array: two allocations, not six.
	var buf [128]byte
	b := strconv.AppendUint(buf[:0], cs, 10)
	i := len(b)
	b = strconv.AppendUint(b, sh.next-1, 10)
	j := len(b)
	if op.a.MsgID != "" {
		b = appendScopedID(b, op.a.Channel, op.a.MsgID)
	}
	str := string(b)
	vals := [3]string{str[:i], str[i:j], str[j:]}
	vs := vals[:]
	m.Header[SeqHeader] = vs[0:1:1]
	m.Header[jetstream.ExpectedLastSeqHeader] = vs[1:2:2]
	if op.a.MsgID != "" {
		m.Header[jetstream.MsgIDHeader] = vs[2:3:3]
	}
	fut, err := sh.log.e.js.PublishMsgAsync(m)
	if err != nil {
		st.seq = prevSeq
		op.finish(Appended{}, mapJSErr(err))
		return
	}
	op.accepted = true
	op.st, op.fut, op.streamSeq, op.chanSeq, op.prevSeq = st, fut, sh.next, cs, prevSeq
	sh.queue = append(sh.queue, op)
	sh.next++
	st.inflight++
	if st.reserving == 0 && st.seq+ReserveStep/2 > st.reserved {
		sh.reserve(st, st.reserved+ReserveStep)
	}
}

// appendScopedID appends a deduplication id made unique per channel.
func appendScopedID(b []byte, channel, id string) []byte {
	b = strconv.AppendInt(b, int64(len(channel)), 10)
	b = append(b, ':')
	b = append(b, channel...)
	b = append(b, ':')
	return append(b, dedupID(id)...)
}

// maxDedupID is the longest deduplication id kept as it is; longer ones
// (client-chosen message ids can be megabytes) are replaced by a hash, so
// that they fit the engine's 64 KiB header limit and every id costs the
// engine's deduplication table the same few bytes.
const maxDedupID = 256

// dedupID is id, or its hash when it is longer than maxDedupID.
func dedupID(id string) string {
	if len(id) <= maxDedupID {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// acked settles the oldest append in flight.
func (sh *shard) acked(ack *jetstream.PubAck, err error) {
	f := sh.queue[0]
	sh.queue[0] = nil
	sh.queue = sh.queue[1:]
	st := f.st
	f.st, f.fut = nil, nil
	st.inflight--
	switch {
	case err == nil && !ack.Duplicate:
		f.finish(Appended{Seq: f.chanSeq, StreamSeq: ack.Sequence}, nil)
		sh.loadedMu.Lock()
		sh.committed[st.channel] = max(sh.committed[st.channel], f.chanSeq)
		sh.loadedMu.Unlock()
		if ack.Sequence != f.streamSeq {
			sh.resyncing = true // the prediction was off: read the stream again
		}
		if f.chanSeq <= st.seq {
			break
		}
		// Stored although an earlier append of its channel was not: only
		// a write into the shard that did not come through this writer
		// (a foreign writer took exactly the failed slots) lets that
		// happen. The number stays used, and the earlier append, sent
		// again, gets a later one: numbers stay unique and increasing, the
		// channel's order is broken once.
		st.seq = f.chanSeq
		sh.log.e.log.Warn("a message was written into a log shard behind Herald's back; a channel's order may have changed",
			"stream", sh.stream, "channel", st.channel)
	case err == nil: // a duplicate: nothing stored, the number is free again
		f.finish(Appended{StreamSeq: ack.Sequence, Duplicate: true}, nil)
		sh.rollback(f, st)
		sh.resyncing = true
	case isWrongLastSeq(err) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
		// Not stored because an earlier one was not (or the stream is
		// gone, or someone else wrote to it): send it again after resync.
		sh.rollback(f, st)
		sh.retry = append(sh.retry, f)
		sh.resyncing = true
	default:
		sh.rollback(f, st)
		f.finish(Appended{}, mapJSErr(err))
		sh.resyncing = true
	}
	if !sh.resyncing {
		sh.settleWaiters(st)
	}
}

// settleWaiters completes the seals of a channel once nothing of it is in
// flight (or waits to be sent again).
func (sh *shard) settleWaiters(st *chanState) {
	if st.inflight > 0 || len(st.waiters) == 0 {
		return
	}
	for _, w := range st.waiters {
		w.finish(Appended{}, nil)
	}
	st.waiters = nil
}

// rollback frees the number of an append that was not stored (and of every
// later one of its channel, which fail too).
func (sh *shard) rollback(f *appendOp, st *chanState) {
	st.seq = min(st.seq, f.prevSeq)
}

// resync re-reads the stream after a failed or unexpected append and sends
// the appends that were not stored again, in their order.
func (sh *shard) resync() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := sh.log.e.StreamInfo(ctx, sh.stream)
	if errors.Is(err, ErrStreamNotFound) {
		sh.log.e.ForgetStream(sh.stream)
		if err = sh.log.e.EnsureStream(ctx, sh.log.spec(sh)); err == nil {
			st, err = sh.log.e.StreamInfo(ctx, sh.stream)
		}
	}
	retry := sh.retry
	sh.retry = nil
	if err != nil {
		for _, op := range retry {
			op.finish(Appended{}, fmt.Errorf("engine: log %s: %w", sh.stream, err))
		}
		sh.resyncing = false
		sh.unparkAll()
		return
	}
	sh.next = st.LastSeq + 1
	sh.resyncing = false
	// A retried append goes before the appends of its channel parked since.
	byChan := map[*chanState][]*appendOp{}
	var order []*appendOp
	for _, op := range retry {
		if cs := sh.chans[op.a.Channel]; cs != nil && len(cs.parked) > 0 {
			byChan[cs] = append(byChan[cs], op)
			continue
		}
		order = append(order, op)
	}
	for cs, ops := range byChan {
		cs.parked = append(ops, cs.parked...)
	}
	for _, op := range order {
		sh.handle(op)
	}
	sh.unparkAll()
	for _, cs := range sh.chans {
		sh.settleWaiters(cs)
	}
}

// unparkAll resumes the channels whose reservation came in during a resync.
func (sh *shard) unparkAll() {
	for _, st := range sh.chans {
		if len(st.parked) > 0 && st.reserving == 0 {
			sh.unpark(st, nil)
		}
	}
}

// chanSeqOf reads a message's channel sequence (0 without one).
func chanSeqOf(h nats.Header) uint64 {
	n, _ := strconv.ParseUint(h.Get(SeqHeader), 10, 64)
	return n
}

// Last returns the newest message of channel, or nil.
func (l *Log) Last(ctx context.Context, channel string) (*RawMsg, error) {
	return l.e.lastMsg(ctx, l.Stream(channel), l.Subject(channel))
}

// First returns the oldest message of channel, or nil.
func (l *Log) First(ctx context.Context, channel string) (*RawMsg, error) {
	return l.e.NextMsg(ctx, l.Stream(channel), 0, l.Subject(channel))
}

// Next returns the first message of channel stored at or after stream
// sequence seq, or nil.
func (l *Log) Next(ctx context.Context, channel string, seq uint64) (*RawMsg, error) {
	return l.e.NextMsg(ctx, l.Stream(channel), seq, l.Subject(channel))
}

// Search returns the first message of channel for which ok holds, where ok
// is false for some first messages of the channel and true for all after
// them (nil when it holds for none). It takes O(log n) direct reads.
func (l *Log) Search(ctx context.Context, channel string, ok func(*RawMsg) bool) (*RawMsg, error) {
	last, err := l.Last(ctx, channel)
	if err != nil || last == nil || !ok(last) {
		return nil, err
	}
	// Search the smallest stream sequence x whose next message of the
	// channel satisfies ok: that message is the answer.
	lo, hi, ans := uint64(0), last.Seq, last
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		m, err := l.Next(ctx, channel, mid)
		if err != nil {
			return nil, err
		}
		if m == nil { // cannot happen below the last message
			break
		}
		if ok(m) {
			hi, ans = mid, m
		} else {
			lo = m.Seq // the channel's messages up to m fail ok
		}
	}
	return ans, nil
}

// StreamSeqOf returns the stream sequence of the first message of channel
// whose channel sequence is at least seq; when there is none, a stream
// sequence after every message of the channel stored so far (a consumer
// started there gets only messages stored later).
func (l *Log) StreamSeqOf(ctx context.Context, channel string, seq uint64) (uint64, error) {
	for {
		// The stream's end is read first: a message of the channel stored
		// after it has a higher sequence, one stored before it is found
		// below.
		st, err := l.e.StreamInfo(ctx, l.Stream(channel))
		if err != nil {
			return 0, err
		}
		m, err := l.Search(ctx, channel, func(m *RawMsg) bool { return m.ChanSeq >= seq })
		if err != nil {
			return 0, err
		}
		if m != nil {
			return m.Seq, nil
		}
		if streamSeqOfSearched != nil {
			streamSeqOfSearched()
		}
		last, err := l.Last(ctx, channel)
		if err != nil {
			return 0, err
		}
		if last == nil || last.ChanSeq < seq {
			after := st.LastSeq + 1
			if last != nil {
				after = max(after, last.Seq+1)
			}
			return after, nil
		}
		// A message at or beyond seq was stored since the search: it must
		// not be skipped, look again.
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

// streamSeqOfSearched, when set by a test, runs between StreamSeqOf's
// search and its look at the channel's last message.
var streamSeqOfSearched func()

// LastSeqs returns the last number stored of every channel this log stored
// a message of since it was opened.
func (l *Log) LastSeqs() map[string]uint64 {
	out := map[string]uint64{}
	for _, sh := range l.shards {
		sh.loadedMu.RLock()
		for ch, n := range sh.committed {
			out[ch] = n
		}
		sh.loadedMu.RUnlock()
	}
	return out
}

// Firsts returns the oldest message of each of channels that has one,
// reading several at a time.
func (l *Log) Firsts(ctx context.Context, channels []string) (map[string]*RawMsg, error) {
	out := make(map[string]*RawMsg, len(channels))
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan string)
	for range min(firstsReaders, len(channels)) {
		wg.Go(func() {
			for ch := range work {
				m, err := l.First(ctx, ch)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if m != nil {
					out[ch] = m
				}
				mu.Unlock()
			}
		})
	}
	for _, ch := range channels {
		work <- ch
	}
	close(work)
	wg.Wait()
	return out, firstErr
}

// firstsReaders is how many direct reads Firsts keeps in flight.
const firstsReaders = 16

// Counts returns how many messages every channel of the log holds (channels
// without messages are absent).
func (l *Log) Counts(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, sh := range l.shards {
		subj, err := l.e.SubjectCounts(ctx, sh.stream, sh.prefix+">")
		if err != nil {
			return nil, err
		}
		for s, n := range subj {
			out[s[len(sh.prefix):]] = n
		}
	}
	return out, nil
}

// Count returns how many messages channel holds.
func (l *Log) Count(ctx context.Context, channel string) (uint64, error) {
	return l.e.CountSubjects(ctx, l.Stream(channel), l.Subject(channel))
}

// Lasts returns the newest message of each of channels that holds one, in
// a few batched reads per shard.
func (l *Log) Lasts(ctx context.Context, channels []string) (map[string]*RawMsg, error) {
	byShard := make([][]string, len(l.shards))
	for _, ch := range channels {
		i := shardOf(ch, len(l.shards))
		byShard[i] = append(byShard[i], l.shards[i].prefix+ch)
	}
	out := make(map[string]*RawMsg, len(channels))
	for i, subjects := range byShard {
		sh := l.shards[i]
		for len(subjects) > 0 {
			n := min(len(subjects), multiLastMax)
			err := l.e.multiLast(ctx, sh.stream, subjects[:n], func(m *RawMsg) {
				out[m.Subject[len(sh.prefix):]] = m
			})
			if err != nil {
				return nil, err
			}
			subjects = subjects[n:]
		}
	}
	return out, nil
}

// multiLastMax is the most subjects the engine answers in one multi-last
// read.
const multiLastMax = 1024

// Purge removes every message of channel.
func (l *Log) Purge(ctx context.Context, channel string) error {
	return l.e.PurgeSubjects(ctx, l.Stream(channel), l.Subject(channel))
}

// Consumer returns the durable consumer spec.Durable of channel, creating
// it from spec (its filter is the channel's subject).
func (l *Log) Consumer(ctx context.Context, channel string, spec ConsumerSpec) (Fetcher, error) {
	spec.FilterSubject = l.Subject(channel)
	return l.e.EnsureConsumer(ctx, l.Stream(channel), spec)
}

// OpenReader attaches a Reader to channel (see Engine.OpenReader).
func (l *Log) OpenReader(ctx context.Context, channel string, spec ConsumerSpec) (*Reader, error) {
	spec.FilterSubject = l.Subject(channel)
	return l.e.OpenReader(ctx, l.Stream(channel), spec)
}

// DeleteConsumer removes a durable consumer of channel's shard.
func (l *Log) DeleteConsumer(ctx context.Context, channel, name string) error {
	return l.e.DeleteConsumer(ctx, l.Stream(channel), name)
}

// Consumers lists the durable consumers reading channel.
func (l *Log) Consumers(ctx context.Context, channel string) ([]string, error) {
	return l.e.consumersFiltered(ctx, l.Stream(channel), l.Subject(channel))
}

// ConsumerState returns the counters of a durable consumer of channel.
func (l *Log) ConsumerState(ctx context.Context, channel, name string) (ConsumerState, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	c, err := l.e.js.Consumer(ctx, l.Stream(channel), name)
	if err != nil {
		return ConsumerState{}, fmt.Errorf("engine: consumer %s: %w", name, mapFetchErr(err))
	}
	return (&Consumer{c: c, stream: l.Stream(channel)}).Info(ctx)
}
