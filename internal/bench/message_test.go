package bench

import (
	"testing"
	"time"
)

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
