// Events with Herald's Go SDK: real-time pub/sub. A subscriber on
// "sensors.*" (with a wildcard) receives what publishers send to
// sensors.<name> while it is connected; nothing is stored.
//
// Start a broker (go run ./cmd/herald server), then:
//
//	go run ./examples/events [-addr localhost:50000]
package main

import (
	"context"
	"errors"
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
		client.WithClientId("events-example"),
		client.WithCheckConnection(true))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Errors of the subscription (for example a broker restart, after which
	// it re-subscribes by itself) arrive here.
	errCh := make(chan error, 10)
	go func() {
		for err := range errCh {
			if !errors.Is(err, client.ErrClientClosed) {
				log.Printf("subscription: %v", err)
			}
		}
	}()
	readings, err := c.SubscribeToEvents(ctx, "sensors.*", "", errCh)
	if err != nil {
		log.Fatal(err)
	}

	// Publish a reading every 100 ms. The subscription registers
	// asynchronously and events are not stored, so the first ones may be
	// missed.
	go func() {
		for i := 1; ctx.Err() == nil; i++ {
			err := c.E().SetChannel("sensors.kitchen").
				SetMetadata("celsius").
				SetBody([]byte(strconv.Itoa(18+i%5))).
				AddTag("reading", strconv.Itoa(i)).
				Send(ctx)
			if err != nil && ctx.Err() == nil {
				log.Printf("send: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	for i := 0; i < 5; i++ {
		ev := <-readings
		fmt.Printf("%s: %s %s (reading %s)\n", ev.Channel, ev.Body, ev.Metadata, ev.Tags["reading"])
	}
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
