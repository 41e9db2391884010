package netchan_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
)

// refXXH64 is a straightforward XXH64 (seed 0) written from the
// specification, to compute expected partitions independently of the
// package (which uses github.com/cespare/xxhash/v2).
func refXXH64(b []byte) uint64 {
	var (
		p1 uint64 = 11400714785074694791
		p2 uint64 = 14029467366897019727
		p3 uint64 = 1609587929392839161
		p4 uint64 = 9650029242287828579
		p5 uint64 = 2870177450012600261
	)
	round := func(acc, in uint64) uint64 { return bits.RotateLeft64(acc+in*p2, 31) * p1 }
	merge := func(acc, v uint64) uint64 { return (acc^round(0, v))*p1 + p4 }
	n := len(b)
	var h uint64
	if n >= 32 {
		v1, v2, v3, v4 := p1+p2, p2, uint64(0), -p1
		for len(b) >= 32 {
			v1 = round(v1, binary.LittleEndian.Uint64(b[0:]))
			v2 = round(v2, binary.LittleEndian.Uint64(b[8:]))
			v3 = round(v3, binary.LittleEndian.Uint64(b[16:]))
			v4 = round(v4, binary.LittleEndian.Uint64(b[24:]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = merge(merge(merge(merge(h, v1), v2), v3), v4)
	} else {
		h = p5
	}
	h += uint64(n)
	for ; len(b) >= 8; b = b[8:] {
		h ^= round(0, binary.LittleEndian.Uint64(b))
		h = bits.RotateLeft64(h, 27)*p1 + p4
	}
	if len(b) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(b)) * p1
		h = bits.RotateLeft64(h, 23)*p2 + p3
		b = b[4:]
	}
	for ; len(b) > 0; b = b[1:] {
		h ^= uint64(b[0]) * p5
		h = bits.RotateLeft64(h, 11) * p1
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}

// seaweedPartition is the SeaweedFS client's index: through int64.
func seaweedPartition(h uint64, n int) int {
	p := int(int64(h) % int64(n))
	if p < 0 {
		p += n
	}
	return p
}

func TestNetchanPartitionFormula(t *testing.T) {
	// Published XXH64 (seed 0) vectors check the reference itself.
	for in, want := range map[string]uint64{
		"": 0xEF46DB3751D8E999, "a": 0xD24EC4F1A98C6E5B, "abc": 0x44BC2CF5AD770999,
		"Nobody inspects the spammish repetition": 0xFBCEA83C8A378BF1,
	} {
		if got := refXXH64([]byte(in)); got != want {
			t.Fatalf("reference XXH64(%q) = %#x, want %#x", in, got, want)
		}
	}
	keys := []string{"a", "abc", "user-1", "user-2", "order/42", "a key longer than thirty-two bytes, to use the stripes"}
	negative := false
	for _, k := range keys {
		negative = negative || int64(refXXH64([]byte(k))) < 0
	}
	if !negative {
		t.Fatal("no key with a negative signed hash: the signed conversion is not exercised")
	}
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	for _, n := range []int{1, 3, 4, 7} {
		t.Run(fmt.Sprintf("P=%d", n), func(t *testing.T) {
			topic := adaptertest.UniqueName("formula")
			pub, err := c.NewPublisher("p", "ns", topic, netchan.WithPartitions(n))
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			for _, k := range keys {
				if err := pub.PublishContext(ctx, &netchan.Message{Key: []byte(k), Value: []byte(k)}); err != nil {
					t.Fatal(err)
				}
			}
			got := collect(t, ctx, c, topic, -1, len(keys), netchan.WithPartitions(n))
			for _, m := range got {
				want := seaweedPartition(refXXH64(m.Key), n)
				if m.Partition != want || m.Channel != fmt.Sprintf("netchan.topic.ns.%s.%d", topic, want) {
					t.Errorf("key %q: partition %d (%s), want %d", m.Key, m.Partition, m.Channel, want)
				}
			}
		})
	}
}

// collect subscribes to topic and returns the first n messages.
func collect(t *testing.T, ctx context.Context, c *netchan.Client, topic string, partition, n int, opts ...netchan.TopicOption) []*netchan.Message {
	t.Helper()
	sub, err := c.NewSubscriber("collector", "ns", topic, partition, time.Time{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var mu sync.Mutex
	var got []*netchan.Message
	enough := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- sub.SubscribeContext(ctx, func(_ context.Context, m *netchan.Message) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m)
			if len(got) == n {
				close(enough)
			}
			return nil
		})
	}()
	select {
	case <-enough:
	case err := <-errc:
		t.Fatalf("subscribe ended: %v", err)
	case <-ctx.Done():
		t.Fatalf("received %d of %d", len(got), n)
	}
	_ = sub.Close()
	if err := <-errc; err != nil {
		t.Fatalf("subscribe after close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]*netchan.Message(nil), got...)
}

func TestNetchanKeyedOrderPerPartition(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 60*time.Second)
	topic := adaptertest.UniqueName("keyed")
	pub, err := c.NewPublisher("p", "ns", topic)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const n, keys = 1000, 10
	for i := range n {
		k := fmt.Sprintf("key-%d", i%keys)
		if err := pub.PublishContext(ctx, &netchan.Message{Key: []byte(k), Value: []byte(fmt.Sprint(i)),
			Headers: map[string][]byte{"i": []byte(fmt.Sprint(i))}, EventTime: time.Unix(0, int64(i+1))}); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, ctx, c, topic, -1, n)
	next := map[string]int{}
	part := map[string]int{}
	for _, m := range got {
		k := string(m.Key)
		var i int
		fmt.Sscan(string(m.Value), &i)
		if want, ok := next[k]; ok && i <= want {
			t.Fatalf("key %s: message %d after %d", k, i, want)
		}
		next[k] = i
		if p, ok := part[k]; ok && p != m.Partition {
			t.Fatalf("key %s in partitions %d and %d", k, p, m.Partition)
		}
		part[k] = m.Partition
		if string(m.Headers["i"]) != string(m.Value) || m.EventTime.UnixNano() != int64(i+1) {
			t.Fatalf("message %d: headers %q, event time %v", i, m.Headers, m.EventTime)
		}
	}
	if len(next) != keys {
		t.Fatalf("%d keys received, want %d", len(next), keys)
	}
}

func TestNetchanRoundRobinEven(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	topic := adaptertest.UniqueName("rr")
	pub, err := c.NewPublisher("p", "ns", topic)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for i := range 100 {
		if err := pub.PublishContext(ctx, &netchan.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	count := map[int]int{}
	for _, m := range collect(t, ctx, c, topic, -1, 100) {
		count[m.Partition]++
	}
	for p := range 4 {
		if count[p] != 25 {
			t.Fatalf("partition counts %v, want 25 each", count)
		}
	}
}

func TestNetchanSubscriberPartitionSelect(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	topic := adaptertest.UniqueName("select")
	pub, err := c.NewPublisher("p", "ns", topic, netchan.WithPartitioning(netchan.RoundRobin))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if err := pub.PublishContext(ctx, &netchan.Message{Key: []byte("same"), Value: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 8)
	for _, m := range collect(t, ctx, c, topic, 2, 2) {
		if m.Partition != 2 {
			t.Fatalf("partition 2 subscriber got a message of partition %d", m.Partition)
		}
	}
	if got := collect(t, ctx, c, topic, -1, 8); len(got) != 8 {
		t.Fatalf("all partitions: %d messages", len(got))
	}
	// startTime skips what was stored before it.
	all := collect(t, ctx, c, topic, -1, 8)
	var latest time.Time
	for _, m := range all {
		if m.Timestamp.After(latest) {
			latest = m.Timestamp
		}
	}
	publish(8, 12)
	sub, err := c.NewSubscriber("late", "ns", topic, -1, latest.Add(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var seen atomic.Int64
	errc := make(chan error, 1)
	go func() {
		errc <- sub.SubscribeContext(ctx, func(_ context.Context, m *netchan.Message) error {
			var i int
			fmt.Sscan(string(m.Value), &i)
			if i < 8 {
				return fmt.Errorf("message %d stored before startTime", i)
			}
			seen.Add(1)
			return nil
		})
	}()
	adaptertest.Eventually(t, 10*time.Second, func() error {
		if n := seen.Load(); n != 4 {
			return fmt.Errorf("%d of 4 later messages", n)
		}
		return nil
	})
	_ = sub.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestNetchanPartitionMismatch(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	topic := adaptertest.UniqueName("mismatch")
	pub, err := c.NewPublisher("p", "ns", topic, netchan.WithPartitions(4))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for i := range 8 {
		if err := pub.PublishContext(ctx, &netchan.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := c.NewSubscriber("s", "ns", topic, -1, time.Time{}, netchan.WithPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var delivered atomic.Int64
	err = sub.SubscribeContext(ctx, func(context.Context, *netchan.Message) error { delivered.Add(1); return nil })
	var pm *netchan.PartitionMismatchError
	if !errors.Is(err, netchan.ErrPartitionMismatch) || !errors.As(err, &pm) || pm.Want != 3 || pm.Got != 4 {
		t.Fatalf("Subscribe: %v, want a PartitionMismatchError{3, 4}", err)
	}
	if !errors.Is(sub.Err(), netchan.ErrPartitionMismatch) {
		t.Fatalf("Err: %v", sub.Err())
	}
	if delivered.Load() != 0 {
		t.Fatalf("%d mismatching messages delivered", delivered.Load())
	}
	isErr(t, sub.SubscribeContext(ctx, nil), netchan.ErrAlreadySubscribed)
}

func TestNetchanConcurrentCallbacks(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 30*time.Second)
	topic := adaptertest.UniqueName("concurrent")
	pub, err := c.NewPublisher("p", "ns", topic)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for i := range 40 {
		if err := pub.PublishContext(ctx, &netchan.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(opts ...netchan.TopicOption) (maxInside int64) {
		sub, err := c.NewSubscriber("s", "ns", topic, -1, time.Time{}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		var inside, most, seen atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = sub.SubscribeContext(ctx, func(ctx context.Context, m *netchan.Message) error {
				n := inside.Add(1)
				for {
					if old := most.Load(); n <= old || most.CompareAndSwap(old, n) {
						break
					}
				}
				// Hold the callback until another partition's callback
				// overlaps it (or a while passes: serial mode).
				deadline := time.Now().Add(20 * time.Millisecond)
				for time.Now().Before(deadline) && most.Load() < 2 {
					time.Sleep(time.Millisecond)
				}
				inside.Add(-1)
				seen.Add(1)
				return nil
			})
		})
		adaptertest.Eventually(t, 20*time.Second, func() error {
			if seen.Load() < 40 {
				return fmt.Errorf("%d of 40", seen.Load())
			}
			return nil
		})
		_ = sub.Close()
		wg.Wait()
		return most.Load()
	}
	if n := run(); n < 2 {
		t.Fatalf("callbacks never overlapped across partitions (max %d at once)", n)
	}
	if n := run(netchan.WithSerialHandler()); n != 1 {
		t.Fatalf("WithSerialHandler: %d callbacks at once", n)
	}
}
