package cloudevents_test

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/cloudevents"
	"github.com/heraldmq/herald/server/heraldtest"
)

// config returns a configuration for srv with short timeouts and a stream
// of its own.
func config(srv *adaptertest.Server, clientID string) cloudevents.Config {
	return cloudevents.Config{
		Address:        srv.Host + ":" + strconv.Itoa(srv.Port),
		ClientID:       adaptertest.UniqueName(clientID),
		Stream:         adaptertest.UniqueName("stream"),
		ReconnectWait:  200 * time.Millisecond,
		RequestTimeout: 3 * time.Second,
		AckWait:        time.Second,
		DrainTimeout:   5 * time.Second,
		EventsTimeout:  10 * time.Second,
	}
}

func queryConn(t *testing.T, cfg cloudevents.Config) *cloudevents.QueryConn {
	t.Helper()
	withTestLogger(t, &cfg)
	q, err := cloudevents.NewQueryConnection(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func eventConn(t *testing.T, cfg cloudevents.Config) *cloudevents.EventConn {
	t.Helper()
	withTestLogger(t, &cfg)
	e, err := cloudevents.NewEventConnection(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newEvent(t *testing.T, typ string, data any) cloudevents.Event {
	ce, err := cloudevents.CreateCloudEventWithAutoSource(data, cloudevents.EventType(typ))
	if err != nil {
		panic(err)
	}
	return ce
}

func dataString(t *testing.T, ce cloudevents.Event) string {
	t.Helper()
	var s string
	if err := ce.DataAs(&s); err != nil {
		t.Fatalf("data of %s: %v", ce.ID(), err)
	}
	return s
}

func boolPtr(b bool) *bool { return &b }

func mustTempDir() string {
	dir, err := os.MkdirTemp("", "cloudevents-example")
	if err != nil {
		panic(err)
	}
	return dir
}

// withTestLogger sends a connection's warnings and errors to the test log,
// so that a failure shows what the adapter saw. It is called before the
// connection registers its Close, so the log outlives the Close.
func withTestLogger(t *testing.T, cfg *cloudevents.Config) {
	if cfg.Logger == nil {
		cfg.Logger = heraldtest.Logger(t, slog.LevelWarn)
	}
}
