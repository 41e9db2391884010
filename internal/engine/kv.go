package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KV is a key/value bucket whose keys expire individually.
type KV struct {
	kv    jetstream.KeyValue
	js    jetstream.JetStream
	space *spaceGuard
}

// OpenKV opens or creates a bucket that supports per-key TTLs.
func (e *Engine) OpenKV(ctx context.Context, bucket string, maxTTL time.Duration) (*KV, error) {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	kv, err := e.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         bucket,
		History:        1,
		TTL:            maxTTL,
		Storage:        jetstream.FileStorage,
		LimitMarkerTTL: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: kv %s: %w", bucket, mapJSErr(err))
	}
	return &KV{kv: kv, js: e.js, space: e.space}, nil
}

// Get returns the value of key and whether it exists.
func (k *KV) Get(ctx context.Context, key string) ([]byte, bool, error) {
	e, err := k.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, mapJSErr(err)
	}
	return e.Value(), true, nil
}

// Create stores value under key for ttl (at least one second) unless the key
// already holds a live value, in which case it does nothing.
func (k *KV) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < time.Second {
		ttl = time.Second
	}
	if err := k.space.check(len(key) + len(value)); err != nil {
		return err
	}
	_, err := k.kv.Create(ctx, key, value, jetstream.KeyTTL(ttl))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil
	}
	return mapJSErr(err)
}

// Put stores value under key with no expiry.
func (k *KV) Put(ctx context.Context, key string, value []byte) error {
	if err := k.space.check(len(key) + len(value)); err != nil {
		return err
	}
	_, err := k.kv.Put(ctx, key, value)
	return mapJSErr(err)
}

// Delete removes key (a missing key is not an error).
func (k *KV) Delete(ctx context.Context, key string) error {
	err := k.kv.Purge(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return mapJSErr(err)
}

// Each calls fn with every live key and value of the bucket matching
// filter (">" for all; "a.*" and "a.>" as in subjects), in one pass.
func (k *KV) Each(ctx context.Context, filter string, fn func(key string, value []byte)) error {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	w, err := k.kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return mapJSErr(err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return ctx.Err()
			}
			if e == nil { // every value present when the watch started was delivered
				return nil
			}
			fn(e.Key(), e.Value())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DeleteMatching removes every key matching filter (as Each) at once.
func (k *KV) DeleteMatching(ctx context.Context, filter string) error {
	ctx, cancel := ctxOrTimeout(ctx)
	defer cancel()
	st, err := k.kv.Status(ctx)
	if err != nil {
		return mapJSErr(err)
	}
	stream := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Name
	js := k.js
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return mapJSErr(err)
	}
	return mapJSErr(s.Purge(ctx, jetstream.WithPurgeSubject("$KV."+st.Bucket()+"."+filter)))
}
