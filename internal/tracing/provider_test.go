package tracing

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// spanNames lists the names of the spans of an export request.
func spanNames(req *collectorpb.ExportTraceServiceRequest) []string {
	var names []string
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				names = append(names, s.Name)
			}
		}
	}
	return names
}

func exportOne(t *testing.T, cfg ExporterConfig) {
	t.Helper()
	tp, err := NewProvider(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, sp := New(tp).Send(context.Background(), Message{Pattern: Events, Channel: "exported"})
	sp.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil { // flushes
		t.Fatal(err)
	}
}

func TestNewProviderExportsOverHTTP(t *testing.T) {
	got := make(chan []string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := new(collectorpb.ExportTraceServiceRequest)
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
			t.Errorf("unexpected export %s %s", r.Method, r.URL.Path)
		}
		got <- spanNames(req)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	exportOne(t, ExporterConfig{Endpoint: srv.URL, Protocol: ProtocolHTTP, SampleRatio: 1})
	select {
	case names := <-got:
		if len(names) != 1 || names[0] != "send exported" {
			t.Fatalf("exported %v, want [send exported]", names)
		}
	default:
		t.Fatal("nothing arrived at the collector")
	}
}

type collector struct {
	collectorpb.UnimplementedTraceServiceServer
	got chan []string
}

func (c *collector) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	c.got <- spanNames(req)
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func TestNewProviderExportsOverGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{got: make(chan []string, 4)}
	gs := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(gs, c)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	exportOne(t, ExporterConfig{Endpoint: lis.Addr().String(), SampleRatio: 1}) // host:port, plain text
	select {
	case names := <-c.got:
		if len(names) != 1 || names[0] != "send exported" {
			t.Fatalf("exported %v, want [send exported]", names)
		}
	default:
		t.Fatal("nothing arrived at the collector")
	}
}

func TestNewProviderSampleRatioZeroFollowsOnlySampledParents(t *testing.T) {
	tp, err := NewProvider(context.Background(), ExporterConfig{Endpoint: "127.0.0.1:1", SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	}()
	tr := New(tp)
	if _, sp := tr.Send(context.Background(), Message{Channel: "c"}); sp.IsRecording() {
		t.Error("a trace Herald started was sampled at ratio 0")
	}
	if _, sp := tr.Send(context.Background(), Message{Channel: "c", Tags: map[string]string{TraceparentTag: parentTP}}); !sp.IsRecording() {
		t.Error("a sampled parent was not followed")
	}
}

func TestNewProviderRefusesBadConfig(t *testing.T) {
	for _, cfg := range []ExporterConfig{
		{},
		{Endpoint: "localhost:4317", Protocol: "udp"},
		{Endpoint: "localhost"},
		{Endpoint: "ftp://collector:4317"},
		{Endpoint: "localhost:4317", SampleRatio: 2},
	} {
		if _, err := NewProvider(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}
