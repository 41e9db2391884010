package netchan

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldmq/herald/client"
)

type startKind int

const (
	startFirst startKind = iota
	startAtTime
	startSequence
	startLast
	startNew
)

// start is where a reader begins.
type start struct {
	kind startKind
	t    time.Time
	seq  uint64
}

// plain is the start of a non-group subscription. "From new" looks one
// second back so that nothing stored after the constructor returned is
// missed.
func (s start) plain() client.SubscriptionOption {
	switch s.kind {
	case startAtTime:
		return client.StartFromTime(s.t)
	case startSequence:
		return client.StartFromSequence(int(s.seq))
	case startLast:
		return client.StartFromLastEvent()
	case startNew:
		return client.StartFromTimeDelta(time.Second)
	default:
		return client.StartFromFirstEvent()
	}
}

// group is the start of a group subscription (no look-back: group
// members share one cursor).
func (s start) group() client.SubscriptionOption {
	if s.kind == startNew {
		return client.StartFromNewEvents()
	}
	return s.plain()
}

// heraldStart is the herald.start tag of an acked durable read. The tag has
// no "last": FromLast starts a new durable at the next message.
func (s start) heraldStart() string {
	switch s.kind {
	case startAtTime:
		return "time:" + s.t.UTC().Format(time.RFC3339Nano)
	case startSequence:
		return "sequence:" + strconv.FormatUint(s.seq, 10)
	case startLast, startNew:
		return "new"
	default:
		return "first"
	}
}

// openSource opens the reader of ch: a plain subscription, or with resume
// an acked durable read named by group (H3) or an events-store group.
func (c *Client) openSource(ctx context.Context, ch, subscriberID string, st start, resume bool) (source, error) {
	cl, herald, err := c.connHerald(ctx)
	if err != nil {
		return nil, err
	}
	id := subscriberID
	if id == "" {
		id = c.opts.clientID
	}
	id += "-" + newID()[:10] // a fresh server-side cursor for every reader
	if !resume {
		return c.openES(ctx, cl, ch, "", id, st.plain())
	}
	if !herald {
		return c.openES(ctx, cl, ch, subscriberID, id, st.group())
	}
	name, err := cl.CreateESGroup(ctx, subscriberID, ch, st.heraldStart())
	if err != nil {
		return nil, fmt.Errorf("netchan: %w", err)
	}
	qs, err := c.queues(ctx)
	if err != nil {
		return nil, err
	}
	return &ackedSource{c: c, qs: qs, name: name, ch: ch}, nil
}
