// Package bench measures a KubeMQ-compatible broker from the outside, over
// Herald's Go SDK: it is the engine of `herald bench`. A Config names a
// scenario and its load; Run connects the clients, drives the load and
// returns a Report of throughput, latency and errors, which WriteText prints
// as a table (or encoding/json as the --json output).
//
// Every client of a run has its own connection, dialled with Config.Dial.
// Nothing in this package writes to stdout: the table goes to the writer the
// caller gives, the progress bar to Config.Progress.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/client"
)

// Scenarios are the workloads Run knows, in the order herald bench lists
// them.
var Scenarios = []string{"ping", "events", "events-store", "queues", "queues-stream", "commands", "queries"}

// DefaultCount is the number of messages of a run without a duration.
const DefaultCount = 10000

const (
	// benchMetadata marks measured messages, warmupMetadata the probes sent
	// until every subscriber is ready.
	benchMetadata  = "herald-bench"
	warmupMetadata = "herald-bench-warmup"
	// stampTag carries the send time of messages too small to hold it.
	stampTag = "herald-bench-ts"
	// warmupTimeout bounds the wait for subscribers and responders.
	warmupTimeout = 10 * time.Second
	// idleTimeout ends a receiving phase that made no progress this long.
	idleTimeout = 3 * time.Second
	// takeChunk is how many messages a streaming publisher takes from the
	// quota at once.
	takeChunk = 64
	// responderGroup shares commands and queries among the responders.
	responderGroup = "herald-bench"
)

// Config describes one run. The comments name the herald bench flag of
// each field; Check says which values are accepted.
type Config struct {
	// Scenario is one of Scenarios.
	Scenario string
	// Dial connects one client of the run with the given client id and
	// checks that the broker answers; the client ends when ctx ends.
	Dial func(ctx context.Context, clientID string, opts ...client.Option) (*client.Client, error)
	// Address and Transport describe the broker in the report only.
	Address, Transport string
	// ClientID prefixes the ids of the run's clients (<ClientID>-pub-0, …)
	// and is the id of its channel management requests.
	ClientID string

	Publishers  int           // --publishers: sending clients
	Subscribers int           // --subscribers: receiving or responding clients
	Count       int           // --count: messages in all; 0: until Duration ends
	Duration    time.Duration // --duration: 0: until Count messages
	Rate        int           // --rate: messages per second in all; 0: as fast as possible
	Size        int           // --size: payload bytes per message
	Batch       int           // --batch: queue batch size, events-store stream window
	Channel     string        // --channel: empty for a new herald-bench-<scenario>-<id>
	Timeout     time.Duration // --timeout: of one call or request
	Keep        bool          // --keep: do not delete the channel the run created

	// Progress, when not nil, is where a progress bar is drawn while a
	// phase runs (a terminal: it redraws one line).
	Progress io.Writer
}

// Check reports the first invalid value of c, naming its flag. Scenario ping
// has no subscribers: Check sets Subscribers to 0 for it.
func (c *Config) Check() error {
	switch {
	case !slices.Contains(Scenarios, c.Scenario):
		return fmt.Errorf("unknown scenario %q: want one of %s", c.Scenario, strings.Join(Scenarios, ", "))
	case c.Dial == nil:
		return errors.New("bench: Config.Dial is nil")
	case c.Publishers < 1:
		return fmt.Errorf("invalid --publishers %d: want 1 or more", c.Publishers)
	case c.Subscribers < 0:
		return fmt.Errorf("invalid --subscribers %d: want 0 or more", c.Subscribers)
	case c.Count < 0:
		return fmt.Errorf("invalid --count %d: want 0 or more", c.Count)
	case c.Duration < 0:
		return fmt.Errorf("invalid --duration %v: want 0 or more", c.Duration)
	case c.Count == 0 && c.Duration == 0:
		return errors.New("a run needs --count or --duration")
	case c.Size < 0 || c.Size > 64<<20:
		return fmt.Errorf("invalid --size %d: want 0 to %d bytes", c.Size, 64<<20)
	case c.Batch < 1 || c.Batch > 1024:
		return fmt.Errorf("invalid --batch %d: want 1 to 1024", c.Batch)
	case c.Rate < 0:
		return fmt.Errorf("invalid --rate %d: want 0 or more", c.Rate)
	case c.Timeout <= 0:
		return fmt.Errorf("invalid --timeout %v: want more than 0", c.Timeout)
	}
	switch c.Scenario {
	case "queues", "queues-stream", "commands", "queries":
		if c.Subscribers < 1 {
			return fmt.Errorf("scenario %s needs --subscribers 1 or more", c.Scenario)
		}
	case "ping":
		c.Subscribers = 0
	}
	return nil
}

// Bench is one run: New checks its Config, Run runs it once.
type Bench struct {
	cfg      Config
	scenario string
	channel  string
	created  bool // the run named the channel
	runID    string
	prog     *progress
	warnings []string

	life    context.Context // the clients live in it
	clients []*client.Client
}

// New checks cfg and prepares a run of it.
func New(cfg Config) (*Bench, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	b := &Bench{cfg: cfg, scenario: cfg.Scenario, channel: cfg.Channel, runID: strings.ToLower(rand.Text()[14:])}
	if b.channel == "" {
		b.channel, b.created = "herald-bench-"+cfg.Scenario+"-"+b.runID, true
	}
	b.prog = newProgress(cfg.Progress)
	return b, nil
}

// Describe is a line that says what the run does, for before it starts.
func (b *Bench) Describe() string {
	bound := fmt.Sprintf("%d msgs", b.cfg.Count)
	switch {
	case b.cfg.Count == 0:
		bound = b.cfg.Duration.String()
	case b.cfg.Duration > 0:
		bound += " or " + b.cfg.Duration.String()
	}
	if b.cfg.Rate > 0 {
		bound += fmt.Sprintf(" at %d msg/s", b.cfg.Rate)
	}
	if b.scenario == "ping" {
		return fmt.Sprintf("herald bench ping: %s (%s), %s, %s", b.cfg.Address, b.cfg.Transport, bound, plural(b.cfg.Publishers, "client"))
	}
	return fmt.Sprintf("herald bench %s: %s (%s), channel %s, %s of %d bytes, batch %d, %s, %s",
		b.scenario, b.cfg.Address, b.cfg.Transport, b.channel, bound, b.cfg.Size, b.cfg.Batch,
		plural(b.cfg.Publishers, "publisher"), plural(b.cfg.Subscribers, "subscriber"))
}

// Warnings are the problems of a finished run that did not fail it, such
// as a channel it could not delete.
func (b *Bench) Warnings() []string { return b.warnings }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// oneLine joins the lines of err's message, as errors.Join separates them.
func oneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// orUnknown is s, or "unknown" when it is empty.
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// isNoMessage reports whether err is a stream receive that found the queue
// empty.
func isNoMessage(err error) bool {
	return strings.Contains(err.Error(), "Error 138") || strings.Contains(err.Error(), "no new queue message")
}

// Report is what a run measured; encoding/json gives the --json output.
type Report struct {
	Scenario        string    `json:"scenario"`
	Address         string    `json:"address"`
	Transport       string    `json:"transport"`
	Server          string    `json:"server,omitempty"`
	Channel         string    `json:"channel"`
	Publishers      int       `json:"publishers"`
	Subscribers     int       `json:"subscribers"`
	Count           int       `json:"count,omitempty"`
	Rate            int       `json:"rate,omitempty"`
	DurationSeconds float64   `json:"duration_seconds,omitempty"`
	Size            int       `json:"size"`
	Batch           int       `json:"batch"`
	Started         time.Time `json:"started"`
	Results         []Result  `json:"results"`
}

// err reports failed calls of the run.
func (r *Report) Err() error {
	var n int64
	first := ""
	for _, res := range r.Results {
		n += res.Errors
		if first == "" {
			first = res.FirstErr
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("bench %s: %d calls failed; first: %s", r.Scenario, n, first)
}

// WriteText prints the report as herald bench does without --json: a table
// with one line per result.
func (r *Report) WriteText(w io.Writer) error {
	return writeTable(w, r.Results)
}

// Run runs the scenario once. It returns the report of what ran, also when
// ctx ends early (SIGINT); failed calls are counted in it (Report.Err),
// not returned.
func (b *Bench) Run(ctx context.Context) (*Report, error) {
	life, cancel := context.WithCancel(context.Background())
	b.life = life
	defer func() {
		b.prog.end()
		cancel()
		for _, c := range b.clients {
			_ = c.Close()
		}
	}()
	rep := &Report{
		Scenario: b.scenario, Address: b.cfg.Address, Transport: b.cfg.Transport, Channel: b.channel,
		Publishers: b.cfg.Publishers, Subscribers: b.cfg.Subscribers, Count: b.cfg.Count,
		DurationSeconds: b.cfg.Duration.Seconds(), Rate: b.cfg.Rate, Size: b.cfg.Size, Batch: b.cfg.Batch, Started: time.Now().UTC(),
	}
	pubs, err := b.dialAll("pub", b.cfg.Publishers)
	if err != nil {
		return nil, err
	}
	subs, err := b.dialAll("sub", b.cfg.Subscribers)
	if err != nil {
		return nil, err
	}
	if si, err := pubs[0].Ping(ctx); err == nil {
		rep.Server = si.Version
	}
	var results []Result
	switch b.scenario {
	case "ping":
		results, err = b.ping(ctx, pubs)
	case "events":
		results, err = b.events(ctx, pubs, subs)
	case "events-store":
		results, err = b.eventsStore(ctx, pubs, subs)
	case "queues":
		results, err = b.queues(ctx, pubs, subs, false)
	case "queues-stream":
		results, err = b.queues(ctx, pubs, subs, true)
	case "commands", "queries":
		results, err = b.requests(ctx, pubs, subs, b.scenario == "queries")
	}
	b.prog.end()
	rep.Results = results
	b.cleanup(pubs[0])
	if err != nil && ctx.Err() != nil && len(results) > 0 {
		err = nil // interrupted: report what ran
	}
	return rep, err
}

// dialAll connects n clients named <client-id>-<role>-<i>.
func (b *Bench) dialAll(role string, n int) ([]*client.Client, error) {
	out := make([]*client.Client, 0, n)
	for i := range n {
		c, err := b.cfg.Dial(b.life, fmt.Sprintf("%s-%s-%d", b.cfg.ClientID, role, i), client.WithReceiveBufferSize(1024))
		if err != nil {
			return nil, err
		}
		b.clients = append(b.clients, c)
		out = append(out, c)
	}
	return out, nil
}

// cleanup deletes the channel the run created, unless --keep.
func (b *Bench) cleanup(c *client.Client) {
	if !b.created || b.cfg.Keep {
		return
	}
	var typ string
	switch b.scenario {
	case "queues", "queues-stream":
		typ = client.ChannelTypeQueues
	case "events-store":
		typ = client.ChannelTypeEventsStore
	default:
		return
	}
	ctx, cancel := context.WithTimeout(b.life, b.cfg.Timeout)
	defer cancel()
	if err := client.DeleteChannel(ctx, c, b.cfg.ClientID, b.channel, typ); err != nil {
		b.warnings = append(b.warnings, fmt.Sprintf("delete %s channel %s: %s", typ, b.channel, oneLine(err)))
	}
}

// quota hands out the messages of a run: --count in all, until --duration
// ends, or until ctx ends; with --rate it paces them.
type quota struct {
	left     atomic.Int64
	limited  bool
	deadline time.Time
	ctx      context.Context
	// pacing: message i is due at start + i*interval
	interval time.Duration
	start    time.Time
	issued   atomic.Int64
}

func (b *Bench) newQuota(ctx context.Context) *quota {
	q := &quota{limited: b.cfg.Count > 0, ctx: ctx, start: time.Now()}
	q.left.Store(int64(b.cfg.Count))
	if b.cfg.Duration > 0 {
		q.deadline = q.start.Add(b.cfg.Duration)
	}
	if b.cfg.Rate > 0 {
		q.interval = time.Second / time.Duration(b.cfg.Rate)
	}
	return q
}

// chunk is how many messages a streaming publisher takes at once: one when
// paced, so that pacing does not send bursts.
func (b *Bench) chunk() int {
	if b.cfg.Rate > 0 {
		return 1
	}
	return takeChunk
}

// take returns how many of n messages may be sent now, waiting for them
// when paced; 0 means stop.
func (q *quota) take(n int) int {
	if q.ctx.Err() != nil || (!q.deadline.IsZero() && time.Now().After(q.deadline)) {
		return 0
	}
	k := int64(n)
	if q.limited {
		for {
			left := q.left.Load()
			if left <= 0 {
				return 0
			}
			k = min(left, int64(n))
			if q.left.CompareAndSwap(left, left-k) {
				break
			}
		}
	}
	if q.interval > 0 {
		due := q.start.Add(time.Duration(q.issued.Add(k)-k) * q.interval)
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-q.ctx.Done():
				return 0
			}
		}
	}
	return int(k)
}

// errCount counts failed calls and keeps the first error.
type errCount struct {
	n     atomic.Int64
	mu    sync.Mutex
	first error
}

// add counts err unless ctx ended (an interrupted run is not a failure).
func (e *errCount) add(ctx context.Context, err error, n int64) {
	if ctx.Err() != nil {
		return
	}
	e.n.Add(n)
	e.mu.Lock()
	if e.first == nil {
		e.first = err
	}
	e.mu.Unlock()
}

func (e *errCount) fill(r *Result) {
	r.Errors = e.n.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first != nil {
		r.FirstErr = oneLine(e.first)
	}
}

// stamp returns a body of --size bytes that carries the current time, in
// its first 8 bytes or, when it is smaller, in a tag.
func (b *Bench) stamp() ([]byte, map[string]string) {
	body := make([]byte, b.cfg.Size)
	now := time.Now().UnixNano()
	if len(body) >= 8 {
		binary.BigEndian.PutUint64(body, uint64(now))
		return body, nil
	}
	return body, map[string]string{stampTag: strconv.FormatInt(now, 10)}
}

// sentAt reads the time stamp of a received message.
func sentAt(body []byte, tags map[string]string) (time.Time, bool) {
	var ns int64
	if v, ok := tags[stampTag]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		ns = n
	} else if len(body) >= 8 {
		ns = int64(binary.BigEndian.Uint64(body))
	}
	if ns <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// merged merges the histograms.
func merged(hs []*histogram) *histogram {
	all := &histogram{}
	for _, h := range hs {
		all.merge(h)
	}
	return all
}

// warmup calls probe every 100 ms until ready reports true.
func warmup(ctx context.Context, what string, probe func(context.Context) error, ready func() bool) error {
	deadline := time.Now().Add(warmupTimeout)
	var last error
	for !ready() {
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%s not ready after %v: %w", what, warmupTimeout, last)
			}
			return fmt.Errorf("%s not ready after %v", what, warmupTimeout)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := probe(pctx); err != nil {
			last = err
		}
		cancel()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// latestTime keeps the latest of the times stored.
type latestTime struct{ ns atomic.Int64 }

func (l *latestTime) store(t time.Time) {
	ns := t.UnixNano()
	for {
		old := l.ns.Load()
		if ns <= old || l.ns.CompareAndSwap(old, ns) {
			return
		}
	}
}

// since is the time from start to the latest time stored, or to now when
// none was.
func (l *latestTime) since(start time.Time) time.Duration {
	if ns := l.ns.Load(); ns != 0 {
		return time.Unix(0, ns).Sub(start)
	}
	return time.Since(start)
}

func (b *Bench) ping(ctx context.Context, pubs []*client.Client) ([]Result, error) {
	q := b.newQuota(ctx)
	var ec errCount
	var ok atomic.Int64
	hists := make([]*histogram, len(pubs))
	b.prog.start("ping", int64(b.cfg.Count), b.cfg.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		h := &histogram{}
		hists[i] = h
		wg.Go(func() {
			for q.take(1) == 1 {
				cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
				t0 := time.Now()
				_, err := c.Ping(cctx)
				d := time.Since(t0)
				cancel()
				if err != nil {
					ec.add(ctx, err, 1)
					continue
				}
				h.record(d)
				ok.Add(1)
				b.prog.add(1)
			}
		})
	}
	wg.Wait()
	r := Result{Name: "ping", Publishers: len(pubs), Messages: ok.Load(), LatencyOf: "call"}
	ec.fill(&r)
	r.finish(time.Since(start), merged(hists))
	return []Result{r}, nil
}

// subscribers runs one receiving goroutine per subscription channel:
// probes mark the subscriber ready, other messages count as received.
type subscribers struct {
	ready    []atomic.Bool
	hists    []*histogram
	received atomic.Int64
	last     latestTime
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

func (s *subscribers) allReady() bool {
	for i := range s.ready {
		if !s.ready[i].Load() {
			return false
		}
	}
	return true
}

// consume reads msgs for subscriber i; meta and stamp read a message.
func consume[T any](b *Bench, s *subscribers, i int, msgs <-chan T, read func(T) (meta string, body []byte, tags map[string]string)) {
	h := s.hists[i]
	s.wg.Go(func() {
		for m := range msgs {
			meta, body, tags := read(m)
			if meta == warmupMetadata {
				s.ready[i].Store(true)
				continue
			}
			now := time.Now()
			if t, ok := sentAt(body, tags); ok {
				h.record(now.Sub(t))
			}
			s.received.Add(1)
			s.last.store(now)
			b.prog.add(1)
		}
	})
}

// wait waits until want messages were received, nothing came for
// idleTimeout, or ctx ended; then it ends the subscriptions.
func (s *subscribers) wait(ctx context.Context, want int64) {
	defer func() { s.cancel(); s.wg.Wait() }()
	lastN, lastChange := s.received.Load(), time.Now()
	for s.received.Load() < want && ctx.Err() == nil {
		if n := s.received.Load(); n != lastN {
			lastN, lastChange = n, time.Now()
		} else if time.Since(lastChange) > idleTimeout {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newSubscribers(b *Bench, n int) (*subscribers, context.Context) {
	sctx, cancel := context.WithCancel(b.life)
	s := &subscribers{ready: make([]atomic.Bool, n), hists: make([]*histogram, n), cancel: cancel}
	for i := range s.hists {
		s.hists[i] = &histogram{}
	}
	return s, sctx
}

func (b *Bench) events(ctx context.Context, pubs, subs []*client.Client) ([]Result, error) {
	s, sctx := newSubscribers(b, len(subs))
	defer func() { s.cancel(); s.wg.Wait() }()
	for i, c := range subs {
		msgs, err := c.SubscribeToEvents(sctx, b.channel, "", nil)
		if err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		consume(b, s, i, msgs, func(e *client.Event) (string, []byte, map[string]string) { return e.Metadata, e.Body, e.Tags })
	}
	err := warmup(ctx, "subscribers", func(ctx context.Context) error {
		return pubs[0].E().SetChannel(b.channel).SetMetadata(warmupMetadata).Send(ctx)
	}, s.allReady)
	if err != nil {
		return nil, err
	}

	q := b.newQuota(ctx)
	var ec errCount
	var sent atomic.Int64
	total := int64(b.cfg.Count) * int64(len(subs))
	if len(subs) == 0 {
		total = int64(b.cfg.Count)
	}
	b.prog.start("events", total, b.cfg.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range pubs {
		wg.Go(func() {
			pctx, cancel := context.WithCancel(b.life)
			defer cancel()
			defer context.AfterFunc(ctx, cancel)()
			events, errs := make(chan *client.Event, takeChunk), make(chan error, 64)
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.StreamEvents(pctx, events, errs)
			}()
			go func() {
				for {
					select {
					case err := <-errs:
						ec.add(ctx, err, 1)
					case <-done:
						return
					}
				}
			}()
		send:
			for k := q.take(b.chunk()); k > 0; k = q.take(b.chunk()) {
				for range k {
					body, tags := b.stamp()
					ev := c.E().SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags)
					select {
					case events <- ev:
						sent.Add(1)
						if len(subs) == 0 {
							b.prog.add(1)
						}
					case <-done:
						break send
					}
				}
			}
			close(events) // StreamEvents sends what is queued, then returns
			<-done
		})
	}
	wg.Wait()
	pubElapsed := time.Since(start)
	want := sent.Load() * int64(len(subs))
	s.wait(ctx, want)

	r := Result{Name: "events", Publishers: len(pubs), Subscribers: len(subs), LatencyOf: "publish to receive"}
	ec.fill(&r)
	if len(subs) == 0 {
		r.Messages, r.LatencyOf = sent.Load(), ""
		r.Bytes = r.Messages * int64(b.cfg.Size)
		r.finish(pubElapsed, nil)
		return []Result{r}, nil
	}
	r.Messages = s.received.Load()
	r.Bytes = r.Messages * int64(b.cfg.Size)
	if ctx.Err() == nil { // lost, not interrupted
		r.Lost = max(want-r.Messages, 0)
	}
	r.finish(s.last.since(start), merged(s.hists))
	return []Result{r}, nil
}

func (b *Bench) eventsStore(ctx context.Context, pubs, subs []*client.Client) ([]Result, error) {
	s, sctx := newSubscribers(b, len(subs))
	defer func() { s.cancel(); s.wg.Wait() }()
	for i, c := range subs {
		msgs, err := c.SubscribeToEventsStore(sctx, b.channel, "", nil, client.StartFromNewEvents())
		if err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		consume(b, s, i, msgs, func(e *client.EventStoreReceive) (string, []byte, map[string]string) {
			return e.Metadata, e.Body, e.Tags
		})
	}
	err := warmup(ctx, "subscribers", func(ctx context.Context) error {
		_, err := pubs[0].ES().SetChannel(b.channel).SetMetadata(warmupMetadata).Send(ctx)
		return err
	}, s.allReady)
	if err != nil {
		return nil, err
	}

	q := b.newQuota(ctx)
	var ec errCount
	var stored atomic.Int64
	var lastStored latestTime
	hists := make([]*histogram, len(pubs))
	b.prog.start("events-store", int64(b.cfg.Count), b.cfg.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for p, c := range pubs {
		h := &histogram{}
		hists[p] = h
		wg.Go(func() {
			pctx, cancel := context.WithCancel(b.life)
			defer cancel()
			defer context.AfterFunc(ctx, cancel)()
			window := b.cfg.Batch
			events := make(chan *client.EventStore, window)
			results := make(chan *client.EventStoreResult, window)
			errs := make(chan error, 64)
			slots := make(chan struct{}, window)
			var mu sync.Mutex
			pending := make(map[string]time.Time, window)

			streamDone := make(chan struct{})
			go func() {
				defer close(streamDone)
				c.StreamEventsStore(pctx, events, results, errs)
			}()
			handle := func(res *client.EventStoreResult) {
				now := time.Now()
				mu.Lock()
				t0, known := pending[res.Id]
				delete(pending, res.Id)
				mu.Unlock()
				if known {
					select {
					case <-slots:
					default:
					}
				}
				if !res.Sent || res.Err != nil {
					err := res.Err
					if err == nil {
						err = errors.New("event not stored")
					}
					ec.add(ctx, err, 1)
					return
				}
				if known {
					h.record(now.Sub(t0))
				}
				stored.Add(1)
				lastStored.store(now)
				b.prog.add(1)
			}
			readerDone := make(chan struct{})
			go func() {
				defer close(readerDone)
				for {
					select {
					case res := <-results:
						handle(res)
					case err := <-errs:
						if !errors.Is(err, client.ErrSubscriptionInterrupted) {
							ec.add(ctx, err, 0)
						}
					case <-streamDone:
						for { // results delivered just before the stream returned
							select {
							case res := <-results:
								handle(res)
							default:
								return
							}
						}
					}
				}
			}()
			n := 0
		send:
			for k := q.take(b.chunk()); k > 0; k = q.take(b.chunk()) {
				for range k {
					select {
					case slots <- struct{}{}:
					case <-streamDone:
						break send
					}
					id := fmt.Sprintf("%s-%d-%d", b.runID, p, n)
					n++
					body, tags := b.stamp()
					ev := c.ES().SetId(id).SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags)
					mu.Lock()
					pending[id] = time.Now()
					mu.Unlock()
					select {
					case events <- ev:
					case <-streamDone:
						break send
					}
				}
			}
			close(events) // StreamEventsStore waits for the outstanding results
			<-streamDone
			<-readerDone
		})
	}
	wg.Wait()
	storeRes := Result{Name: "events-store store", Publishers: len(pubs), Messages: stored.Load(), LatencyOf: "store (send to stored result)"}
	storeRes.Bytes = storeRes.Messages * int64(b.cfg.Size)
	ec.fill(&storeRes)
	storeRes.finish(lastStored.since(start), merged(hists))
	if len(subs) == 0 {
		return []Result{storeRes}, nil
	}
	want := stored.Load() * int64(len(subs))
	b.prog.start("events-store receive", want, 0)
	b.prog.add(s.received.Load())
	s.wait(ctx, want)
	recv := Result{Name: "events-store receive", Publishers: len(pubs), Subscribers: len(subs), LatencyOf: "publish to receive"}
	recv.Messages = s.received.Load()
	recv.Bytes = recv.Messages * int64(b.cfg.Size)
	if ctx.Err() == nil {
		recv.Lost = max(want-recv.Messages, 0)
	}
	recv.finish(s.last.since(start), merged(s.hists))
	return []Result{storeRes, recv}, nil
}

// fill sends the queue messages in batches; it returns the result of the
// send phase and how many messages were stored.
func (b *Bench) fill(ctx context.Context, name string, pubs []*client.Client) Result {
	q := b.newQuota(ctx)
	var ec errCount
	var ok atomic.Int64
	var last latestTime
	hists := make([]*histogram, len(pubs))
	b.prog.start(name, int64(b.cfg.Count), b.cfg.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		h := &histogram{}
		hists[i] = h
		wg.Go(func() {
			for k := q.take(b.cfg.Batch); k > 0; k = q.take(b.cfg.Batch) {
				batch := c.QMB()
				for range k {
					body, tags := b.stamp()
					batch.Add(c.QM().SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags))
				}
				cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
				t0 := time.Now()
				res, err := batch.Send(cctx)
				d := time.Since(t0)
				cancel()
				if err != nil {
					ec.add(ctx, err, int64(k))
					continue
				}
				h.record(d)
				n := int64(0)
				for _, r := range res {
					if err := r.Err(); err != nil {
						ec.add(ctx, err, 1)
						continue
					}
					n++
				}
				ok.Add(n)
				last.store(time.Now())
				b.prog.add(n)
			}
		})
	}
	wg.Wait()
	r := Result{Name: name, Publishers: len(pubs), Messages: ok.Load(), LatencyOf: "call (one batch)"}
	r.Bytes = r.Messages * int64(b.cfg.Size)
	ec.fill(&r)
	r.finish(last.since(start), merged(hists))
	return r
}

func (b *Bench) queues(ctx context.Context, pubs, subs []*client.Client, stream bool) ([]Result, error) {
	fillName, recvName := "queues send", "queues receive"
	if stream {
		fillName, recvName = "queues-stream fill", "queues-stream"
	}
	sendRes := b.fill(ctx, fillName, pubs)
	want := sendRes.Messages
	if ctx.Err() != nil || want == 0 {
		return []Result{sendRes}, nil
	}

	var ec errCount
	var received atomic.Int64
	var last latestTime
	var progressAt atomic.Int64 // Unix ns of the last message taken
	progressAt.Store(time.Now().UnixNano())
	idle := func() bool { return time.Since(time.Unix(0, progressAt.Load())) > idleTimeout }
	hists := make([]*histogram, len(subs))
	b.prog.start(recvName, want, 0)
	start := time.Now()
	// rctx lives as long as the phase: a StreamQueueMessage returns its
	// message to the queue when the context given to Next ends.
	rctx, cancel := context.WithCancel(b.life)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	var wg sync.WaitGroup
	for i, c := range subs {
		h := &histogram{}
		hists[i] = h
		took := func(n int, d time.Duration) {
			h.record(d)
			now := time.Now()
			received.Add(int64(n))
			last.store(now)
			progressAt.Store(now.UnixNano())
			b.prog.add(int64(n))
		}
		if stream {
			wg.Go(func() {
				sqm := c.SQM().SetChannel(b.channel)
				defer sqm.Close()
				for received.Load() < want && rctx.Err() == nil && !idle() {
					t0 := time.Now()
					m, err := sqm.Next(rctx, 30, 1)
					if err == nil {
						err = m.Ack()
					}
					if err != nil {
						if !isNoMessage(err) {
							ec.add(ctx, err, 1)
						}
						continue
					}
					took(1, time.Since(t0))
				}
			})
			continue
		}
		wg.Go(func() {
			for received.Load() < want && rctx.Err() == nil && !idle() {
				// Near the end each subscriber asks for its share only: a
				// receive that cannot fill waits the whole second.
				share := (want - received.Load() + int64(len(subs)) - 1) / int64(len(subs))
				n := int(min(int64(b.cfg.Batch), max(share, 1)))
				cctx, cancel := context.WithTimeout(rctx, b.cfg.Timeout+time.Second)
				t0 := time.Now()
				res, err := c.RQM().SetChannel(b.channel).SetMaxNumberOfMessages(n).SetWaitTimeSeconds(1).Send(cctx)
				d := time.Since(t0)
				cancel()
				if err == nil {
					err = res.Err()
				}
				if err != nil {
					ec.add(ctx, err, 1)
					continue
				}
				if len(res.Messages) > 0 {
					took(len(res.Messages), d)
				}
			}
		})
	}
	wg.Wait()
	r := Result{Name: recvName, Publishers: len(pubs), Subscribers: len(subs), Messages: received.Load(), LatencyOf: "call (one batch)"}
	if stream {
		r.LatencyOf = "message (receive + ack)"
		sendRes.Subscribers = 0
	}
	r.Bytes = r.Messages * int64(b.cfg.Size)
	if ctx.Err() == nil { // lost, not interrupted
		r.Lost = max(want-r.Messages, 0)
	}
	ec.fill(&r)
	r.finish(last.since(start), merged(hists))
	return []Result{sendRes, r}, nil
}

func (b *Bench) requests(ctx context.Context, pubs, subs []*client.Client, queries bool) ([]Result, error) {
	sctx, cancelSubs := context.WithCancel(b.life)
	var swg sync.WaitGroup
	defer func() { cancelSubs(); swg.Wait() }()
	for _, c := range subs {
		if queries {
			msgs, err := c.SubscribeToQueries(sctx, b.channel, responderGroup, nil)
			if err != nil {
				return nil, fmt.Errorf("subscribe: %w", err)
			}
			swg.Go(func() {
				for q := range msgs {
					_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).
						SetMetadata(q.Metadata).SetBody(q.Body).Send(sctx)
				}
			})
			continue
		}
		msgs, err := c.SubscribeToCommands(sctx, b.channel, responderGroup, nil)
		if err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		swg.Go(func() {
			for cmd := range msgs {
				_ = c.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).SetExecutedAt(time.Now()).Send(sctx)
			}
		})
	}
	send := func(ctx context.Context, c *client.Client, meta string, body []byte, tags map[string]string, timeout time.Duration) error {
		if queries {
			resp, err := c.Q().SetChannel(b.channel).SetMetadata(meta).SetBody(body).SetTags(tags).SetTimeout(timeout).Send(ctx)
			if err == nil && (!resp.Executed || resp.Error != "") {
				err = fmt.Errorf("query not executed: %s", orUnknown(resp.Error))
			}
			return err
		}
		resp, err := c.C().SetChannel(b.channel).SetMetadata(meta).SetBody(body).SetTags(tags).SetTimeout(timeout).Send(ctx)
		if err == nil && (!resp.Executed || resp.Error != "") {
			err = fmt.Errorf("command not executed: %s", orUnknown(resp.Error))
		}
		return err
	}
	var answered atomic.Bool
	err := warmup(ctx, "responders", func(ctx context.Context) error {
		err := send(ctx, pubs[0], warmupMetadata, nil, nil, 500*time.Millisecond)
		if err == nil {
			answered.Store(true)
		}
		return err
	}, answered.Load)
	if err != nil {
		return nil, err
	}

	q := b.newQuota(ctx)
	var ec errCount
	var ok atomic.Int64
	hists := make([]*histogram, len(pubs))
	b.prog.start(b.scenario, int64(b.cfg.Count), b.cfg.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		h := &histogram{}
		hists[i] = h
		wg.Go(func() {
			for q.take(1) == 1 {
				body, tags := b.stamp()
				cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout+5*time.Second)
				t0 := time.Now()
				err := send(cctx, c, benchMetadata, body, tags, b.cfg.Timeout)
				d := time.Since(t0)
				cancel()
				if err != nil {
					ec.add(ctx, err, 1)
					continue
				}
				h.record(d)
				ok.Add(1)
				b.prog.add(1)
			}
		})
	}
	wg.Wait()
	r := Result{Name: b.scenario, Publishers: len(pubs), Subscribers: len(subs), Messages: ok.Load(), LatencyOf: "round trip"}
	r.Bytes = r.Messages * int64(b.cfg.Size)
	ec.fill(&r)
	r.finish(time.Since(start), merged(hists))
	return []Result{r}, nil
}
