// Command netchan writes the lines of a short text to a network channel,
// closes (seals) it, then reads the channel back from the start and prints
// every line and the two MD5s, which match.
//
//	go run ./examples/netchan -addr localhost:50000
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/heraldmq/herald/adapters/netchan"
)

const text = `Whose woods these are I think I know.
His house is in the village though;
He will not see me stopping here
To watch his woods fill up with snow.`

func main() {
	addr := flag.String("addr", "localhost:50000", "Herald (or KubeMQ) gRPC address")
	name := flag.String("channel", fmt.Sprintf("example.%d", time.Now().UnixNano()), "network channel name")
	flag.Parse()
	if err := run(*addr, *name); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run(addr, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := netchan.Dial(ctx, netchan.WithAddresses(addr))
	if err != nil {
		return err
	}
	defer c.Close()

	pub, err := c.OpenPubChannel(ctx, name)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(text, "\n") {
		if err := pub.PublishContext(ctx, []byte(line)); err != nil {
			return err
		}
	}
	if err := pub.CloseContext(ctx); err != nil {
		return err
	}

	sub, err := c.OpenSubChannel(ctx, "example-reader", name, netchan.WithVerify())
	if err != nil {
		return err
	}
	defer sub.Close()
	for line := range sub.Channel() {
		fmt.Println(string(line))
	}
	if err := sub.Err(); err != nil {
		return err
	}
	fmt.Printf("publisher md5 %x\nreader    md5 %x\nmatch: %v\n", pub.Md5(), sub.Md5(), bytes.Equal(pub.Md5(), sub.Md5()))
	return c.DeleteChannelContext(ctx, name)
}
