package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/server/heraldtest"
)

// TestChannels runs scenario channels with a few channels and checks the
// lines, the calls and that the channels are gone afterwards.
func TestChannels(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cfg := testConfig(srv, "channels")
	cfg.Channels, cfg.Messages, cfg.Clients, cfg.Size = 20, 3, 6, 64
	rep, b := run(t, cfg)
	if w := b.Warnings(); len(w) > 0 {
		t.Errorf("warnings %q", w)
	}
	want := []struct {
		name string
		msgs int64
	}{{"queues first send", 20}, {"queues send", 60}, {"events-store first send", 20}, {"events-store send", 60}}
	if len(rep.Results) != len(want) {
		t.Fatalf("results %+v", rep.Results)
	}
	for i, r := range rep.Results {
		if r.Name != want[i].name || r.Messages != want[i].msgs || r.Publishers != 6 || r.Bytes != r.Messages*64 ||
			r.Latency == nil || r.Latency.P50 > r.Latency.P99 {
			t.Errorf("result %+v, want %s with %d messages", r, want[i].name, want[i].msgs)
		}
	}
	c := rep.Channels
	if c == nil || len(c.Calls) != 3 || !strings.HasPrefix(c.Prefix, "herald-bench-channels-") {
		t.Fatalf("channels report %+v", c)
	}
	for _, call := range c.Calls {
		if call.Channels != 20 || call.Error != "" || call.Seconds <= 0 {
			t.Errorf("call %+v", call)
		}
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"queues first send ", "\ncall                        channels  time\n", "\nlist-channels queues        20 ", "\nqueues-info "} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, out.String())
		}
	}

	// The run deleted its channels.
	ctx := context.Background()
	cl, err := cfg.Dial(ctx, "bench-test-check")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	qs, err := client.ListQueuesChannels(ctx, cl, "bench-test-check", c.Prefix)
	if err != nil || len(qs) != 0 {
		t.Errorf("%d queues left (%v)", len(qs), err)
	}
	es, err := client.ListPubSubChannels(ctx, cl, "bench-test-check", client.ChannelTypeEventsStore, c.Prefix)
	if err != nil || len(es) != 0 {
		t.Errorf("%d events-store channels left (%v)", len(es), err)
	}

	// With --keep and a prefix, they stay.
	cfg.Keep, cfg.Prefix, cfg.Channels, cfg.Clients = true, "kept", 2, 4
	rep, _ = run(t, cfg)
	qs, err = client.ListQueuesChannels(ctx, cl, "bench-test-check", "kept-q-")
	if err != nil || len(qs) != 2 || rep.Channels.Prefix != "kept" {
		t.Errorf("%d queues kept (%v), prefix %q", len(qs), err, rep.Channels.Prefix)
	}
}
