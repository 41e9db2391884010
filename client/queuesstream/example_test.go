package queuesstream_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	queues_stream "github.com/heraldmq/herald/client/queuesstream"
	"github.com/heraldmq/herald/server"
)

// startHerald starts an in-process broker on a free port (what
// server/heraldtest does for tests) and returns its port and a stop function.
func startHerald() (int, func()) {
	dir, err := os.MkdirTemp("", "herald-example")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Options{DataDir: dir, GRPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	return srv.GRPCAddr().(*net.TCPAddr).Port, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = os.RemoveAll(dir)
	}
}

// Send over the upstream stream, take messages in a transaction, settle them.
func ExampleQueuesStreamClient_Poll() {
	port, stop := startHerald()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	queues, err := queues_stream.NewQueuesStreamClient(ctx,
		queues_stream.WithAddress("127.0.0.1", port),
		queues_stream.WithClientId("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer queues.Close()

	_, err = queues.Send(ctx,
		queues_stream.NewQueueMessage().SetChannel("emails").SetBody([]byte("welcome")),
		queues_stream.NewQueueMessage().SetChannel("emails").SetBody([]byte("invoice")),
		queues_stream.NewQueueMessage().SetChannel("emails").SetBody([]byte("reminder")))
	if err != nil {
		log.Fatal(err)
	}
	batch, err := queues.Poll(ctx, queues_stream.NewPollRequest().
		SetChannel("emails").SetMaxItems(3).SetWaitTimeout(1000))
	if err != nil {
		log.Fatal(err)
	}
	for _, msg := range batch.Messages {
		if string(msg.Body) == "invoice" {
			err = msg.NAck() // back to the tail of the queue
		} else {
			err = msg.Ack()
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	again, err := queues.Poll(ctx, queues_stream.NewPollRequest().
		SetChannel("emails").SetMaxItems(1).SetWaitTimeout(1000).SetAutoAck(true))
	if err != nil {
		log.Fatal(err)
	}
	msg := again.Messages[0]
	fmt.Printf("%s, delivery %d\n", msg.Body, msg.Attributes.ReceiveCount)
	// Output: invoice, delivery 2
}
