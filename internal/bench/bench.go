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
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald/client"
)

// Scenarios are the workloads Run knows, in the order herald bench lists
// them.
var Scenarios = []string{"ping", "events", "events-store", "queues", "queues-stream", "commands", "queries", "soak", "channels"}

// Defaults of herald bench's flags that are not those of Go's zero values.
const (
	// DefaultCount is the number of messages of a run without a duration.
	DefaultCount = 10000
	// DefaultSoakDuration and DefaultSoakRate are soak's when --duration
	// and --rate are not given.
	DefaultSoakDuration = 10 * time.Minute
	DefaultSoakRate     = 100
	// DefaultInterval is the time between two samples of soak.
	DefaultInterval = 5 * time.Second
	// DefaultChannels, DefaultMessages and DefaultClients are the load of
	// scenario channels.
	DefaultChannels = 1000
	DefaultMessages = 3
	DefaultClients  = 32
)

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

	// Soak samples the server every Interval (--interval) from MetricsURL
	// (--metrics-url, Prometheus text), PID (--pid, /proc) and DataDir
	// (--data-dir, the size of the store), one of them at least. Samples
	// before Warmup (--warmup; 0: a fifth of Duration, at most a minute)
	// are left out of the RSS slope. CSV and Plot, when not empty, are
	// files for the samples (--csv) and a PNG chart of them (--plot).
	Interval   time.Duration
	Warmup     time.Duration
	MetricsURL string
	PID        int
	DataDir    string
	CSV        string
	Plot       string

	// Scenario channels sends Messages (--messages) to each of Channels
	// (--channels) new queues and as many new events-store channels, from
	// Clients (--clients) clients; the channels are named Prefix-q-<i> and
	// Prefix-es-<i> (--prefix; empty: herald-bench-channels-<id>).
	Channels int
	Messages int
	Clients  int
	Prefix   string

	// Progress, when not nil, is where a progress bar is drawn while a
	// phase runs (a terminal: it redraws one line).
	Progress io.Writer
	// Log, when not nil, gets a line for each sample of soak.
	Log io.Writer
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
	case c.Count == 0 && c.Duration == 0 && c.Scenario != "channels":
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
	case "soak":
		return c.checkSoak()
	case "channels":
		return c.checkChannels()
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

	mu           sync.Mutex
	madeChannels [][2]string // type and name of the channels scenario channels sent to
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
	if cfg.Scenario == "channels" {
		b.channel = cfg.Prefix
		if b.channel == "" {
			b.channel = "herald-bench-channels-" + b.runID
		}
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
	switch b.scenario {
	case "ping":
		return fmt.Sprintf("herald bench ping: %s (%s), %s, %s", b.cfg.Address, b.cfg.Transport, bound, plural(b.cfg.Publishers, "client"))
	case "soak":
		return b.describeSoak()
	case "channels":
		return b.describeChannels()
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
	npub, nsub := b.cfg.Publishers, b.cfg.Subscribers
	if b.scenario == "channels" {
		npub, nsub = b.cfg.Clients, 0
		rep.Publishers, rep.Subscribers, rep.Count = npub, nsub, 0
	}
	pubs, err := b.dialAll("pub", npub)
	if err != nil {
		return nil, err
	}
	subs, err := b.dialAll("sub", nsub)
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
	case "soak":
		rep.Soak = &SoakReport{}
		results, err = b.soak(ctx, pubs, subs, rep.Soak)
	case "channels":
		rep.Channels = &ChannelsReport{}
		results, err = b.channels(ctx, pubs, rep.Channels)
	}
	b.prog.end()
	rep.Results = results
	if b.scenario == "channels" {
		b.deleteChannels(pubs)
	} else {
		b.cleanup(pubs[0])
	}
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
	var types []string
	switch b.scenario {
	case "queues", "queues-stream":
		types = []string{client.ChannelTypeQueues}
	case "events-store":
		types = []string{client.ChannelTypeEventsStore}
	case "soak":
		types = []string{client.ChannelTypeQueues, client.ChannelTypeEventsStore}
	}
	for _, typ := range types {
		ctx, cancel := context.WithTimeout(b.life, b.cfg.Timeout)
		if err := client.DeleteChannel(ctx, c, b.cfg.ClientID, b.channel, typ); err != nil {
			b.warnings = append(b.warnings, fmt.Sprintf("delete %s channel %s: %s", typ, b.channel, oneLine(err)))
		}
		cancel()
	}
}
