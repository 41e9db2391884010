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
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
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

func esGroupDurable(group string) string {
	sum := sha256.Sum256([]byte(group))
	return "H3_" + hex.EncodeToString(sum[:12])
}

// parseStart reads the herald.start tag: new (default), first,
// sequence:<n> or time:<RFC 3339 ns>.
func parseStart(start string) (engine.ConsumerSpec, error) {
	var spec engine.ConsumerSpec
	switch {
	case start == "" || start == "new":
		spec.Deliver = engine.DeliverNew
	case start == "first":
		spec.Deliver = engine.DeliverAll
	case strings.HasPrefix(start, "sequence:"):
		n, err := strconv.ParseUint(strings.TrimPrefix(start, "sequence:"), 10, 64)
		if err != nil || n == 0 {
			return spec, fmt.Errorf("invalid herald.start %q: want sequence:<n> with n ≥ 1", start)
		}
		spec.Deliver, spec.StartSeq = engine.DeliverByStartSeq, n
	case strings.HasPrefix(start, "time:"):
		t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(start, "time:"))
		if err != nil {
			return spec, fmt.Errorf("invalid herald.start %q: want time:<RFC 3339>", start)
		}
		spec.Deliver, spec.StartTime = engine.DeliverByStartTime, t
	default:
		return spec, fmt.Errorf("invalid herald.start %q: want new, first, sequence:<n> or time:<RFC 3339>", start)
	}
	return spec, nil
}

// esGroupQueue returns the view of name, creating its durable consumer
// (from start, when it does not exist yet) and the events-store channel.
func (s *Service) esGroupQueue(ctx context.Context, name, start string) (*queue, error) {
	group, channel, err := esGroupName(name)
	if err != nil {
		return nil, err
	}
	spec, err := parseStart(start)
	if err != nil {
		return nil, err
	}
	if s.cfg.EnsureEventsStore == nil {
		return nil, kmq.New(0, "acked durable reads are not available on this server")
	}
	if err := s.cfg.EnsureEventsStore(ctx, channel); err != nil {
		return nil, err
	}
	stream := eventsstore.StreamName(channel)
	spec.Durable, spec.FilterSubject = esGroupDurable(group), eventsstore.SubjectPrefix+channel
	spec.AckWait, spec.MaxAckPending = s.cfg.AckWait, 1<<20
	cons, err := s.eng.EnsureConsumer(ctx, stream, spec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[name]
	if q == nil {
		q = &queue{channel: name, stream: stream, ready: spec.FilterSubject, cons: cons, leases: make(map[uint64]*delivery),
			stats: s.cfg.Stats, esChannel: channel, esDurable: spec.Durable}
		s.queues[name] = q
	}
	return q, nil
}

// CreateESGroup creates the durable group view name (ESGroupPrefix…) with
// its start position (the herald.start tag); it is idempotent and keeps the
// position of an existing durable.
func (s *Service) CreateESGroup(ctx context.Context, name, start string) error {
	_, err := s.esGroupQueue(ctx, name, start)
	return err
}

// deleteESGroup removes only the durable consumer of a group view.
func (s *Service) deleteESGroup(ctx context.Context, name string) error {
	group, channel, err := esGroupName(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.queues, name)
	s.mu.Unlock()
	return s.eng.DeleteConsumer(ctx, eventsstore.StreamName(channel), esGroupDurable(group))
}

// esMessage turns a stored event into the queue message a group view shows.
func (q *queue) esMessage(sm *engine.StoredMsg) *Message {
	var ev events.Event
	if err := ev.Decode(sm.Data); err != nil {
		ev = events.Event{Body: sm.Data}
	}
	return &Message{ID: ev.ID, Channel: q.esChannel, Metadata: ev.Metadata, Body: ev.Body, Tags: ev.Tags}
}
