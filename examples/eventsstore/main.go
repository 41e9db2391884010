// Events store with Herald's Go SDK: persistent pub/sub. Events are stored
// with a sequence per channel; a subscriber chooses where to start and, with
// the same client id, resumes where it stopped.
//
// Start a broker (go run ./cmd/herald server), then:
//
//	go run ./examples/eventsstore [-addr localhost:50000]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"strconv"
	"time"

	"github.com/heraldmq/herald/client"
)

func main() {
	addr := flag.String("addr", "localhost:50000", "Herald gRPC address")
	flag.Parse()
	host, port := splitAddr(*addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.NewClient(ctx,
		client.WithAddress(host, port),
		client.WithClientId("eventsstore-example"),
		client.WithCheckConnection(true))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	channel := fmt.Sprintf("orders.%d", time.Now().UnixNano())
	for _, status := range []string{"created", "paid", "shipped"} {
		res, err := c.ES().SetChannel(channel).SetBody([]byte(status)).Send(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("stored %s (id %s)\n", status, res.Id)
	}

	// Replay everything, then keep receiving new events.
	events, err := c.SubscribeToEventsStore(ctx, channel, "", nil, client.StartFromFirstEvent())
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		ev := <-events
		fmt.Printf("replayed #%d %s, stored at %s\n", ev.Sequence, ev.Body, ev.Timestamp.Format(time.RFC3339Nano))
	}
	if _, err := c.ES().SetChannel(channel).SetBody([]byte("delivered")).Send(ctx); err != nil {
		log.Fatal(err)
	}
	ev := <-events
	fmt.Printf("live #%d %s\n", ev.Sequence, ev.Body)

	// Other start positions: only the last stored event, or a sequence.
	last, err := c.SubscribeToEventsStoreWithRequest(ctx, &client.EventsStoreSubscription{
		Channel: channel, ClientId: "eventsstore-example-last", SubscriptionType: client.StartFromLastEvent(),
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	ev = <-last
	fmt.Printf("from the last: #%d %s\n", ev.Sequence, ev.Body)
}

func splitAddr(addr string) (string, int) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		log.Fatalf("port %q: %v", portText, err)
	}
	return host, port
}
