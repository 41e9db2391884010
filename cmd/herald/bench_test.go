package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBench runs every scenario briefly against an in-process broker, so
// that herald bench cannot rot.
func TestBench(t *testing.T) {
	newCLIServer(t)
	for _, scenario := range scenarios {
		t.Run(scenario, func(t *testing.T) {
			r := runCLI(t, "", "bench", scenario, "--count", "200", "--size", "64", "--batch", "20",
				"--publishers", "2", "--subscribers", "2", "--json").ok(t)
			var rep benchReport
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
		var rep benchReport
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

func TestHistogramPercentiles(t *testing.T) {
	var h histogram
	if h.percentile(50) != 0 || h.mean() != 0 {
		t.Fatal("empty histogram")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var samples []time.Duration
	parts := make([]*histogram, 4)
	for i := range parts {
		parts[i] = &histogram{}
	}
	for i := range 100000 {
		// log-uniform between 100 ns and 10 s
		d := time.Duration(100 * math.Pow(10, rng.Float64()*8))
		samples = append(samples, d)
		parts[i%4].record(d)
	}
	all := merged(parts)
	slices.Sort(samples)
	for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
		rank := max(int(math.Ceil(p/100*float64(len(samples)))), 1)
		want := samples[rank-1]
		got := all.percentile(p)
		if diff := float64(got-want) / float64(want); diff > 0.01 || diff < -0.01 {
			t.Errorf("p%v = %v, want %v (off by %.2f%%)", p, got, want, diff*100)
		}
	}
	if time.Duration(all.max) != samples[len(samples)-1] || all.percentile(100) != samples[len(samples)-1] {
		t.Errorf("max %v, p100 %v, want %v", time.Duration(all.max), all.percentile(100), samples[len(samples)-1])
	}

	var small histogram
	for _, d := range []time.Duration{5, 1, 3, 2, 4} {
		small.record(d)
	}
	if small.percentile(50) != 3 || small.percentile(100) != 5 || small.percentile(0) != 1 || small.mean() != 3 {
		t.Errorf("small: p50 %v p100 %v p0 %v mean %v", small.percentile(50), small.percentile(100), small.percentile(0), small.mean())
	}
	for _, v := range []int64{0, 255, 256, 257, 511, 512, 1 << 40, 1<<62 + 12345} {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d", v, i)
		}
		if mid := histValue(i); v >= 256 && (float64(mid-v)/float64(v) > 0.01 || float64(v-mid)/float64(v) > 0.01) {
			t.Errorf("value %d in bucket %d of middle %d", v, i, mid)
		}
	}
}

func TestQuota(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &bench{bf: benchFlags{count: 10}}
	q := b.newQuota(ctx)
	var got []int
	for k := q.take(4); k > 0; k = q.take(4) {
		got = append(got, k)
	}
	if !slices.Equal(got, []int{4, 4, 2}) {
		t.Errorf("takes %v, want [4 4 2]", got)
	}

	b = &bench{bf: benchFlags{duration: 50 * time.Millisecond, rate: 200}}
	q = b.newQuota(ctx)
	start, n := time.Now(), 0
	for q.take(1) == 1 {
		n++
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second || n < 5 || n > 15 {
		t.Errorf("%d messages in %v at 200/s for 50ms", n, d)
	}

	b = &bench{bf: benchFlags{duration: time.Hour}}
	q = b.newQuota(ctx)
	cancel()
	if q.take(1) != 0 {
		t.Error("take after the context ended")
	}
}

func TestWriteTable(t *testing.T) {
	h := &histogram{}
	for _, d := range []time.Duration{210 * time.Microsecond, 400 * time.Microsecond, 1200 * time.Microsecond, 5 * time.Millisecond} {
		h.record(d)
	}
	r := benchResult{Name: "queues", Publishers: 1, Subscribers: 1, Messages: 10000, Bytes: 10000 * 1000}
	r.finish(1231*time.Millisecond, h)
	var buf bytes.Buffer
	if err := writeTable(&buf, []benchResult{r, {Name: "ping", Publishers: 2, Messages: 5, Errors: 1}}); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"scenario  clients  msgs   msg/s  MB/s  p50     p90    p99    max    errors  lost\n" +
		"queues    1/1      10000  8123   8.12  0.40ms  5.0ms  5.0ms  5.0ms  0       0\n" +
		"ping      2/0      5      0      -     -       -      -      -      1       0\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	for ms, want := range map[float64]string{0.0123: "0.012ms", 0.21: "0.21ms", 1.23: "1.2ms", 35.4: "35ms", 1200: "1200ms"} {
		if got := formatMillis(ms); got != want {
			t.Errorf("formatMillis(%v) = %s, want %s", ms, got, want)
		}
	}
}

func TestStamp(t *testing.T) {
	for _, size := range []int{0, 7, 8, 100} {
		b := &bench{bf: benchFlags{size: size}}
		before := time.Now()
		body, tags := b.stamp()
		at, ok := sentAt(body, tags)
		if len(body) != size || !ok || at.Before(before.Add(-time.Millisecond)) || at.After(time.Now()) {
			t.Errorf("size %d: body %d bytes, tags %v, sent at %v ok %v", size, len(body), tags, at, ok)
		}
	}
	if _, ok := sentAt(make([]byte, 3), nil); ok {
		t.Error("a time stamp in a message without one")
	}
}
