// Package migrate moves a data dir of the first storage layout — one
// JetStream stream per queue and events-store channel — into the shared
// logs, on the first start of a Herald that uses them. Every message keeps
// its sequence, events keep their store time (and what is left of their
// retention), subscription cursors and group consumers keep their
// positions, sealed channels stay sealed; a migrated stream is deleted only
// once all of that is stored, and a migration interrupted by a crash
// continues where it stopped on the next start.
package migrate

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/internal/pattern/registry"
)

// Engine is what the migration reads and deletes.
type Engine interface {
	ListStreams(ctx context.Context, prefix string) ([]engine.StreamSummary, error)
	NextMsg(ctx context.Context, stream string, seq uint64, subject string) (*engine.RawMsg, error)
	ListConsumers(ctx context.Context, stream string) ([]engine.ConsumerSummary, error)
	DeleteStream(ctx context.Context, name string) error
}

// Log is a log messages are copied into; *engine.Log implements it.
type Log interface {
	Append(ctx context.Context, a engine.Append) engine.Pending
	Last(ctx context.Context, channel string) (*engine.RawMsg, error)
	StreamSeqOf(ctx context.Context, channel string, seq uint64) (uint64, error)
	Consumer(ctx context.Context, channel string, spec engine.ConsumerSpec) (engine.Fetcher, error)
	Forget(ctx context.Context, channel string) error
}

// Cursors keeps subscription positions; *engine.KV implements it.
type Cursors interface {
	Put(ctx context.Context, key string, value []byte) error
}

// Config is where the first layout's data goes.
type Config struct {
	Engine   Engine
	Queues   Log // the queue log
	Store    Log // the events-store log
	Sealed   Log // the sealed events-store log
	Registry *registry.Registry
	Cursors  Cursors
	// MaxAge is the events store's retention: migrated events keep what is
	// left of it (0: forever).
	MaxAge time.Duration
	// AckWait and CursorIdle configure the group consumers recreated.
	AckWait    time.Duration
	CursorIdle time.Duration
	Logger     *slog.Logger
}

// Stream name prefixes and subject prefixes of the first layout.
const (
	v1QueuePrefix = "Q_"
	v1StorePrefix = "ES_"
	v1QueueSubj   = "q."
	v1StoreSubj   = "es."
)

// FromV1 migrates every stream of the first layout it finds and reports
// how many channels it moved.
func FromV1(ctx context.Context, cfg Config) (int, error) {
	streams, err := cfg.Engine.ListStreams(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("migrate: list streams: %w", err)
	}
	n := 0
	start := time.Now()
	for _, st := range streams {
		ch := st.Metadata["herald.channel"]
		switch {
		case ch == "":
			continue
		case strings.HasPrefix(st.Name, v1QueuePrefix) && st.Metadata["herald.type"] == queues.Kind:
			err = cfg.queue(ctx, st, ch)
		case strings.HasPrefix(st.Name, v1StorePrefix) && st.Metadata["herald.type"] == eventsstore.Kind:
			err = cfg.store(ctx, st, ch)
		default:
			continue
		}
		if err != nil {
			return n, fmt.Errorf("migrate: %s %q: %w", st.Metadata["herald.type"], ch, err)
		}
		n++
	}
	if n > 0 && cfg.Logger != nil {
		cfg.Logger.Info("data dir migrated to shared streams", "channels", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return n, nil
}

// copyBatch bounds the appends of a copy in flight.
const copyBatch = 256

// copyMsgs appends the messages of stream (subject subj) with a sequence
// above the channel's last copied one to l, numbered as in stream;
// header, when set, gives each copy its headers (nil: skip the message).
func (cfg Config) copyMsgs(ctx context.Context, l Log, stream, subj, channel string, header func(*engine.RawMsg) (map[string]string, bool)) error {
	done := uint64(0)
	if last, err := l.Last(ctx, channel); err != nil {
		return err
	} else if last != nil {
		done = last.ChanSeq
	}
	var futs []engine.Pending
	wait := func() error {
		for _, f := range futs {
			if _, err := f.Wait(ctx); err != nil {
				return err
			}
		}
		futs = futs[:0]
		return nil
	}
	for seq := done + 1; ; {
		m, err := cfg.Engine.NextMsg(ctx, stream, seq, subj)
		if err != nil {
			return err
		}
		if m == nil {
			break
		}
		seq = m.Seq + 1
		h, keep := header(m)
		if !keep {
			continue
		}
		futs = append(futs, l.Append(ctx, engine.Append{Channel: channel, Data: m.Data, Seq: m.Seq, Header: h}))
		if len(futs) >= copyBatch {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}

// The floor of a channel's numbering is set once its messages are copied
// (with their own numbers, which must be above the floor).

func (cfg Config) queue(ctx context.Context, st engine.StreamSummary, ch string) error {
	if _, err := cfg.Registry.Ensure(ctx, queues.Kind, ch); err != nil {
		return err
	}
	err := cfg.copyMsgs(ctx, cfg.Queues, st.Name, v1QueueSubj+ch, ch, func(*engine.RawMsg) (map[string]string, bool) { return nil, true })
	if err != nil {
		return err
	}
	if err := cfg.Registry.SetFloor(ctx, queues.Kind, ch, st.State.LastSeq); err != nil {
		return err
	}
	if err := cfg.Queues.Forget(ctx, ch); err != nil { // numbering continues after the floor
		return err
	}
	return cfg.Engine.DeleteStream(ctx, st.Name)
}

func (cfg Config) store(ctx context.Context, st engine.StreamSummary, ch string) error {
	if _, err := cfg.Registry.Ensure(ctx, eventsstore.Kind, ch); err != nil {
		return err
	}
	l := cfg.Store
	if st.Sealed {
		l = cfg.Sealed
	}
	now := time.Now()
	err := cfg.copyMsgs(ctx, l, st.Name, v1StoreSubj+ch, ch, func(m *engine.RawMsg) (map[string]string, bool) {
		h := map[string]string{engine.TimeHeader: strconv.FormatInt(m.Time.UnixNano(), 10)}
		if !st.Sealed && cfg.MaxAge > 0 {
			left := cfg.MaxAge - now.Sub(m.Time)
			if left < time.Second {
				return nil, false // would have expired
			}
			h["Nats-TTL"] = strconv.FormatInt(int64(left/time.Second), 10) + "s"
		}
		return h, true
	})
	if err != nil {
		return err
	}
	if err := cfg.consumers(ctx, l, st, ch); err != nil {
		return err
	}
	if err := cfg.Registry.SetFloor(ctx, eventsstore.Kind, ch, st.State.LastSeq); err != nil {
		return err
	}
	if st.Sealed {
		if err := cfg.Registry.Seal(ctx, eventsstore.Kind, ch, true); err != nil {
			return err
		}
	}
	return cfg.Engine.DeleteStream(ctx, st.Name)
}

// consumers carries the positions of the stream's durable consumers over:
// a client's cursor (C_<client token>) into the cursor bucket, a group's
// consumer (G_<group token>) and a queue group view's (H3_<group hash>)
// recreated on l at the first event they had not acknowledged.
func (cfg Config) consumers(ctx context.Context, l Log, st engine.StreamSummary, ch string) error {
	cs, err := cfg.Engine.ListConsumers(ctx, st.Name)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if !c.Durable {
			continue
		}
		var spec engine.ConsumerSpec
		switch {
		case strings.HasPrefix(c.Name, "C_"):
			// CursorKey(ch, client) is token(ch) + ".C_" + token(client),
			// and the first layout named the cursor C_ + token(client).
			key := kmq.Token(ch) + "." + c.Name
			if err := cfg.Cursors.Put(ctx, key, []byte(strconv.FormatUint(c.AckFloor, 10))); err != nil {
				return err
			}
			continue
		case strings.HasPrefix(c.Name, "G_"):
			spec = engine.ConsumerSpec{Durable: groupName("G_", ch, c.Name[2:]), MaxAckPending: 1024, InactiveThreshold: cfg.CursorIdle}
		case strings.HasPrefix(c.Name, "H3_"):
			spec = engine.ConsumerSpec{Durable: groupName("H3_", ch, c.Name[3:]), MaxAckPending: 1 << 20}
		default:
			continue
		}
		start, err := l.StreamSeqOf(ctx, ch, c.AckFloor+1)
		if err != nil {
			return err
		}
		spec.Deliver, spec.StartSeq, spec.AckWait = engine.DeliverByStartSeq, start, cfg.AckWait
		if _, err := l.Consumer(ctx, ch, spec); err != nil {
			return err
		}
	}
	return nil
}

// groupName is the shared layout's name of a group consumer of ch whose
// first-layout name was prefix + rest (eventsstore.GroupDurable and
// queues.GroupDurable put the channel's token between).
func groupName(prefix, ch, rest string) string { return prefix + kmq.Token(ch) + "_" + rest }
