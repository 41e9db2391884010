package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"

	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// newRESTClient connects the official SDK over its REST transport.
func newRESTClient(t *testing.T, srv *heraldtest.Server, clientID string) *kubemq.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := kubemq.NewClient(ctx,
		kubemq.WithUri("http://"+srv.RESTAddr().String()),
		kubemq.WithClientId(clientID),
		kubemq.WithTransportType(kubemq.TransportTypeRest),
	)
	if err != nil {
		t.Fatalf("connect rest: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type envelope struct {
	IsError bool            `json:"is_error"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func restCall(t *testing.T, srv *heraldtest.Server, method, path, ctype, body string) (int, envelope, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+srv.RESTAddr().String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env envelope
	_ = json.Unmarshal(raw, &env)
	return resp.StatusCode, env, string(raw)
}

func TestRESTPingAndEnvelope(t *testing.T) {
	srv := heraldtest.NewServer(t)
	code, env, raw := restCall(t, srv, "GET", "/ping", "", "")
	if code != 200 || env.IsError || env.Message != "OK" || !strings.Contains(raw, "\n\t\"is_error\": false") {
		t.Fatalf("ping: %d %s", code, raw)
	}
	var ping struct{ Host, Version string }
	_ = json.Unmarshal(env.Data, &ping)
	if !strings.HasPrefix(ping.Version, "2.4.0+herald.") {
		t.Fatalf("ping data %s", env.Data)
	}
	c := newRESTClient(t, srv, "rest-ping")
	if _, err := c.Ping(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if code, _, raw := restCall(t, srv, "GET", "/nope", "", ""); code != 404 || raw != `{"error_code":404,"message":"Not Found"}` {
		t.Fatalf("404: %d %s", code, raw)
	}
	if code, _, raw := restCall(t, srv, "POST", "/ping", "", ""); code != 405 || !strings.Contains(raw, `"error_code":405`) {
		t.Fatalf("405: %d %s", code, raw)
	}
	if code, _, raw := restCall(t, srv, "GET", "/", "", ""); code != 200 || raw != "hi" {
		t.Fatalf("/: %d %s", code, raw)
	}
}

func TestRESTBadRequests(t *testing.T) {
	srv := heraldtest.NewServer(t)
	for _, tt := range []struct {
		name, path, ctype, body string
		code                    int
		msg                     string
	}{
		{"validation is 400", "/send/event", "application/json", `{"Channel":"x","Body":"aGk="}`, 400, "Error 101: invalid clientID value, cannot be empty"},
		{"form binds nothing", "/send/event", "application/x-www-form-urlencoded", `ClientID=a&Channel=b`, 400, "Error 101"},
		{"other type is 415", "/send/event", "text/plain", `{}`, 400, "code=415, message=Unsupported Media Type"},
		{"truncated json", "/send/event", "application/json", `{"ClientID":`, 400, "code=400, message=unexpected EOF"},
		{"wrong type", "/send/event", "application/json", `{"Channel":12}`, 400, "Unmarshal type error"},
		{"bad base64", "/send/event", "application/json", `{"ClientID":"a","Channel":"b","Body":"@@@"}`, 400, "illegal base64"},
		{"timeout 0", "/send/request", "application/json", `{"RequestTypeData":1,"ClientID":"a","Channel":"b","Body":"aGk="}`, 400, "Error 109"},
		{"queue errors are in-band", "/queue/send", "application/json", `{"ClientID":"a","Channel":"","Body":"aGk="}`, 200, "OK"},
		{"case-insensitive keys", "/send/event", "application/json", `{"clientid":"a","channel":"ci","body":"aGk="}`, 200, "OK"},
		{"unknown keys ignored", "/send/event", "application/json", `{"ClientId":"a","Channel":"uk","Body":"aGk=","Id":"x"}`, 200, "OK"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, env, raw := restCall(t, srv, "POST", tt.path, tt.ctype, tt.body)
			if code != tt.code || !strings.Contains(env.Message, tt.msg) {
				t.Fatalf("%d %s", code, raw)
			}
		})
	}
	// the server keeps serving
	if code, env, _ := restCall(t, srv, "POST", "/send/event", "application/json", `{"ClientID":"a","Channel":"ok","Body":"aGk="}`); code != 200 || env.IsError {
		t.Fatal("server broken after bad requests")
	}
}

func TestRESTEventsAcrossTransports(t *testing.T) {
	srv := heraldtest.NewServer(t)
	rc := newRESTClient(t, srv, "rest-ev")
	gc := newClient(t, srv, "grpc-ev")
	ctx := testCtx(t, 20*time.Second)
	ch := uniq("rest.ev")
	errCh := make(chan error, 4)
	restSub, err := rc.SubscribeToEvents(ctx, ch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	grpcSub, err := gc.SubscribeToEvents(ctx, ch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	// REST → both, gRPC → both, until each subscriber has seen both
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 4 {
		_ = rc.E().SetChannel(ch).SetBody([]byte("from-rest")).Send(ctx)
		_ = gc.E().SetChannel(ch).SetBody([]byte("from-grpc")).Send(ctx)
		for drained := false; !drained; {
			select {
			case e := <-restSub:
				seen["rest<-"+string(e.Body)] = true
			case e := <-grpcSub:
				seen["grpc<-"+string(e.Body)] = true
			case err := <-errCh:
				t.Fatal(err)
			case <-deadline:
				t.Fatalf("seen %v", seen)
			case <-time.After(50 * time.Millisecond):
				drained = true
			}
		}
	}
}

func TestRESTEventsStoreAndQueries(t *testing.T) {
	srv := heraldtest.NewServer(t)
	rc := newRESTClient(t, srv, "rest-es")
	ctx := testCtx(t, 20*time.Second)
	ch := uniq("rest.es")
	if r, err := rc.ES().SetChannel(ch).SetBody([]byte("s1")).Send(ctx); err != nil || !r.Sent {
		t.Fatal(err, r)
	}
	errCh := make(chan error, 4)
	sub, err := rc.SubscribeToEventsStore(ctx, ch, "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-sub:
		if string(e.Body) != "s1" {
			t.Fatalf("body %q", e.Body)
		}
	case err := <-errCh:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no stored event over REST")
	}
	// a query answered by a WebSocket responder, asked over gRPC
	qch := uniq("rest.q")
	qs, err := rc.SubscribeToQueries(ctx, qch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // kubemq-go never closes qs: stop with the test's ctx
		for {
			select {
			case q := <-qs:
				_ = rc.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).SetBody([]byte("pong")).Send(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	gc := newClient(t, srv, "grpc-q")
	var resp *kubemq.QueryResponse
	eventually(t, 10*time.Second, func() error {
		resp, err = gc.Q().SetChannel(qch).SetBody([]byte("ping")).SetTimeout(2 * time.Second).Send(ctx)
		return err
	})
	if string(resp.Body) != "pong" {
		t.Fatalf("query response %+v", resp)
	}
	// and a command over REST to a gRPC responder
	cch := uniq("rest.c")
	cs, err := gc.SubscribeToCommands(ctx, cch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // kubemq-go never closes cs: stop with the test's ctx
		for {
			select {
			case c := <-cs:
				_ = gc.R().SetRequestId(c.Id).SetResponseTo(c.ResponseTo).SetExecutedAt(time.Now()).Send(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	var cr *kubemq.CommandResponse
	eventually(t, 10*time.Second, func() error {
		cr, err = rc.C().SetChannel(cch).SetBody([]byte("do")).SetTimeout(2 * time.Second).Send(ctx)
		return err
	})
	if !cr.Executed {
		t.Fatalf("command response %+v", cr)
	}
}

func TestRESTQueues(t *testing.T) {
	srv := heraldtest.NewServer(t)
	rc := newRESTClient(t, srv, "rest-q")
	gc := newClient(t, srv, "grpc-q")
	ctx := testCtx(t, 30*time.Second)
	ch := uniq("rest.queue")
	for i := 0; i < 3; i++ {
		if r, err := rc.QM().SetChannel(ch).SetBody([]byte(fmt.Sprint(i))).Send(ctx); err != nil || r.IsError {
			t.Fatal(err, r)
		}
	}
	if _, err := rc.QMB().Add(rc.QM().SetChannel(ch).SetBody([]byte("3"))).Add(rc.QM().SetChannel(ch).SetBody([]byte("4"))).Send(ctx); err != nil {
		t.Fatal(err)
	}
	peek, err := rc.RQM().SetChannel(ch).SetMaxNumberOfMessages(5).SetWaitTimeSeconds(1).SetIsPeak(true).Send(ctx)
	if err != nil || len(peek.Messages) != 5 {
		t.Fatalf("peek: %v %+v", err, peek)
	}
	got, err := gc.RQM().SetChannel(ch).SetMaxNumberOfMessages(2).SetWaitTimeSeconds(1).Send(ctx) // sent over REST, received over gRPC
	if err != nil || len(got.Messages) != 2 || string(got.Messages[0].Body) != "0" {
		t.Fatalf("grpc receive: %v %+v", err, got)
	}
	got, err = rc.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || len(got.Messages) != 1 || string(got.Messages[0].Body) != "2" {
		t.Fatalf("rest receive: %v %+v", err, got)
	}
	m, err := rc.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 10, 2)
	if err != nil || string(m.Body) != "3" {
		t.Fatalf("rest stream: %v %+v", err, m)
	}
	if err := m.Ack(); err != nil {
		t.Fatal(err)
	}
	aa, err := rc.AQM().SetChannel(ch).SetWaitTimeSeconds(1).Send(ctx)
	if err != nil || aa.AffectedMessages != 1 {
		t.Fatalf("ack all: %v %+v", err, aa)
	}
	info, err := rc.QueuesInfo(ctx, "")
	if err != nil || info.TotalQueues < 1 {
		t.Fatalf("info: %v %+v", err, info)
	}
	// a validation error is in-band with 200
	code, env, raw := restCall(t, srv, "POST", "/queue/receive", "application/json", `{"ClientID":"a","Channel":"q","MaxNumberOfMessages":0}`)
	if code != 200 || !strings.Contains(string(env.Data), "Error 122: max messages should be between 1 and max message setting in kubemq config  ") {
		t.Fatalf("in-band 122: %d %s", code, raw)
	}
}

func TestRESTSubscribeHandshakeErrors(t *testing.T) {
	srv := heraldtest.NewServer(t)
	for _, tt := range []struct{ query, msg string }{
		{"?&client_id=a&channel=x&subscribe_type=nope", "Error 207"},
		{"?&client_id=&channel=x&subscribe_type=events", "Error 101"},
		{"?&client_id=a&channel=x&subscribe_type=events&events_store_type_data=1", "Error 118"},
		{"?&client_id=a&channel=a.*&subscribe_type=events_store&events_store_type_data=2", "Error 107"},
		{"?&client_id=a&channel=x&subscribe_type=events_store", "Error 111"},
	} {
		code, env, raw := restCall(t, srv, "GET", "/subscribe/events"+tt.query, "", "")
		if code != 400 || !strings.Contains(env.Message, tt.msg) {
			t.Errorf("%s: %d %s", tt.query, code, raw)
		}
	}
	code, env, raw := restCall(t, srv, "GET", "/subscribe/requests?&client_id=a&channel=x&subscribe_type=events", "", "")
	if code != 400 || !strings.Contains(env.Message, "Error 207") {
		t.Errorf("requests with events type: %d %s", code, raw)
	}
}

func TestRESTBodyLimit(t *testing.T) {
	srv := heraldtest.NewServer(t, server.Options{RESTBodyLimit: 1024})
	code, _, raw := restCall(t, srv, "POST", "/send/event", "application/json", `{"ClientID":"a","Channel":"b","Body":"`+strings.Repeat("QUFB", 400)+`"}`)
	if code != 413 || raw != `{"error_code":413,"message":"Request Entity Too Large"}` {
		t.Fatalf("over the limit: %d %s", code, raw)
	}
	if code, env, _ := restCall(t, srv, "POST", "/send/event", "application/json", `{"ClientID":"a","Channel":"b","Body":"aGk="}`); code != 200 || env.IsError {
		t.Fatalf("under the limit: %d %+v", code, env)
	}
}

// TestRESTOfficialStreamEvents: kubemq-go's REST StreamEvents publishes over
// /send/stream (it sends its own struct, whose unknown keys are ignored).
func TestRESTOfficialStreamEvents(t *testing.T) {
	srv := heraldtest.NewServer(t)
	rc := newRESTClient(t, srv, "rest-stream")
	gc := newClient(t, srv, "grpc-stream")
	ctx := testCtx(t, 20*time.Second)
	ch := uniq("rest.stream")
	errCh := make(chan error, 4)
	sub, err := gc.SubscribeToEvents(ctx, ch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan *kubemq.Event, 16)
	go rc.StreamEvents(ctx, in, errCh)
	deadline := time.After(10 * time.Second)
	for {
		in <- rc.E().SetChannel(ch).SetBody([]byte("streamed"))
		select {
		case e := <-sub:
			if string(e.Body) != "streamed" {
				t.Fatalf("body %q", e.Body)
			}
			return
		case err := <-errCh:
			t.Fatal(err)
		case <-deadline:
			t.Fatal("nothing arrived from the REST stream")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
