package dashboard_test

import (
	"context"
	"io/fs"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/dashboard"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/server/heraldtest"
)

// env is a real broker, a dashboard.Broker backend on it, the dashboard served by
// httptest, and an SDK client for the test's own traffic.
type env struct {
	t      *testing.T
	srv    *heraldtest.Server
	broker *dashboard.Broker
	web    *httptest.Server
	sdk    *client.Client
	ctx    context.Context
}

// envOption changes the dashboard configuration of an env.
type envOption func(*dashboard.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	srv := heraldtest.NewServer(t)
	info := &testInfo{dataDir: srv.DataDir, host: srv.Options().Host, started: time.Now()}
	b, err := dashboard.NewBroker(dashboard.BrokerConfig{Address: srv.Addr, Info: info, Logger: heraldtest.Logger(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	info.b = b
	t.Cleanup(func() { _ = b.Close() })
	cfg := dashboard.Config{Backend: b, Logger: heraldtest.Logger(t, 0), Interval: 500 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	web := httptest.NewServer(dashboard.New(cfg))
	t.Cleanup(web.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	sdk, err := client.NewClient(ctx, client.WithAddress(srv.Host, srv.Port), client.WithClientId("dashboard-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sdk.Close() })
	return &env{t: t, srv: srv, broker: b, web: web, sdk: sdk, ctx: ctx}
}

// testInfo is a dashboard.ServerInfo as the embedding server would give one: the
// process as the node, the data directory's size, and the channels'
// traffic.
type testInfo struct {
	b       *dashboard.Broker
	dataDir string
	host    string
	started time.Time
}

func (i *testInfo) Nodes(ctx context.Context) ([]dashboard.Node, error) {
	t, err := i.Traffic(ctx)
	if err != nil {
		return nil, err
	}
	clients := 0
	for _, n := range t.Clients {
		clients += n
	}
	return []dashboard.Node{dashboard.ProcessNode(i.host, "2.4.0+herald.0.1.0-dev", "standalone", i.started, clients)}, nil
}

func (i *testInfo) Storage(ctx context.Context) (dashboard.Storage, error) {
	var st dashboard.Storage
	err := filepath.WalkDir(i.dataDir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			st.Bytes += uint64(fi.Size())
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	for _, typ := range []dashboard.ChannelType{dashboard.Queues, dashboard.EventsStore} {
		l, err := i.b.ListChannels(ctx, typ, "")
		if err != nil {
			return st, err
		}
		st.Streams += len(l)
	}
	return st, nil
}

func (i *testInfo) Traffic(ctx context.Context) (dashboard.Traffic, error) {
	t, err := dashboard.ChannelTraffic(i.b)(ctx)
	if err != nil {
		return t, err
	}
	t.Clients = map[dashboard.ChannelType]int{}
	for _, typ := range dashboard.ChannelTypes {
		l, err := i.b.ListChannels(ctx, typ, "")
		if err != nil {
			return t, err
		}
		for _, c := range l {
			if c.IsActive {
				t.Clients[typ]++
			}
		}
	}
	return t, nil
}

// eventually retries f until it returns nil or d passed.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
