// The bus adapter: hms-msgbus's one-topic handle over Herald. A reader
// registers a callback that prints each message, a writer writes three
// lines, the program waits for the three and disconnects both.
//
// Start a broker (go run ./cmd/herald server), then:
//
//	go run ./examples/bus [-addr localhost:50000]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/heraldmq/herald/adapters/bus"
)

func main() {
	addr := flag.String("addr", "localhost:50000", "Herald gRPC address")
	flag.Parse()
	host, portText, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		log.Fatalf("port %q: %v", portText, err)
	}
	topic := fmt.Sprintf("telemetry.%d", time.Now().UnixNano())

	// The configuration of hms-msgbus, with Herald's address.
	reader, err := bus.Connect(bus.MsgBusConfig{
		Host: host, Port: port, Topic: topic, Direction: bus.BusReader, ConnectRetries: 5,
	})
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(3)
	if err := reader.RegisterCB(func(msg string) {
		fmt.Println("received:", msg)
		wg.Done()
	}); err != nil {
		log.Fatal(err)
	}

	writer, err := bus.Connect(bus.MsgBusConfig{
		Host: host, Port: port, Topic: topic, Direction: bus.BusWriter, ConnectRetries: 5,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range []string{"node x1 up", "node x2 up", "node x1 down"} {
		if err := writer.MessageWrite(line); err != nil { // Blocking: returns once stored
			log.Fatal(err)
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		log.Fatal("timed out waiting for the three messages")
	}
	if err := writer.Disconnect(); err != nil {
		log.Fatal(err)
	}
	if err := reader.Disconnect(); err != nil {
		log.Fatal(err)
	}
}
