package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/bench"
)

// TestBench runs every scenario briefly against an in-process broker, so
// that herald bench cannot rot.
func TestBench(t *testing.T) {
	newCLIServer(t)
	for _, scenario := range bench.Scenarios {
		if scenario == "soak" || scenario == "channels" {
			continue // their own subtests below
		}
		t.Run(scenario, func(t *testing.T) {
			r := runCLI(t, "", "bench", scenario, "--count", "200", "--size", "64", "--batch", "20",
				"--publishers", "2", "--subscribers", "2", "--json").ok(t)
			var rep bench.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("bench --json printed %q: %v", r.stdout, err)
			}
			if r.stderr != "" {
				t.Errorf("bench --json wrote on stderr: %q", r.stderr)
			}
			if rep.Scenario != scenario || rep.Count != 200 || rep.Server == "" || len(rep.Results) == 0 {
				t.Fatalf("report %+v", rep)
			}
			want := int64(200)
			if scenario == "events" || scenario == "events-store" {
				want = 400 // each of the 2 subscribers receives every event
			}
			last := rep.Results[len(rep.Results)-1]
			for _, res := range rep.Results {
				if res.Errors != 0 || res.Messages == 0 || res.MsgsPerSec <= 0 || res.Latency == nil || res.Latency.P50 <= 0 ||
					res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
					t.Errorf("result %+v latency %+v", res, res.Latency)
				}
			}
			if last.Messages+last.Lost != want || (scenario != "events" && last.Lost != 0) {
				t.Errorf("%s: %d messages, %d lost; want %d", last.Name, last.Messages, last.Lost, want)
			}
			if scenario != "ping" && last.Bytes != last.Messages*64 {
				t.Errorf("%s: %d bytes for %d messages of 64", last.Name, last.Bytes, last.Messages)
			}
		})
	}

	t.Run("Table", func(t *testing.T) {
		r := runCLI(t, "", "bench", "queues", "--count", "100", "--batch", "10").ok(t)
		lines := outLines(r.stdout)
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "scenario ") || !strings.Contains(lines[0], " msg/s ") ||
			!strings.HasPrefix(lines[1], "queues send ") || !strings.HasPrefix(lines[2], "queues receive ") {
			t.Errorf("bench printed:\n%s", r.stdout)
		}
		if !strings.HasPrefix(r.stderr, "herald bench queues: ") || strings.Contains(r.stderr, "\r") {
			t.Errorf("bench wrote on stderr: %q", r.stderr)
		}
		// The run deleted its queue.
		r = runCLI(t, "", "channels", "list", "queues", "--search", "herald-bench", "--json").ok(t)
		if strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("bench left queues behind: %s", r.stdout)
		}
	})
	t.Run("DurationAndRate", func(t *testing.T) {
		start := time.Now()
		r := runCLI(t, "", "bench", "ping", "--duration", "300ms", "--rate", "100", "--json").ok(t)
		var rep bench.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if n := rep.Results[0].Messages; n < 10 || n > 40 {
			t.Errorf("%d pings in 300ms at 100/s", n)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("a 300ms run took %v", d)
		}
	})
	t.Run("Progress", func(t *testing.T) {
		r := runCLI(t, "", "bench", "events-store", "--count", "3000", "--subscribers", "0", "--progress").ok(t)
		if !strings.Contains(r.stderr, "\r\033[K") {
			t.Logf("no progress line drawn (the run may be faster than 200ms): %q", r.stderr)
		}
		if !strings.HasPrefix(r.stdout, "scenario ") {
			t.Errorf("bench printed %q", r.stdout)
		}
	})
	t.Run("Soak", func(t *testing.T) {
		csv := filepath.Join(t.TempDir(), "soak.csv")
		r := runCLI(t, "", "bench", "soak", "--duration", "1500ms", "--interval", "500ms", "--rate", "50", "--size", "64",
			"--pid", strconv.Itoa(os.Getpid()), "--csv", csv).ok(t)
		if !strings.HasPrefix(r.stdout, "scenario ") || !strings.Contains(r.stdout, "\nqueries ") ||
			!strings.Contains(r.stdout, "\nrss ") || !strings.Contains(r.stdout, "RSS slope after warm-up (300ms): ") {
			t.Errorf("soak printed:\n%s", r.stdout)
		}
		if !strings.HasPrefix(r.stderr, "herald bench soak: ") || !strings.Contains(r.stderr, "\nsoak 0s: rss ") {
			t.Errorf("soak wrote on stderr:\n%s", r.stderr)
		}
		if b, err := os.ReadFile(csv); err != nil || strings.Count(string(b), "\n") < 4 {
			t.Errorf("csv %q (%v)", b, err)
		}
		r = runCLI(t, "", "bench", "soak", "--duration", "1s", "--interval", "300ms", "--pid", strconv.Itoa(os.Getpid()), "--json").ok(t)
		var rep bench.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Soak == nil || rep.Soak.Samples < 3 || len(rep.Results) != 8 || r.stderr != "" {
			t.Errorf("soak --json printed %q (%v), stderr %q", r.stdout, err, r.stderr)
		}
	})
	t.Run("Channels", func(t *testing.T) {
		r := runCLI(t, "", "bench", "channels", "--channels", "10", "--messages", "2", "--clients", "3", "--json").ok(t)
		var rep bench.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Channels == nil || len(rep.Channels.Calls) != 3 ||
			len(rep.Results) != 4 || rep.Results[1].Messages != 20 || rep.Results[3].Messages != 20 || rep.Publishers != 3 {
			t.Errorf("channels --json printed %q (%v)", r.stdout, err)
		}
		r = runCLI(t, "", "bench", "channels", "--channels", "4", "--prefix", "bench-cli").ok(t)
		if !strings.Contains(r.stdout, "\nevents-store first send ") || !strings.Contains(r.stdout, "\nlist-channels events_store ") ||
			!strings.Contains(r.stderr, "channels bench-cli-{q,es}-<i>") {
			t.Errorf("channels printed:\n%s\n%s", r.stdout, r.stderr)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"bench", "kafka"}, `unknown scenario "kafka"`},
			{[]string{"bench"}, "want SCENARIO, got 0 arguments"},
			{[]string{"bench", "queues", "--subscribers", "0"}, "scenario queues needs --subscribers 1 or more"},
			{[]string{"bench", "ping", "--count", "0"}, "a run needs --count or --duration"},
			{[]string{"bench", "ping", "--batch", "5000"}, "invalid --batch 5000"},
			{[]string{"bench", "ping", "--publishers", "0"}, "invalid --publishers 0"},
			{[]string{"bench", "ping", "--address", "127.0.0.1:1"}, "herald: bench ping: connect to 127.0.0.1:1: "},
			{[]string{"bench", "ping", "--transport", "rest", "--address", "127.0.0.1:1"}, "herald: bench ping: connect to http://127.0.0.1:1: "},
			{[]string{"bench", "queues", "--pid", "1"}, "--pid is a flag of scenario soak"},
			{[]string{"bench", "soak", "--channels", "5"}, "--channels is a flag of scenario channels"},
			{[]string{"bench", "soak"}, "scenario soak needs --metrics-url, --pid or --data-dir"},
			{[]string{"bench", "soak", "--pid", "1", "--count", "5"}, "--count does not apply"},
			{[]string{"bench", "channels", "--publishers", "2"}, "--publishers does not apply to scenario channels"},
			{[]string{"bench", "channels", "--messages", "0"}, "invalid --messages 0"},
		} {
			r := runCLI(t, "", tt.args...)
			if r.code != 1 || !strings.HasSuffix(r.stderr, "\n") || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
			}
			if i := strings.LastIndex(strings.TrimSuffix(r.stderr, "\n"), "\n"); i >= 0 && !strings.HasPrefix(r.stderr[i+1:], "herald: ") {
				t.Errorf("%v: last stderr line %q", tt.args, r.stderr[i+1:])
			}
		}
	})
}
