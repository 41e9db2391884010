package client

import (
	"context"

	"github.com/heraldmq/herald/client/common"
)

// Channel management under the names of the KubeMQ Go SDK documentation.
// Each sends a query to kubemq.cluster.internal.requests; Herald answers it
// (KubeMQ Community does not, so there these calls time out). Listings
// return the channels whose names contain search ("" = all).

// CreateChannel creates a channel of channelType: "queues", "events",
// "events_store", "commands" or "queries". Creating an existing channel is
// not an error.
func (c *Client) CreateChannel(ctx context.Context, channelType, channel string) error {
	return CreateChannel(ctx, c, c.opts.clientID, channel, channelType)
}

// DeleteChannel deletes a channel of channelType; for queues and events
// store with every stored message.
func (c *Client) DeleteChannel(ctx context.Context, channelType, channel string) error {
	return DeleteChannel(ctx, c, c.opts.clientID, channel, channelType)
}

// ListQueuesChannels lists queue channels with their statistics.
func (c *Client) ListQueuesChannels(ctx context.Context, search string) ([]*common.QueuesChannel, error) {
	return ListQueuesChannels(ctx, c, c.opts.clientID, search)
}

// ListEventsChannels lists events channels with their statistics.
func (c *Client) ListEventsChannels(ctx context.Context, search string) ([]*common.PubSubChannel, error) {
	return ListPubSubChannels(ctx, c, c.opts.clientID, "events", search)
}

// ListEventsStoreChannels lists events-store channels with their statistics.
func (c *Client) ListEventsStoreChannels(ctx context.Context, search string) ([]*common.PubSubChannel, error) {
	return ListPubSubChannels(ctx, c, c.opts.clientID, "events_store", search)
}

// ListCommandsChannels lists commands channels with their statistics.
func (c *Client) ListCommandsChannels(ctx context.Context, search string) ([]*common.CQChannel, error) {
	return ListCQChannels(ctx, c, c.opts.clientID, "commands", search)
}

// ListQueriesChannels lists queries channels with their statistics.
func (c *Client) ListQueriesChannels(ctx context.Context, search string) ([]*common.CQChannel, error) {
	return ListCQChannels(ctx, c, c.opts.clientID, "queries", search)
}
