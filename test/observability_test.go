package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kubemq-io/kubemq-go"
	pb "github.com/kubemq-io/protobuf/go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// scrape reads srv's /metrics.
func scrape(t *testing.T, srv *heraldtest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	return fams
}

// metric finds the value of a series by its labels (a subset), or -1.
func metric(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetricsAfterKnownTraffic: after known traffic through the official
// SDK, the KubeMQ families and Herald's count it exactly: messages and
// bytes by client and side, queue depth after send, receive and ack,
// request latency counts; subscriber gauges return to zero after gRPC and
// REST subscribe/unsubscribe cycles, never below; a deleted channel's
// series are gone.
func TestMetricsAfterKnownTraffic(t *testing.T) {
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	c := newClient(t, srv, "metrics-admin")
	ctx := testCtx(t, 60*time.Second)
	q := uniq("metrics.q")
	body := strings.Repeat("x", 100)
	for range 3 {
		if r := qSendRaw(t, cl, &pb.QueueMessage{ClientID: "producer", Channel: q, Body: []byte(body)}); r.IsError {
			t.Fatal(r.Error)
		}
	}
	res, err := cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "consumer", Channel: q, MaxNumberOfMessages: 2, WaitTimeSeconds: 1})
	if err != nil || len(res.Messages) != 2 {
		t.Fatal(err, res)
	}
	eventually(t, 10*time.Second, func() error { // received messages are removed just after the reply
		fams := scrape(t, srv)
		checks := []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"kubemq_messages_count", map[string]string{"type": "queues", "side": "send", "channel": q, "client_id": "producer"}, 3},
			{"kubemq_messages_volume", map[string]string{"type": "queues", "side": "send", "channel": q, "client_id": "producer"}, 300},
			{"kubemq_messages_count", map[string]string{"type": "queues", "side": "receive", "channel": q, "client_id": "consumer"}, 2},
			{"kubemq_messages_volume", map[string]string{"type": "queues", "side": "receive", "channel": q, "client_id": "consumer"}, 200},
			{"herald_queue_messages", map[string]string{"channel": q}, 1},
			{"herald_queue_in_flight", map[string]string{"channel": q}, 0},
		}
		for _, ck := range checks {
			if got := metric(fams, ck.name, ck.labels); got != ck.want {
				return fmt.Errorf("%s%v = %v, want %v", ck.name, ck.labels, got, ck.want)
			}
		}
		if n := metric(fams, "herald_request_duration_seconds", map[string]string{"transport": "grpc", "rpc": "SendQueueMessage"}); n < 3 {
			return fmt.Errorf("latency histogram of SendQueueMessage counted %v calls, want ≥ 3", n)
		}
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "herald_engine_storage_bytes", "herald_engine_streams"} {
			if metric(fams, name, nil) <= 0 {
				return fmt.Errorf("%s missing or 0", name)
			}
		}
		return nil
	})

	// Subscriptions over gRPC and REST, opened and closed: the gauge
	// counts them while open and returns to 0, never below.
	ev := uniq("metrics.ev")
	subs := make([]*sub[*pb.EventReceive], 2)
	for i := range subs {
		subs[i] = rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: fmt.Sprint("sub", i), Channel: ev})
	}
	wsURL := fmt.Sprintf("ws://%s/subscribe/events?client_id=ws&channel=%s&subscribe_type=events", srv.RESTAddr(), ev)
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitEventsReady(t, cl, ev, hasProbe(subs[0]), hasProbe(subs[1]))
	eventually(t, 10*time.Second, func() error {
		if n := metric(scrape(t, srv), "kubemq_clients_count", map[string]string{"type": "events", "channel": ev}); n != 3 {
			return fmt.Errorf("kubemq_clients_count = %v with 3 subscribers", n)
		}
		return nil
	})
	for _, s := range subs {
		s.cancel()
	}
	_ = ws.Close()
	eventually(t, 10*time.Second, func() error {
		fams := scrape(t, srv)
		if n := metric(fams, "kubemq_clients_count", map[string]string{"type": "events", "channel": ev}); n > 0 {
			return fmt.Errorf("kubemq_clients_count = %v after every subscriber left", n)
		}
		for _, m := range fams["kubemq_clients_count"].GetMetric() {
			if m.Gauge.GetValue() < 0 {
				return fmt.Errorf("negative gauge %v", m)
			}
		}
		return nil
	})

	// A deleted channel's series go.
	if err := kubemq.DeleteChannel(ctx, c, "metrics-admin", q, "queues"); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, srv)
	for _, name := range []string{"kubemq_messages_count", "herald_queue_messages"} {
		if v := metric(fams, name, map[string]string{"channel": q}); v != -1 {
			t.Fatalf("%s of the deleted channel %s still exported (%v)", name, q, v)
		}
	}
}

// TestMetricsCountConnections: herald_grpc_connections counts the gRPC
// connections open, up as clients connect and back as they leave.
func TestMetricsCountConnections(t *testing.T) {
	srv := heraldtest.NewServer(t)
	conns := func() float64 { return metric(scrape(t, srv), "herald_grpc_connections", nil) }
	base := conns()
	if base < 0 {
		t.Fatal("herald_grpc_connections is not exported")
	}
	ctx := testCtx(t, 30*time.Second)
	open := make([]*grpc.ClientConn, 3)
	for i := range open {
		open[i] = rawConn(t, srv)
		if _, err := pb.NewKubemqClient(open[i]).Ping(ctx, &pb.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if n := conns(); n != base+3 {
			return fmt.Errorf("herald_grpc_connections = %v with 3 clients connected, %v before", n, base)
		}
		return nil
	})
	for _, c := range open {
		_ = c.Close()
	}
	eventually(t, 10*time.Second, func() error {
		if n := conns(); n != base {
			return fmt.Errorf("herald_grpc_connections = %v after the 3 clients left, %v before", n, base)
		}
		return nil
	})
}

// TestMetricsChannelPolicy: with --metrics-channels top:1 only the busiest
// channel keeps its name; the others are summed under "_other".
func TestMetricsChannelPolicy(t *testing.T) {
	srv := heraldtest.NewServer(t, server.Options{MetricsChannels: "top:1"})
	cl := rawClient(t, srv)
	busy, quiet1, quiet2 := uniq("pol.busy"), uniq("pol.q1"), uniq("pol.q2")
	qSendBodies(t, cl, busy, "1", "2", "3")
	qSendBodies(t, cl, quiet1, "1")
	qSendBodies(t, cl, quiet2, "1")
	fams := scrape(t, srv)
	if v := metric(fams, "kubemq_messages_count", map[string]string{"channel": busy, "side": "send"}); v != 3 {
		t.Fatalf("busiest channel: %v", v)
	}
	if v := metric(fams, "kubemq_messages_count", map[string]string{"channel": "_other", "side": "send"}); v != 2 {
		t.Fatalf("folded channels: %v", v)
	}
	if v := metric(fams, "kubemq_messages_count", map[string]string{"channel": quiet1}); v != -1 {
		t.Fatalf("a folded channel kept its series: %v", v)
	}
}

// TestHealthAndReadiness: /health and /ready answer once started, the
// standard gRPC health service says SERVING, and during a shutdown /ready
// and the health service say not ready while the fronts drain.
func TestHealthAndReadiness(t *testing.T) {
	srv := heraldtest.NewServer(t)
	base := "http://" + srv.HTTPAddr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/health"); code != 200 || body != "healthy" {
		t.Fatalf("/health: %d %q", code, body)
	}
	code, body := get("/ready")
	var ready struct {
		Healthy bool `json:"is_healthy"`
		Ready   bool `json:"is_ready"`
	}
	if err := json.Unmarshal([]byte(body), &ready); code != 200 || err != nil || !ready.Ready || !ready.Healthy {
		t.Fatalf("/ready: %d %q", code, body)
	}
	hc := grpc_health_v1.NewHealthClient(rawConn(t, srv))
	ctx := testCtx(t, 30*time.Second)
	if r, err := hc.Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil || r.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health: %v %v", r, err)
	}

	// A long-polling receive holds the shutdown in its drain phase.
	cl := rawClient(t, srv)
	hold := uniq("hold")
	qPrime(t, cl, hold)
	polling := make(chan struct{})
	go func() {
		defer close(polling)
		_, _ = cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "c", Channel: hold, MaxNumberOfMessages: 1, WaitTimeSeconds: 5})
	}()
	qWaitSubscribers(t, cl, hold, 1)
	done := make(chan struct{})
	go func() { defer close(done); srv.Stop() }()
	eventually(t, 10*time.Second, func() error {
		if code, body := get("/ready"); code != 500 || !strings.Contains(body, `"is_ready":false`) {
			return fmt.Errorf("/ready while shutting down: %d %q", code, body)
		}
		return nil
	})
	<-done
	<-polling
	if code, _ := get("/health"); code == 200 {
		t.Fatal("/health still answers after the shutdown")
	}
}

// TestGrafanaDashboardUsesExportedMetrics: every metric the shipped
// Grafana dashboard queries is one Herald exports.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "herald.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("deploy/grafana/herald.json: %v", err)
	}
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("grafana")
	qSendBodies(t, cl, ch, "a")
	sub := rawSubscribeEvents(t, cl, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: "g", Channel: ch})
	waitEventsReady(t, cl, ch, hasProbe(sub))
	fams := scrape(t, srv)
	name := regexp.MustCompile(`\b(kubemq|herald|go|process)_[a-z_]+`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
				if fams[n] == nil && fams[base] == nil && n != "kubemq_errors_count" && n != "herald_dropped_total" && n != "herald_queue_dead_lettered_total" {
					t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, n)
				}
			}
		}
	}
}
