// Commands with Herald's Go SDK: request/reply where the answer says whether
// the responder executed the request. A responder subscribes to a channel and
// answers each command; a sender waits for the answer up to its timeout.
//
// Start a broker (go run ./cmd/herald server), then:
//
//	go run ./examples/commands [-addr localhost:50000]
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
		client.WithClientId("commands-example"),
		client.WithCheckConnection(true))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// The responder: switches a lamp on or off, refuses anything else.
	commands, err := c.SubscribeToCommands(ctx, "lamp.switch", "", nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for cmd := range commands {
			var failure error
			switch string(cmd.Body) {
			case "on", "off":
				fmt.Printf("responder: lamp %s\n", cmd.Body)
			default:
				failure = fmt.Errorf("unknown position %q", cmd.Body)
			}
			err := c.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).
				SetExecutedAt(time.Now()).SetError(failure).Send(ctx)
			if err != nil {
				log.Printf("response: %v", err)
			}
		}
	}()

	for _, position := range []string{"on", "blink", "off"} {
		var resp *client.CommandResponse
		for { // the responder's subscription registers asynchronously
			resp, err = c.C().SetChannel("lamp.switch").SetBody([]byte(position)).SetTimeout(time.Second).Send(ctx)
			if !errors.Is(err, client.ErrTimeout) || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: executed=%t error=%q at %s\n", position, resp.Executed, resp.Error, resp.ExecutedAt.Format(time.TimeOnly))
	}

	// Nobody answers on this channel: the send fails after its timeout.
	_, err = c.C().SetChannel("lamp.nobody").SetBody([]byte("on")).SetTimeout(300 * time.Millisecond).Send(ctx)
	fmt.Printf("no responder: timeout=%t (%v)\n", errors.Is(err, client.ErrTimeout), err)
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
