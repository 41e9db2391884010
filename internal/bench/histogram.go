package bench

import (
	"math"
	"math/bits"
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

// merged merges the histograms.
func merged(hs []*histogram) *histogram {
	all := &histogram{}
	for _, h := range hs {
		all.merge(h)
	}
	return all
}
