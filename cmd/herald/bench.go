package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"crypto/rand"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldmq/herald/client"
)

// scenarios are the workloads of herald bench.
var scenarios = []string{"ping", "events", "events-store", "queues", "queues-stream", "commands", "queries"}

const (
	benchDefaultCount = 10000
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

type benchFlags struct {
	publishers  int
	subscribers int
	count       int
	duration    time.Duration
	size        int
	batch       int
	channel     string
	timeout     time.Duration
	rate        int
	progress    bool
	keep        bool
}

func newBenchCmd() *cobra.Command {
	cf := &connFlags{}
	bf := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench SCENARIO",
		Short: "Measure a broker: throughput and latency of one pattern",
		Long: `Measure the broker at --address (and nothing else) with one scenario:

  ping           Ping round trips; latency per call
  events         publishers stream events, subscribers receive each one;
                 throughput counts received events, latency is publish → receive
  events-store   publishers stream events and wait for each "stored" result;
                 throughput and latency of storing, and with subscribers a second
                 line for publish → receive
  queues         publishers send batches of --batch messages, then subscribers
                 take batches until the queue is empty; one line per phase,
                 latency per call (one batch)
  queues-stream  fill the queue in batches, then subscribers take and ack one
                 message at a time over the stream API; latency per message
                 (receive + ack)
  commands       publishers send commands one at a time, subscribers answer them
                 (as one group); latency per round trip
  queries        as commands, with queries whose responses echo the body

A run sends --count messages in all (default 10000) or runs for --duration;
with both, whichever ends first. Each publisher and subscriber has its own
connection. The result table goes to stdout, a progress bar to stderr when it
is a terminal (or with --progress), never with --json. MB/s counts payload
bytes (1 MB = 10^6 bytes). Channels the run creates are named
herald-bench-<scenario>-<id> and deleted afterwards, unless --keep.`,
		Example: `  herald bench queues --count 100000 --batch 100
  herald bench events --publishers 4 --subscribers 4 --duration 30s --size 256
  herald bench commands --publishers 8 --subscribers 2 --json`,
		Args:      rangeArgs(1, 1, "SCENARIO"),
		ValidArgs: scenarios,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(scenarios, args[0]) {
				return fmt.Errorf("unknown scenario %q: want one of %s", args[0], strings.Join(scenarios, ", "))
			}
			if cf.clientID == "" && os.Getenv(envClientID) == "" {
				cf.clientID = defaultClientID("herald-bench")
			}
			if err := cf.resolve(cmd.Flags()); err != nil {
				return err
			}
			if err := bf.check(args[0], cmd.Flags()); err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			b := newBench(args[0], cf, *bf)
			var pw io.Writer
			if !cf.json && (bf.progress || isTerminal(cmd.ErrOrStderr())) {
				pw = cmd.ErrOrStderr()
			}
			b.prog = newProgress(pw)
			if !cf.json {
				fmt.Fprintln(cmd.ErrOrStderr(), b.describe())
			}
			report, err := b.run(ctx)
			if report != nil && len(report.Results) > 0 {
				if cf.json {
					out, jerr := json.MarshalIndent(report, "", "  ")
					if jerr != nil {
						return jerr
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
				} else if werr := writeTable(cmd.OutOrStdout(), report.Results); werr != nil {
					return werr
				}
			}
			for _, w := range b.warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "herald: warning: "+w)
			}
			if err != nil {
				return fmt.Errorf("bench %s: %w", args[0], err)
			}
			return report.err()
		},
	}
	addConnFlags(cmd, cf)
	fs := cmd.Flags()
	fs.IntVar(&bf.publishers, "publishers", 1, "publishing clients")
	fs.IntVar(&bf.subscribers, "subscribers", 1, "receiving or responding clients")
	fs.IntVar(&bf.count, "count", benchDefaultCount, "messages to send in all (0: no limit, with --duration)")
	fs.DurationVar(&bf.duration, "duration", 0, "run for this long (with --count unset: no message limit)")
	fs.IntVar(&bf.size, "size", 1024, "payload bytes per message")
	fs.IntVar(&bf.batch, "batch", 100, "messages per queue batch (send and receive); in-flight window of events-store streams")
	fs.StringVar(&bf.channel, "channel", "", "channel to use (default: a new herald-bench-<scenario>-<id>)")
	fs.IntVar(&bf.rate, "rate", 0, "send at most this many messages per second in all (0: as fast as possible)")
	fs.DurationVar(&bf.timeout, "timeout", 10*time.Second, "timeout of one call or request")
	fs.BoolVar(&bf.progress, "progress", false, "draw the progress bar even when stderr is not a terminal")
	fs.BoolVar(&bf.keep, "keep", false, "keep the channel the run created")
	fs.SortFlags = false
	return cmd
}

// check validates the flags and applies the --count / --duration rule.
func (bf *benchFlags) check(scenario string, fs *pflag.FlagSet) error {
	if fs.Changed("duration") && !fs.Changed("count") {
		bf.count = 0
	}
	switch {
	case bf.publishers < 1:
		return fmt.Errorf("invalid --publishers %d: want 1 or more", bf.publishers)
	case bf.subscribers < 0:
		return fmt.Errorf("invalid --subscribers %d: want 0 or more", bf.subscribers)
	case bf.count < 0:
		return fmt.Errorf("invalid --count %d: want 0 or more", bf.count)
	case bf.duration < 0:
		return fmt.Errorf("invalid --duration %v: want 0 or more", bf.duration)
	case bf.count == 0 && bf.duration == 0:
		return errors.New("a run needs --count or --duration")
	case bf.size < 0 || bf.size > 64<<20:
		return fmt.Errorf("invalid --size %d: want 0 to %d bytes", bf.size, 64<<20)
	case bf.batch < 1 || bf.batch > 1024:
		return fmt.Errorf("invalid --batch %d: want 1 to 1024", bf.batch)
	case bf.rate < 0:
		return fmt.Errorf("invalid --rate %d: want 0 or more", bf.rate)
	case bf.timeout <= 0:
		return fmt.Errorf("invalid --timeout %v: want more than 0", bf.timeout)
	}
	switch scenario {
	case "queues", "queues-stream", "commands", "queries":
		if bf.subscribers < 1 {
			return fmt.Errorf("scenario %s needs --subscribers 1 or more", scenario)
		}
	case "ping":
		bf.subscribers = 0
	}
	return nil
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// bench is one run of herald bench.
type bench struct {
	scenario string
	cf       *connFlags
	bf       benchFlags
	channel  string
	created  bool // the run named the channel
	runID    string
	prog     *progress
	warnings []string

	life    context.Context // the clients live in it
	clients []*client.Client
}

func newBench(scenario string, cf *connFlags, bf benchFlags) *bench {
	b := &bench{scenario: scenario, cf: cf, bf: bf, channel: bf.channel, runID: strings.ToLower(rand.Text()[14:])}
	if b.channel == "" {
		b.channel, b.created = "herald-bench-"+scenario+"-"+b.runID, true
	}
	return b
}

func (b *bench) describe() string {
	bound := fmt.Sprintf("%d msgs", b.bf.count)
	switch {
	case b.bf.count == 0:
		bound = b.bf.duration.String()
	case b.bf.duration > 0:
		bound += " or " + b.bf.duration.String()
	}
	if b.bf.rate > 0 {
		bound += fmt.Sprintf(" at %d msg/s", b.bf.rate)
	}
	if b.scenario == "ping" {
		return fmt.Sprintf("herald bench ping: %s (%s), %s, %s", b.cf.target(), b.cf.transport, bound, plural(b.bf.publishers, "client"))
	}
	return fmt.Sprintf("herald bench %s: %s (%s), channel %s, %s of %d bytes, batch %d, %s, %s",
		b.scenario, b.cf.target(), b.cf.transport, b.channel, bound, b.bf.size, b.bf.batch,
		plural(b.bf.publishers, "publisher"), plural(b.bf.subscribers, "subscriber"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// benchReport is the --json output.
type benchReport struct {
	Scenario        string        `json:"scenario"`
	Address         string        `json:"address"`
	Transport       string        `json:"transport"`
	Server          string        `json:"server,omitempty"`
	Channel         string        `json:"channel"`
	Publishers      int           `json:"publishers"`
	Subscribers     int           `json:"subscribers"`
	Count           int           `json:"count,omitempty"`
	Rate            int           `json:"rate,omitempty"`
	DurationSeconds float64       `json:"duration_seconds,omitempty"`
	Size            int           `json:"size"`
	Batch           int           `json:"batch"`
	Started         time.Time     `json:"started"`
	Results         []benchResult `json:"results"`
}

// err reports failed calls of the run.
func (r *benchReport) err() error {
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

func (b *bench) run(ctx context.Context) (*benchReport, error) {
	life, cancel := context.WithCancel(context.Background())
	b.life = life
	defer func() {
		b.prog.end()
		cancel()
		for _, c := range b.clients {
			_ = c.Close()
		}
	}()
	rep := &benchReport{
		Scenario: b.scenario, Address: b.cf.target(), Transport: b.cf.transport, Channel: b.channel,
		Publishers: b.bf.publishers, Subscribers: b.bf.subscribers, Count: b.bf.count,
		DurationSeconds: b.bf.duration.Seconds(), Rate: b.bf.rate, Size: b.bf.size, Batch: b.bf.batch, Started: time.Now().UTC(),
	}
	pubs, err := b.dialAll("pub", b.bf.publishers)
	if err != nil {
		return nil, err
	}
	subs, err := b.dialAll("sub", b.bf.subscribers)
	if err != nil {
		return nil, err
	}
	if si, err := pubs[0].Ping(ctx); err == nil {
		rep.Server = si.Version
	}
	var results []benchResult
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
func (b *bench) dialAll(role string, n int) ([]*client.Client, error) {
	out := make([]*client.Client, 0, n)
	for i := range n {
		c, err := b.cf.dial(b.life, fmt.Sprintf("%s-%s-%d", b.cf.clientID, role, i), client.WithReceiveBufferSize(1024))
		if err != nil {
			return nil, err
		}
		b.clients = append(b.clients, c)
		out = append(out, c)
	}
	return out, nil
}

// cleanup deletes the channel the run created, unless --keep.
func (b *bench) cleanup(c *client.Client) {
	if !b.created || b.bf.keep {
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
	ctx, cancel := context.WithTimeout(b.life, b.bf.timeout)
	defer cancel()
	if err := client.DeleteChannel(ctx, c, b.cf.clientID, b.channel, typ); err != nil {
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

func (b *bench) newQuota(ctx context.Context) *quota {
	q := &quota{limited: b.bf.count > 0, ctx: ctx, start: time.Now()}
	q.left.Store(int64(b.bf.count))
	if b.bf.duration > 0 {
		q.deadline = q.start.Add(b.bf.duration)
	}
	if b.bf.rate > 0 {
		q.interval = time.Second / time.Duration(b.bf.rate)
	}
	return q
}

// chunk is how many messages a streaming publisher takes at once: one when
// paced, so that pacing does not send bursts.
func (b *bench) chunk() int {
	if b.bf.rate > 0 {
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

func (e *errCount) fill(r *benchResult) {
	r.Errors = e.n.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first != nil {
		r.FirstErr = oneLine(e.first)
	}
}

// stamp returns a body of --size bytes that carries the current time, in
// its first 8 bytes or, when it is smaller, in a tag.
func (b *bench) stamp() ([]byte, map[string]string) {
	body := make([]byte, b.bf.size)
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

func (b *bench) ping(ctx context.Context, pubs []*client.Client) ([]benchResult, error) {
	q := b.newQuota(ctx)
	var ec errCount
	var ok atomic.Int64
	hists := make([]*histogram, len(pubs))
	b.prog.start("ping", int64(b.bf.count), b.bf.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		h := &histogram{}
		hists[i] = h
		wg.Go(func() {
			for q.take(1) == 1 {
				cctx, cancel := context.WithTimeout(ctx, b.bf.timeout)
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
	r := benchResult{Name: "ping", Publishers: len(pubs), Messages: ok.Load(), LatencyOf: "call"}
	ec.fill(&r)
	r.finish(time.Since(start), merged(hists))
	return []benchResult{r}, nil
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
func consume[T any](b *bench, s *subscribers, i int, msgs <-chan T, read func(T) (meta string, body []byte, tags map[string]string)) {
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

func newSubscribers(b *bench, n int) (*subscribers, context.Context) {
	sctx, cancel := context.WithCancel(b.life)
	s := &subscribers{ready: make([]atomic.Bool, n), hists: make([]*histogram, n), cancel: cancel}
	for i := range s.hists {
		s.hists[i] = &histogram{}
	}
	return s, sctx
}

func (b *bench) events(ctx context.Context, pubs, subs []*client.Client) ([]benchResult, error) {
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
	total := int64(b.bf.count) * int64(len(subs))
	if len(subs) == 0 {
		total = int64(b.bf.count)
	}
	b.prog.start("events", total, b.bf.duration)
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

	r := benchResult{Name: "events", Publishers: len(pubs), Subscribers: len(subs), LatencyOf: "publish to receive"}
	ec.fill(&r)
	if len(subs) == 0 {
		r.Messages, r.LatencyOf = sent.Load(), ""
		r.Bytes = r.Messages * int64(b.bf.size)
		r.finish(pubElapsed, nil)
		return []benchResult{r}, nil
	}
	r.Messages = s.received.Load()
	r.Bytes = r.Messages * int64(b.bf.size)
	if ctx.Err() == nil { // lost, not interrupted
		r.Lost = max(want-r.Messages, 0)
	}
	r.finish(s.last.since(start), merged(s.hists))
	return []benchResult{r}, nil
}

func (b *bench) eventsStore(ctx context.Context, pubs, subs []*client.Client) ([]benchResult, error) {
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
	b.prog.start("events-store", int64(b.bf.count), b.bf.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for p, c := range pubs {
		h := &histogram{}
		hists[p] = h
		wg.Go(func() {
			pctx, cancel := context.WithCancel(b.life)
			defer cancel()
			defer context.AfterFunc(ctx, cancel)()
			window := b.bf.batch
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
	storeRes := benchResult{Name: "events-store store", Publishers: len(pubs), Messages: stored.Load(), LatencyOf: "store (send to stored result)"}
	storeRes.Bytes = storeRes.Messages * int64(b.bf.size)
	ec.fill(&storeRes)
	storeRes.finish(lastStored.since(start), merged(hists))
	if len(subs) == 0 {
		return []benchResult{storeRes}, nil
	}
	want := stored.Load() * int64(len(subs))
	b.prog.start("events-store receive", want, 0)
	b.prog.add(s.received.Load())
	s.wait(ctx, want)
	recv := benchResult{Name: "events-store receive", Publishers: len(pubs), Subscribers: len(subs), LatencyOf: "publish to receive"}
	recv.Messages = s.received.Load()
	recv.Bytes = recv.Messages * int64(b.bf.size)
	if ctx.Err() == nil {
		recv.Lost = max(want-recv.Messages, 0)
	}
	recv.finish(s.last.since(start), merged(s.hists))
	return []benchResult{storeRes, recv}, nil
}

// fill sends the queue messages in batches; it returns the result of the
// send phase and how many messages were stored.
func (b *bench) fill(ctx context.Context, name string, pubs []*client.Client) benchResult {
	q := b.newQuota(ctx)
	var ec errCount
	var ok atomic.Int64
	var last latestTime
	hists := make([]*histogram, len(pubs))
	b.prog.start(name, int64(b.bf.count), b.bf.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		h := &histogram{}
		hists[i] = h
		wg.Go(func() {
			for k := q.take(b.bf.batch); k > 0; k = q.take(b.bf.batch) {
				batch := c.QMB()
				for range k {
					body, tags := b.stamp()
					batch.Add(c.QM().SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags))
				}
				cctx, cancel := context.WithTimeout(ctx, b.bf.timeout)
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
	r := benchResult{Name: name, Publishers: len(pubs), Messages: ok.Load(), LatencyOf: "call (one batch)"}
	r.Bytes = r.Messages * int64(b.bf.size)
	ec.fill(&r)
	r.finish(last.since(start), merged(hists))
	return r
}

func (b *bench) queues(ctx context.Context, pubs, subs []*client.Client, stream bool) ([]benchResult, error) {
	fillName, recvName := "queues send", "queues receive"
	if stream {
		fillName, recvName = "queues-stream fill", "queues-stream"
	}
	sendRes := b.fill(ctx, fillName, pubs)
	want := sendRes.Messages
	if ctx.Err() != nil || want == 0 {
		return []benchResult{sendRes}, nil
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
				n := int(min(int64(b.bf.batch), max(share, 1)))
				cctx, cancel := context.WithTimeout(rctx, b.bf.timeout+time.Second)
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
	r := benchResult{Name: recvName, Publishers: len(pubs), Subscribers: len(subs), Messages: received.Load(), LatencyOf: "call (one batch)"}
	if stream {
		r.LatencyOf = "message (receive + ack)"
		sendRes.Subscribers = 0
	}
	r.Bytes = r.Messages * int64(b.bf.size)
	if ctx.Err() == nil { // lost, not interrupted
		r.Lost = max(want-r.Messages, 0)
	}
	ec.fill(&r)
	r.finish(last.since(start), merged(hists))
	return []benchResult{sendRes, r}, nil
}

func (b *bench) requests(ctx context.Context, pubs, subs []*client.Client, queries bool) ([]benchResult, error) {
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
	b.prog.start(b.scenario, int64(b.bf.count), b.bf.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		h := &histogram{}
		hists[i] = h
		wg.Go(func() {
			for q.take(1) == 1 {
				body, tags := b.stamp()
				cctx, cancel := context.WithTimeout(ctx, b.bf.timeout+5*time.Second)
				t0 := time.Now()
				err := send(cctx, c, benchMetadata, body, tags, b.bf.timeout)
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
	r := benchResult{Name: b.scenario, Publishers: len(pubs), Subscribers: len(subs), Messages: ok.Load(), LatencyOf: "round trip"}
	r.Bytes = r.Messages * int64(b.bf.size)
	ec.fill(&r)
	r.finish(time.Since(start), merged(hists))
	return []benchResult{r}, nil
}
