package bench

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// histogram records durations in log-linear buckets: exact below 256 ns,
// then 128 buckets per power of two, so a percentile is off by less than
// 1 %. Its size does not grow with the number of samples. The zero value is
// empty and ready; it is not safe for concurrent use (give each worker one
// and merge them).
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum, max int64
}

const (
	histSubBits = 7                // 128 sub-buckets per power of two
	histLinear  = 2 << histSubBits // values below are exact
	histBuckets = histLinear + 56<<histSubBits
)

func histIndex(v int64) int {
	if v < histLinear {
		return int(max(v, 0))
	}
	exp := bits.Len64(uint64(v)) - histSubBits - 1 // ≥ 1
	mant := v >> exp                               // in [128, 256)
	return histLinear + (exp-1)<<histSubBits + int(mant) - 1<<histSubBits
}

// histValue is the middle of bucket i.
func histValue(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	i -= histLinear
	exp := i>>histSubBits + 1
	mant := int64(i&(1<<histSubBits-1) + 1<<histSubBits)
	return mant<<exp + (int64(1)<<exp)/2
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[histIndex(v)]++
	h.n++
	h.sum += v
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// percentile returns the value below which p percent of the samples fall
// (nearest rank), or 0 without samples.
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(histValue(i), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / int64(h.n))
}

// Result is one line of the result table: one phase of a scenario.
type Result struct {
	Name        string  `json:"name"`
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	Messages    int64   `json:"messages"`
	Bytes       int64   `json:"bytes"`
	Errors      int64   `json:"errors"`
	Lost        int64   `json:"lost,omitempty"`
	Seconds     float64 `json:"seconds"`
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	MBPerSec    float64 `json:"mb_per_sec"`
	// LatencyOf says what one latency sample measures.
	LatencyOf string          `json:"latency_of,omitempty"`
	Latency   *LatencySummary `json:"latency_ms,omitempty"`
	FirstErr  string          `json:"first_error,omitempty"`

	hist *histogram
}

// LatencySummary is in milliseconds.
type LatencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// finish computes the rates and the latency summary.
func (r *Result) finish(elapsed time.Duration, h *histogram) {
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.MsgsPerSec = float64(r.Messages) / r.Seconds
		r.MBPerSec = float64(r.Bytes) / 1e6 / r.Seconds
	}
	r.hist = h
	if h != nil && h.n > 0 {
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		r.Latency = &LatencySummary{
			P50: ms(h.percentile(50)), P90: ms(h.percentile(90)), P99: ms(h.percentile(99)),
			Max: ms(time.Duration(h.max)), Mean: ms(h.mean()),
		}
	}
}

// writeTable prints the results as an aligned table.
func writeTable(w io.Writer, results []Result) error {
	extra := false
	for _, r := range results {
		extra = extra || r.Errors > 0 || r.Lost > 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "scenario\tclients\tmsgs\tmsg/s\tMB/s\tp50\tp90\tp99\tmax"
	if extra {
		head += "\terrors\tlost"
	}
	fmt.Fprintln(tw, head)
	for _, r := range results {
		mb := "-"
		if r.Bytes > 0 {
			mb = formatRate(r.MBPerSec)
		}
		lat := []string{"-", "-", "-", "-"}
		if l := r.Latency; l != nil {
			lat = []string{formatMillis(l.P50), formatMillis(l.P90), formatMillis(l.P99), formatMillis(l.Max)}
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%.0f\t%s\t%s", r.Name, r.Publishers, r.Subscribers, r.Messages, r.MsgsPerSec, mb, strings.Join(lat, "\t"))
		if extra {
			fmt.Fprintf(tw, "\t%d\t%d", r.Errors, r.Lost)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func formatRate(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// formatMillis prints a latency in milliseconds with two significant digits
// or more: 0.21ms, 1.2ms, 35ms, 1200ms.
func formatMillis(ms float64) string {
	switch {
	case ms < 0.1:
		return fmt.Sprintf("%.3fms", ms)
	case ms < 1:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// progress draws a progress bar on one line of w while a phase runs.
// Workers count with add whether or not it draws; with a nil writer it
// only counts.
type progress struct {
	w     io.Writer
	count atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

func newProgress(w io.Writer) *progress { return &progress{w: w} }

func (p *progress) add(n int64) { p.count.Add(n) }

// start resets the count and draws the progress of phase toward total
// messages, or toward duration when total is 0, until end.
func (p *progress) start(phase string, total int64, duration time.Duration) {
	p.end()
	p.count.Store(0)
	if p.w == nil {
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	begin := time.Now()
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
				p.draw(phase, total, duration, time.Since(begin))
			}
		}
	}(p.stop, p.done)
}

func (p *progress) draw(phase string, total int64, duration, elapsed time.Duration) {
	n := p.count.Load()
	frac := 0.0
	switch {
	case total > 0:
		frac = float64(n) / float64(total)
	case duration > 0:
		frac = float64(elapsed) / float64(duration)
	}
	frac = min(max(frac, 0), 1)
	const width = 30
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	rate := float64(n) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r\033[K%-22s [%s] %3.0f%% %d msgs %.0f msg/s %.1fs", phase, bar, frac*100, n, rate, elapsed.Seconds())
}

// end stops drawing and clears the line; it is safe to call more than once.
func (p *progress) end() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
}
