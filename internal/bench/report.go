package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

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
	// Soak and Channels are the parts of the scenarios of that name.
	Soak     *SoakReport     `json:"soak,omitempty"`
	Channels *ChannelsReport `json:"channels,omitempty"`
}

// Err reports the failed calls of the run, nil when there were none.
func (r *Report) Err() error {
	var n int64
	first := ""
	for _, res := range r.Results {
		n += res.Errors
		if first == "" {
			first = res.FirstErr
		}
	}
	if r.Channels != nil {
		for _, c := range r.Channels.Calls {
			if c.Error != "" {
				n++
				if first == "" {
					first = c.Error
				}
			}
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("bench %s: %d calls failed; first: %s", r.Scenario, n, first)
}

// WriteText prints the report as herald bench does without --json: a table
// with one line per result, then the samples of soak or the calls of
// channels.
func (r *Report) WriteText(w io.Writer) error {
	if err := writeTable(w, r.Results); err != nil {
		return err
	}
	switch {
	case r.Soak != nil:
		return r.Soak.writeText(w)
	case r.Channels != nil:
		return r.Channels.writeText(w)
	}
	return nil
}
