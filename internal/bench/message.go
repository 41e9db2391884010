package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
)

// stamp returns a body of --size bytes that carries the current time, in
// its first 8 bytes or, when it is smaller, in a tag.
func (b *Bench) stamp() ([]byte, map[string]string) {
	return stamp(b.cfg.Size)
}

func stamp(size int) ([]byte, map[string]string) {
	body := make([]byte, size)
	now := time.Now().UnixNano()
	if len(body) >= 8 {
		binary.BigEndian.PutUint64(body, uint64(now))
		return body, nil
	}
	return body, map[string]string{stampTag: strconv.FormatInt(now, 10)}
}

// sentAt reads the time stamp of a received message.
func sentAt(body []byte, tags map[string]string) (time.Time, bool) {
	var ns int64
	if v, ok := tags[stampTag]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		ns = n
	} else if len(body) >= 8 {
		ns = int64(binary.BigEndian.Uint64(body))
	}
	if ns <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// warmup calls probe every 100 ms until ready reports true.
func warmup(ctx context.Context, what string, probe func(context.Context) error, ready func() bool) error {
	deadline := time.Now().Add(warmupTimeout)
	var last error
	for !ready() {
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%s not ready after %v: %w", what, warmupTimeout, last)
			}
			return fmt.Errorf("%s not ready after %v", what, warmupTimeout)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := probe(pctx); err != nil {
			last = err
		}
		cancel()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
