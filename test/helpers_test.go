// Package test drives an in-process Herald through the official KubeMQ Go
// SDK v1.9.0 over real gRPC: the end-to-end proof of wire compatibility.
package test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"

	"github.com/heraldmq/herald/server/heraldtest"
)

var seq atomic.Int64

// uniq returns a channel name unique within the test binary.
func uniq(prefix string) string { return fmt.Sprintf("%s.%d", prefix, seq.Add(1)) }

// newClient connects the official SDK to srv and closes it at cleanup.
func newClient(t *testing.T, srv *heraldtest.Server, clientID string) *kubemq.Client {
	t.Helper()
	// The SDK ties the connection's life to this context.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := kubemq.NewClient(ctx,
		kubemq.WithAddress(srv.Host, srv.Port),
		kubemq.WithClientId(clientID),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC),
	)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
