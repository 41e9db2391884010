package bus_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/heraldmq/herald/adapters/bus"
	"github.com/heraldmq/herald/server"
)

// A reader prints what a writer writes, through a callback.
func ExampleConnect() {
	// An in-process Herald on a free port, as server/heraldtest starts one.
	dir, err := os.MkdirTemp("", "bus-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := server.New(server.Options{DataDir: dir, GRPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	port := srv.GRPCAddr().(*net.TCPAddr).Port

	reader, err := bus.Connect(bus.MsgBusConfig{Host: "127.0.0.1", Port: port, Topic: "telemetry", Direction: bus.BusReader})
	if err != nil {
		log.Fatal(err)
	}
	defer reader.Disconnect()
	got := make(chan struct{}, 3)
	if err := reader.RegisterCB(func(msg string) {
		fmt.Println("received:", msg)
		got <- struct{}{}
	}); err != nil {
		log.Fatal(err)
	}

	writer, err := bus.Connect(bus.MsgBusConfig{Host: "127.0.0.1", Port: port, Topic: "telemetry", Direction: bus.BusWriter})
	if err != nil {
		log.Fatal(err)
	}
	defer writer.Disconnect()
	for _, line := range []string{"node x1 up", "node x2 up", "node x1 down"} {
		if err := writer.MessageWrite(line); err != nil {
			log.Fatal(err)
		}
	}
	for range 3 {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			log.Fatal("timed out")
		}
	}
	// Output:
	// received: node x1 up
	// received: node x2 up
	// received: node x1 down
}
