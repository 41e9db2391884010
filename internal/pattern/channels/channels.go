// Package channels is KubeMQ channel management: the queries every KubeMQ
// SDK sends to the reserved channel kubemq.cluster.internal.requests to
// create, delete and list channels, answered by Herald itself.
//
// Requests carry the operation in Metadata (create-channel, delete-channel,
// list-channels) and their arguments in Tags: channel_type (queues, events,
// events_store, commands, queries), channel, and for listings the search
// text as search or channel_search. A listing is a JSON array in the
// response body with, per channel, name, type, lastActivity (Unix ms),
// isActive, and incoming and outgoing statistics with all six keys
// (messages, volume, responses, waiting, expired, delayed).
package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/internal/pattern/requests"
	"github.com/heraldmq/herald/internal/pattern/stats"
)

// RequestsChannel is the reserved channel of channel management.
const RequestsChannel = "kubemq.cluster.internal.requests"

// Manager answers channel-management requests.
type Manager struct {
	Queues *queues.Service
	Store  *eventsstore.Service
	Stats  *stats.Registry
	// ClientID is the responder id in responses (default "herald").
	ClientID string
	// Allowed, when set, is asked whether the client id that sent a
	// request may write a channel (create, delete) or read it (to see it
	// listed); channelType is one of the channel types above.
	Allowed func(clientID, channelType, channel string, write bool) bool
}

// Stats of one direction of a channel, as the SDKs decode them.
type Stats struct {
	Messages  int64 `json:"messages"`
	Volume    int64 `json:"volume"`
	Responses int64 `json:"responses"`
	Waiting   int64 `json:"waiting"`
	Expired   int64 `json:"expired"`
	Delayed   int64 `json:"delayed"`
}

// Channel is one item of a listing.
type Channel struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	LastActivity int64  `json:"lastActivity"`
	IsActive     bool   `json:"isActive"`
	Incoming     Stats  `json:"incoming"`
	Outgoing     Stats  `json:"outgoing"`
}

var types = map[string]bool{stats.Queues: true, stats.Events: true, stats.EventsStore: true, stats.Commands: true, stats.Queries: true}

// Handle answers one request; it is a requests.Handler.
func (m *Manager) Handle(ctx context.Context, req *requests.Request) *requests.Response {
	id := m.ClientID
	if id == "" {
		id = "herald"
	}
	resp := &requests.Response{ClientID: id, RequestID: req.ID, Timestamp: time.Now().UnixNano()}
	var err error
	if m.Allowed != nil && (req.Metadata == "create-channel" || req.Metadata == "delete-channel") &&
		!m.Allowed(req.ClientID, req.Tags["channel_type"], req.Tags["channel"], true) {
		resp.Error = kmq.ErrAccessDenied.Error()
		return resp
	}
	switch req.Metadata {
	case "create-channel":
		if ch := req.Tags["channel"]; req.Tags["channel_type"] == stats.Queues && strings.HasPrefix(ch, queues.ESGroupPrefix) {
			err = m.Queues.CreateESGroup(ctx, ch, req.Tags["herald.start"])
			break
		}
		err = m.Create(ctx, req.Tags["channel_type"], req.Tags["channel"])
	case "delete-channel":
		err = m.Delete(ctx, req.Tags["channel_type"], req.Tags["channel"])
	case "list-channels":
		search := req.Tags["channel_search"]
		if search == "" {
			search = req.Tags["search"]
		}
		var list []Channel
		if list, err = m.List(ctx, req.Tags["channel_type"], search); err == nil {
			if m.Allowed != nil {
				list = slices.DeleteFunc(list, func(c Channel) bool { return !m.Allowed(req.ClientID, c.Type, c.Name, false) })
			}
			resp.Body, err = json.Marshal(list)
		}
	default:
		err = fmt.Errorf("unknown channel management request %q: want create-channel, delete-channel or list-channels", req.Metadata)
	}
	if err != nil {
		resp.Error = err.Error()
		return resp
	}
	resp.Executed = true
	return resp
}

func checkType(t string) error {
	if !types[t] {
		return fmt.Errorf("invalid channel type %q: want queues, events, events_store, commands or queries", t)
	}
	return nil
}

func checkName(t, ch string) error {
	if t == stats.Queues {
		return kmq.ValidateQueueChannel(ch)
	}
	return kmq.ValidateChannel(ch, false)
}

// Create makes a channel: the stream of a queue or events-store channel
// (idempotent); events, commands and queries channels exist by use, so for
// them it only registers the name for listings.
func (m *Manager) Create(ctx context.Context, typ, ch string) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if err := checkName(typ, ch); err != nil {
		return err
	}
	switch typ {
	case stats.Queues:
		if err := m.Queues.Create(ctx, ch); err != nil {
			return err
		}
	case stats.EventsStore:
		if err := m.Store.Create(ctx, ch); err != nil {
			return err
		}
	}
	m.Stats.Touch(typ, ch)
	return nil
}

// Delete removes a channel: a queue or events-store channel with every
// stored message, pending delay and subscription cursor (live
// subscriptions to it end); for the other types it forgets the statistics.
func (m *Manager) Delete(ctx context.Context, typ, ch string) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if err := checkName(typ, ch); err != nil {
		return err
	}
	switch typ {
	case stats.Queues:
		return m.Queues.Delete(ctx, ch)
	case stats.EventsStore:
		return m.Store.Delete(ctx, ch)
	}
	m.Stats.Delete(typ, ch)
	return nil
}

// List returns the channels of a type whose names contain search (all when
// search is empty), by name.
func (m *Manager) List(ctx context.Context, typ, search string) ([]Channel, error) {
	if err := checkType(typ); err != nil {
		return nil, err
	}
	byName := map[string]*Channel{}
	get := func(name string) *Channel {
		c := byName[name]
		if c == nil {
			c = &Channel{Name: name, Type: typ}
			byName[name] = c
		}
		return c
	}
	// A queue or events-store channel exists while its registry record
	// does; its counters only describe it (a subscriber can count one
	// last event after the channel was deleted). Group views of
	// events-store channels have no record of their own.
	switch typ {
	case stats.Queues:
		states, err := m.Queues.Channels(ctx)
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			c := get(st.Channel)
			c.Outgoing.Waiting, c.Incoming.Delayed = st.Waiting, st.Delayed
		}
	case stats.EventsStore:
		states, err := m.Store.Channels(ctx)
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			get(st.Channel)
		}
	}
	streams := typ == stats.Queues || typ == stats.EventsStore
	for _, e := range m.Stats.Entries(typ) {
		if streams && byName[e.Channel] == nil && !strings.HasPrefix(e.Channel, queues.ESGroupPrefix) {
			continue // no record: deleted
		}
		c := get(e.Channel)
		if e.LastActivity != 0 {
			c.LastActivity = e.LastActivity
		}
		c.IsActive = e.Active > 0
		c.Incoming.Messages, c.Incoming.Volume = e.InMessages, e.InBytes
		c.Outgoing.Messages, c.Outgoing.Volume = e.OutMessages, e.OutBytes
		c.Outgoing.Expired = e.Expired
		if typ == stats.Commands || typ == stats.Queries {
			c.Incoming.Responses, c.Outgoing.Responses = e.Responses, e.Responses
		}
	}
	out := make([]Channel, 0, len(byName))
	for name, c := range byName {
		if search == "" || strings.Contains(name, search) {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
