package queuesstream

import (
	"context"
	"fmt"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client"
)

// GrpcClient is the raw gRPC API over a client connection: the generated
// client (calling the wire names /kubemq.kubemq/…, with the token, and
// returning client's typed errors) plus the client id.
type GrpcClient struct {
	kubemqpb.KubemqClient
	c        *client.Client
	clientID string
}

// NewGrpcClient connects like NewQueuesStreamClient and returns the raw API.
func NewGrpcClient(ctx context.Context, op ...Option) (*GrpcClient, error) {
	opts := GetDefaultOptions()
	for _, o := range op {
		if o != nil {
			o.apply(opts)
		}
	}
	c, err := client.NewClient(ctx, opts.clientOpts...)
	if err != nil {
		return nil, err
	}
	rpc, err := c.GetGRPCRawClient()
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("queuesstream: the raw gRPC client needs the gRPC transport: %w", err)
	}
	return &GrpcClient{KubemqClient: rpc, c: c, clientID: opts.clientID}, nil
}

// GlobalClientId returns the client id of requests that set none.
func (g *GrpcClient) GlobalClientId() string { return g.clientID }

// Ping asks the server who it is.
func (g *GrpcClient) Ping(ctx context.Context) (*kubemqpb.PingResult, error) {
	return g.KubemqClient.Ping(ctx, &kubemqpb.Empty{})
}

// Close closes the connection.
func (g *GrpcClient) Close() error { return g.c.Close() }

// SubscribeRequest describes polls of several channels. kubemq-go v1.9.0
// declares it but no method takes it; it is kept so that code naming it
// compiles.
type SubscribeRequest struct {
	Channels    []string
	MaxItems    int  `json:"max_items"`
	WaitTimeout int  `json:"wait_timeout"`
	AutoAck     bool `json:"auto_ack"`
}

// NewSubscribeRequest returns an empty SubscribeRequest.
func NewSubscribeRequest() *SubscribeRequest { return &SubscribeRequest{} }

// SetChannels sets the channels.
func (s *SubscribeRequest) SetChannels(channels ...string) *SubscribeRequest {
	s.Channels = channels
	return s
}

// SetMaxItems sets the maximum per poll.
func (s *SubscribeRequest) SetMaxItems(maxItems int) *SubscribeRequest {
	s.MaxItems = maxItems
	return s
}

// SetWaitTimeout sets the wait per poll, in milliseconds.
func (s *SubscribeRequest) SetWaitTimeout(waitTimeout int) *SubscribeRequest {
	s.WaitTimeout = waitTimeout
	return s
}

// SetAutoAck sets auto-ack.
func (s *SubscribeRequest) SetAutoAck(autoAck bool) *SubscribeRequest {
	s.AutoAck = autoAck
	return s
}

// SubscribeResponse is the answer type kubemq-go v1.9.0 declares next to
// SubscribeRequest; kept for compatibility.
type SubscribeResponse struct {
	Messages []*QueueMessage
	*responseHandler
}

// NewSubscribeResponse returns an empty SubscribeResponse.
func NewSubscribeResponse() *SubscribeResponse { return &SubscribeResponse{} }
