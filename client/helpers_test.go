package client_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/server/heraldtest"
)

var seq atomic.Int64

// uniq returns a name unique within the test binary.
func uniq(prefix string) string { return fmt.Sprintf("%s.%d", prefix, seq.Add(1)) }

// newServer starts an in-process Herald for t and waits until its REST
// front serves calls: server.Start returns before the handlers are marked
// ready, and REST calls arriving in between are refused with 503 (a server
// race; gRPC clients do not see it, their connection takes longer).
func newServer(t *testing.T) *heraldtest.Server {
	t.Helper()
	srv := heraldtest.NewServer(t)
	url := "http://" + srv.RESTAddr().String() + "/send/event"
	eventually(t, 5*time.Second, func() error {
		resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return fmt.Errorf("REST front not ready")
		}
		return nil
	})
	return srv
}

// newClient connects to srv over gRPC and closes the client when t ends.
func newClient(t *testing.T, srv *heraldtest.Server, opts ...client.Option) *client.Client {
	t.Helper()
	return grpcTransport.newClient(t, srv, opts...)
}

// tport is a transport the tests run over.
type tport struct {
	name string
	rest bool
}

var (
	grpcTransport = tport{name: "grpc"}
	restTransport = tport{name: "rest", rest: true}
	transports    = []tport{grpcTransport, restTransport}
)

// addr returns the options that reach srv over tr, followed by opts.
func (tr tport) addr(srv *heraldtest.Server, opts ...client.Option) []client.Option {
	var out []client.Option
	if tr.rest {
		out = []client.Option{client.WithTransportType(client.TransportTypeRest), client.WithUri("http://" + srv.RESTAddr().String())}
	} else {
		out = []client.Option{client.WithAddress(srv.Host, srv.Port)}
	}
	return append(out, opts...)
}

// newClient connects to srv over tr and closes the client when t ends.
func (tr tport) newClient(t *testing.T, srv *heraldtest.Server, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.NewClient(context.Background(), tr.addr(srv, append([]client.Option{client.WithClientId(uniq("c"))}, opts...)...)...)
	if err != nil {
		t.Fatalf("NewClient over %s: %v", tr.name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// overBoth runs fn once per transport, as parallel subtests "grpc" and
// "rest": the same scenario must hold over both.
func overBoth(t *testing.T, fn func(t *testing.T, tr tport)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			fn(t, tr)
		})
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually is adaptertest.Eventually: fn until it returns nil, or t
// fails with fn's last error once timeout has passed.
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	adaptertest.Eventually(t, timeout, fn)
}

// recv reads one value from ch within d.
func recv[T any](t *testing.T, ch <-chan T, d time.Duration) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed")
		}
		return v
	case <-time.After(d):
		t.Fatalf("nothing received within %v", d)
	}
	var zero T
	return zero
}

// noRecv checks that nothing arrives on ch within d.
func noRecv[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v, ok := <-ch:
		if ok {
			t.Fatalf("unexpected value %v", v)
		}
	case <-time.After(d):
	}
}

// closed waits until ch is closed, draining it.
func closed[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("channel not closed within %v", d)
		}
	}
}

// subscribed sends events with send until one arrives on ch: subscriptions
// register asynchronously.
func waitSubscribed[T any](t *testing.T, ch <-chan T, send func() error) T {
	t.Helper()
	var got T
	eventually(t, 5*time.Second, func() error {
		if err := send(); err != nil {
			return err
		}
		select {
		case got = <-ch:
			return nil
		case <-time.After(100 * time.Millisecond):
			return fmt.Errorf("not delivered")
		}
	})
	return got
}
