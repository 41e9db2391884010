package netchan

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heraldmq/herald/client"
)

// Message is a message of a topic, or the full view of a network channel
// message.
type Message struct {
	Key       []byte
	Value     []byte
	Headers   map[string][]byte
	EventTime time.Time // set by the publisher; zero means "not set"

	// Filled on receipt:
	Partition int       // -1 for network channels
	Sequence  uint64    // per channel / per partition, from 1
	Timestamp time.Time // broker store time, nanoseconds
	Channel   string    // the KubeMQ channel it was read from

	traceparent, tracestate string // the W3C trace context it carried
}

// Context returns ctx carrying the trace context of a received message
// (the publisher's, sent as W3C traceparent and tracestate tags), for the
// span of its handling; ctx itself when it carries none. Subscriber passes
// this context to handlers already.
func (m *Message) Context(ctx context.Context) context.Context {
	if m.traceparent == "" {
		return ctx
	}
	return client.ContextFromTags(ctx, map[string]string{client.TraceparentTag: m.traceparent, client.TracestateTag: m.tracestate})
}

// encodeTags returns the netchan tags of m's key, headers and event time.
func encodeTags(m *Message, tags map[string]string) error {
	if m.Key != nil {
		tags[tagKey] = base64.StdEncoding.EncodeToString(m.Key)
	}
	for name, v := range m.Headers {
		if name == "" || !utf8.ValidString(name) {
			return fmt.Errorf("%w: %q", ErrInvalidHeader, name)
		}
		tags[tagHeader+name] = base64.StdEncoding.EncodeToString(v)
	}
	if !m.EventTime.IsZero() {
		tags[tagEventTime] = strconv.FormatInt(m.EventTime.UnixNano(), 10)
	}
	return nil
}

// decoder turns deliveries into Messages, logging a foreign encoding once
// per channel.
type decoder struct {
	c    *Client
	once sync.Once
}

func (dc *decoder) bad(ch, tag string) {
	dc.once.Do(func() {
		dc.c.log.Warn("netchan: message with a tag that is not netchan encoding; left raw in Headers", "channel", ch, "tag", tag)
	})
}

func (dc *decoder) message(d *delivery, partition int) Message {
	m := Message{Value: d.body, Partition: partition, Sequence: d.seq, Timestamp: d.ts, Channel: d.channel}
	if m.Value == nil {
		m.Value = []byte{}
	}
	for k, v := range d.tags {
		switch {
		case k == tagKey:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				dc.bad(d.channel, k)
				m.setHeader(k, []byte(v))
				continue
			}
			m.Key = b
		case strings.HasPrefix(k, tagHeader):
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				dc.bad(d.channel, k)
				m.setHeader(k, []byte(v))
				continue
			}
			m.setHeader(strings.TrimPrefix(k, tagHeader), b)
		case k == client.TraceparentTag:
			m.traceparent = v
		case k == client.TracestateTag:
			m.tracestate = v
		case k == tagEventTime:
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				dc.bad(d.channel, k)
				m.setHeader(k, []byte(v))
				continue
			}
			m.EventTime = time.Unix(0, ns)
		}
	}
	return m
}

func (m *Message) setHeader(k string, v []byte) {
	if m.Headers == nil {
		m.Headers = map[string][]byte{}
	}
	m.Headers[k] = v
}
