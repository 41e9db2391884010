package bench

import (
	"bytes"
	"testing"
	"time"
)

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
