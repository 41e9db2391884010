package bench

import (
	"context"
	"slices"
	"testing"
	"time"
)

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
