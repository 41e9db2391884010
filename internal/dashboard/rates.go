package dashboard

import (
	"sync"
	"time"
)

// RatePoint is the broker's message rate over one sampling interval.
type RatePoint struct {
	Time        int64   `json:"t"` // Unix ms at the end of the interval
	MessagesIn  float64 `json:"in"`
	MessagesOut float64 `json:"out"`
	BytesIn     float64 `json:"bytesIn"`
	BytesOut    float64 `json:"bytesOut"`
}

// historyLen is how many points the rate chart keeps: 5 minutes at the
// default interval.
const historyLen = 150

// rates turns successive Traffic samples into per-second rates. Every open
// overview samples through it; whichever comes first in an interval takes
// the sample, so all of them share one history. It keeps no goroutine:
// with no overview open, nothing is sampled and the history has a gap.
type rates struct {
	interval time.Duration

	mu     sync.Mutex
	last   Traffic
	lastAt time.Time
	points []RatePoint
}

func newRates(interval time.Duration) *rates {
	return &rates{interval: interval}
}

// observe records a sample taken at now, unless another one was taken less
// than three quarters of an interval ago, and returns the history.
func (r *rates) observe(now time.Time, t Traffic) []RatePoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	dt := now.Sub(r.lastAt)
	if r.lastAt.IsZero() || dt >= r.interval*3/4 {
		// A gap of more than a few intervals (nobody watched) or counters
		// that went back (a restart) give no rate: the chart shows a gap.
		if !r.lastAt.IsZero() && dt <= 5*r.interval && t.MessagesIn >= r.last.MessagesIn && t.MessagesOut >= r.last.MessagesOut {
			s := dt.Seconds()
			r.points = append(r.points, RatePoint{
				Time:        now.UnixMilli(),
				MessagesIn:  float64(t.MessagesIn-r.last.MessagesIn) / s,
				MessagesOut: float64(t.MessagesOut-r.last.MessagesOut) / s,
				BytesIn:     float64(t.BytesIn-r.last.BytesIn) / s,
				BytesOut:    float64(t.BytesOut-r.last.BytesOut) / s,
			})
			if len(r.points) > historyLen {
				r.points = append(r.points[:0], r.points[len(r.points)-historyLen:]...)
			}
		}
		r.last, r.lastAt = t, now
	}
	// Points older than the window are of no use to a new chart.
	cut := now.Add(-time.Duration(historyLen) * r.interval).UnixMilli()
	i := 0
	for i < len(r.points) && r.points[i].Time < cut {
		i++
	}
	r.points = r.points[i:]
	return append([]RatePoint(nil), r.points...)
}
