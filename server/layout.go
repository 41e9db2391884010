package server

import (
	"context"
	"encoding/json"
	"fmt"
)

// layout is how this data dir stores channels; it is fixed when the data
// dir is first used.
type layout struct {
	Version     int `json:"version"`
	QueueShards int `json:"queue_shards"`
	StoreShards int `json:"store_shards"`
}

// layoutVersion 2: channels as subjects of shared shard streams (version 1,
// a stream per channel, had no layout record).
const layoutVersion = 2

const layoutKey = "meta.layout"

type layoutKV interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Put(ctx context.Context, key string, value []byte) error
}

// layout reads the data dir's layout, or writes it from the options on a
// new data dir. Shard counts of an existing data dir win over the options.
func (s *Server) layout(ctx context.Context, kv layoutKV) (layout, error) {
	want := layout{Version: layoutVersion, QueueShards: s.opts.QueueShards, StoreShards: s.opts.StoreShards}
	b, ok, err := kv.Get(ctx, layoutKey)
	if err != nil {
		return want, fmt.Errorf("server: read the data layout: %w", err)
	}
	if ok {
		var have layout
		if err := json.Unmarshal(b, &have); err != nil || have.QueueShards < 1 || have.StoreShards < 1 {
			return want, fmt.Errorf("server: the data layout record %q is unreadable: %s", layoutKey, b)
		}
		if have.Version > layoutVersion {
			return want, fmt.Errorf("server: the data dir was written by a newer Herald (layout %d, this one knows %d)", have.Version, layoutVersion)
		}
		if have.QueueShards != want.QueueShards || have.StoreShards != want.StoreShards {
			s.log.Warn("shard counts are fixed when a data dir is first used; keeping the data dir's",
				"queue_shards", have.QueueShards, "store_shards", have.StoreShards)
		}
		return have, nil
	}
	b, _ = json.Marshal(want)
	if err := kv.Put(ctx, layoutKey, b); err != nil {
		return want, fmt.Errorf("server: write the data layout: %w", err)
	}
	return want, nil
}
