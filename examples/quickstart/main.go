// Quickstart: the official KubeMQ Go SDK (github.com/kubemq-io/kubemq-go
// v1.9.0) against a Herald broker. Start one with `go run ./cmd/herald server`,
// then run `go run ./examples/quickstart` (or pass -addr host:port).
//
// It sends an event to a subscriber, stores two events and replays them, runs
// a command and a query against a responder, and sends and receives a queue
// message.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"strconv"
	"time"

	"github.com/kubemq-io/kubemq-go"
)

func main() {
	addr := flag.String("addr", "localhost:50000", "Herald gRPC address")
	flag.Parse()
	host, portText, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client, err := kubemq.NewClient(ctx,
		kubemq.WithAddress(host, port),
		kubemq.WithClientId("quickstart"),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	info, err := client.Ping(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("connected to %s, version %s\n", info.Host, info.Version)

	// Events: real-time pub/sub.
	errCh := make(chan error, 1)
	events, err := client.SubscribeToEvents(ctx, "quickstart.events", "", errCh)
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the subscription register before sending
	if err := client.E().SetChannel("quickstart.events").SetBody([]byte("hello")).Send(ctx); err != nil {
		log.Fatal(err)
	}
	ev := <-events
	fmt.Printf("event: %s\n", ev.Body)

	// Events store: persistent, replayable.
	for _, body := range []string{"first", "second"} {
		if _, err := client.ES().SetChannel("quickstart.store").SetBody([]byte(body)).Send(ctx); err != nil {
			log.Fatal(err)
		}
	}
	stored, err := client.SubscribeToEventsStore(ctx, "quickstart.store", "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		es := <-stored
		fmt.Printf("stored event %d: %s\n", es.Sequence, es.Body)
	}

	// Commands and queries: request/reply with a timeout.
	queries, err := client.SubscribeToQueries(ctx, "quickstart.queries", "", errCh)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for q := range queries {
			_ = client.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).
				SetExecutedAt(time.Now()).SetBody([]byte("answer to " + string(q.Body))).Send(ctx)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	resp, err := client.Q().SetChannel("quickstart.queries").SetBody([]byte("question")).
		SetTimeout(5 * time.Second).Send(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("query response: %s\n", resp.Body)

	// Queues: durable, each message to one receiver.
	if _, err := client.QM().SetChannel("quickstart.queue").SetBody([]byte("job-1")).Send(ctx); err != nil {
		log.Fatal(err)
	}
	got, err := client.RQM().SetChannel("quickstart.queue").SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range got.Messages {
		fmt.Printf("queue message %d: %s\n", m.Attributes.Sequence, m.Body)
	}
}
