package bench

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

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
	b := &Bench{cfg: Config{Count: 10}}
	q := b.newQuota(ctx)
	var got []int
	for k := q.take(4); k > 0; k = q.take(4) {
		got = append(got, k)
	}
	if !slices.Equal(got, []int{4, 4, 2}) {
		t.Errorf("takes %v, want [4 4 2]", got)
	}

	b = &Bench{cfg: Config{Duration: 50 * time.Millisecond, Rate: 200}}
	q = b.newQuota(ctx)
	start, n := time.Now(), 0
	for q.take(1) == 1 {
		n++
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second || n < 5 || n > 15 {
		t.Errorf("%d messages in %v at 200/s for 50ms", n, d)
	}

	b = &Bench{cfg: Config{Duration: time.Hour}}
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
	r := Result{Name: "queues", Publishers: 1, Subscribers: 1, Messages: 10000, Bytes: 10000 * 1000}
	r.finish(1231*time.Millisecond, h)
	var buf bytes.Buffer
	if err := writeTable(&buf, []Result{r, {Name: "ping", Publishers: 2, Messages: 5, Errors: 1}}); err != nil {
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
		b := &Bench{cfg: Config{Size: size}}
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
