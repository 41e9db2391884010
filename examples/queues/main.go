// Queues with Herald's Go SDK: durable messages, each taken by one receiver.
// It sends single and batched messages with a dead-letter policy, receives
// and peeks, takes messages one at a time in transactions (ack, reject), and
// uses the stream API (package queuesstream) to poll a batch and settle it.
//
// Start a broker (go run ./cmd/herald server), then:
//
//	go run ./examples/queues [-addr localhost:50000]
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
	"github.com/heraldmq/herald/client/queuesstream"
)

func main() {
	addr := flag.String("addr", "localhost:50000", "Herald gRPC address")
	flag.Parse()
	host, port := splitAddr(*addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.NewClient(ctx,
		client.WithAddress(host, port),
		client.WithClientId("queues-example"),
		client.WithCheckConnection(true))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	queue := fmt.Sprintf("jobs.%d", time.Now().UnixNano())

	// Send: one message, then a batch. After 2 failed deliveries a message
	// moves to the dead-letter queue.
	res, err := c.QM().SetChannel(queue).SetBody([]byte("job-1")).
		SetPolicyMaxReceiveCount(2).SetPolicyMaxReceiveQueue(queue + ".dead").Send(ctx)
	if err != nil || res.IsError {
		log.Fatal(err, res.Err())
	}
	batch := c.QMB()
	for i := 2; i <= 4; i++ {
		batch.Add(c.QM().SetChannel(queue).SetBody(fmt.Appendf(nil, "job-%d", i)))
	}
	if _, err := batch.Send(ctx); err != nil {
		log.Fatal(err)
	}

	// Peek shows without taking; receive takes.
	peek, err := c.RQM().SetChannel(queue).SetMaxNumberOfMessages(4).SetWaitTimeSeconds(1).SetIsPeak(true).Send(ctx)
	if err != nil || peek.IsError {
		log.Fatal(err, peek.Err())
	}
	fmt.Printf("queue holds %d messages\n", len(peek.Messages))
	got, err := c.RQM().SetChannel(queue).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || got.IsError {
		log.Fatal(err, got.Err())
	}
	fmt.Printf("received %s (sequence %d)\n", got.Messages[0].Body, got.Messages[0].Attributes.Sequence)

	// Transactions: one message at a time, held until settled.
	sqm := c.SQM().SetChannel(queue)
	msg, err := sqm.Next(ctx, 30, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("rejecting %s\n", msg.Body)
	if err := msg.Reject(); err != nil {
		log.Fatal(err)
	}

	// The stream API: poll two messages in one transaction and settle them.
	qs, err := queuesstream.NewQueuesStreamClient(ctx,
		queuesstream.WithAddress(host, port), queuesstream.WithClientId("queues-example"))
	if err != nil {
		log.Fatal(err)
	}
	defer qs.Close()
	poll, err := qs.Poll(ctx, queuesstream.NewPollRequest().SetChannel(queue).SetMaxItems(2).SetWaitTimeout(1000))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range poll.Messages {
		fmt.Printf("polled %s (delivery %d)\n", m.Body, m.Attributes.ReceiveCount)
	}
	if err := poll.AckAll(); err != nil {
		log.Fatal(err)
	}

	info, err := c.QueuesInfo(ctx, queue)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range info.Queues {
		fmt.Printf("%s: %d waiting, %d sent in all\n", q.Name, q.Messages, q.Sent)
	}
	purged, err := c.AQM().SetChannel(queue).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("purged %d\n", purged.AffectedMessages)
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
