package cloudevents_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/cloudevents"
	"github.com/heraldmq/herald/server/heraldtest"
)

// exampleT lets an example start a heraldtest server; cleanup runs what
// the server registered.
type exampleT struct {
	testing.TB
	cleanups *[]func()
}

func (exampleT) Helper() {}

func (e exampleT) TempDir() string {
	d := mustTempDir()
	e.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func (e exampleT) Cleanup(fn func())               { *e.cleanups = append(*e.cleanups, fn) }
func (exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (e exampleT) cleanup() {
	for i := len(*e.cleanups) - 1; i >= 0; i-- {
		(*e.cleanups)[i]()
	}
}

func ExampleEventConn_Request() {
	et := exampleT{cleanups: new([]func())}
	defer et.cleanup()
	srv := heraldtest.NewServer(et)
	ctx := context.Background()
	cfg := cloudevents.Config{Address: srv.Host + ":" + strconv.Itoa(srv.Port), ClientID: "credential-service", DurableName: "credential-service"}

	service, err := cfg.ConnectEvents(ctx)
	if err != nil {
		panic(err)
	}
	listenCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	err = service.Listen(listenCtx, map[cloudevents.EventType]cloudevents.EventHandlerFunc{
		"org.example.CredentialCreationRequested": func(ctx context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
			resp, err := cloudevents.CreateCloudEventWithAutoSource(map[string]string{"id": "cred-1"}, cloudevents.EventType("org.example.CredentialCreated"))
			if err != nil {
				return err
			}
			cloudevents.SetTransactionID(&resp, "") // the writer gives it the request's
			return w.Write(resp)
		},
	}, &wg)
	if err != nil {
		panic(err)
	}

	callerCfg := cfg
	callerCfg.ClientID, callerCfg.DurableName = "caller", ""
	caller, err := callerCfg.ConnectEvents(ctx)
	if err != nil {
		panic(err)
	}
	req, _ := cloudevents.CreateCloudEventWithTransactionID(map[string]string{"user": "ann"},
		cloudevents.EventType("org.example.CredentialCreationRequested"), "caller", "tid-example")
	promise, err := caller.Request(req, []cloudevents.EventType{"org.example.CredentialCreated"})
	if err != nil {
		panic(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := promise.Response(rctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Type(), cloudevents.GetTransactionID(&resp))

	stop()
	wg.Wait()
	_ = caller.Drain(ctx)
	_ = service.Drain(ctx)
	// Output: org.example.CredentialCreated tid-example
}
