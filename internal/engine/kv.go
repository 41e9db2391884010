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
	kv jetstream.KeyValue
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
	return &KV{kv: kv}, nil
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
	_, err := k.kv.Create(ctx, key, value, jetstream.KeyTTL(ttl))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil
	}
	return mapJSErr(err)
}

// Put stores value under key with no expiry.
func (k *KV) Put(ctx context.Context, key string, value []byte) error {
	_, err := k.kv.Put(ctx, key, value)
	return mapJSErr(err)
}
