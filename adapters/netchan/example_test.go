package netchan_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/heraldmq/herald/adapters/netchan"
	"github.com/heraldmq/herald/server"
)

// startExampleHerald runs an in-process broker for the example on a free port with
// a temporary data directory (what server/heraldtest does for tests).
func startExampleHerald() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "netchan-example")
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
	return srv.GRPCAddr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = os.RemoveAll(dir)
	}
}

// A writer publishes the lines of a text and closes the channel; a reader
// opened afterwards reads every line, and both MD5s match.
func ExampleClient_NewPubChannel() {
	addr, stop := startExampleHerald()
	defer stop()

	c, err := netchan.Dial(context.Background(), netchan.WithAddresses(addr))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	pub, err := c.NewPubChannel("poem")
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split("so much depends\nupon\na red wheel\nbarrow", "\n") {
		if err := pub.Publish([]byte(line)); err != nil {
			log.Fatal(err)
		}
	}
	if err := pub.Close(); err != nil { // seals the channel
		log.Fatal(err)
	}

	sub, err := c.NewSubChannel("reader", "poem")
	if err != nil {
		log.Fatal(err)
	}
	for line := range sub.Channel() {
		fmt.Println(string(line))
	}
	fmt.Println("closed by the publisher:", sub.Closed(), "err:", sub.Err())
	fmt.Println("md5 match:", bytes.Equal(pub.Md5(), sub.Md5()))
	// Output:
	// so much depends
	// upon
	// a red wheel
	// barrow
	// closed by the publisher: true err: <nil>
	// md5 match: true
}
