package client

import (
	"context"

	"github.com/heraldmq/herald/client/common"
)

// CommandsClient is a Client restricted to commands, with callback
// subscriptions, as kubemq-go's CommandsClient.
type CommandsClient struct {
	client *Client
}

// NewCommandsClient connects like NewClient.
func NewCommandsClient(ctx context.Context, op ...Option) (*CommandsClient, error) {
	client, err := NewClient(ctx, op...)
	if err != nil {
		return nil, err
	}
	return &CommandsClient{client: client}, nil
}

// Send sends request and waits for its response (see Command.Send).
func (c *CommandsClient) Send(ctx context.Context, request *Command) (*CommandResponse, error) {
	if c.client == nil {
		return nil, errClientNotInitialized
	}
	return c.client.SetCommand(request).Send(ctx)
}

// Response answers a received command (see Response.Send).
func (c *CommandsClient) Response(ctx context.Context, response *Response) error {
	if c.client == nil {
		return errClientNotInitialized
	}
	return c.client.SetResponse(response).Send(ctx)
}

// Subscribe subscribes a responder (see Client.SubscribeToCommands) and
// calls onCommandReceive for each command, and with a nil command for each
// error, on one goroutine, until ctx ends or the client closes.
func (c *CommandsClient) Subscribe(ctx context.Context, request *CommandsSubscription, onCommandReceive func(cmd *CommandReceive, err error)) error {
	if c.client == nil {
		return errClientNotInitialized
	}
	if onCommandReceive == nil {
		return invalidArgument("commands request subscription callback function is required")
	}
	if err := request.Complete(c.client.opts).Validate(); err != nil {
		return err
	}
	errCh := make(chan error, 16)
	commandsCh, err := c.client.SubscribeToCommandsWithRequest(ctx, request, errCh)
	if err != nil {
		return err
	}
	go dispatch(commandsCh, errCh, onCommandReceive)
	return nil
}

// Create creates a commands channel (see CreateChannel).
func (c *CommandsClient) Create(ctx context.Context, channel string) error {
	return CreateChannel(ctx, c.client, c.client.opts.clientID, channel, ChannelTypeCommands)
}

// Delete deletes a commands channel (see DeleteChannel).
func (c *CommandsClient) Delete(ctx context.Context, channel string) error {
	return DeleteChannel(ctx, c.client, c.client.opts.clientID, channel, ChannelTypeCommands)
}

// List lists the commands channels whose names contain search.
func (c *CommandsClient) List(ctx context.Context, search string) ([]*common.CQChannel, error) {
	return ListCQChannels(ctx, c.client, c.client.opts.clientID, ChannelTypeCommands, search)
}

// Close closes the client.
func (c *CommandsClient) Close() error {
	if c.client == nil {
		return errClientNotInitialized
	}
	return c.client.Close()
}

// QueriesClient is a Client restricted to queries, with callback
// subscriptions, as kubemq-go's QueriesClient.
type QueriesClient struct {
	client *Client
}

// NewQueriesClient connects like NewClient.
func NewQueriesClient(ctx context.Context, op ...Option) (*QueriesClient, error) {
	client, err := NewClient(ctx, op...)
	if err != nil {
		return nil, err
	}
	return &QueriesClient{client: client}, nil
}

// Send sends request and waits for its response (see Query.Send).
func (q *QueriesClient) Send(ctx context.Context, request *Query) (*QueryResponse, error) {
	if q.client == nil {
		return nil, errClientNotInitialized
	}
	return q.client.SetQuery(request).Send(ctx)
}

// Response answers a received query (see Response.Send).
func (q *QueriesClient) Response(ctx context.Context, response *Response) error {
	if q.client == nil {
		return errClientNotInitialized
	}
	return q.client.SetResponse(response).Send(ctx)
}

// Subscribe subscribes a responder (see Client.SubscribeToQueries) and calls
// onQueryReceive for each query, and with a nil query for each error, on one
// goroutine, until ctx ends or the client closes.
func (q *QueriesClient) Subscribe(ctx context.Context, request *QueriesSubscription, onQueryReceive func(query *QueryReceive, err error)) error {
	if q.client == nil {
		return errClientNotInitialized
	}
	if onQueryReceive == nil {
		return invalidArgument("queries request subscription callback function is required")
	}
	if err := request.Complete(q.client.opts).Validate(); err != nil {
		return err
	}
	errCh := make(chan error, 16)
	queriesCh, err := q.client.SubscribeToQueriesWithRequest(ctx, request, errCh)
	if err != nil {
		return err
	}
	go dispatch(queriesCh, errCh, onQueryReceive)
	return nil
}

// Create creates a queries channel (see CreateChannel).
func (q *QueriesClient) Create(ctx context.Context, channel string) error {
	return CreateChannel(ctx, q.client, q.client.opts.clientID, channel, ChannelTypeQueries)
}

// Delete deletes a queries channel (see DeleteChannel).
func (q *QueriesClient) Delete(ctx context.Context, channel string) error {
	return DeleteChannel(ctx, q.client, q.client.opts.clientID, channel, ChannelTypeQueries)
}

// List lists the queries channels whose names contain search.
func (q *QueriesClient) List(ctx context.Context, search string) ([]*common.CQChannel, error) {
	return ListCQChannels(ctx, q.client, q.client.opts.clientID, ChannelTypeQueries, search)
}

// Close closes the client.
func (q *QueriesClient) Close() error {
	if q.client == nil {
		return errClientNotInitialized
	}
	return q.client.Close()
}
