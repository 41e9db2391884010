package queues

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/registry"
)

// Fakes of the engine, for unit tests of the pattern's logic: what the
// service appends, how it settles deliveries, and faults injected where the
// engine would fail. The end-to-end suite (./test) runs the real engine.

// settler records how a delivery was settled.
type settler struct {
	mu    sync.Mutex
	calls []string
	fail  error // returned by every call when set
}

func (s *settler) rec(c string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	return s.fail
}
func (s *settler) Ack() error                         { return s.rec("ack") }
func (s *settler) DoubleAck(context.Context) error    { return s.rec("ack-sync") }
func (s *settler) Nak() error                         { return s.rec("nak") }
func (s *settler) NakWithDelay(d time.Duration) error { return s.rec("nak " + d.String()) }
func (s *settler) InProgress() error                  { return s.rec("progress") }
func (s *settler) TermWithReason(r string) error      { return s.rec("term " + r) }

func (s *settler) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// fetcher hands out the messages queued on it.
type fetcher struct {
	mu   sync.Mutex
	msgs []*engine.StoredMsg
	err  error
}

func (f *fetcher) FetchEach(ctx context.Context, n int, wait time.Duration, fn func(*engine.StoredMsg)) error {
	f.mu.Lock()
	take := f.msgs[:min(n, len(f.msgs))]
	f.msgs = f.msgs[len(take):]
	err := f.err
	f.mu.Unlock()
	for _, m := range take {
		fn(m)
	}
	if len(take) == 0 && err == nil {
		select { // nothing there: the pull waits out its time
		case <-time.After(min(wait, 20*time.Millisecond)):
		case <-ctx.Done():
		}
	}
	return err
}

func (f *fetcher) FetchNoWait(n int) ([]*engine.StoredMsg, error) {
	var out []*engine.StoredMsg
	err := f.FetchEach(context.Background(), n, 0, func(m *engine.StoredMsg) { out = append(out, m) })
	return out, err
}

func (f *fetcher) Info(context.Context) (engine.ConsumerState, error) {
	return engine.ConsumerState{}, nil
}

// appended is a message the service stored.
type appended struct {
	channel string
	msg     *Message
	msgID   string
}

type done struct {
	res engine.Appended
	err error
}

func (d done) Wait(context.Context) (engine.Appended, error) { return d.res, d.err }

// fakeLog is the queue log.
type fakeLog struct {
	mu       sync.Mutex
	appends  []appended
	fetchers map[string]*fetcher
	seq      map[string]uint64
	fail     error // appends fail with it when set
}

func newFakeLog() *fakeLog {
	return &fakeLog{fetchers: map[string]*fetcher{}, seq: map[string]uint64{}}
}

func (l *fakeLog) Append(_ context.Context, a engine.Append) engine.Pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return done{err: l.fail}
	}
	m := &Message{}
	if err := m.decode(a.Data); err != nil {
		panic(err)
	}
	l.appends = append(l.appends, appended{a.Channel, m, a.MsgID})
	l.seq[a.Channel]++
	return done{res: engine.Appended{Seq: l.seq[a.Channel]}}
}

func (l *fakeLog) AppendBatch(ctx context.Context, as []engine.Append) []engine.Pending {
	out := make([]engine.Pending, len(as))
	for i, a := range as {
		out[i] = l.Append(ctx, a)
	}
	return out
}

func (l *fakeLog) fetcher(ch string) *fetcher {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fetchers[ch]
	if f == nil {
		f = &fetcher{}
		l.fetchers[ch] = f
	}
	return f
}

func (l *fakeLog) Consumer(_ context.Context, ch string, _ engine.ConsumerSpec) (engine.Fetcher, error) {
	return l.fetcher(ch), nil
}
func (l *fakeLog) DeleteConsumer(context.Context, string, string) error { return nil }
func (l *fakeLog) Next(context.Context, string, uint64) (*engine.RawMsg, error) {
	return nil, nil
}
func (l *fakeLog) First(context.Context, string) (*engine.RawMsg, error) { return nil, nil }
func (l *fakeLog) Counts(context.Context) (map[string]uint64, error)     { return nil, nil }
func (l *fakeLog) Lasts(context.Context, []string) (map[string]*engine.RawMsg, error) {
	return nil, nil
}
func (l *fakeLog) Firsts(context.Context, []string) (map[string]*engine.RawMsg, error) {
	return nil, nil
}
func (l *fakeLog) LastSeqs() map[string]uint64          { return nil }
func (l *fakeLog) Purge(context.Context, string) error  { return nil }
func (l *fakeLog) Forget(context.Context, string) error { return nil }
func (l *fakeLog) Stream(string) string                 { return "HQ_0" }
func (l *fakeLog) stored() []appended {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]appended(nil), l.appends...)
}

// fakeEngine is the delay stream: its mover's consumer is a fetcher.
type fakeEngine struct {
	mover     *fetcher
	schedules []string
	mu        sync.Mutex
}

func (e *fakeEngine) EnsureStream(context.Context, engine.StreamSpec) error { return nil }
func (e *fakeEngine) ForgetStream(string)                                   {}
func (e *fakeEngine) PublishStored(_ context.Context, subject string, _ []byte, _ engine.PubOpts) (engine.PubAck, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.schedules = append(e.schedules, subject)
	return engine.PubAck{}, nil
}
func (e *fakeEngine) PublishStoredAsync(subject string, data []byte, o engine.PubOpts) engine.PubPending {
	_, err := e.PublishStored(context.Background(), subject, data, o)
	return pubDone{err}
}
func (e *fakeEngine) EnsureConsumer(context.Context, string, engine.ConsumerSpec) (engine.Fetcher, error) {
	return e.mover, nil
}
func (e *fakeEngine) SubjectCounts(context.Context, string, string) (map[string]uint64, error) {
	return nil, nil
}
func (e *fakeEngine) PurgeSubjects(context.Context, string, string) error { return nil }

type pubDone struct{ err error }

func (p pubDone) Wait(context.Context) (engine.PubAck, error) { return engine.PubAck{}, p.err }

// fakeReg is the registry.
type fakeReg struct {
	mu sync.Mutex
	m  map[string]bool
}

func (r *fakeReg) Ensure(_ context.Context, kind, name string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	created := !r.m[kind+"/"+name]
	r.m[kind+"/"+name] = true
	return created, nil
}
func (r *fakeReg) Exists(kind, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[kind+"/"+name]
}
func (r *fakeReg) Delete(_ context.Context, kind, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, kind+"/"+name)
	return nil
}
func (r *fakeReg) List(string) []registry.Record { return nil }

// rig is a service over the fakes.
type rig struct {
	s   *Service
	log *fakeLog
	eng *fakeEngine
}

func newRig(t *testing.T, lim Limits) *rig {
	t.Helper()
	r := &rig{log: newFakeLog(), eng: &fakeEngine{mover: &fetcher{}}}
	r.s = New(r.log, r.eng, &fakeReg{m: map[string]bool{}}, Config{Limits: lim, AckWait: time.Second})
	t.Cleanup(r.s.Close)
	return r
}

// deliver queues a stored message on channel's consumer and returns its
// settler.
func (r *rig) deliver(channel string, seq uint64, m *Message) *settler {
	st := &settler{}
	sm := engine.NewStoredMsg(engine.StoredMsg{Subject: "hq.0." + channel, Data: m.encode(), Seq: seq, ChanSeq: seq, Time: time.Now(), NumDelivered: 1}, st)
	f := r.log.fetcher(channel)
	f.mu.Lock()
	f.msgs = append(f.msgs, sm)
	f.mu.Unlock()
	return st
}

var errInjected = errors.New("injected fault")

// newStored makes a delivery of m on subject at stream sequence seq.
func newStored(subject string, seq uint64, m *Message, st *settler) *engine.StoredMsg {
	return engine.NewStoredMsg(engine.StoredMsg{Subject: subject, Data: m.encode(), Seq: seq, ChanSeq: seq, Time: time.Now(), NumDelivered: 1}, st)
}
