package bench

import (
	"context"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/server/heraldtest"
)

// testConfig is a run of scenario against srv with the defaults of herald
// bench's flags.
func testConfig(srv *heraldtest.Server, scenario string) Config {
	return Config{
		Scenario: scenario,
		Dial: func(ctx context.Context, id string, opts ...client.Option) (*client.Client, error) {
			opts = append([]client.Option{client.WithAddress(srv.Host, srv.Port), client.WithClientId(id),
				client.WithTransportType(client.TransportTypeGRPC)}, opts...)
			return client.NewClient(ctx, opts...)
		},
		Address: srv.Addr, Transport: "grpc", ClientID: "bench-test",
		Publishers: 1, Subscribers: 1, Count: DefaultCount, Size: 1024, Batch: 100, Timeout: 10 * time.Second,
		Interval: DefaultInterval, Channels: DefaultChannels, Messages: DefaultMessages, Clients: DefaultClients,
	}
}

// run runs cfg and fails the test on an error or a failed call.
func run(t *testing.T, cfg Config) (*Report, *Bench) {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := b.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	return rep, b
}
