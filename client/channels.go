package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldmq/herald/client/common"
)

// requestChannel is where KubeMQ servers answer channel management queries.
const requestChannel = "kubemq.cluster.internal.requests"

// Channel types accepted by CreateChannel, DeleteChannel and the List
// functions.
const (
	ChannelTypeEvents      = "events"
	ChannelTypeEventsStore = "events_store"
	ChannelTypeCommands    = "commands"
	ChannelTypeQueries     = "queries"
	ChannelTypeQueues      = "queues"
)

func channelRequest(ctx context.Context, client *Client, clientId, metadata string, tags map[string]string) (*QueryResponse, error) {
	request := NewQuery().
		SetChannel(requestChannel).
		SetId(newID()).
		SetClientId(clientId).
		SetMetadata(metadata).
		SetTags(tags).
		SetTimeout(10 * time.Second)
	return client.SetQuery(request).Send(ctx)
}

// CreateChannel asks the server to create a channel of channelType
// ("events", "events_store", "commands", "queries" or "queues") through its
// internal requests channel, as KubeMQ's channel management does. Channels
// also come into being on first use.
func CreateChannel(ctx context.Context, client *Client, clientId string, channel string, channelType string) error {
	resp, err := channelRequest(ctx, client, clientId, "create-channel", map[string]string{
		"channel_type": channelType, "channel": channel, "client_id": clientId,
	})
	if err != nil {
		return fmt.Errorf("error sending create channel request: %w", err)
	}
	if resp.Error != "" {
		return fmt.Errorf("error creating channel: %w", inBandError(resp.Error))
	}
	return nil
}

// DeleteChannel asks the server to delete a channel of channelType and its
// data; see CreateChannel.
func DeleteChannel(ctx context.Context, client *Client, clientId string, channel string, channelType string) error {
	resp, err := channelRequest(ctx, client, clientId, "delete-channel", map[string]string{
		"channel_type": channelType, "channel": channel, "client_id": clientId,
	})
	if err != nil {
		return fmt.Errorf("error sending delete channel request: %w", err)
	}
	if resp.Error != "" {
		return fmt.Errorf("error deleting channel: %w", inBandError(resp.Error))
	}
	return nil
}

func listChannels(ctx context.Context, client *Client, clientId string, channelType string, search string) ([]byte, error) {
	resp, err := channelRequest(ctx, client, clientId, "list-channels", map[string]string{
		"channel_type": channelType, "client_id": clientId, "search": search,
	})
	if err != nil {
		return nil, fmt.Errorf("error sending list channels request: %w", err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("error listing channels: %w", inBandError(resp.Error))
	}
	return resp.Body, nil
}

// ListQueuesChannels lists the queue channels whose names contain search.
func ListQueuesChannels(ctx context.Context, client *Client, clientId string, search string) ([]*common.QueuesChannel, error) {
	data, err := listChannels(ctx, client, clientId, ChannelTypeQueues, search)
	if err != nil {
		return nil, err
	}
	return DecodeQueuesChannelList(data)
}

// ListPubSubChannels lists the events ("events") or events-store
// ("events_store") channels whose names contain search.
func ListPubSubChannels(ctx context.Context, client *Client, clientId string, channelType string, search string) ([]*common.PubSubChannel, error) {
	data, err := listChannels(ctx, client, clientId, channelType, search)
	if err != nil {
		return nil, err
	}
	return DecodePubSubChannelList(data)
}

// ListCQChannels lists the commands ("commands") or queries ("queries")
// channels whose names contain search.
func ListCQChannels(ctx context.Context, client *Client, clientId string, channelType string, search string) ([]*common.CQChannel, error) {
	data, err := listChannels(ctx, client, clientId, channelType, search)
	if err != nil {
		return nil, err
	}
	return DecodeCQChannelList(data)
}

// DecodePubSubChannelList decodes a list-channels answer for events channels.
func DecodePubSubChannelList(dataBytes []byte) ([]*common.PubSubChannel, error) {
	return decodeList[common.PubSubChannel](dataBytes)
}

// DecodeQueuesChannelList decodes a list-channels answer for queue channels.
func DecodeQueuesChannelList(dataBytes []byte) ([]*common.QueuesChannel, error) {
	return decodeList[common.QueuesChannel](dataBytes)
}

// DecodeCQChannelList decodes a list-channels answer for commands or queries
// channels.
func DecodeCQChannelList(dataBytes []byte) ([]*common.CQChannel, error) {
	return decodeList[common.CQChannel](dataBytes)
}

func decodeList[T any](data []byte) ([]*T, error) {
	if data == nil {
		return nil, nil
	}
	var out []*T
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}
