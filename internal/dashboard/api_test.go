package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/dashboard"

	"github.com/heraldmq/herald/client"
)

// call sends a JSON request to the dashboard and decodes the answer into
// out (when not nil); it returns the status.
func (e *env) call(method, path string, in, out any, hdr ...string) int {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.web.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	if res.StatusCode >= 300 {
		e.t.Logf("%s %s: %d %s", method, path, res.StatusCode, bytes.TrimSpace(data))
	}
	return res.StatusCode
}

func (e *env) must(method, path string, in, out any) {
	e.t.Helper()
	if st := e.call(method, path, in, out); st != http.StatusOK {
		e.t.Fatalf("%s %s: status %d", method, path, st)
	}
}

type sseEvent struct{ name, id, data string }

// events opens an event stream and returns its events; it ends with the
// test or when stop is called.
func (e *env) events(path string, hdr ...string) (events <-chan sseEvent, stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.web.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		data, _ := io.ReadAll(res.Body)
		e.t.Fatalf("GET %s: %d %s %s", path, res.StatusCode, res.Header.Get("Content-Type"), data)
	}
	ch := make(chan sseEvent, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					select {
					case ch <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	stop = func() {
		cancel()
		res.Body.Close()
		<-done
	}
	e.t.Cleanup(stop)
	return ch, stop
}

// next returns the next event named name, skipping others.
func next[T any](t *testing.T, events <-chan sseEvent, name string) (T, sseEvent) {
	t.Helper()
	var v T
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended before a %q event", name)
			}
			if ev.name != name {
				continue
			}
			if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
				t.Fatalf("%s event %s: %v", name, ev.data, err)
			}
			return v, ev
		case <-timeout:
			t.Fatalf("no %q event within 15 s", name)
		}
	}
}

func TestAPIServesTheUI(t *testing.T) {
	h := dashboard.New(dashboard.Config{Backend: &dashboard.Broker{}})
	get := func(path string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	root := get("/")
	if root.Code != http.StatusOK || !strings.HasPrefix(root.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(root.Body.String(), `<script type="module" src="js/app.js">`) {
		t.Fatalf("GET /: %d %s\n%s", root.Code, root.Header().Get("Content-Type"), root.Body)
	}
	if csp := root.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	js := get("/js/pages/queue.js")
	if js.Code != http.StatusOK || js.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("queue.js: %d %q", js.Code, js.Header().Get("Content-Type"))
	}
	if again := get("/js/pages/queue.js", "If-None-Match", js.Header().Get("ETag")); again.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", again.Code)
	}
	if rec := get("/nothing.js"); rec.Code != http.StatusNotFound {
		t.Errorf("missing file: %d", rec.Code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", rec.Code)
	}
	if rec := get("/api/nothing"); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("unknown API: %d %s", rec.Code, rec.Body)
	}
}

func TestAPIChannelsCreateListSearchDelete(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"orders", "order-audit", "payments"} {
		e.must("POST", "/api/channels/queues", map[string]string{"name": name}, nil)
	}
	e.must("POST", "/api/channels/events_store", map[string]string{"name": "audit"}, nil)
	var list []dashboard.Channel
	e.must("GET", "/api/channels/queues?search=order", nil, &list)
	if len(list) != 2 || list[0].Name != "order-audit" || list[1].Name != "orders" || list[0].Type != dashboard.Queues {
		t.Fatalf("search order: %+v", list)
	}
	e.must("DELETE", "/api/channels/queues/orders", nil, nil)
	e.must("GET", "/api/channels/queues", nil, &list)
	if len(list) != 2 || list[0].Name != "order-audit" || list[1].Name != "payments" {
		t.Fatalf("after delete: %+v", list)
	}
	e.must("GET", "/api/channels/events_store", nil, &list)
	if len(list) != 1 || list[0].Name != "audit" {
		t.Fatalf("events store: %+v", list)
	}

	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/api/channels/topics", nil, http.StatusBadRequest},
		{"POST", "/api/channels/queues", map[string]string{"name": " "}, http.StatusBadRequest},
		{"POST", "/api/channels/queues", map[string]any{"name": "x", "extra": 1}, http.StatusBadRequest},
		{"POST", "/api/channels/queues", map[string]string{"name": "bad name*"}, http.StatusBadRequest},
	} {
		if got := e.call(c.method, c.path, c.body, nil); got != c.want {
			t.Errorf("%s %s %v: %d, want %d", c.method, c.path, c.body, got, c.want)
		}
	}
	// A form post (what another web site can send) is refused.
	res, err := http.Post(e.web.URL+"/api/channels/queues", "text/plain", strings.NewReader(`{"name":"csrf"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain post: %d, want 415", res.StatusCode)
	}
}

func TestAPIQueueSendPeekPullPurge(t *testing.T) {
	e := newEnv(t)
	sent := dashboard.QueueMessage{
		Channel: "jobs", ID: "job-1", Metadata: "meta", Body: []byte{0, 1, 2, 'x'}, Tags: map[string]string{"k": "v"},
		Policy: dashboard.QueuePolicy{ExpirationSeconds: 600, MaxReceiveCount: 3, DeadLetterQueue: "jobs.dead"},
	}
	var res dashboard.QueueSendResult
	e.must("POST", "/api/queue/send", sent, &res)
	if res.MessageID != "job-1" || res.SentAt.IsZero() || res.ExpiresAt.Sub(res.SentAt) < 590*time.Second {
		t.Fatalf("send result: %+v", res)
	}
	var info dashboard.QueueInfo
	e.must("GET", "/api/queue?channel=jobs", nil, &info)
	if info.Waiting != 1 || info.LastSequence != 1 {
		t.Fatalf("info: %+v", info)
	}
	var msgs []dashboard.QueueMessage
	e.must("POST", "/api/queue/peek", map[string]any{"channel": "jobs", "max": 5}, &msgs)
	if len(msgs) != 1 {
		t.Fatalf("peek: %+v", msgs)
	}
	m := msgs[0]
	if m.ID != "job-1" || m.Metadata != "meta" || !bytes.Equal(m.Body, sent.Body) || m.Tags["k"] != "v" ||
		m.Policy != sent.Policy || m.Sequence != 1 || m.Timestamp.IsZero() || m.ExpiresAt.IsZero() {
		t.Fatalf("peeked %+v", m)
	}
	e.must("GET", "/api/queue?channel=jobs", nil, &info)
	if info.Waiting != 1 {
		t.Fatalf("a peek took the message: %+v", info)
	}
	e.must("POST", "/api/queue/pull", map[string]any{"channel": "jobs"}, &msgs)
	if len(msgs) != 1 || msgs[0].ID != "job-1" {
		t.Fatalf("pull: %+v", msgs)
	}
	e.must("GET", "/api/queue?channel=jobs", nil, &info)
	if info.Waiting != 0 {
		t.Fatalf("after pull: %+v", info)
	}
	for i := range 3 {
		e.must("POST", "/api/queue/send", dashboard.QueueMessage{Channel: "jobs", Body: []byte(fmt.Sprint(i))}, nil)
	}
	var purged struct{ Removed int64 }
	e.must("POST", "/api/queue/purge", map[string]any{"channel": "jobs"}, &purged)
	if purged.Removed != 3 {
		t.Fatalf("purge removed %d, want 3", purged.Removed)
	}
	if got := e.call("GET", "/api/queue?channel=nowhere", nil, nil); got != http.StatusNotFound {
		t.Errorf("info of a missing queue: %d", got)
	}
	if got := e.call("POST", "/api/queue/peek", map[string]any{"channel": "jobs", "max": 5000}, nil); got != http.StatusBadRequest {
		t.Errorf("peek 5000: %d", got)
	}
	if got := e.call("POST", "/api/queue/send", dashboard.QueueMessage{Channel: "jobs", Policy: dashboard.QueuePolicy{DelaySeconds: -1}}, nil); got != http.StatusBadRequest {
		t.Errorf("negative delay: %d", got)
	}
}

// deadLetter sends a message with max receive count 1 to queue and rejects
// it once, which moves it to dlq.
func (e *env) deadLetter(queue, dlq, body string) {
	e.t.Helper()
	_, err := e.sdk.QM().SetChannel(queue).SetBody([]byte(body)).SetMetadata("m").
		SetPolicyMaxReceiveCount(1).SetPolicyMaxReceiveQueue(dlq).Send(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	sqm := e.sdk.SQM().SetChannel(queue)
	m, err := sqm.Next(e.ctx, 30, 2)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := m.Reject(); err != nil {
		e.t.Fatal(err)
	}
	sqm.Close()
}

func TestAPIRequeueDeadLetters(t *testing.T) {
	e := newEnv(t)
	e.deadLetter("payments", "dead", "p1")
	e.deadLetter("refunds", "dead", "r1")
	e.deadLetter("payments", "dead", "p2")
	eventually(t, 10*time.Second, func() error {
		info, err := e.broker.QueueInfo(e.ctx, "dead")
		if err != nil {
			return err
		}
		if info.Waiting != 3 {
			return fmt.Errorf("dead has %d waiting", info.Waiting)
		}
		return nil
	})
	var msgs []dashboard.QueueMessage
	e.must("POST", "/api/queue/peek", map[string]any{"channel": "dead"}, &msgs)
	if len(msgs) != 3 || msgs[0].ReRoutedFrom != "payments" || msgs[1].ReRoutedFrom != "refunds" {
		t.Fatalf("dead letters: %+v", msgs)
	}
	var res dashboard.RequeueResult
	e.must("POST", "/api/queue/requeue", map[string]any{"channel": "dead", "max": 2}, &res)
	if res.Moved != 2 || res.To["payments"] != 1 || res.To["refunds"] != 1 || res.Stopped != "" {
		t.Fatalf("requeue 2: %+v", res)
	}
	e.must("POST", "/api/queue/peek", map[string]any{"channel": "payments"}, &msgs)
	if len(msgs) != 1 || string(msgs[0].Body) != "p1" || msgs[0].Metadata != "m" {
		t.Fatalf("payments after requeue: %+v", msgs)
	}
	// A message sent to the dead-letter queue directly has no origin: the
	// move stops there and it stays.
	if _, err := e.sdk.QM().SetChannel("dead").SetBody([]byte("stray")).Send(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.must("POST", "/api/queue/requeue", map[string]any{"channel": "dead", "max": 10}, &res)
	if res.Moved != 1 || res.To["payments"] != 1 || !strings.Contains(res.Stopped, "no origin queue") {
		t.Fatalf("requeue with a stray: %+v", res)
	}
	e.must("POST", "/api/queue/peek", map[string]any{"channel": "dead"}, &msgs)
	if len(msgs) != 1 || string(msgs[0].Body) != "stray" {
		t.Fatalf("dead after requeue: %+v", msgs)
	}
	e.must("POST", "/api/queue/requeue", map[string]any{"channel": "no-such-queue"}, &res)
	if res.Moved != 0 {
		t.Fatalf("requeue from a missing queue: %+v", res)
	}
}

func TestAPIEventsStoreReplay(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 3; i++ {
		var r dashboard.EventResult
		e.must("POST", "/api/events/send", dashboard.Event{Channel: "audit", Store: true, Body: fmt.Appendf(nil, "e%d", i), Tags: map[string]string{"n": fmt.Sprint(i)}}, &r)
		if r.ID == "" {
			t.Fatal("no event id")
		}
	}
	replay := func(query string, hdr ...string) []dashboard.Event {
		t.Helper()
		events, stop := e.events("/api/stream/events?channel=audit&store=true&"+query, hdr...)
		defer stop()
		var got []dashboard.Event
		for len(got) < 3 {
			ev, raw := next[dashboard.Event](t, events, "event")
			if raw.id != fmt.Sprint(ev.Sequence) {
				t.Errorf("event id %q for sequence %d", raw.id, ev.Sequence)
			}
			got = append(got, ev)
			if ev.Sequence == 3 {
				break
			}
		}
		return got
	}
	got := replay("start=first")
	if len(got) != 3 || string(got[0].Body) != "e1" || got[2].Sequence != 3 || got[1].Tags["n"] != "2" || got[0].Timestamp.IsZero() {
		t.Fatalf("from first: %+v", got)
	}
	if got := replay("start=sequence&sequence=2"); len(got) != 2 || got[0].Sequence != 2 {
		t.Fatalf("from sequence 2: %+v", got)
	}
	if got := replay("start=last"); len(got) != 1 || got[0].Sequence != 3 {
		t.Fatalf("from last: %+v", got)
	}
	if got := replay("start=time&time=" + time.Now().Add(-time.Hour).Format(time.RFC3339)); len(got) != 3 {
		t.Fatalf("since an hour ago: %+v", got)
	}
	// A browser that reconnects resumes after the last event it saw.
	if got := replay("start=first", "Last-Event-ID", "2"); len(got) != 1 || got[0].Sequence != 3 {
		t.Fatalf("resumed after 2: %+v", got)
	}

	// Live: events sent after the tail started.
	events, _ := e.events("/api/stream/events?channel=prices&start=new")
	next[map[string]any](t, events, "open")
	eventually(t, 10*time.Second, func() error {
		e.must("POST", "/api/events/send", dashboard.Event{Channel: "prices", Body: []byte("1.08")}, nil)
		select {
		case ev := <-events:
			if ev.name == "event" && strings.Contains(ev.data, `"channel":"prices"`) {
				return nil
			}
			return fmt.Errorf("got %s %s", ev.name, ev.data)
		case <-time.After(200 * time.Millisecond):
			return errors.New("no event yet")
		}
	})

	for _, q := range []string{"start=first", "store=true&start=sequence&sequence=0", "store=true&start=time&time=yesterday", "store=true&start=soon"} {
		if got := e.call("GET", "/api/stream/events?channel=x&"+q, nil, nil); got != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, got)
		}
	}
}

func TestAPIRequests(t *testing.T) {
	e := newEnv(t)
	e.respondQueries("stock", func(q *client.QueryReceive) []byte { return append([]byte("answer to "), q.Body...) })
	monitor, _ := e.events("/api/stream/requests?type=queries&channel=stock")
	next[map[string]any](t, monitor, "open")
	time.Sleep(200 * time.Millisecond) // the monitor's subscription reaches the broker
	var res struct {
		dashboard.Response
		ElapsedMS int64 `json:"elapsedMs"`
	}
	e.must("POST", "/api/requests/send", map[string]any{
		"type": "queries", "channel": "stock", "body": []byte("sku-1"), "metadata": "m", "timeoutSeconds": 5,
	}, &res)
	if !res.Executed || string(res.Body) != "answer to sku-1" || res.Metadata != "stock" || res.ResponderID != "dashboard-test" {
		t.Fatalf("query response: %+v", res)
	}
	// The monitor saw it and did not answer it (the responder did).
	for {
		r, _ := next[dashboard.Request](t, monitor, "request")
		if string(r.Body) == "sku-1" {
			if r.Type != dashboard.Queries || r.Channel != "stock" || r.Metadata != "m" || r.ReceivedAt.IsZero() {
				t.Errorf("monitored %+v", r)
			}
			break
		}
	}

	start := time.Now()
	if got := e.call("POST", "/api/requests/send", map[string]any{
		"type": "commands", "channel": "nobody", "body": []byte("x"), "timeoutSeconds": 0.3,
	}, nil); got != http.StatusGatewayTimeout {
		t.Errorf("unanswered command: %d, want 504", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("unanswered command took %v", d)
	}
	for _, in := range []map[string]any{
		{"type": "events", "channel": "x", "body": []byte("x"), "timeoutSeconds": 1},
		{"type": "commands", "channel": "x", "body": []byte("x"), "timeoutSeconds": 0},
		{"type": "commands", "channel": "", "body": []byte("x"), "timeoutSeconds": 1},
	} {
		if got := e.call("POST", "/api/requests/send", in, nil); got != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", in, got)
		}
	}
}

func TestAPIQueueMonitor(t *testing.T) {
	e := newEnv(t)
	e.must("POST", "/api/queue/send", dashboard.QueueMessage{Channel: "inbox", Body: []byte("old")}, nil)
	events, _ := e.events("/api/stream/queue-monitor?channel=inbox")
	w, _ := next[map[string]int64](t, events, "watching")
	if w["lastSequence"] != 1 {
		t.Fatalf("watching from %v", w)
	}
	e.must("POST", "/api/queue/send", dashboard.QueueMessage{Channel: "inbox", Body: []byte("new")}, nil)
	m, raw := next[dashboard.QueueMessage](t, events, "message")
	if string(m.Body) != "new" || m.Sequence != 2 || raw.id != "2" {
		t.Fatalf("monitor saw %+v (id %s)", m, raw.id)
	}
	// One taken before the monitor could peek is counted as missed.
	e.must("POST", "/api/queue/send", dashboard.QueueMessage{Channel: "inbox", Body: []byte("fast")}, nil)
	e.must("POST", "/api/queue/pull", map[string]any{"channel": "inbox", "max": 10}, nil)
	for {
		select {
		case ev := <-events:
			if ev.name == "message" && strings.Contains(ev.data, `"sequence":3`) {
				return // peeked in time: also fine
			}
			if ev.name == "missed" {
				var got map[string]int64
				_ = json.Unmarshal([]byte(ev.data), &got)
				if got["count"] != 1 || got["from"] != 3 {
					t.Fatalf("missed %v", got)
				}
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("neither the message nor a missed count")
		}
	}
}

func TestAPIOverviewAndStreams(t *testing.T) {
	e := newEnv(t)
	e.must("POST", "/api/queue/send", dashboard.QueueMessage{Channel: "q1", Body: []byte("hello")}, nil)
	e.must("POST", "/api/events/send", dashboard.Event{Channel: "s1", Store: true, Body: []byte("hi")}, nil)
	var doc dashboard.Overview
	e.must("GET", "/api/overview", nil, &doc)
	if len(doc.Nodes) != 1 || doc.Nodes[0].Host != e.srv.Options().Host || doc.Nodes[0].Goroutines == 0 {
		t.Fatalf("nodes: %+v", doc.Nodes)
	}
	if len(doc.Types) != 5 || doc.Types[0].Type != dashboard.Queues || doc.Types[0].Channels != 1 || doc.Types[0].Waiting != 1 {
		t.Fatalf("types: %+v", doc.Types)
	}
	if doc.Traffic == nil || doc.Traffic.MessagesIn < 2 || doc.Storage == nil || doc.Storage.Streams != 2 {
		t.Fatalf("traffic %+v storage %+v", doc.Traffic, doc.Storage)
	}
	if len(doc.Recent) != 2 {
		t.Fatalf("recent: %+v", doc.Recent)
	}

	// The overview stream samples rates.
	events, stop := e.events("/api/stream/overview")
	var last dashboard.Overview
	for len(last.Rates) == 0 {
		last, _ = next[dashboard.Overview](t, events, "overview")
		e.must("POST", "/api/queue/send", dashboard.QueueMessage{Channel: "q1", Body: []byte("more")}, nil)
	}
	stop()

	// The queue stream: info and channel statistics.
	qs, _ := e.events("/api/stream/queue?channel=q1")
	q, _ := next[dashboard.QueueDoc](t, qs, "queue")
	if q.Info == nil || q.Info.Waiting < 2 || q.Channel == nil || q.Channel.Incoming.Messages < 2 {
		t.Fatalf("queue doc: %+v %+v", q.Info, q.Channel)
	}
	missing, _ := e.events("/api/stream/queue?channel=nothing")
	if q, _ := next[dashboard.QueueDoc](t, missing, "queue"); q.Info != nil || q.Channel != nil {
		t.Fatalf("missing queue doc: %+v", q)
	}
	cs, _ := e.events("/api/stream/channels/events_store")
	if l, _ := next[[]dashboard.Channel](t, cs, "channels"); len(l) != 1 || l[0].Name != "s1" {
		t.Fatalf("channels stream: %+v", l)
	}
}

func TestBrokerWithoutServerInfo(t *testing.T) {
	e := newEnv(t)
	b, err := dashboard.NewBroker(dashboard.BrokerConfig{Address: e.srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := e.sdk.QM().SetChannel("q").SetBody([]byte("12345")).Send(e.ctx); err != nil {
		t.Fatal(err)
	}
	nodes, err := b.Nodes(e.ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Host != e.srv.Options().Host || !strings.Contains(nodes[0].Version, "herald") ||
		nodes[0].StartedAt.IsZero() || nodes[0].Clients != -1 {
		t.Fatalf("nodes %+v, %v", nodes, err)
	}
	st, err := b.Storage(e.ctx)
	if err != nil || !st.Partial || st.Streams != 1 || st.Bytes == 0 {
		t.Fatalf("storage %+v, %v", st, err)
	}
	tr, err := b.Traffic(e.ctx)
	if err != nil || tr.MessagesIn != 1 || tr.BytesIn != 5 {
		t.Fatalf("traffic %+v, %v", tr, err)
	}
	if _, err := dashboard.NewBroker(dashboard.BrokerConfig{Address: "nohost"}); err == nil {
		t.Error("an address without a port was accepted")
	}
}

// tokenSpy records the token each ListChannels call carried.
type tokenSpy struct {
	dashboard.Backend
	tokens chan string
}

func (s *tokenSpy) ListChannels(ctx context.Context, typ dashboard.ChannelType, search string) ([]dashboard.Channel, error) {
	select {
	case s.tokens <- dashboard.TokenFromContext(ctx):
	default:
	}
	return s.Backend.ListChannels(ctx, typ, search)
}

func TestAPIAuthenticate(t *testing.T) {
	spy := &tokenSpy{tokens: make(chan string, 100)}
	e := newEnv(t, func(c *dashboard.Config) {
		spy.Backend = c.Backend
		c.Backend = spy
		c.Authenticate = func(r *http.Request) (string, error) {
			switch tok := dashboard.BearerToken(r); tok {
			case "alice-token", "bob-token":
				if r.URL.Query().Has("token") {
					return "", errors.New("the token leaked into the query")
				}
				return tok, nil
			case "":
				return "", errors.New("a token is required")
			default:
				return "", errors.New("unknown token")
			}
		}
	})
	if got := e.call("GET", "/api/session", nil, nil); got != http.StatusUnauthorized {
		t.Fatalf("no token: %d", got)
	}
	if got := e.call("GET", "/api/channels/queues", nil, nil, "Authorization", "Bearer mallory"); got != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", got)
	}
	var s map[string]bool
	if got := e.call("GET", "/api/session", nil, &s, "Authorization", "Bearer alice-token"); got != http.StatusOK || !s["auth"] {
		t.Fatalf("good token: %d %v", got, s)
	}
	for len(spy.tokens) > 0 {
		<-spy.tokens
	}
	e.call("GET", "/api/channels/queues", nil, nil, "Authorization", "bearer bob-token")
	if tok := <-spy.tokens; tok != "bob-token" {
		t.Errorf("the backend got token %q", tok)
	}
	// Streams take the token as a query parameter.
	events, _ := e.events("/api/stream/channels/queues?token=alice-token")
	next[[]dashboard.Channel](t, events, "channels")
	if tok := <-spy.tokens; tok != "alice-token" {
		t.Errorf("the stream's backend calls got token %q", tok)
	}
	// The dashboard.Broker keeps a connection per token.
	alice, bob := dashboard.HasConn(e.broker, "alice-token"), dashboard.HasConn(e.broker, "bob-token")
	if !alice || !bob {
		t.Errorf("connections per token: alice %v, bob %v", alice, bob)
	}
	// The UI itself loads without a token; it asks for one.
	res, err := http.Get(e.web.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET / with auth on: %d", res.StatusCode)
	}
}

func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", dashboard.ErrBadRequest), 400},
		{fmt.Errorf("x: %w", client.ErrInvalidArgument), 400},
		{fmt.Errorf("x: %w", dashboard.ErrNotFound), 404},
		{client.ErrUnauthorized, 403},
		{client.ErrTimeout, 504},
		{context.DeadlineExceeded, 504},
		{client.ErrUnavailable, 502},
		{errors.New("boom"), 500},
	} {
		if got := dashboard.StatusOf(c.err); got != c.want {
			t.Errorf("statusOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
