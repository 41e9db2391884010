// Package common holds the channel descriptions that channel listing returns
// (EventsClient.List, QueuesClient.List, …), as kubemq-go's package common.
package common

import "fmt"

// QueuesStats are the counters of one direction of a queue channel.
type QueuesStats struct {
	Messages int `json:"messages"`
	Volume   int `json:"volume"`
	Waiting  int `json:"waiting"`
	Expired  int `json:"expired"`
	Delayed  int `json:"delayed"`
}

func (qs *QueuesStats) String() string {
	return fmt.Sprintf("Stats: messages=%d, volume=%d, waiting=%d, expired=%d, delayed=%d", qs.Messages, qs.Volume, qs.Waiting, qs.Expired, qs.Delayed)
}

// QueuesChannel describes a queue channel.
type QueuesChannel struct {
	Name         string      `json:"name"`
	Type         string      `json:"type"`
	LastActivity int         `json:"lastActivity"` // Unix ms
	IsActive     bool        `json:"isActive"`
	Incoming     QueuesStats `json:"incoming"`
	Outgoing     QueuesStats `json:"outgoing"`
}

func (qc *QueuesChannel) String() string {
	return fmt.Sprintf("Channel: name=%s, type=%s, last_activity=%d, is_active=%t, incoming=%v, outgoing=%v", qc.Name, qc.Type, qc.LastActivity, qc.IsActive, qc.Incoming, qc.Outgoing)
}

// PubSubStats are the counters of one direction of an events or
// events-store channel.
type PubSubStats struct {
	Messages int `json:"messages"`
	Volume   int `json:"volume"`
}

func (ps *PubSubStats) String() string {
	return fmt.Sprintf("Stats: messages=%d, volume=%d", ps.Messages, ps.Volume)
}

// PubSubChannel describes an events or events-store channel.
type PubSubChannel struct {
	Name         string      `json:"name"`
	Type         string      `json:"type"`
	LastActivity int         `json:"lastActivity"` // Unix ms
	IsActive     bool        `json:"isActive"`
	Incoming     PubSubStats `json:"incoming"`
	Outgoing     PubSubStats `json:"outgoing"`
}

func (pc *PubSubChannel) String() string {
	return fmt.Sprintf("Channel: name=%s, type=%s, last_activity=%d, is_active=%t, incoming=%v, outgoing=%v", pc.Name, pc.Type, pc.LastActivity, pc.IsActive, pc.Incoming, pc.Outgoing)
}

// CQStats are the counters of one direction of a commands or queries channel.
type CQStats struct {
	Messages  int `json:"messages"`
	Volume    int `json:"volume"`
	Responses int `json:"responses"`
}

func (cs *CQStats) String() string {
	return fmt.Sprintf("Stats: messages=%d, volume=%d, responses=%d", cs.Messages, cs.Volume, cs.Responses)
}

// CQChannel describes a commands or queries channel.
type CQChannel struct {
	Name         string  `json:"name"`
	Type         string  `json:"type"`
	LastActivity int     `json:"lastActivity"` // Unix ms
	IsActive     bool    `json:"isActive"`
	Incoming     CQStats `json:"incoming"`
	Outgoing     CQStats `json:"outgoing"`
}

func (cc *CQChannel) String() string {
	return fmt.Sprintf("Channel: name=%s, type=%s, last_activity=%d, is_active=%t, incoming=%v, outgoing=%v", cc.Name, cc.Type, cc.LastActivity, cc.IsActive, cc.Incoming, cc.Outgoing)
}
