package bench

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// metricsText is what client_golang's Go and process collectors serve,
// cut short.
const metricsText = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP go_memstats_alloc_bytes Number of bytes allocated in heap and currently in use.
# TYPE go_memstats_alloc_bytes gauge
go_memstats_alloc_bytes 1.234567e+06
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 17
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 5.1765248e+07
# HELP herald_messages_total Messages.
# TYPE herald_messages_total counter
herald_messages_total{pattern="queues"} 7
`

func TestProbe(t *testing.T) {
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, metricsText)
	}))
	defer metrics.Close()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"x": 100, "a/y": 20, "a/b/z": 3} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	p := &probe{metricsURL: metrics.URL + "/metrics", dataDir: dir, http: metrics.Client()}
	s, err := p.read(t.Context())
	if err != nil || s.rss != 51765248 || s.goroutines != 42 || s.openFiles != 17 || s.storeBytes != 123 {
		t.Errorf("metrics and data dir: %+v, %v", s, err)
	}

	if _, err := os.Stat("/proc/self/status"); err == nil {
		p = &probe{pid: os.Getpid()}
		s, err = p.read(t.Context())
		if err != nil || s.rss <= 0 || s.openFiles <= 0 || s.goroutines != -1 || s.storeBytes != -1 {
			t.Errorf("pid: %+v, %v", s, err)
		}
	}

	// A source that fails leaves its values unknown; the others count.
	p = &probe{metricsURL: metrics.URL + "/nothing", dataDir: dir, http: metrics.Client()}
	s, err = p.read(t.Context())
	if err == nil || s.rss != -1 || s.goroutines != -1 || s.storeBytes != 123 {
		t.Errorf("failed metrics: %+v, %v", s, err)
	}
}

func TestSoakSummary(t *testing.T) {
	var samples []sample
	for i := range 11 {
		s := sample{elapsed: time.Duration(i) * 30 * time.Second, rss: int64(100+3*i) << 20, goroutines: -1, openFiles: int64(10 + i%3), storeBytes: -1}
		if i == 1 {
			s.rss = 500 << 20 // a spike in the warm-up
		}
		samples = append(samples, s)
	}
	var r SoakReport
	r.summarise(samples, time.Minute)
	if len(r.Series) != 2 || r.Series[0].Name != "rss" || r.Series[1].Name != "open_files" {
		t.Fatalf("series %+v", r.Series)
	}
	rss := r.Series[0]
	if rss.First != 100<<20 || rss.AfterWarmup == nil || *rss.AfterWarmup != 106<<20 || rss.Last != 130<<20 || rss.Max != 500<<20 {
		t.Errorf("rss %+v", rss)
	}
	// 3 MiB every half minute after the warm-up: 6 MiB per minute.
	if r.RSSSlope == nil || math.Abs(*r.RSSSlope-6) > 1e-9 || r.SlopeSamples != 9 {
		t.Errorf("slope %v over %d samples", r.RSSSlope, r.SlopeSamples)
	}
	r.summarise(samples[:2], time.Minute)
	if r.RSSSlope != nil || r.Series[0].AfterWarmup != nil {
		t.Errorf("slope %v, after warm-up %v of a soak that ended in the warm-up", r.RSSSlope, r.Series[0].AfterWarmup)
	}
}
