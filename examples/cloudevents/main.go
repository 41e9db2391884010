// CloudEvents over Herald with the messaging2-style connections of package
// adapters/cloudevents: a "credential" service listens for
// CredentialCreationRequested events and answers with a CredentialCreated
// response event, and serves the CredentialGet query; a client sends the
// request through EventConn.Request, waits for the response, asks the query,
// and both sides drain.
//
// Start a broker (go run ./cmd/herald server), then:
//
//	go run ./examples/cloudevents [-addr localhost:50000]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/heraldmq/herald/adapters/cloudevents"
)

const (
	creationRequested cloudevents.EventType = "org.example.CredentialCreationRequested"
	created           cloudevents.EventType = "org.example.CredentialCreated"
	credentialGet     cloudevents.QueryOp   = "org.example.CredentialGet"
)

type credential struct {
	ID   string `json:"id"`
	User string `json:"user"`
}

func main() {
	addr := flag.String("addr", "localhost:50000", "Herald gRPC address")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The service: one event connection (durable group) and one query connection.
	svcCfg := cloudevents.Config{Address: *addr, ClientID: "credential-service", DurableName: "credential-service", QueueGroup: "credential-service"}
	events, err := svcCfg.ConnectEvents(ctx)
	if err != nil {
		log.Fatal(err)
	}
	queries, err := svcCfg.ConnectQuery(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	store := map[string]credential{}

	listenCtx, stopListening := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	err = events.Listen(listenCtx, map[cloudevents.EventType]cloudevents.EventHandlerFunc{
		creationRequested: func(ctx context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
			var req credential
			if err := ev.DataAs(&req); err != nil {
				return err
			}
			c := credential{ID: "cred-" + req.User, User: req.User}
			mu.Lock()
			store[c.ID] = c
			mu.Unlock()
			resp, err := cloudevents.CreateCloudEventWithAutoSource(c, created)
			if err != nil {
				return err
			}
			cloudevents.SetTransactionID(&resp, "") // Write gives it the request's transaction id
			return w.Write(resp)
		},
	}, &wg)
	if err != nil {
		log.Fatal(err)
	}
	err = queries.Listen(listenCtx, map[cloudevents.QueryOp]cloudevents.QueryHandlerFunc{
		credentialGet: func(ctx context.Context, req cloudevents.Event, w cloudevents.ReplyWriter) {
			var id string
			if err := req.DataAs(&id); err != nil {
				return // the requester gets ErrNoReply
			}
			mu.Lock()
			c, ok := store[id]
			mu.Unlock()
			if !ok {
				return
			}
			reply, err := cloudevents.CreateCloudEventWithAutoSource(c, cloudevents.QueryOp("org.example.Credential"))
			if err == nil {
				_ = w.Write(reply)
			}
		},
	}, &wg)
	if err != nil {
		log.Fatal(err)
	}

	// The client.
	clientCfg := cloudevents.Config{Address: *addr, ClientID: "credential-client"}
	caller, err := clientCfg.ConnectEvents(ctx)
	if err != nil {
		log.Fatal(err)
	}
	asker, err := clientCfg.ConnectQuery(ctx)
	if err != nil {
		log.Fatal(err)
	}
	req, err := cloudevents.CreateCloudEventWithAutoSource(credential{User: "ann"}, creationRequested)
	if err != nil {
		log.Fatal(err)
	}
	promise, err := caller.Request(req, []cloudevents.EventType{created})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := promise.Response(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("response:", resp.Type(), cloudevents.GetTransactionID(&resp))

	get, _ := cloudevents.CreateCloudEventWithAutoSource("cred-ann", credentialGet)
	reply, err := asker.Request(ctx, get)
	if err != nil {
		log.Fatal(err)
	}
	var c credential
	_ = reply.DataAs(&c)
	fmt.Printf("query reply: %s %+v\n", reply.Type(), c)

	// Graceful termination: stop the listeners, let handlers finish, close.
	stopListening()
	wg.Wait()
	for _, drain := range []func(context.Context) error{caller.Drain, asker.Drain, events.Drain, queries.Drain} {
		if err := drain(ctx); err != nil {
			log.Print(err)
		}
	}
}
