package client_test

import (
	"context"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/queuesstream"
)

// ours matches stack frames of the SDK's packages (not of its tests).
var ours = regexp.MustCompile(`github\.com/heraldmq/herald/client(/queuesstream)?\.`)

// sdkGoroutines returns the stacks of live goroutines that run, or were
// started by, the SDK.
func sdkGoroutines() []string {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	var out []string
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if ours.MatchString(g) && !strings.Contains(g, "sdkGoroutines") {
			out = append(out, g)
		}
	}
	return out
}

// TestNoGoroutineLeaks uses every long-running part of the SDK, over gRPC
// and over REST, then ends the contexts and closes the clients: no
// goroutine of the SDK may remain. It does not run in parallel, so other
// tests' clients are not around.
func TestNoGoroutineLeaks(t *testing.T) {
	srv := newServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	var closers []interface{ Close() error }
	var stops []chan struct{}
	for _, tr := range transports {
		c := tr.newClient(t, srv, client.WithKeepalive(100*time.Millisecond)) // WebSocket pings running too
		closers = append(closers, c)
		ch := uniq("leak")
		errCh := make(chan error, 100)
		events, _ := c.SubscribeToEvents(ctx, ch, "", errCh)
		_, _ = c.SubscribeToEventsStore(ctx, ch, "", errCh, client.StartFromFirstEvent())
		_, _ = c.SubscribeToCommands(ctx, ch, "", errCh)
		_, _ = c.SubscribeToQueries(ctx, ch, "", errCh)
		waitSubscribed(t, events, func() error { return c.E().SetChannel(ch).SetMetadata("x").Send(ctx) })
		in := make(chan *client.Event)
		go c.StreamEvents(ctx, in, errCh)
		in <- c.E().SetChannel(ch).SetMetadata("x")
		sin, results := make(chan *client.EventStore), make(chan *client.EventStoreResult, 10)
		go c.StreamEventsStore(ctx, sin, results, errCh)
		sin <- c.ES().SetChannel(ch).SetMetadata("x")
		<-results
		sendQueue(t, c, ch, 3)
		sqm := c.SQM().SetChannel(ch)
		if _, err := sqm.Next(ctx, 10, 1); err != nil {
			t.Fatal(err)
		}
		qc, _ := client.NewQueuesClient(ctx, tr.addr(srv)...)
		stop, _ := qc.Subscribe(ctx, client.NewReceiveQueueMessagesRequest().SetChannel(ch+".none").SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1),
			func(*client.ReceiveQueueMessagesResponse, error) {})
		stops = append(stops, stop)
		if _, err := qc.Transaction(ctx, client.NewQueueTransactionMessageRequest().SetChannel(ch).SetVisibilitySeconds(10).SetWaitTimeSeconds(1)); err != nil {
			t.Fatal(err)
		}
		ec, _ := client.NewEventsClient(ctx, tr.addr(srv)...)
		_ = ec.Subscribe(ctx, &client.EventsSubscription{Channel: ch}, func(*client.Event, error) {})
		send, _ := ec.Stream(ctx, func(error) {})
		_ = send(&client.Event{Channel: ch, Metadata: "x"})
		closers = append(closers, qc, ec)
	}
	ch := uniq("leak.qs")
	qs, err := queuesstream.NewQueuesStreamClient(ctx, queuesstream.WithAddress(srv.Host, srv.Port))
	if err != nil {
		t.Fatal(err)
	}
	closers = append(closers, qs)
	if _, err := qs.Send(ctx, queuesstream.NewQueueMessage().SetChannel(ch).SetBody([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := qs.Poll(ctx, queuesstream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(1000).SetVisibilitySeconds(30)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // a few keepalive pings
	if len(sdkGoroutines()) == 0 {
		t.Fatal("the probe sees no SDK goroutines")
	}

	for _, stop := range stops {
		close(stop)
	}
	cancel()
	for _, closer := range closers {
		if err := closer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := sdkGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d SDK goroutines left:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
