package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/client"
)

// soakLines are the lines of soak's report in order: each sample records
// the messages of each so far.
var soakLines = []string{
	"events send", "events receive", "events-store send", "events-store receive",
	"queues send", "queues receive", "commands", "queries",
}

// soakPatterns is how many patterns share --rate.
const soakPatterns = 5

func (c *Config) checkSoak() error {
	switch {
	case c.Count != 0:
		return errors.New("scenario soak runs for --duration; --count does not apply")
	case c.Duration <= 0:
		return errors.New("scenario soak needs --duration")
	case c.Interval <= 0:
		return fmt.Errorf("invalid --interval %v: want more than 0", c.Interval)
	case c.Warmup < 0 || c.Warmup >= c.Duration:
		return fmt.Errorf("invalid --warmup %v: want 0 to less than --duration %v", c.Warmup, c.Duration)
	case c.PID < 0:
		return fmt.Errorf("invalid --pid %d", c.PID)
	case c.MetricsURL == "" && c.PID == 0 && c.DataDir == "":
		return errors.New("scenario soak needs --metrics-url, --pid or --data-dir to sample the server")
	case c.Subscribers < 1:
		return errors.New("scenario soak needs --subscribers 1 or more")
	}
	if c.MetricsURL != "" {
		u, err := url.Parse(c.MetricsURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("invalid --metrics-url %q: want http://host:port/metrics", c.MetricsURL)
		}
	}
	return nil
}

// warmup is the part of a soak left out of the RSS slope.
func (c *Config) warmup() time.Duration {
	if c.Warmup > 0 {
		return c.Warmup
	}
	return min(c.Duration/5, time.Minute)
}

// sources names what soak samples.
func (c *Config) sources() []string {
	var s []string
	if c.MetricsURL != "" {
		s = append(s, "metrics "+c.MetricsURL)
	}
	if c.PID > 0 {
		s = append(s, fmt.Sprintf("pid %d", c.PID))
	}
	if c.DataDir != "" {
		s = append(s, "data dir "+c.DataDir)
	}
	return s
}

func (b *Bench) describeSoak() string {
	rate := "as fast as possible"
	if b.cfg.Rate > 0 {
		rate = fmt.Sprintf("at %d msg/s in all", b.cfg.Rate)
	}
	return fmt.Sprintf("herald bench soak: %s (%s), channel %s, %v %s of %d bytes over %d patterns, %s, %s; sampling %s every %v, warm-up %v",
		b.cfg.Address, b.cfg.Transport, b.channel, b.cfg.Duration, rate, b.cfg.Size, soakPatterns,
		plural(b.cfg.Publishers, "publisher"), plural(b.cfg.Subscribers, "subscriber"),
		strings.Join(b.cfg.sources(), ", "), b.cfg.Interval, b.cfg.warmup())
}

// soak runs every pattern at once for --duration, a fifth of --rate each,
// while it samples the server every --interval: events and events store
// sent and received by every subscriber, queue messages sent and taken,
// commands and queries answered. One line per direction of each pattern,
// and rep gets the samples' summary.
func (b *Bench) soak(ctx context.Context, pubs, subs []*client.Client, rep *SoakReport) ([]Result, error) {
	smp, err := b.newSoakSampler(ctx, rep)
	if err != nil {
		return nil, err
	}
	r, err := b.soakReceivers(ctx, pubs[0], subs)
	if err != nil {
		return nil, errors.Join(err, smp.stop())
	}
	defer r.close()

	// The senders share the bar, which runs by the clock.
	b.prog.start("soak", 0, b.cfg.Duration)
	send := func(name, latencyOf string, step func(context.Context, *worker, int)) *phase {
		p := b.phase(ctx, name, pubs)
		p.quota = newQuota(ctx, 0, b.cfg.Duration, float64(b.cfg.Rate)/soakPatterns)
		p.bar, p.latencyOf, p.start = false, latencyOf, each(step)
		return p
	}
	ev, es, qs := send("events send", "call", b.soakEvent), send("events-store send", "store (send to stored result)", b.soakEventStore),
		send("queues send", "call", b.soakQueueMessage)
	cmds := send("commands", "round trip", func(ctx context.Context, w *worker, _ int) { b.request(ctx, w, b.channel, false) })
	qrys := send("queries", "round trip", func(ctx context.Context, w *worker, _ int) { b.request(ctx, w, b.channel, true) })
	qr := b.phase(ctx, "queues receive", subs)
	qr.quota, qr.prog, qr.bar, qr.latencyOf, qr.start = nil, nil, false, "send to receive", each(b.soakReceive)
	var sent atomic.Int64   // Unix ns when the senders ended, 0 before
	qr.stop = func() bool { // once all were taken, or none came for idleTimeout after the senders ended
		end := sent.Load()
		quiet := time.Unix(0, max(end, qr.t.last.ns.Load()))
		return end != 0 && (qr.done() >= qs.done() || time.Since(quiet) > idleTimeout)
	}
	phases := []*phase{ev, es, qs, cmds, qrys, qr}
	smp.counts = func() ([]int64, int64) {
		var errs int64
		for _, p := range phases {
			errs += p.t.errs.n.Load()
		}
		return []int64{ev.done(), r.events.received(), es.done(), r.eventsStore.received(), qs.done(), qr.done(), cmds.done(), qrys.done()}, errs
	}

	start := time.Now()
	smp.run(ctx, start)
	res := make([]Result, len(phases))
	var senders, receiver sync.WaitGroup
	for i, p := range phases[:5] {
		senders.Go(func() { res[i] = p.run(ctx) })
	}
	receiver.Go(func() { res[5] = qr.run(ctx) })
	senders.Wait()
	sent.Store(time.Now().UnixNano())
	b.prog.end()
	receiver.Wait()
	evWant, esWant := res[0].Messages*int64(len(subs)), res[1].Messages*int64(len(subs))
	r.events.wait(ctx, evWant)
	r.eventsStore.wait(ctx, esWant)
	err = smp.stop()
	if b.cfg.Plot != "" {
		err = errors.Join(err, writePlot(b.cfg.Plot, smp.samples))
	}

	lines := []Result{
		res[0], r.events.result(ctx, "events receive", start, b.cfg.Size, evWant),
		res[1], r.eventsStore.result(ctx, "events-store receive", start, b.cfg.Size, esWant),
		res[2], res[5], res[3], res[4],
	}
	for i := range lines {
		lines[i].Publishers = len(pubs)
		if strings.HasSuffix(lines[i].Name, "receive") || i >= 6 {
			lines[i].Subscribers = len(subs)
		}
	}
	if ctx.Err() == nil {
		lines[5].Lost = max(res[2].Messages-res[5].Messages, 0)
	}
	return lines, err
}

// soakListeners are the subscribers and responders of a soak.
type soakListeners struct {
	events, eventsStore *subscribers
	stops               []func()
}

// soakReceivers starts subs receiving events and events store and
// answering commands and queries, and waits until they all answer probes
// from c.
func (b *Bench) soakReceivers(ctx context.Context, c *client.Client, subs []*client.Client) (*soakListeners, error) {
	l := &soakListeners{}
	var err error
	if l.events, err = b.listenEvents(ctx, c, subs, nil); err != nil {
		return nil, err
	}
	l.stops = append(l.stops, l.events.close)
	if l.eventsStore, err = b.listenEventsStore(ctx, c, subs, nil); err != nil {
		l.close()
		return nil, err
	}
	l.stops = append(l.stops, l.eventsStore.close)
	for _, queries := range []bool{false, true} {
		stop, err := b.responders(ctx, c, subs, queries)
		if err != nil {
			l.close()
			return nil, err
		}
		l.stops = append(l.stops, stop)
	}
	return l, nil
}

func (l *soakListeners) close() {
	for _, stop := range l.stops {
		stop()
	}
}

// soakEvent sends one event; the latency is that of the call.
func (b *Bench) soakEvent(ctx context.Context, w *worker, _ int) {
	body, tags := b.stamp()
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	if err := w.c.E().SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags).Send(cctx); err != nil {
		w.fail(err, 1)
		return
	}
	w.did(1, time.Since(t0))
}

// soakEventStore stores one event and waits for its result.
func (b *Bench) soakEventStore(ctx context.Context, w *worker, _ int) {
	body, tags := b.stamp()
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	res, err := w.c.ES().SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags).Send(cctx)
	if err == nil && (!res.Sent || res.Err != nil) {
		err = res.Err
		if err == nil {
			err = errors.New("event not stored")
		}
	}
	if err != nil {
		w.fail(err, 1)
		return
	}
	w.did(1, time.Since(t0))
}

// soakQueueMessage sends one queue message.
func (b *Bench) soakQueueMessage(ctx context.Context, w *worker, _ int) {
	body, tags := b.stamp()
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	res, err := w.c.QM().SetChannel(b.channel).SetMetadata(benchMetadata).SetBody(body).SetTags(tags).Send(cctx)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		w.fail(err, 1)
		return
	}
	w.did(1, time.Since(t0))
}

// soakReceive takes the queue messages there are, up to what a twentieth
// of a second brings at the pattern's rate, so that a receive returns soon
// after a message comes; the latency of a message is from its send.
func (b *Bench) soakReceive(ctx context.Context, w *worker, _ int) {
	n := min(b.cfg.Batch, max(1, b.cfg.Rate/soakPatterns/20))
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout+time.Second)
	defer cancel()
	res, err := w.c.RQM().SetChannel(b.channel).SetMaxNumberOfMessages(n).SetWaitTimeSeconds(1).Send(cctx)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		w.fail(err, 1)
		return
	}
	now := time.Now()
	for _, m := range res.Messages {
		var d time.Duration
		if t, ok := sentAt(m.Body, m.Tags); ok {
			d = now.Sub(t)
		}
		w.did(1, d)
	}
}

// soakSampler samples the server every --interval while the soak runs,
// writes each sample to the CSV file and the log, and summarises them.
type soakSampler struct {
	b      *Bench
	probe  *probe
	csv    *csvFile
	start  time.Time
	rep    *SoakReport
	counts func() (done []int64, errors int64)

	samples  []sample
	firstErr error // of a sample
	csvErr   error
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// newSoakSampler reads the sources once, which fails the soak if one
// cannot be read, and creates the CSV file.
func (b *Bench) newSoakSampler(ctx context.Context, rep *SoakReport) (*soakSampler, error) {
	cfg := &b.cfg
	rep.IntervalSeconds, rep.WarmupSeconds, rep.Sources = cfg.Interval.Seconds(), cfg.warmup().Seconds(), cfg.sources()
	rep.CSV, rep.Plot = cfg.CSV, cfg.Plot
	s := &soakSampler{b: b, rep: rep, probe: &probe{metricsURL: cfg.MetricsURL, pid: cfg.PID, dataDir: cfg.DataDir, http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}}
	_, err := s.probe.read(ctx)
	if err != nil {
		err = fmt.Errorf("sample the server: %w", err)
	} else if cfg.CSV != "" {
		s.csv, err = createCSV(cfg.CSV)
	}
	if err != nil {
		s.probe.http.CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

// run takes the first sample as the load starts, at start, and samples
// every --interval until stop.
func (s *soakSampler) run(ctx context.Context, start time.Time) {
	s.start = start
	s.take(ctx)
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() {
		t := time.NewTicker(s.b.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.take(ctx)
			}
		}
	})
}

// take reads the sources and adds a sample.
func (s *soakSampler) take(ctx context.Context) {
	smp, err := s.probe.read(ctx)
	if ctx.Err() != nil {
		return // interrupted or stopped: stop takes the last sample
	}
	smp.elapsed = smp.at.Sub(s.start)
	smp.done, smp.errors = s.counts()
	s.add(smp, err)
}

func (s *soakSampler) add(smp sample, err error) {
	if err != nil {
		s.rep.FailedSamples++
		if s.firstErr == nil {
			s.firstErr = err
		}
	}
	s.samples = append(s.samples, smp)
	if s.csv != nil && s.csvErr == nil {
		s.csvErr = s.csv.write(smp.csvRow())
	}
	if s.b.cfg.Log != nil {
		s.b.prog.println(s.b.cfg.Log, smp.logLine())
	}
}

// stop ends the sampling, takes the last sample and summarises them all;
// the error is that of the CSV file, failed samples are warnings.
func (s *soakSampler) stop() error {
	defer s.probe.http.CloseIdleConnections()
	if s.cancel == nil { // never ran
		if s.csv != nil {
			return s.csv.close()
		}
		return nil
	}
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(s.b.life, sampleTimeout)
	defer cancel()
	s.take(ctx)
	s.rep.summarise(s.samples, s.b.cfg.warmup())
	if s.firstErr != nil {
		s.b.warnings = append(s.b.warnings, fmt.Sprintf("%d of %d samples incomplete; first: %s", s.rep.FailedSamples, len(s.samples), oneLine(s.firstErr)))
	}
	if s.csv == nil {
		return nil
	}
	return errors.Join(s.csvErr, s.csv.close())
}

// logLine is the sample as one line of the log.
func (s sample) logLine() string {
	parts := []string{fmt.Sprintf("soak %v:", s.elapsed.Round(time.Second))}
	if s.rss >= 0 {
		parts = append(parts, "rss "+formatMiB(float64(s.rss))+",")
	}
	if s.goroutines >= 0 {
		parts = append(parts, fmt.Sprintf("goroutines %d,", s.goroutines))
	}
	if s.openFiles >= 0 {
		parts = append(parts, fmt.Sprintf("open files %d,", s.openFiles))
	}
	if s.storeBytes >= 0 {
		parts = append(parts, "store "+formatMiB(float64(s.storeBytes))+",")
	}
	var n int64
	for _, d := range s.done {
		n += d
	}
	parts = append(parts, fmt.Sprintf("%d msgs, %d errors", n, s.errors))
	return strings.Join(parts, " ")
}
