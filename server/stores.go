package server

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/migrate"
	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/internal/pattern/registry"
)

// The engine logs of the channels (docs/architecture.md, "Channels"):
// queue channels, events-store channels and sealed events-store channels,
// each on a fixed number of shard streams.
const (
	queueLogName  = "HQ"
	queueSubject  = "hq"
	storeLogName  = "HES"
	storeSubject  = "hes"
	sealedLogName = "HESS"
	sealedSubject = "hess"
	cursorsBucket = "HERALD_CURSORS"
)

// openStores opens the channel registry, the logs and the cursor bucket.
func (s *Server) openStores(ctx context.Context) error {
	kv, err := s.eng.OpenKV(ctx, registry.Bucket, 0)
	if err != nil {
		return fmt.Errorf("server: channel registry: %w", err)
	}
	if s.reg, err = registry.Open(ctx, kv); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	lay, err := s.layout(ctx, kv)
	if err != nil {
		return err
	}
	maxAge := max(s.opts.StoreMaxAge, 0)
	dedup := max(s.opts.DedupWindow, 2*time.Minute) // Herald's own copies are deduplicated too
	if s.qlog, err = s.eng.OpenLog(ctx, engine.LogConfig{
		Name: queueLogName, Subject: queueSubject, Shards: lay.QueueShards, WorkQueue: true,
		MaxAge: maxAge, MaxMsgsPerSubject: s.opts.StoreMaxMessages, MaxBytes: s.opts.StoreMaxBytes,
		Duplicates: dedup, Seqs: s.reg.Seqs(queues.Kind), Metadata: map[string]string{"herald.type": "queues"},
	}); err != nil {
		return fmt.Errorf("server: queue log: %w", err)
	}
	if s.eslog, err = s.eng.OpenLog(ctx, engine.LogConfig{
		Name: storeLogName, Subject: storeSubject, Shards: lay.StoreShards, KeepsLast: true, AllowMsgTTL: true,
		MaxAge: maxAge, MaxMsgsPerSubject: s.opts.StoreMaxMessages, MaxBytes: s.opts.StoreMaxBytes,
		Duplicates: dedup, Seqs: s.reg.Seqs(eventsstore.Kind), Metadata: map[string]string{"herald.type": "events_store"},
	}); err != nil {
		return fmt.Errorf("server: events-store log: %w", err)
	}
	// Sealed channels only take copies, numbered as their originals.
	if s.sealed, err = s.eng.OpenLog(ctx, engine.LogConfig{
		Name: sealedLogName, Subject: sealedSubject, Shards: 1, KeepsLast: true,
		Seqs: engine.CopiesOnly{}, Metadata: map[string]string{"herald.type": "events_store_sealed"},
	}); err != nil {
		return fmt.Errorf("server: sealed events-store log: %w", err)
	}
	if s.cursors, err = s.eng.OpenKV(ctx, cursorsBucket, s.opts.CursorIdle); err != nil {
		return fmt.Errorf("server: subscription cursors: %w", err)
	}
	_, err = migrate.FromV1(ctx, migrate.Config{
		Engine: s.eng, Queues: s.qlog, Store: s.eslog, Sealed: s.sealed, Registry: s.reg, Cursors: s.cursors,
		MaxAge: maxAge, AckWait: s.opts.QueueAckWait, CursorIdle: s.opts.CursorIdle, Logger: s.log,
	})
	return err
}

// closeStores stops the logs' writers and records where every channel's
// numbering stands, so that a restart continues without a gap.
func (s *Server) closeStores() {
	lasts := map[string]map[string]uint64{}
	if s.qlog != nil {
		lasts[queues.Kind] = s.qlog.Close()
	}
	es := map[string]uint64{}
	for _, l := range []*engine.Log{s.eslog, s.sealed} {
		if l != nil {
			for ch, n := range l.Close() {
				es[ch] = max(es[ch], n)
			}
		}
	}
	lasts[eventsstore.Kind] = es
	if s.reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.reg.Close(ctx, lasts); err != nil {
			s.log.Warn("recording the channels' last sequences failed; the next start continues after their reservations", "err", err)
		}
		s.reg = nil
	}
}
