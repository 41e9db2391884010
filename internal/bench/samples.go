package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample is the server at one time of a soak, and what the load had done
// by then. A resource that no source gave is -1.
type sample struct {
	at         time.Time
	elapsed    time.Duration
	rss        int64 // bytes
	goroutines int64
	openFiles  int64
	storeBytes int64
	done       []int64 // messages so far, one per line of soakLines
	errors     int64
}

// probe reads a server's resources: from its Prometheus metrics, from
// /proc for its process id, and from the files of its data directory.
type probe struct {
	metricsURL string
	pid        int
	dataDir    string
	http       *http.Client
}

// sampleTimeout bounds one read of the sources.
const sampleTimeout = 10 * time.Second

// read returns what the sources say now; the error joins those of the
// sources that failed, whose values stay -1.
func (p *probe) read(ctx context.Context) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	s := sample{at: time.Now(), rss: -1, goroutines: -1, openFiles: -1, storeBytes: -1}
	var errs []error
	if p.metricsURL != "" {
		m, err := p.metrics(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		s.rss, s.goroutines, s.openFiles = m["process_resident_memory_bytes"], m["go_goroutines"], m["process_open_fds"]
	}
	if p.pid > 0 {
		if s.rss < 0 {
			rss, err := procRSS(p.pid)
			if err != nil {
				errs = append(errs, err)
			}
			s.rss = rss
		}
		if s.openFiles < 0 {
			n, err := procOpenFiles(p.pid)
			if err != nil {
				errs = append(errs, err)
			}
			s.openFiles = n
		}
	}
	if p.dataDir != "" {
		n, err := dirSize(p.dataDir)
		if err != nil {
			errs = append(errs, err)
		}
		s.storeBytes = n
	}
	return s, errors.Join(errs...)
}

// metricNames are the series read from --metrics-url: the standard Go and
// process collectors of client_golang.
var metricNames = []string{"process_resident_memory_bytes", "go_goroutines", "process_open_fds"}

// metrics fetches the Prometheus text of metricsURL and returns the value
// of each of metricNames, -1 for those it lacks.
func (p *probe) metrics(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64, len(metricNames))
	for _, n := range metricNames {
		out[n] = -1
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return out, fmt.Errorf("metrics: %w", err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := p.http.Do(req)
	if err != nil {
		return out, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return out, fmt.Errorf("metrics: GET %s: %s", p.metricsURL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return out, fmt.Errorf("metrics: %s: %w", p.metricsURL, err)
	}
	for _, n := range metricNames {
		f := fams[n]
		if f == nil || len(f.GetMetric()) == 0 {
			continue
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			out[n] = int64(m.GetGauge().GetValue())
		case m.GetUntyped() != nil:
			out[n] = int64(m.GetUntyped().GetValue())
		case m.GetCounter() != nil:
			out[n] = int64(m.GetCounter().GetValue())
		}
	}
	return out, nil
}

// procRSS reads the resident set size of process pid from
// /proc/<pid>/status (VmRSS, in kB).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, fmt.Errorf("pid %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return kb << 10, nil
			}
		}
		return -1, fmt.Errorf("pid %d: unexpected VmRSS line %q", pid, sc.Text())
	}
	return -1, fmt.Errorf("pid %d: no VmRSS in /proc/%d/status", pid, pid)
}

// procOpenFiles counts the open file descriptors of process pid.
func procOpenFiles(pid int) (int64, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1, fmt.Errorf("pid %d: %w", pid, err)
	}
	return int64(len(fds)), nil
}

// dirSize sums the sizes of the regular files under dir; files removed
// while it walks are left out.
func dirSize(dir string) (int64, error) {
	if _, err := os.Stat(dir); err != nil {
		return -1, fmt.Errorf("data dir: %w", err)
	}
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("data dir: %w", err)
	}
	return n, nil
}

// csvHeader names the columns of --csv: one row per sample, resources and
// the messages of each line of the report so far; an unknown value is an
// empty cell.
func csvHeader() []string {
	h := []string{"time", "elapsed_seconds", "rss_bytes", "goroutines", "open_files", "store_bytes"}
	for _, l := range soakLines {
		h = append(h, strings.ReplaceAll(strings.ReplaceAll(l, "-", "_"), " ", "_"))
	}
	return append(h, "errors")
}

func (s sample) csvRow() []string {
	cell := func(v int64) string {
		if v < 0 {
			return ""
		}
		return strconv.FormatInt(v, 10)
	}
	row := []string{s.at.UTC().Format(time.RFC3339Nano), strconv.FormatFloat(s.elapsed.Seconds(), 'f', 3, 64),
		cell(s.rss), cell(s.goroutines), cell(s.openFiles), cell(s.storeBytes)}
	for _, n := range s.done {
		row = append(row, cell(n))
	}
	return append(row, cell(s.errors))
}

// csvFile writes the samples as they come, so that an interrupted soak
// leaves its rows.
type csvFile struct {
	f *os.File
	w *csv.Writer
}

func createCSV(name string) (*csvFile, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	c := &csvFile{f: f, w: csv.NewWriter(f)}
	if err := c.write(csvHeader()); err != nil {
		_ = f.Close()
		return nil, err
	}
	return c, nil
}

func (c *csvFile) write(row []string) error {
	_ = c.w.Write(row)
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}

func (c *csvFile) close() error {
	if err := c.f.Close(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}

// Series summarises one resource over a soak. Sizes are in bytes.
// AfterWarmup is the first sample at the end of the warm-up or later, nil
// when the soak ended before.
type Series struct {
	Name        string   `json:"name"`
	Unit        string   `json:"unit"`
	First       float64  `json:"first"`
	AfterWarmup *float64 `json:"after_warmup"`
	Last        float64  `json:"last"`
	Max         float64  `json:"max"`
}

// SoakReport is the sampling part of a soak's report.
type SoakReport struct {
	IntervalSeconds float64  `json:"interval_seconds"`
	WarmupSeconds   float64  `json:"warmup_seconds"`
	Sources         []string `json:"sources"`
	Samples         int      `json:"samples"`
	FailedSamples   int      `json:"failed_samples,omitempty"`
	// Series has a summary for each resource that was sampled: rss,
	// goroutines, open_files, store.
	Series []Series `json:"series"`
	// RSSSlope is the least-squares slope of RSS over the samples after
	// the warm-up, in MiB per minute; nil with fewer than two.
	RSSSlope     *float64 `json:"rss_slope_mib_per_min,omitempty"`
	SlopeSamples int      `json:"slope_samples,omitempty"`
	CSV          string   `json:"csv,omitempty"`
	Plot         string   `json:"plot,omitempty"`
}

// summarise fills Series and RSSSlope from the samples.
func (r *SoakReport) summarise(samples []sample, warmup time.Duration) {
	r.Samples = len(samples)
	r.Series = nil
	for _, res := range []struct {
		name, unit string
		get        func(sample) int64
	}{
		{"rss", "bytes", func(s sample) int64 { return s.rss }},
		{"goroutines", "", func(s sample) int64 { return s.goroutines }},
		{"open_files", "", func(s sample) int64 { return s.openFiles }},
		{"store", "bytes", func(s sample) int64 { return s.storeBytes }},
	} {
		var known []sample
		for _, s := range samples {
			if res.get(s) >= 0 {
				known = append(known, s)
			}
		}
		if len(known) == 0 {
			continue
		}
		ser := Series{Name: res.name, Unit: res.unit, First: float64(res.get(known[0])), Last: float64(res.get(known[len(known)-1]))}
		for _, s := range known {
			v := float64(res.get(s))
			ser.Max = max(ser.Max, v)
			if ser.AfterWarmup == nil && s.elapsed >= warmup {
				ser.AfterWarmup = &v
			}
		}
		r.Series = append(r.Series, ser)
	}
	var xs, ys []float64
	for _, s := range samples {
		if s.rss >= 0 && s.elapsed >= warmup {
			xs, ys = append(xs, s.elapsed.Minutes()), append(ys, float64(s.rss)/(1<<20))
		}
	}
	r.RSSSlope, r.SlopeSamples = nil, len(xs)
	if k, ok := slope(xs, ys); ok {
		r.RSSSlope = &k
	}
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) (float64, bool) {
	n := float64(len(xs))
	if len(xs) < 2 {
		return 0, false
	}
	var sx, sy float64
	for i := range xs {
		sx, sy = sx+xs[i], sy+ys[i]
	}
	mx, my := sx/n, sy/n
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 || math.IsNaN(num/den) {
		return 0, false
	}
	return num / den, true
}

// writeText prints the series as a table, the slope and the files written.
func (r *SoakReport) writeText(w io.Writer) error {
	fmt.Fprintln(w)
	if len(r.Series) == 0 {
		fmt.Fprintf(w, "no resource sampled (%d samples, %d failed)\n", r.Samples, r.FailedSamples)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "resource\tfirst\tafter warm-up\tlast\tmax")
	for _, s := range r.Series {
		f := func(v float64) string {
			if s.Unit == "bytes" {
				return formatMiB(v)
			}
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		warm := "-"
		if s.AfterWarmup != nil {
			warm = f(*s.AfterWarmup)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.ReplaceAll(s.Name, "_", " "), f(s.First), warm, f(s.Last), f(s.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	warm := time.Duration(r.WarmupSeconds * float64(time.Second)).String()
	if r.RSSSlope != nil {
		fmt.Fprintf(w, "RSS slope after warm-up (%s): %+.3f MiB/min over %d samples\n", warm, *r.RSSSlope, r.SlopeSamples)
	} else {
		fmt.Fprintf(w, "RSS slope after warm-up (%s): unknown (%d samples)\n", warm, r.SlopeSamples)
	}
	line := fmt.Sprintf("%d samples every %gs", r.Samples, r.IntervalSeconds)
	if r.FailedSamples > 0 {
		line += fmt.Sprintf(", %d incomplete", r.FailedSamples)
	}
	if r.CSV != "" {
		line += ", in " + r.CSV
	}
	if r.Plot != "" {
		line += ", chart in " + r.Plot
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// formatMiB prints bytes in MiB with one decimal.
func formatMiB(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
