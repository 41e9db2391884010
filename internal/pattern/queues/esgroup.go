package queues

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// ESGroupPrefix starts the reserved queue names that read an events-store
// channel through a durable, acknowledged group consumer (Herald's "acked
// durable reads"): _herald.es.<group>.<channel>, where <group> is one token,
// percent-encoded, and <channel> the events-store channel. Every queue
// receive API works on such a name, with leases, visibility and redelivery;
// sends, peek and ack-all are refused.
const ESGroupPrefix = "_herald.es."

var errESGroupReadOnly = kmq.New(120, "invalid queue name value, "+ESGroupPrefix+"<group>.<channel> names read events-store channels and take no sends")

// errESGroupNoPeek refuses the operations that make no sense on a group view.
var errESGroupNoPeek = kmq.New(120, "invalid queue name value, "+ESGroupPrefix+"<group>.<channel> names support neither peek nor ack-all")

// GroupLog is the events-store log, as group views read it; *engine.Log
// implements it.
type GroupLog interface {
	Consumer(ctx context.Context, channel string, spec engine.ConsumerSpec) (engine.Fetcher, error)
	DeleteConsumer(ctx context.Context, channel, name string) error
	// StreamSeqOf returns the stream sequence of the first message of
	// channel with a channel sequence ≥ seq (or after its last).
	StreamSeqOf(ctx context.Context, channel string, seq uint64) (uint64, error)
}

// GroupViews serves the group views of events-store channels.
type GroupViews struct {
	// LogOf is the log holding an events-store channel's events.
	LogOf func(channel string) GroupLog
	// EnsureChannel makes the events-store channel exist.
	EnsureChannel func(ctx context.Context, channel string) error
	s             *Service
}

// esGroupName splits a reserved name into its decoded group and channel.
func esGroupName(name string) (group, channel string, err error) {
	rest := strings.TrimPrefix(name, ESGroupPrefix)
	i := strings.IndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", "", kmq.New(120, "invalid queue name value, want "+ESGroupPrefix+"<group>.<channel>")
	}
	if group, err = url.PathUnescape(rest[:i]); err != nil || group == "" {
		return "", "", kmq.New(120, "invalid queue name value, bad percent-encoding in the group of "+strconv.Quote(name))
	}
	channel = rest[i+1:]
	if err := kmq.ValidateChannel(channel, false); err != nil {
		return "", "", err
	}
	return group, channel, nil
}

// ESGroupChannel reports whether name is a group view (it starts with
// ESGroupPrefix) and, when it is well formed, the events-store channel it
// reads ("" when it is not). Access control uses it: receiving from a
// group view reads the events-store channel.
func ESGroupChannel(name string) (channel string, isGroup bool) {
	if !strings.HasPrefix(name, ESGroupPrefix) {
		return "", false
	}
	_, channel, err := esGroupName(name)
	if err != nil {
		return "", true
	}
	return channel, true
}

// GroupDurable is the durable consumer of a group view on the channel's
// shard (unique per channel and group).
func GroupDurable(channel, group string) string {
	sum := sha256.Sum256([]byte(group))
	return "H3_" + token(channel) + "_" + hex.EncodeToString(sum[:12])
}

// parseStart reads the herald.start tag: new (default), first,
// sequence:<n> or time:<RFC 3339 ns>.
func parseStart(start string) (engine.ConsumerSpec, uint64, error) {
	var spec engine.ConsumerSpec
	switch {
	case start == "" || start == "new":
		spec.Deliver = engine.DeliverNew
	case start == "first":
		spec.Deliver = engine.DeliverAll
	case strings.HasPrefix(start, "sequence:"):
		n, err := strconv.ParseUint(strings.TrimPrefix(start, "sequence:"), 10, 64)
		if err != nil || n == 0 {
			return spec, 0, fmt.Errorf("invalid herald.start %q: want sequence:<n> with n ≥ 1", start)
		}
		spec.Deliver = engine.DeliverByStartSeq
		return spec, n, nil
	case strings.HasPrefix(start, "time:"):
		t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(start, "time:"))
		if err != nil {
			return spec, 0, fmt.Errorf("invalid herald.start %q: want time:<RFC 3339>", start)
		}
		spec.Deliver, spec.StartTime = engine.DeliverByStartTime, t
	default:
		return spec, 0, fmt.Errorf("invalid herald.start %q: want new, first, sequence:<n> or time:<RFC 3339>", start)
	}
	return spec, 0, nil
}

// source returns the view of name; its durable consumer is created from
// start when it does not exist yet, and the events-store channel with it.
func (g *GroupViews) source(ctx context.Context, name, start string) (*groupSource, error) {
	if g == nil {
		return nil, kmq.New(0, "acked durable reads are not available on this server")
	}
	group, channel, err := esGroupName(name)
	if err != nil {
		return nil, err
	}
	spec, startSeq, err := parseStart(start)
	if err != nil {
		return nil, err
	}
	if err := g.EnsureChannel(ctx, channel); err != nil {
		return nil, err
	}
	if startSeq > 0 {
		if spec.StartSeq, err = g.LogOf(channel).StreamSeqOf(ctx, channel, startSeq); err != nil {
			return nil, err
		}
	}
	spec.Durable = GroupDurable(channel, group)
	spec.AckWait, spec.MaxAckPending = g.s.cfg.AckWait, 1<<20
	return &groupSource{g: g, channel: channel, spec: spec}, nil
}

// CreateESGroup creates the durable group view name (ESGroupPrefix…) with
// its start position (the herald.start tag); it is idempotent and keeps the
// position of an existing durable.
func (s *Service) CreateESGroup(ctx context.Context, name, start string) error {
	src, err := s.cfg.Groups.source(ctx, name, start)
	if err != nil {
		return err
	}
	_, err = src.consumer(ctx)
	return err
}

// delete removes only the durable consumer of a group view.
func (g *GroupViews) delete(ctx context.Context, name string) error {
	if g == nil {
		return nil
	}
	group, channel, err := esGroupName(name)
	if err != nil {
		return err
	}
	g.s.forget(name)
	return g.LogOf(channel).DeleteConsumer(ctx, channel, GroupDurable(channel, group))
}

// groupSource is a group view of an events-store channel: deliveries are
// counted by the engine, and a negative settlement redelivers in place.
type groupSource struct {
	g       *GroupViews
	channel string
	spec    engine.ConsumerSpec
}

func (gs *groupSource) consumer(ctx context.Context) (engine.Fetcher, error) {
	return gs.g.LogOf(gs.channel).Consumer(ctx, gs.channel, gs.spec)
}

// message turns a stored event into the queue message a group view shows.
func (gs *groupSource) message(sm *engine.StoredMsg) (*Message, int32) {
	var ev events.Event
	if err := ev.Decode(sm.Data); err != nil {
		ev = events.Event{Body: sm.Data}
	}
	return &Message{ID: ev.ID, Channel: gs.channel, Metadata: ev.Metadata, Body: ev.Body, Tags: ev.Tags},
		int32(min(sm.NumDelivered, 1<<30))
}

// negative redelivers (the group's count goes up); a delayed NAK is stored,
// see returnInPlace.
func (gs *groupSource) negative(_ context.Context, d *delivery) error {
	return d.sm.Nak(time.Millisecond)
}

func (gs *groupSource) readOnly() bool { return true }
