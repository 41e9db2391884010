package client_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client"
)

// TestRESTAcrossTransports sends every kind of message over one transport
// to a receiver on the other, both ways, and checks that nothing is lost
// on the way — in particular what kubemq-go v1.9.0's REST transport loses:
// ids, the events store of streamed events, Executed and Error of
// responses, the responder's id, the QueuesInfo filter.
func TestRESTAcrossTransports(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	clients := map[string]*client.Client{
		"grpc": grpcTransport.newClient(t, srv, client.WithClientId("g-client")),
		"rest": restTransport.newClient(t, srv, client.WithClientId("r-client")),
	}
	ids := map[string]string{"grpc": "g-client", "rest": "r-client"}
	for _, dir := range [][2]string{{"rest", "grpc"}, {"grpc", "rest"}} {
		from, to, toID := clients[dir[0]], clients[dir[1]], ids[dir[1]]
		t.Run(dir[0]+"-to-"+dir[1], func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)

			// Events.
			ch := uniq("x.events")
			events, err := to.SubscribeToEvents(ctx, ch, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			waitSubscribed(t, events, func() error { return from.E().SetChannel(ch).SetMetadata("probe").Send(ctx) })
			if err := from.E().SetId("ev-x").SetChannel(ch).SetMetadata("m").SetBody([]byte("b")).AddTag("k", "v").Send(ctx); err != nil {
				t.Fatal(err)
			}
			ev := recv(t, events, 5*time.Second)
			for ev.Metadata == "probe" {
				ev = recv(t, events, 5*time.Second)
			}
			if ev.Id != "ev-x" || ev.Metadata != "m" || string(ev.Body) != "b" || ev.Tags["k"] != "v" {
				t.Fatalf("event %v", ev)
			}

			// Events store through a stream: stored (not published as plain
			// events), with their ids.
			sch := uniq("x.store")
			plain, err := to.SubscribeToEvents(ctx, sch, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			waitSubscribed(t, plain, func() error { return from.E().SetChannel(sch).SetMetadata("probe").Send(ctx) })
			in, results := make(chan *client.EventStore), make(chan *client.EventStoreResult, 10)
			done := make(chan struct{})
			go func() {
				defer close(done)
				from.StreamEventsStore(ctx, in, results, nil)
			}()
			in <- from.ES().SetId("s-1").SetChannel(sch).SetBody([]byte("1")).AddTag("t", "1")
			in <- from.ES().SetChannel(sch).SetBody([]byte("2"))
			close(in)
			<-done
			r1, r2 := recv(t, results, time.Second), recv(t, results, time.Second)
			if r1.Id != "s-1" || !r1.Sent || r2.Id == "" || !r2.Sent {
				t.Fatalf("stream results %v %v", r1, r2)
			}
			stored, err := to.SubscribeToEventsStore(ctx, sch, "", nil, client.StartFromFirstEvent())
			if err != nil {
				t.Fatal(err)
			}
			s1, s2 := recv(t, stored, 5*time.Second), recv(t, stored, 5*time.Second)
			if s1.Id != "s-1" || s1.Sequence != 1 || s1.Tags["t"] != "1" || time.Since(s1.Timestamp) > time.Minute ||
				s2.Id != r2.Id || s2.Sequence != 2 || string(s2.Body) != "2" {
				t.Fatalf("stored %v / %v", s1, s2)
			}
			for timeout := time.After(200 * time.Millisecond); ; {
				select {
				case ev := <-plain:
					if ev.Metadata != "probe" {
						t.Fatalf("a stored event reached an events subscriber: %v", ev)
					}
					continue
				case <-timeout:
				}
				break
			}

			// Commands: Executed, Error, ids and time come back.
			cch := uniq("x.cmd")
			cmds, err := to.SubscribeToCommands(ctx, cch, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			respondCommands(ctx, to, cmds, func(cmd *client.CommandReceive) error {
				if string(cmd.Body) == "fail" {
					return errors.New("boom")
				}
				return nil
			})
			var cr *client.CommandResponse
			eventually(t, 5*time.Second, func() error {
				cr, err = from.C().SetId("c-x").SetChannel(cch).SetBody([]byte("ok")).SetTimeout(time.Second).Send(ctx)
				return err
			})
			if cr.CommandId != "c-x" || !cr.Executed || cr.Error != "" || cr.ResponseClientId != toID ||
				time.Since(cr.ExecutedAt) > time.Minute || cr.Tags["responder"] != "yes" {
				t.Fatalf("command response %v", cr)
			}
			cr, err = from.C().SetChannel(cch).SetBody([]byte("fail")).SetTimeout(time.Second).Send(ctx)
			if err != nil || cr.Executed || cr.Error != "boom" {
				t.Fatalf("failed command: %v %v", err, cr)
			}

			// Queries, and the cache.
			qch := uniq("x.query")
			queries, err := to.SubscribeToQueries(ctx, qch, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for q := range queries {
					_ = to.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetMetadata("answer").
						SetBody(append([]byte("re: "), q.Body...)).SetExecutedAt(time.Now()).Send(ctx)
				}
			}()
			var qr *client.QueryResponse
			eventually(t, 5*time.Second, func() error {
				qr, err = from.Q().SetId("q-x").SetChannel(qch).SetBody([]byte("hi")).SetTimeout(time.Second).Send(ctx)
				return err
			})
			if qr.QueryId != "q-x" || !qr.Executed || qr.Metadata != "answer" || string(qr.Body) != "re: hi" || qr.ResponseClientId != toID {
				t.Fatalf("query response %v", qr)
			}
			key := uniq("key")
			for _, hit := range []bool{false, true} {
				qr, err := from.Q().SetChannel(qch).SetBody([]byte("c")).SetCacheKey(key).SetTimeout(time.Second).Send(ctx)
				if err != nil || qr.CacheHit != hit || string(qr.Body) != "re: c" {
					t.Fatalf("cached query: %v %v", err, qr)
				}
			}

			// Queues: sent on one side, received (plain and in a stream
			// transaction) on the other.
			qu := uniq("x.queue")
			res, err := from.QM().SetId("qm-x").SetChannel(qu).SetMetadata("m").SetBody([]byte("1")).AddTag("k", "v").
				SetPolicyMaxReceiveCount(5).Send(ctx)
			if err != nil || res.IsError || res.MessageID != "qm-x" {
				t.Fatalf("queue send: %v %v", err, res)
			}
			sendQueue(t, from, qu, 1)
			got, err := to.RQM().SetChannel(qu).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).Send(ctx)
			if err != nil || len(got.Messages) != 1 {
				t.Fatalf("receive: %v %+v", err, got)
			}
			m := got.Messages[0]
			if m.MessageID != "qm-x" || m.ClientID != ids[dir[0]] || m.Metadata != "m" || m.Tags["k"] != "v" ||
				m.Policy.MaxReceiveCount != 5 || m.Attributes.Sequence != 1 {
				t.Fatalf("message %v", m)
			}
			sm, err := to.SQM().SetChannel(qu).Next(ctx, 10, 1)
			if err != nil || string(sm.Body) != "1" || sm.Attributes.Sequence != 2 {
				t.Fatalf("stream next: %v %v", err, sm)
			}
			if err := sm.Ack(); err != nil {
				t.Fatal(err)
			}

			// QueuesInfo sends its filter.
			info, err := from.QueuesInfo(ctx, qu)
			if err != nil || info.TotalQueues != 1 || len(info.Queues) != 1 || info.Queues[0].Name != qu || info.Queues[0].Sent != 2 {
				t.Fatalf("info %v %+v", err, info)
			}
		})
	}
}

// TestRESTSubscribeEscapesParameters: channel, group and client id go in
// the subscription URL escaped, so names with URL syntax in them work.
func TestRESTSubscribeEscapesParameters(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	g := newClient(t, srv)
	r := restTransport.newClient(t, srv, client.WithClientId("me&you=1#2"))
	ctx := testCtx(t, 10*time.Second)
	ch := uniq("esc") + ".a&b=c#d+e%25f?g"
	events, err := r.SubscribeToEvents(ctx, ch, "g&h=i#j+k", nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := waitSubscribed(t, events, func() error { return g.E().SetChannel(ch).SetMetadata("x").Send(ctx) })
	if ev.Channel != ch {
		t.Fatalf("channel %q", ev.Channel)
	}
	stored, err := r.SubscribeToEventsStore(ctx, ch, "", nil, client.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := g.ES().SetChannel(ch).SetBody([]byte("x")).Send(ctx); err != nil || !res.Sent {
		t.Fatal(err, res)
	}
	if ev := recv(t, stored, 5*time.Second); ev.Channel != ch || ev.Sequence != 1 {
		t.Fatalf("stored %v", ev)
	}
	cmds, err := r.SubscribeToCommands(ctx, ch, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	respondCommands(ctx, r, cmds, func(*client.CommandReceive) error { return nil })
	eventually(t, 5*time.Second, func() error {
		_, err := g.C().SetChannel(ch).SetBody([]byte("x")).SetTimeout(time.Second).Send(ctx)
		return err
	})
}

// TestErrorsMatchAcrossTransports: the same failure gives the same error
// over both transports: the server's text, the status code and the
// conditions errors.Is tells.
func TestErrorsMatchAcrossTransports(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testCtx(t, 20*time.Second)
	sealed := uniq("sealed")
	g := newClient(t, srv)
	if r, err := g.ES().SetChannel(sealed).SetMetadata("end").AddTag("herald.seal", "true").Send(ctx); err != nil || !r.Sent {
		t.Fatalf("seal: %v %v", err, r)
	}
	cases := map[string]func(t *testing.T, c *client.Client) error{
		"validation": func(t *testing.T, c *client.Client) error {
			return c.E().SetChannel("bad channel").SetBody([]byte("x")).Send(ctx)
		},
		"timeout": func(t *testing.T, c *client.Client) error {
			_, err := c.C().SetChannel(uniq("nobody")).SetBody([]byte("x")).SetTimeout(100 * time.Millisecond).Send(ctx)
			return err
		},
		"query timeout": func(t *testing.T, c *client.Client) error {
			_, err := c.Q().SetChannel(uniq("nobody")).SetBody([]byte("x")).SetTimeout(100 * time.Millisecond).Send(ctx)
			return err
		},
		"empty batch": func(t *testing.T, c *client.Client) error {
			_, err := c.SendQueueMessages(ctx, nil)
			return err
		},
		"response": func(t *testing.T, c *client.Client) error { return c.R().SetResponseTo("x").Send(ctx) },
		"sealed": func(t *testing.T, c *client.Client) error {
			res, err := c.ES().SetChannel(sealed).SetBody([]byte("late")).Send(ctx)
			if err != nil {
				return err
			}
			return res.Err
		},
		"queue in-band": func(t *testing.T, c *client.Client) error {
			res, err := c.QM().SetChannel("bad queue").SetBody([]byte("x")).Send(ctx)
			if err != nil {
				return err
			}
			return res.Err()
		},
		"subscription": func(t *testing.T, c *client.Client) error {
			errCh := make(chan error, 1)
			sub, err := c.SubscribeToEventsStore(ctx, uniq("wild")+".*", "", errCh, client.StartFromFirstEvent())
			if err != nil {
				return err
			}
			closed(t, sub, 5*time.Second)
			return <-errCh
		},
	}
	conditions := []error{client.ErrTimeout, client.ErrInvalidArgument, client.ErrChannelSealed, client.ErrUnauthorized,
		client.ErrNoResponder, client.ErrClientClosed, context.DeadlineExceeded}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var ge, re *client.Error
			gErr, rErr := call(t, newClient(t, srv)), call(t, restTransport.newClient(t, srv))
			if !errors.As(gErr, &ge) || !errors.As(rErr, &re) {
				t.Fatalf("not *Error: grpc %v, rest %v", gErr, rErr)
			}
			if ge.Message != re.Message || ge.Code != re.Code || status.Code(gErr) != status.Code(rErr) {
				t.Fatalf("grpc %q (%v), rest %q (%v)", ge.Message, ge.Code, re.Message, re.Code)
			}
			kinds := 0
			for _, cond := range conditions {
				if errors.Is(gErr, cond) != errors.Is(rErr, cond) {
					t.Fatalf("%v: grpc %v, rest %v (%v / %v)", cond, errors.Is(gErr, cond), errors.Is(rErr, cond), gErr, rErr)
				}
				if errors.Is(gErr, cond) {
					kinds++
				}
			}
			if kinds == 0 && name != "empty batch" && name != "response" {
				t.Fatalf("%v: no condition", gErr)
			}
		})
	}
}

// TestRESTRefusesWhatItCannotDo: the queue stream API has no REST route.
func TestRESTRefusesWhatItCannotDo(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	r := restTransport.newClient(t, srv)
	if raw, err := r.GetGRPCRawClient(); raw != nil || !errors.Is(err, client.ErrNotSupportedOverREST) {
		t.Fatalf("GetGRPCRawClient: %v %v", raw, err)
	}
}

// fakeREST is a TLS REST server that records what the client sends and
// answers as the tests want.
type fakeREST struct {
	mu        sync.Mutex
	auth      []string // Authorization headers, HTTP and WebSocket
	queries   []string // raw queries of /subscribe/events
	queueName string
	subs      int
	quit      chan struct{}
}

func (f *fakeREST) record(r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
}

func writeEnvelope(w http.ResponseWriter, code int, data any, msg string) {
	env := map[string]any{"is_error": msg != "", "message": "OK", "data": data}
	if msg != "" {
		env["message"] = msg
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(env)
}

func (f *fakeREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.record(r)
	switch r.URL.Path {
	case "/ping":
		if r.Header.Get("Authorization") != "Bearer secret" {
			writeEnvelope(w, http.StatusUnauthorized, nil, "Error 421: authentication verification failed")
			return
		}
		writeEnvelope(w, http.StatusOK, &kubemqpb.PingResult{Host: "fake", Version: "2.4.0"}, "")
	case "/send/request":
		writeEnvelope(w, http.StatusBadRequest, nil, "Error 301: timeout for request message")
	case "/queue/receive":
		writeEnvelope(w, http.StatusServiceUnavailable, nil, "rest server is not ready to accept requests")
	case "/queue/send":
		_, _ = w.Write([]byte("hi"))
	case "/queue/info":
		var body kubemqpb.QueuesInfoRequest
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.queueName = r.URL.Query().Get("QueueName") + "|" + body.QueueName
		f.mu.Unlock()
		writeEnvelope(w, http.StatusOK, &kubemqpb.QueuesInfoResponse{Info: &kubemqpb.QueuesInfo{TotalQueue: 1,
			Queues: []*kubemqpb.QueueInfo{{Name: "q1", Messages: 3}}}}, "")
	case "/subscribe/events":
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		f.subs++
		n := f.subs
		f.mu.Unlock()
		if n == 3 { // refused before the upgrade
			writeEnvelope(w, http.StatusBadRequest, nil, "Error 107: invalid channel value, wildcards are not allowed")
			return
		}
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		frame, _ := json.Marshal(&kubemqpb.EventReceive{EventID: fmt.Sprint("ev-", n), Channel: "c", Body: []byte("x")})
		_ = conn.WriteMessage(websocket.TextMessage, frame)
		if n == 1 { // the subscription fails on the server
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"is_error":true,"message":"reason boom: Error 205: connection was closed by server","data":null}`))
			return
		}
		// n == 2: silent, and deaf to pings, until the test ends.
		select {
		case <-f.quit:
		case <-time.After(10 * time.Second):
		}
	default:
		http.NotFound(w, r)
	}
}

// TestRESTFakeServer checks against a fake server what Herald cannot show:
// TLS with a CA and a server name, the bearer token on requests and
// WebSocket dials, the escaped subscription query, error mapping of
// HTTP statuses, the end-of-subscription frame, dead-socket detection by
// keepalive pings, and a refusal at re-subscription.
func TestRESTFakeServer(t *testing.T) {
	t.Parallel()
	cert, certPEM := selfSigned(t)
	fake := &fakeREST{quit: make(chan struct{})}
	hs := httptest.NewUnstartedServer(fake)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the unknown CA fails
	hs.StartTLS()
	t.Cleanup(func() { close(fake.quit); hs.Close() })
	uri := hs.URL + "/" // a trailing slash is dropped
	ctx := testCtx(t, 20*time.Second)
	c, err := client.NewClient(ctx, client.WithTransportType(client.TransportTypeRest), client.WithUri(uri),
		client.WithCertificate(string(certPEM), "herald.test"), client.WithToken("secret"), client.WithCheckConnection(true),
		client.WithClientId("id&1"), client.WithKeepalive(200*time.Millisecond), client.WithReconnectInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ServerInfo.Host != "fake" || c.ServerInfo.Version != "2.4.0" {
		t.Fatalf("ServerInfo %+v", c.ServerInfo)
	}

	// Errors by HTTP status.
	var e *client.Error
	_, err = c.C().SetChannel("c").SetBody([]byte("x")).Send(ctx)
	if !errors.Is(err, client.ErrTimeout) || !errors.As(err, &e) || e.HTTPStatus != 400 || status.Code(err) != codes.Internal ||
		err.Error() != "Error 301: timeout for request message" {
		t.Fatalf("timeout: %v", err)
	}
	_, err = c.RQM().SetChannel("q").SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).Send(ctx)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("503: %v", err)
	}
	if _, err = c.QM().SetChannel("q").SetBody([]byte("x")).Send(ctx); err == nil || !strings.Contains(err.Error(), "not a KubeMQ envelope") {
		t.Fatalf("not JSON: %v", err)
	}
	if _, err := c.QueuesInfo(ctx, "q1;q 2"); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	queueName := fake.queueName
	fake.mu.Unlock()
	if queueName != "q1;q 2|q1;q 2" { // parameter and body
		t.Fatalf("QueueName %q", queueName)
	}
	if err := c.E().SetChannel("x").SetBody([]byte("x")).Send(ctx); status.Code(err) != codes.Unimplemented {
		t.Fatalf("404: %v", err)
	}

	// The subscription: an event, then the server's failure frame
	// (interrupted, re-subscribed), an event and a dead socket (detected
	// by keepalive; re-subscribed), then a refusal (the end).
	errCh := make(chan error, 10)
	events, err := c.SubscribeToEvents(ctx, "a&b=c#d+e", "g h", errCh)
	if err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, events, 5*time.Second); ev.Id != "ev-1" {
		t.Fatalf("event %v", ev)
	}
	if err := recv(t, errCh, 5*time.Second); !errors.Is(err, client.ErrSubscriptionInterrupted) || !strings.Contains(err.Error(), "Error 205") {
		t.Fatalf("first interruption: %v", err)
	}
	if ev := recv(t, events, 5*time.Second); ev.Id != "ev-2" {
		t.Fatalf("event %v", ev)
	}
	start := time.Now()
	if err := recv(t, errCh, 5*time.Second); !errors.Is(err, client.ErrSubscriptionInterrupted) || status.Code(err) != codes.Unavailable {
		t.Fatalf("dead socket: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("dead socket found after %v", time.Since(start))
	}
	if err := recv(t, errCh, 5*time.Second); !errors.Is(err, client.ErrInvalidArgument) || !errors.As(err, &e) || e.HTTPStatus != 400 {
		t.Fatalf("refusal: %v", err)
	}
	closed(t, events, 5*time.Second)

	fake.mu.Lock()
	queries, auth := fake.queries, fake.auth
	fake.mu.Unlock()
	for _, q := range queries {
		if q != "channel=a%26b%3Dc%23d%2Be&client_id=id%261&group=g+h&subscribe_type=events" {
			t.Fatalf("subscription query %q", q)
		}
	}
	for _, a := range auth {
		if a != "Bearer secret" {
			t.Fatalf("Authorization %q", a)
		}
	}
	if len(queries) != 3 || len(auth) < 9 {
		t.Fatalf("%d subscriptions, %d requests", len(queries), len(auth))
	}

	// Without the token: 401 is ErrUnauthorized.
	c2, err := client.NewClient(ctx, client.WithTransportType(client.TransportTypeRest), client.WithUri(hs.URL),
		client.WithCertificate(string(certPEM), "herald.test"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Ping(ctx); !errors.Is(err, client.ErrUnauthorized) || status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	// Without the CA the certificate is refused.
	c3, err := client.NewClient(ctx, client.WithTransportType(client.TransportTypeRest), client.WithUri(hs.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err := c3.Ping(ctx); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unknown CA: %v", err)
	}
}
