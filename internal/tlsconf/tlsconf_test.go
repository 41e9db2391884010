package tlsconf

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ca is a certificate authority made for one test; nothing is committed.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

var serial atomic.Int64

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue makes a leaf certificate for cn: a server certificate for
// localhost and 127.0.0.1, or a client certificate.
func (c *ca) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceFile replaces path atomically, as cert-manager and editors do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	writeFile(t, path+".new", content)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// serverFiles writes a server certificate of ca, its key and clientCA (if
// not empty) into dir and returns a Config naming them.
func serverFiles(t *testing.T, dir string, c *ca, cn string, clientCA string, auth ClientAuth) Config {
	t.Helper()
	cert, key := c.issue(t, cn, true)
	cfg := Config{
		CertFile:       writeFile(t, filepath.Join(dir, "tls.crt"), cert),
		KeyFile:        writeFile(t, filepath.Join(dir, "tls.key"), key),
		ClientAuth:     auth,
		ReloadInterval: -1,
	}
	if clientCA != "" {
		cfg.ClientCAFile = writeFile(t, filepath.Join(dir, "ca.crt"), clientCA)
	}
	return cfg
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listen serves tc on a loopback port: each connection that completes its
// handshake gets one line, "ok <client CN or ->", and is closed.
func listen(t *testing.T, tc *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tconn := conn.(*tls.Conn)
				tconn.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tconn.Handshake(); err != nil {
					return
				}
				cn := "-"
				if pc := tconn.ConnectionState().PeerCertificates; len(pc) > 0 {
					cn = pc[0].Subject.CommonName
				}
				tconn.Write([]byte("ok " + cn + "\n"))
			}()
		}
	}()
	return ln.Addr().String()
}

// result is what a client saw of one connection.
type result struct {
	serverCN string // CN of the server's certificate
	reply    string // the server's line
	alpn     string
}

// dial connects with tc and reads the server's line. With TLS 1.3 a server
// that refuses the client's certificate says so after the client's side of
// the handshake is done, so the refusal shows up on the read.
func dial(t *testing.T, addr string, tc *tls.Config) (result, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, tc)
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return result{}, err
	}
	st := conn.ConnectionState()
	return result{serverCN: st.PeerCertificates[0].Subject.CommonName, reply: strings.TrimSpace(line), alpn: st.NegotiatedProtocol}, nil
}

// clientConfig trusts serverCA and presents cert/key when given.
func clientConfig(t *testing.T, serverCA *ca, certPEM, keyPEM string) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	cc := ClientConfig{CAFile: writeFile(t, filepath.Join(dir, "ca.crt"), serverCA.pem)}
	if certPEM != "" {
		cc.CertFile = writeFile(t, filepath.Join(dir, "client.crt"), certPEM)
		cc.KeyFile = writeFile(t, filepath.Join(dir, "client.key"), keyPEM)
	}
	tc, err := NewClientConfig(cc)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func TestServerTLSWithoutClientCertificates(t *testing.T) {
	serverCA := newCA(t, "server CA")
	s := newServer(t, serverFiles(t, t.TempDir(), serverCA, "herald-a", "", ""))
	if s.ClientAuth() != ClientAuthOff {
		t.Fatalf("client auth %s without a CA", s.ClientAuth())
	}
	addr := listen(t, s.TLSConfig())

	tc := clientConfig(t, serverCA, "", "")
	tc.NextProtos = []string{"h2", "http/1.1"}
	r, err := dial(t, addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	if r.serverCN != "herald-a" || r.reply != "ok -" || r.alpn != "h2" {
		t.Fatalf("got %+v", r)
	}

	tc = clientConfig(t, serverCA, "", "")
	tc.NextProtos = []string{"http/1.1"}
	if r, err := dial(t, addr, tc); err != nil || r.alpn != "http/1.1" {
		t.Fatalf("http/1.1 client: %+v, %v", r, err)
	}

	// A client that does not trust the server's CA gives up.
	if _, err := dial(t, addr, clientConfig(t, newCA(t, "other"), "", "")); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("untrusting client: %v", err)
	}
	// TLS 1.1 is refused.
	old := clientConfig(t, serverCA, "", "")
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, err := dial(t, addr, old); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("TLS 1.1 client: %v", err)
	}
}

func TestClientAuthModes(t *testing.T) {
	serverCA, clientCA, rogueCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "rogue CA")
	goodCert, goodKey := clientCA.issue(t, "billing-1", false)
	rogueCert, rogueKey := rogueCA.issue(t, "billing-1", false)
	for _, c := range []struct {
		mode                 ClientAuth
		none, good, rogueErr bool // true: refused
	}{
		{"", true, false, true}, // default with a CA: require
		{ClientAuthRequire, true, false, true},
		{ClientAuthVerifyIfGiven, false, false, true},
		{ClientAuthOff, false, false, false}, // the CA is unused; certificates are not even asked for
	} {
		name := string(c.mode)
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			s := newServer(t, serverFiles(t, t.TempDir(), serverCA, "herald", clientCA.pem, c.mode))
			addr := listen(t, s.TLSConfig())
			check := func(name string, tc *tls.Config, refused bool, wantReply string) {
				t.Helper()
				r, err := dial(t, addr, tc)
				switch {
				case refused && err == nil:
					t.Errorf("%s: accepted (%+v), want refused", name, r)
				case !refused && err != nil:
					t.Errorf("%s: %v, want accepted", name, err)
				case !refused && r.reply != wantReply:
					t.Errorf("%s: reply %q, want %q", name, r.reply, wantReply)
				case refused:
					t.Logf("%s refused: %v", name, err)
				}
			}
			check("no certificate", clientConfig(t, serverCA, "", ""), c.none, "ok -")
			goodReply := "ok billing-1"
			if c.mode == ClientAuthOff {
				goodReply = "ok -"
			}
			check("certificate of the client CA", clientConfig(t, serverCA, goodCert, goodKey), c.good, goodReply)
			check("certificate of another CA", clientConfig(t, serverCA, rogueCert, rogueKey), c.rogueErr, "ok -")
		})
	}
}

func TestRequireRefusesAtTheHandshake(t *testing.T) {
	serverCA, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	s := newServer(t, serverFiles(t, t.TempDir(), serverCA, "herald", clientCA.pem, ClientAuthRequire))
	addr := listen(t, s.TLSConfig())
	tc := clientConfig(t, serverCA, "", "")
	tc.MaxVersion = tls.VersionTLS12 // with 1.2 the client's own Handshake fails
	_, err := dial(t, addr, tc)
	if err == nil || !strings.Contains(err.Error(), "handshake failure") {
		t.Fatalf("TLS 1.2 client without a certificate: %v, want a handshake failure", err)
	}
	_, err = dial(t, addr, clientConfig(t, serverCA, "", ""))
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("TLS 1.3 client without a certificate: %v, want 'certificate required'", err)
	}
}

func TestRotationReachesNewConnections(t *testing.T) {
	serverCA, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	dir := t.TempDir()
	cfg := serverFiles(t, dir, serverCA, "herald-a", clientCA.pem, ClientAuthRequire)
	var logs lockedLog
	cfg.Logger = logs.logger()
	s := newServer(t, cfg)
	addr := listen(t, s.TLSConfig())
	cert, key := clientCA.issue(t, "c1", false)
	client := clientConfig(t, serverCA, cert, key)
	serverCN := func() string {
		t.Helper()
		r, err := dial(t, addr, client)
		if err != nil {
			t.Fatal(err)
		}
		return r.serverCN
	}
	if cn := serverCN(); cn != "herald-a" {
		t.Fatalf("server %s", cn)
	}

	// A renewal written file by file: after the first file the pair does
	// not match, and the last good certificate stays.
	newCert, newKey := serverCA.issue(t, "herald-b", true)
	replaceFile(t, cfg.CertFile, newCert)
	s.watch.Poll()
	if cn := serverCN(); cn != "herald-a" {
		t.Fatalf("half-written renewal served %s", cn)
	}
	if !strings.Contains(logs.String(), "keeping the last good certificate") {
		t.Errorf("the failed reload was not logged:\n%s", logs.String())
	}
	replaceFile(t, cfg.KeyFile, newKey)
	s.watch.Poll()
	if cn := serverCN(); cn != "herald-b" {
		t.Fatalf("after renewal the server is %s", cn)
	}
	if s.Certificate().Subject.CommonName != "herald-b" {
		t.Fatal("Certificate() not updated")
	}

	// A broken file keeps the last good one.
	replaceFile(t, cfg.CertFile, "garbage")
	s.watch.Poll()
	if cn := serverCN(); cn != "herald-b" {
		t.Fatalf("after a broken file the server is %s", cn)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a broken file: no error")
	}
}

func TestClientCARotation(t *testing.T) {
	serverCA, oldCA, newCAx := newCA(t, "server CA"), newCA(t, "old client CA"), newCA(t, "new client CA")
	cfg := serverFiles(t, t.TempDir(), serverCA, "herald", oldCA.pem, ClientAuthRequire)
	s := newServer(t, cfg)
	addr := listen(t, s.TLSConfig())
	oc, ok := oldCA.issue(t, "old-client", false)
	nc, nk := newCAx.issue(t, "new-client", false)
	oldClient, newClient := clientConfig(t, serverCA, oc, ok), clientConfig(t, serverCA, nc, nk)

	if _, err := dial(t, addr, oldClient); err != nil {
		t.Fatalf("old client before rotation: %v", err)
	}
	if _, err := dial(t, addr, newClient); err == nil {
		t.Fatal("new client accepted before rotation")
	}
	replaceFile(t, cfg.ClientCAFile, newCAx.pem)
	s.watch.Poll()
	if _, err := dial(t, addr, newClient); err != nil {
		t.Fatalf("new client after rotation: %v", err)
	}
	if _, err := dial(t, addr, oldClient); err == nil {
		t.Fatal("old client accepted after its CA was removed")
	}
}

// Kubernetes updates a mounted Secret by swapping the ..data symlink; the
// watcher, polling on its own, must see it.
func TestRotationByKubernetesSymlinkSwap(t *testing.T) {
	serverCA := newCA(t, "server CA")
	dir := t.TempDir()
	for i, cn := range []string{"herald-a", "herald-b"} {
		sub := filepath.Join(dir, []string{"..2026_a", "..2026_b"}[i])
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		cert, key := serverCA.issue(t, cn, true)
		writeFile(t, filepath.Join(sub, "tls.crt"), cert)
		writeFile(t, filepath.Join(sub, "tls.key"), key)
	}
	link := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("..2026_a", "..data")
	link("..data/tls.crt", "tls.crt")
	link("..data/tls.key", "tls.key")
	s := newServer(t, Config{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), ReloadInterval: 10 * time.Millisecond})
	addr := listen(t, s.TLSConfig())
	client := clientConfig(t, serverCA, "", "")
	if r, err := dial(t, addr, client); err != nil || r.serverCN != "herald-a" {
		t.Fatalf("before the swap: %+v, %v", r, err)
	}
	link("..2026_b", "..data_tmp")
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := dial(t, addr, client)
		if err != nil {
			t.Fatal(err)
		}
		if r.serverCN == "herald-b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the swapped certificate was not served within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClientCertificateReadAtEachHandshake(t *testing.T) {
	serverCA, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	s := newServer(t, serverFiles(t, t.TempDir(), serverCA, "herald", clientCA.pem, ClientAuthRequire))
	addr := listen(t, s.TLSConfig())
	dir := t.TempDir()
	c1, k1 := clientCA.issue(t, "client-1", false)
	cc := ClientConfig{
		CAFile:   writeFile(t, filepath.Join(dir, "ca.crt"), serverCA.pem),
		CertFile: writeFile(t, filepath.Join(dir, "tls.crt"), c1),
		KeyFile:  writeFile(t, filepath.Join(dir, "tls.key"), k1),
	}
	tc, err := NewClientConfig(cc)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := dial(t, addr, tc); err != nil || r.reply != "ok client-1" {
		t.Fatalf("%+v, %v", r, err)
	}
	c2, k2 := clientCA.issue(t, "client-2", false)
	replaceFile(t, cc.KeyFile, k2)
	replaceFile(t, cc.CertFile, c2)
	if r, err := dial(t, addr, tc); err != nil || r.reply != "ok client-2" {
		t.Fatalf("after renewal: %+v, %v", r, err)
	}
	replaceFile(t, cc.CertFile, "garbage")
	if r, err := dial(t, addr, tc); err != nil || r.reply != "ok client-2" {
		t.Fatalf("with a broken file: %+v, %v (want the last good certificate)", r, err)
	}
}

func TestGRPCOverTLSConfig(t *testing.T) {
	serverCA, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	s := newServer(t, serverFiles(t, t.TempDir(), serverCA, "herald", clientCA.pem, ClientAuthRequire))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(s.TLSConfig())))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)

	call := func(tc *tls.Config) error {
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	cert, key := clientCA.issue(t, "grpc-client", false)
	if err := call(clientConfig(t, serverCA, cert, key)); err != nil {
		t.Fatalf("gRPC call with a client certificate: %v", err)
	}
	if err := call(clientConfig(t, serverCA, "", "")); err == nil {
		t.Fatal("gRPC call without a client certificate succeeded")
	}
}

func TestInlinePEMAndRedaction(t *testing.T) {
	serverCA, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	cert, key := serverCA.issue(t, "inline", true)
	cfg := Config{Cert: cert, Key: key, ClientCA: clientCA.pem, ClientAuth: ClientAuthVerifyIfGiven}
	s := newServer(t, cfg)
	addr := listen(t, s.TLSConfig("http/1.1"))
	r, err := dial(t, addr, clientConfig(t, serverCA, "", ""))
	if err != nil || r.serverCN != "inline" {
		t.Fatalf("%+v, %v", r, err)
	}
	red := cfg.Redacted()
	if red.Cert != Redacted || red.Key != Redacted || red.ClientCA != Redacted || red.ClientAuth != ClientAuthVerifyIfGiven {
		t.Fatalf("redacted %+v", red)
	}
	if cfg.Key != key {
		t.Fatal("Redacted changed its receiver")
	}
	files := Config{CertFile: "a", KeyFile: "b"}
	if files.Redacted() != files {
		t.Fatal("paths were redacted")
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want []string // substrings; none: valid
	}{
		{"files", Config{CertFile: "c", KeyFile: "k"}, nil},
		{"mTLS", Config{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}, nil},
		{"verify if given", Config{Cert: "c", Key: "k", ClientCA: "ca", ClientAuth: ClientAuthVerifyIfGiven}, nil},
		{"off with a CA", Config{Cert: "c", Key: "k", ClientCA: "ca", ClientAuth: ClientAuthOff}, nil},
		{"no key", Config{CertFile: "c"}, []string{"needs its key"}},
		{"no cert", Config{KeyFile: "k"}, []string{"needs its certificate"}},
		{"both forms", Config{CertFile: "c", Cert: "c", KeyFile: "k", Key: "k"}, []string{"certificate as a file or inline", "key as a file or inline"}},
		{"require without CA", Config{CertFile: "c", KeyFile: "k", ClientAuth: ClientAuthRequire}, []string{`"require" needs a client CA`}},
		{"bad mode", Config{CertFile: "c", KeyFile: "k", ClientCAFile: "ca", ClientAuth: "optional"}, []string{`"optional" is not`}},
		{"CA alone", Config{ClientCAFile: "ca"}, []string{"needs a server certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewServerProblems(t *testing.T) {
	serverCA := newCA(t, "server CA")
	cert, key := serverCA.issue(t, "a", true)
	_, otherKey := serverCA.issue(t, "b", true)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing", Config{}, "no certificate configured"},
		{"missing file", Config{CertFile: filepath.Join(dir, "nope.crt"), KeyFile: filepath.Join(dir, "nope.key")}, "no such file"},
		{"mismatched key", Config{Cert: cert, Key: otherKey}, "private key does not match public key"},
		{"garbage CA", Config{Cert: cert, Key: key, ClientCA: "garbage"}, "no PEM certificate found"},
		{"key as CA", Config{Cert: cert, Key: key, ClientCA: key}, `PEM block "PRIVATE KEY"`},
		{"invalid", Config{Cert: cert}, "needs its key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewServer(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewServer: %v, want an error containing %q", err, c.want)
			}
			if s != nil {
				t.Fatal("a server with its error")
			}
		})
	}
}

func TestNewClientConfigProblems(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		cc   ClientConfig
		want string
	}{
		{"missing CA", ClientConfig{CAFile: filepath.Join(dir, "nope")}, "no such file"},
		{"garbage CA", ClientConfig{CAFile: writeFile(t, filepath.Join(dir, "g"), "garbage")}, "no PEM certificate found"},
		{"cert without key", ClientConfig{CertFile: "c"}, "needs its key"},
		{"missing cert", ClientConfig{CertFile: filepath.Join(dir, "c"), KeyFile: filepath.Join(dir, "k")}, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewClientConfig(c.cc); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewClientConfig: %v, want an error containing %q", err, c.want)
			}
		})
	}
	tc, err := NewClientConfig(ClientConfig{ServerName: "herald.example"})
	if err != nil || tc.RootCAs != nil || tc.ServerName != "herald.example" || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("system roots config: %+v, %v", tc, err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	serverCA := newCA(t, "server CA")
	cfg := serverFiles(t, t.TempDir(), serverCA, "herald", "", "")
	cfg.ReloadInterval = time.Millisecond
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(s.Close(), s.Close()); err != nil {
		t.Fatal(err)
	}
}

// lockedLog collects log output for assertions.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
