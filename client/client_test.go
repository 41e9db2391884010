package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/client"
)

func TestNewClientPingAndServerInfo(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		ctx := testCtx(t, 10*time.Second)
		opts := tr.addr(srv, client.WithClientId("pinger"), client.WithCheckConnection(true))
		if !tr.rest {
			opts = append(opts, client.WithTransportType(client.TransportTypeGRPC))
		}
		c, err := client.NewClient(context.Background(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.ServerInfo == nil || c.ServerInfo.Version == "" || c.ServerInfo.ServerStartTime == 0 {
			t.Fatalf("ServerInfo %+v", c.ServerInfo)
		}
		info, err := c.Ping(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(info.Version, "2.") || info.Host == "" {
			t.Fatalf("Ping %+v", info)
		}
	})
}

func TestNewClientRefusesBadOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, opts := range map[string][]client.Option{
		"no host":     {client.WithAddress("", 50000)},
		"no port":     {client.WithAddress("localhost", 0)},
		"rest uri":    {client.WithTransportType(client.TransportTypeRest)},
		"transport":   {client.WithAddress("localhost", 1), client.WithTransportType(client.TransportType(7))},
		"cert file":   {client.WithAddress("localhost", 1), client.WithCredentials(filepath.Join(t.TempDir(), "none.pem"), "")},
		"cert data":   {client.WithAddress("localhost", 1), client.WithCertificate("not a pem", "")},
		"rest scheme": {client.WithTransportType(client.TransportTypeRest), client.WithUri("grpc://localhost:9090")},
		"rest host":   {client.WithTransportType(client.TransportTypeRest), client.WithUri("http://")},
		"rest tls over http": {client.WithTransportType(client.TransportTypeRest), client.WithUri("http://localhost:9090"),
			client.WithCertificate("not checked", "")},
		"rest cert file": {client.WithTransportType(client.TransportTypeRest), client.WithUri("https://localhost:9090"),
			client.WithCredentials(filepath.Join(t.TempDir(), "none.pem"), "")},
		"rest cert data": {client.WithTransportType(client.TransportTypeRest), client.WithUri("https://localhost:9090"),
			client.WithCertificate("not a pem", "")},
	} {
		if _, err := client.NewClient(ctx, opts...); err == nil {
			t.Errorf("%s: NewClient succeeded", name)
		}
	}
	// Like gRPC, REST does not contact the server unless asked to.
	c, err := client.NewClient(ctx, client.WithTransportType(client.TransportTypeRest), client.WithUri("http://localhost:1/"))
	if err != nil {
		t.Fatalf("REST: %v", err)
	}
	_ = c.Close()
	if err := client.GetDefaultOptions().Validate(); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("default options validate: %v", err)
	}
}

func TestNewClientCheckConnectionFailsWithoutServer(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ctx := testCtx(t, 10*time.Second)
		addr := []client.Option{client.WithAddress("127.0.0.1", port)}
		if tr.rest {
			addr = []client.Option{client.WithTransportType(client.TransportTypeRest), client.WithUri(fmt.Sprintf("http://127.0.0.1:%d", port))}
		}
		_, err = client.NewClient(ctx, append(addr, client.WithCheckConnection(true))...)
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("want Unavailable, got %v", err)
		}
		// Without the check, NewClient succeeds and calls fail.
		c, err := client.NewClient(ctx, addr...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Ping(ctx); status.Code(err) != codes.Unavailable {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		errCh := make(chan error, 10)
		events, err := c.SubscribeToEvents(ctx, uniq("close"), "", errCh)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := c.SubscribeToEventsStore(ctx, uniq("close"), "", nil, client.StartFromNewEvents())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		closed(t, events, 5*time.Second)
		closed(t, stored, 5*time.Second)
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := c.Ping(ctx); !errors.Is(err, client.ErrClientClosed) {
			t.Fatalf("Ping after Close: %v", err)
		}
		if err := c.E().SetChannel("x").SetBody([]byte("x")).Send(ctx); !errors.Is(err, client.ErrClientClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		if _, err := c.SubscribeToEvents(ctx, "x", "", nil); !errors.Is(err, client.ErrClientClosed) {
			t.Fatalf("Subscribe after Close: %v", err)
		}
		if _, err := c.GetGRPCRawClient(); !errors.Is(err, client.ErrClientClosed) {
			t.Fatalf("GetGRPCRawClient after Close: %v", err)
		}
	})
}

func TestClientClosesWithItsContext(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		c, err := client.NewClient(ctx, tr.addr(srv)...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		events, err := c.SubscribeToEvents(context.Background(), uniq("ctx"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		closed(t, events, 5*time.Second)
		eventually(t, 5*time.Second, func() error {
			if _, err := c.Ping(context.Background()); !errors.Is(err, client.ErrClientClosed) {
				return errors.New("still open")
			}
			return nil
		})
	})
}

func TestGetGRPCRawClientCallsWireNames(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newClient(t, srv)
	raw, err := c.GetGRPCRawClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 10*time.Second)
	// The server only answers /kubemq.kubemq/…: this works because the raw
	// client renames the generated /herald.kubemq.v1.kubemq/… paths.
	if _, err := raw.Ping(ctx, &kubemqpb.Empty{}); err != nil {
		t.Fatal(err)
	}
	res, err := raw.SendEvent(ctx, &kubemqpb.Event{ClientID: "raw", Channel: "raw events"})
	if res != nil || !errors.Is(err, client.ErrInvalidArgument) || status.Code(err) != codes.Internal {
		t.Fatalf("raw SendEvent: %v %v", res, err)
	}
}

// fakeKubeMQ is a TLS gRPC server answering Ping under the wire name and
// recording the authorization metadata it saw.
type fakeKubeMQ struct {
	kubemqpb.UnimplementedKubemqServer
	mu    sync.Mutex
	token []string
}

func (f *fakeKubeMQ) Ping(ctx context.Context, _ *kubemqpb.Empty) (*kubemqpb.PingResult, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.token = md.Get("authorization")
	f.mu.Unlock()
	if len(f.token) == 0 || f.token[0] != "secret" {
		return nil, status.Error(codes.Unauthenticated, "Error 421: authentication verification failed, no token")
	}
	return &kubemqpb.PingResult{Host: "fake", Version: "2.4.0"}, nil
}

// selfSigned returns a certificate for 127.0.0.1 and "herald.test", and its
// PEM encoding.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"herald.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTLSAndToken(t *testing.T) {
	t.Parallel()
	cert, certPEM := selfSigned(t)
	fake := &fakeKubeMQ{}
	gs := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	desc := kubemqpb.Kubemq_ServiceDesc
	desc.ServiceName = kubemqpb.WireServiceName
	gs.RegisterService(&desc, fake)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(l)
	t.Cleanup(gs.Stop)
	port := l.Addr().(*net.TCPAddr).Port
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 10*time.Second)

	c, err := client.NewClient(ctx, client.WithAddress("127.0.0.1", port), client.WithCredentials(certFile, "herald.test"),
		client.WithToken("secret"), client.WithCheckConnection(true))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ServerInfo.Host != "fake" {
		t.Fatalf("ServerInfo %+v", c.ServerInfo)
	}
	fake.mu.Lock()
	got := fake.token
	fake.mu.Unlock()
	if len(got) != 1 || got[0] != "secret" {
		t.Fatalf("authorization metadata %v", got)
	}

	c2, err := client.NewClient(ctx, client.WithAddress("127.0.0.1", port), client.WithCertificate(string(certPEM), "herald.test"),
		client.WithAuthToken("wrong"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Ping(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}

	// Without TLS the handshake fails.
	c3, err := client.NewClient(ctx, client.WithAddress("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err := c3.Ping(ctx); err == nil {
		t.Fatal("plain-text Ping to a TLS server succeeded")
	}
}
