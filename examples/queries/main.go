// Queries with Herald's Go SDK: request/reply where the responder answers
// with data. With a cache key, Herald keeps the answer for the cache TTL and
// answers repeated queries itself.
//
// Start a broker (go run ./cmd/herald server), then:
//
//	go run ./examples/queries [-addr localhost:50000]
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
		client.WithClientId("queries-example"),
		client.WithCheckConnection(true))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// The responder: a price list.
	prices := map[string]string{"sku-1": "9.90", "sku-2": "24.50"}
	queries, err := c.SubscribeToQueries(ctx, "catalog.price", "", nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for q := range queries {
			fmt.Printf("responder: price of %s asked\n", q.Body)
			r := c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now())
			if price, ok := prices[string(q.Body)]; ok {
				r.SetMetadata("EUR").SetBody([]byte(price))
			} else {
				r.SetError(fmt.Errorf("no such product %q", q.Body))
			}
			if err := r.Send(ctx); err != nil {
				log.Printf("response: %v", err)
			}
		}
	}()

	ask := func(sku string) *client.QueryResponse {
		for { // the responder's subscription registers asynchronously
			resp, err := c.Q().SetChannel("catalog.price").SetBody([]byte(sku)).
				SetCacheKey("price/" + sku).SetCacheTTL(time.Minute).
				SetTimeout(time.Second).Send(ctx)
			if errors.Is(err, client.ErrTimeout) && ctx.Err() == nil {
				continue
			}
			if err != nil {
				log.Fatal(err)
			}
			return resp
		}
	}
	for _, sku := range []string{"sku-1", "sku-1", "sku-3"} {
		resp := ask(sku)
		if resp.Error != "" {
			fmt.Printf("%s: error %q\n", sku, resp.Error)
			continue
		}
		fmt.Printf("%s: %s %s (from cache: %t)\n", sku, resp.Body, resp.Metadata, resp.CacheHit)
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
