package bench

import (
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
