package client

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ESGroupPrefix starts the reserved queue names of Herald's acked durable
// reads of events-store channels (see ESGroupQueue).
const ESGroupPrefix = "_herald.es."

// GroupToken encodes a group name as one channel token: '%', '.', '*', '>',
// white space and control characters become %XX (upper-case hex, per UTF-8
// byte), as Herald decodes them.
func GroupToken(group string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, r := range group {
		if r == '%' || r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) {
			var buf [utf8.UTFMax]byte
			for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ESGroupQueue returns the queue name through which group reads the
// events-store channel with acknowledgements on Herald:
// "_herald.es.<GroupToken(group)>.<channel>". Every queue receive API works
// on it, with the leases, visibility and redelivery of queues; messages keep
// the channel's sequence and timestamp. Sends to it are refused. Other
// KubeMQ servers do not know these names.
func ESGroupQueue(group, channel string) string {
	return ESGroupPrefix + GroupToken(group) + "." + channel
}

// CreateESGroup creates the acked durable read of channel by group (a
// Herald feature; see ESGroupQueue) and returns its queue name. start says
// where a new durable begins: "new" (or ""; the next message stored),
// "first", "sequence:<n>" or "time:<RFC 3339 with ns>"; it is ignored when
// the durable exists (creating is idempotent). Created this way, before the
// first receive, a reader misses nothing stored after CreateESGroup
// returned. Servers other than Herald refuse it or time out (ErrTimeout).
func (c *Client) CreateESGroup(ctx context.Context, group, channel, start string) (string, error) {
	name := ESGroupQueue(group, channel)
	if start == "" {
		start = "new"
	}
	clientID := c.opts.clientID
	resp, err := channelRequest(ctx, c, clientID, "create-channel", map[string]string{
		"channel_type": ChannelTypeQueues, "channel": name, "client_id": clientID, "herald.start": start,
	})
	if err == nil && resp.Error != "" {
		err = inBandError(resp.Error)
	}
	if err != nil {
		return "", fmt.Errorf("client: create the acked durable read %s: %w", name, err)
	}
	return name, nil
}
