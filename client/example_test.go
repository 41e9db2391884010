package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/server"
)

// herald is an in-process broker for the examples, on a free port with a
// temporary data directory — what server/heraldtest does for tests.
type herald struct {
	*server.Server
	host string
	port int
	dir  string
}

func startHerald() *herald {
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
	return &herald{Server: srv, host: "127.0.0.1", port: srv.GRPCAddr().(*net.TCPAddr).Port, dir: dir}
}

func (h *herald) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.Shutdown(ctx)
	_ = os.RemoveAll(h.dir)
}

// Connect, ask the server who it is, close.
func ExampleNewClient() {
	srv := startHerald()
	defer srv.stop()

	ctx := context.Background()
	c, err := client.NewClient(ctx,
		client.WithAddress(srv.host, srv.port),
		client.WithClientId("example"),
		client.WithCheckConnection(true))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	info, err := c.Ping(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("KubeMQ API version:", info.Version[:2])
	// Output: KubeMQ API version: 2.
}

// The REST transport: the same API over HTTP and WebSockets (port 9090).
func ExampleNewClient_rest() {
	srv := startHerald()
	defer srv.stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewClient(ctx,
		client.WithTransportType(client.TransportTypeRest),
		client.WithUri("http://"+srv.RESTAddr().String()),
		client.WithClientId("example"),
		client.WithCheckConnection(true))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A query answered by a responder subscribed over a WebSocket.
	queries, err := c.SubscribeToQueries(ctx, "prices", "", nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for q := range queries {
			_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetBody([]byte("42.5")).Send(ctx)
		}
	}()
	var resp *client.QueryResponse
	for range 100 { // the responder subscribes asynchronously
		if resp, err = c.Q().SetChannel("prices").SetMetadata("ACME").SetTimeout(time.Second).Send(ctx); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ACME:", string(resp.Body))
	_, err = c.GetGRPCRawClient()
	fmt.Println(errors.Is(err, client.ErrNotSupportedOverREST))
	// Output:
	// ACME: 42.5
	// true
}

// Events: real-time pub/sub to the subscribers connected at the time.
func ExampleClient_SubscribeToEvents() {
	srv := startHerald()
	defer srv.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewClient(ctx, client.WithAddress(srv.host, srv.port), client.WithClientId("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	errCh := make(chan error, 10)
	events, err := c.SubscribeToEvents(ctx, "greetings.*", "", errCh)
	if err != nil {
		log.Fatal(err)
	}
	// A subscription registers asynchronously, and events are not stored:
	// publish until the subscriber is there.
	go func() {
		for ctx.Err() == nil {
			_ = c.E().SetChannel("greetings.en").SetMetadata("lang=en").SetBody([]byte("hello")).Send(ctx)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	ev := <-events
	fmt.Printf("%s on %s (%s)\n", ev.Body, ev.Channel, ev.Metadata)
	// Output: hello on greetings.en (lang=en)
}

// Events store: persistent pub/sub, replayed from a start position.
func ExampleClient_SubscribeToEventsStore() {
	srv := startHerald()
	defer srv.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewClient(ctx, client.WithAddress(srv.host, srv.port), client.WithClientId("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for _, order := range []string{"created", "paid", "shipped"} {
		if _, err := c.ES().SetChannel("orders").SetBody([]byte(order)).Send(ctx); err != nil {
			log.Fatal(err)
		}
	}
	events, err := c.SubscribeToEventsStore(ctx, "orders", "", nil, client.StartFromSequence(2))
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		ev := <-events
		fmt.Println(ev.Sequence, string(ev.Body))
	}
	// Output:
	// 2 paid
	// 3 shipped
}

// Commands: a responder executes the request and says whether it did.
func ExampleClient_SubscribeToCommands() {
	srv := startHerald()
	defer srv.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewClient(ctx, client.WithAddress(srv.host, srv.port), client.WithClientId("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	commands, err := c.SubscribeToCommands(ctx, "lights", "", nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for cmd := range commands {
			var failure error
			if string(cmd.Body) != "on" && string(cmd.Body) != "off" {
				failure = errors.New("unknown switch position")
			}
			_ = c.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).
				SetExecutedAt(time.Now()).SetError(failure).Send(ctx)
		}
	}()
	for _, position := range []string{"on", "dim"} {
		var resp *client.CommandResponse
		for { // until the responder's subscription is registered
			resp, err = c.C().SetChannel("lights").SetBody([]byte(position)).SetTimeout(time.Second).Send(ctx)
			if !errors.Is(err, client.ErrTimeout) {
				break
			}
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: executed=%t error=%q\n", position, resp.Executed, resp.Error)
	}
	// Output:
	// on: executed=true error=""
	// dim: executed=false error="unknown switch position"
}

// Queries: a responder answers with data; a cache key lets Herald answer
// repeated queries itself.
func ExampleClient_SubscribeToQueries() {
	srv := startHerald()
	defer srv.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewClient(ctx, client.WithAddress(srv.host, srv.port), client.WithClientId("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	queries, err := c.SubscribeToQueries(ctx, "prices", "", nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for q := range queries {
			_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).
				SetMetadata("EUR").SetBody([]byte("42.00")).SetExecutedAt(time.Now()).Send(ctx)
		}
	}()
	for range 2 {
		var resp *client.QueryResponse
		for { // until the responder's subscription is registered
			resp, err = c.Q().SetChannel("prices").SetBody([]byte("sku-1")).
				SetCacheKey("sku-1").SetCacheTTL(time.Minute).SetTimeout(time.Second).Send(ctx)
			if !errors.Is(err, client.ErrTimeout) {
				break
			}
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s cached=%t\n", resp.Body, resp.Metadata, resp.CacheHit)
	}
	// Output:
	// 42.00 EUR cached=false
	// 42.00 EUR cached=true
}

// Queues: durable; each message goes to one receiver.
func ExampleClient_QM() {
	srv := startHerald()
	defer srv.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewClient(ctx, client.WithAddress(srv.host, srv.port), client.WithClientId("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.QM().SetChannel("jobs").SetBody([]byte("job-1")).
		SetPolicyExpirationSeconds(3600).SetPolicyMaxReceiveCount(3).SetPolicyMaxReceiveQueue("jobs.dead").Send(ctx)
	if err != nil || res.IsError {
		log.Fatal(err, res.Error)
	}
	batch := c.QMB().
		Add(c.QM().SetChannel("jobs").SetBody([]byte("job-2"))).
		Add(c.QM().SetChannel("jobs").SetBody([]byte("job-3")))
	if _, err := batch.Send(ctx); err != nil {
		log.Fatal(err)
	}
	got, err := c.RQM().SetChannel("jobs").SetMaxNumberOfMessages(2).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || got.IsError {
		log.Fatal(err, got.Error)
	}
	for _, m := range got.Messages {
		fmt.Println(m.Attributes.Sequence, string(m.Body))
	}
	purged, err := c.AQM().SetChannel("jobs").SetWaitTimeSeconds(1).Send(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("purged:", purged.AffectedMessages)
	// Output:
	// 1 job-1
	// 2 job-2
	// purged: 1
}

// Queue transactions: take one message, settle it.
func ExampleClient_SQM() {
	srv := startHerald()
	defer srv.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewClient(ctx, client.WithAddress(srv.host, srv.port), client.WithClientId("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for _, job := range []string{"resize-1", "resize-2"} {
		if _, err := c.QM().SetChannel("images").SetBody([]byte(job)).Send(ctx); err != nil {
			log.Fatal(err)
		}
	}
	receiver := c.SQM().SetChannel("images")
	msg, err := receiver.Next(ctx, 30, 1) // hold it 30 s, wait up to 1 s for it
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rejecting", string(msg.Body))
	if err := msg.Reject(); err != nil { // back to the tail of the queue
		log.Fatal(err)
	}
	for range 2 {
		msg, err := receiver.Next(ctx, 30, 1)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("acking %s (delivery %d)\n", msg.Body, msg.Attributes.ReceiveCount)
		if err := msg.Ack(); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// rejecting resize-1
	// acking resize-2 (delivery 1)
	// acking resize-1 (delivery 2)
}

// Errors keep the server's text and tell their kind to errors.Is.
func ExampleErrTimeout() {
	srv := startHerald()
	defer srv.stop()
	ctx := context.Background()
	c, err := client.NewClient(ctx, client.WithAddress(srv.host, srv.port), client.WithClientId("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.C().SetChannel("nobody.listens").SetBody([]byte("x")).SetTimeout(100 * time.Millisecond).Send(ctx)
	fmt.Println(errors.Is(err, client.ErrTimeout))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Message)
	}
	// Output:
	// true
	// Error 301: timeout for request message
}
