package bench

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/server/heraldtest"
)

// TestSoak runs a short soak against an in-process broker, sampling this
// process (which runs the broker) through /proc and the broker's data
// directory.
func TestSoak(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here")
	}
	srv := heraldtest.NewServer(t)
	dir := t.TempDir()
	var log lockedBuffer
	cfg := testConfig(srv, "soak")
	cfg.Count, cfg.Duration, cfg.Rate, cfg.Size = 0, 3*time.Second, 100, 64
	cfg.Interval, cfg.PID, cfg.DataDir = 500*time.Millisecond, os.Getpid(), srv.DataDir
	cfg.CSV, cfg.Plot, cfg.Log = filepath.Join(dir, "soak.csv"), filepath.Join(dir, "soak.png"), &log
	rep, b := run(t, cfg)
	if w := b.Warnings(); len(w) > 0 {
		t.Errorf("warnings %q", w)
	}

	if len(rep.Results) != len(soakLines) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(soakLines))
	}
	for i, r := range rep.Results {
		if r.Name != soakLines[i] || r.Messages < 30 || r.Errors != 0 || r.Lost != 0 || r.Latency == nil {
			t.Errorf("result %+v", r)
		}
	}

	f, err := os.Open(cfg.CSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 5 || strings.Join(rows[0][:6], ",") != "time,elapsed_seconds,rss_bytes,goroutines,open_files,store_bytes" {
		t.Fatalf("csv:\n%v", rows)
	}
	last := rows[len(rows)-1]
	for _, col := range []int{2, 4, 5} { // rss, open files, store
		if n, err := strconv.ParseInt(last[col], 10, 64); err != nil || n <= 0 {
			t.Errorf("csv column %s = %q", rows[0][col], last[col])
		}
	}
	if last[3] != "" {
		t.Errorf("goroutines %q without --metrics-url", last[3])
	}
	if rep.Soak.Samples != len(rows)-1 || rep.Soak.RSSSlope == nil || len(rep.Soak.Series) != 3 {
		t.Errorf("soak report %+v", rep.Soak)
	}

	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"events receive ", "queues receive ", "\nresource    first ", "\nrss ", "\nopen files ", "\nstore ",
		"RSS slope after warm-up (600ms): ", "samples every 0.5s, in " + cfg.CSV + ", chart in " + cfg.Plot} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(log.String(), "\nsoak "); n < 4 || !strings.HasPrefix(log.String(), "soak 0s: rss ") {
		t.Errorf("log:\n%s", log.String())
	}
	png, err := os.ReadFile(cfg.Plot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("plot: %d bytes, %v", len(png), err)
	}
}

func TestSoakRefused(t *testing.T) {
	srv := heraldtest.NewServer(t)
	for _, tt := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) {}, "scenario soak needs --metrics-url, --pid or --data-dir"},
		{func(c *Config) { c.PID, c.Count = 1, 10 }, "--count does not apply"},
		{func(c *Config) { c.PID, c.Interval = 1, 0 }, "invalid --interval 0s"},
		{func(c *Config) { c.PID, c.Warmup = 1, time.Hour }, "invalid --warmup 1h0m0s"},
		{func(c *Config) { c.MetricsURL = "localhost:8080/metrics" }, "invalid --metrics-url"},
		{func(c *Config) { c.PID, c.Subscribers = 1, 0 }, "needs --subscribers 1 or more"},
	} {
		cfg := testConfig(srv, "soak")
		cfg.Count, cfg.Duration = 0, time.Minute
		tt.change(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}

	// A source that cannot be read fails the run before the load.
	cfg := testConfig(srv, "soak")
	cfg.Count, cfg.Duration, cfg.DataDir = 0, time.Minute, filepath.Join(t.TempDir(), "missing")
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "sample the server: data dir: ") {
		t.Errorf("run: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a failed soak took %v", d)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
