// Package tlsconf builds the TLS configuration of Herald's listeners and of
// its clients.
//
// A [Server] holds a certificate and key (PEM files or inline PEM) and,
// optionally, the CAs that sign client certificates. Its [Server.TLSConfig]
// is what a listener uses: every handshake asks it for the material in
// force, so when the files change (cert-manager renewing a certificate, a
// rotated CA) new connections get the new material without a restart;
// established connections keep theirs. Files are polled every
// [Config.ReloadInterval]; a broken or half-written set keeps the last good
// material and is logged. At [NewServer] any problem is an error.
//
// Client certificates are really checked, unlike the reference server,
// which put the CA among its root CAs and let anyone in:
//
//   - [ClientAuthRequire] refuses a handshake without a certificate signed
//     by one of the client CAs (the default once a client CA is given);
//   - [ClientAuthVerifyIfGiven] accepts clients without a certificate and
//     refuses only invalid ones (the closest to the reference's behaviour);
//   - [ClientAuthOff] asks for none.
//
// TLS 1.2 is the minimum. ALPN offers "h2" (gRPC needs it) and "http/1.1".
//
// [NewClientConfig] is the other side, for the CLI and the SDK: the CA to
// trust and an optional client certificate.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/filewatch"
)

// ClientAuth says whether a server asks clients for a certificate.
type ClientAuth string

// The client-certificate policies (the values of --tls-client-auth).
const (
	ClientAuthOff           ClientAuth = "off"
	ClientAuthVerifyIfGiven ClientAuth = "verify-if-given"
	ClientAuthRequire       ClientAuth = "require"
)

// Defaults and limits.
const (
	// DefaultReloadInterval is how often certificate files are polled.
	DefaultReloadInterval = 2 * time.Second
	// MaxFileSize is the largest PEM file read.
	MaxFileSize = 1 << 20
)

// DefaultNextProtos returns the ALPN protocols offered when TLSConfig is
// given none: HTTP/2 for gRPC, HTTP/1.1 for REST and WebSocket.
func DefaultNextProtos() []string { return []string{"h2", "http/1.1"} }

// Redacted replaces inline PEM in Config.Redacted.
const Redacted = "[redacted]"

// Config configures a Server. Each PEM comes from a file or inline, not
// both. TLS is on when a certificate is given.
type Config struct {
	CertFile string // --tls-cert: server certificate chain, PEM
	KeyFile  string // --tls-key: its private key, PEM
	Cert     string // the certificate chain, inline PEM
	Key      string // the key, inline PEM

	ClientCAFile string // --tls-client-ca: CAs that sign client certificates, PEM
	ClientCA     string // the same, inline PEM
	// ClientAuth is --tls-client-auth (default: ClientAuthRequire when a
	// client CA is given, else ClientAuthOff).
	ClientAuth ClientAuth

	// ReloadInterval is how often the files are polled (default
	// DefaultReloadInterval; negative: never).
	ReloadInterval time.Duration
	// Logger receives reload reports; nil discards them.
	Logger *slog.Logger
}

// Enabled reports whether c asks for TLS.
func (c Config) Enabled() bool {
	return c.CertFile != "" || c.Cert != "" || c.KeyFile != "" || c.Key != ""
}

func (c Config) hasClientCA() bool { return c.ClientCAFile != "" || c.ClientCA != "" }

// clientAuth is ClientAuth with its default applied.
func (c Config) clientAuth() ClientAuth {
	switch {
	case c.ClientAuth != "":
		return c.ClientAuth
	case c.hasClientCA():
		return ClientAuthRequire
	default:
		return ClientAuthOff
	}
}

// Validate reports every problem of c at once, joined. It reads no file.
func (c Config) Validate() error {
	var errs []error
	both := func(what, file, inline string) bool {
		if file != "" && inline != "" {
			errs = append(errs, fmt.Errorf("tlsconf: set the %s as a file or inline, not both", what))
		}
		return file != "" || inline != ""
	}
	cert := both("certificate", c.CertFile, c.Cert)
	key := both("key", c.KeyFile, c.Key)
	ca := both("client CA", c.ClientCAFile, c.ClientCA)
	switch {
	case cert && !key:
		errs = append(errs, errors.New("tlsconf: a certificate needs its key"))
	case key && !cert:
		errs = append(errs, errors.New("tlsconf: a key needs its certificate"))
	}
	if ca && !cert {
		errs = append(errs, errors.New("tlsconf: a client CA needs a server certificate and key"))
	}
	switch a := c.clientAuth(); a {
	case ClientAuthOff:
	case ClientAuthRequire, ClientAuthVerifyIfGiven:
		if !ca {
			errs = append(errs, fmt.Errorf("tlsconf: client auth %q needs a client CA", a))
		}
	default:
		errs = append(errs, fmt.Errorf("tlsconf: client auth %q is not require, verify-if-given or off", a))
	}
	return errors.Join(errs...)
}

// Redacted returns a copy of c fit to show: every inline PEM is replaced
// by "[redacted]". Paths stay.
func (c Config) Redacted() Config {
	for _, s := range []*string{&c.Cert, &c.Key, &c.ClientCA} {
		if *s != "" {
			*s = Redacted
		}
	}
	return c
}

// Server serves the TLS material of a Config, reloading its files when
// they change. It is safe for concurrent use; Close ends its watcher.
type Server struct {
	cfg   Config
	log   *slog.Logger
	cur   atomic.Pointer[material]
	watch *filewatch.Watcher
}

// material is one loaded generation.
type material struct {
	cert   tls.Certificate
	leaf   *x509.Certificate
	pool   *x509.CertPool // nil without client CA
	config *tls.Config    // the handshake configuration, NextProtos aside
}

// NewServer checks cfg, loads the material and starts watching its files.
// cfg must be Enabled.
func NewServer(cfg Config) (*Server, error) {
	if !cfg.Enabled() {
		return nil, errors.New("tlsconf: no certificate configured")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.watch = filewatch.New(cfg.ReloadInterval)
	s.watch.Add(func() { _ = s.reload() }, cfg.CertFile, cfg.KeyFile, cfg.ClientCAFile)
	m, err := s.load()
	if err != nil {
		s.watch.Close()
		return nil, err
	}
	s.cur.Store(m)
	s.watch.Start()
	return s, nil
}

// load reads and checks the material.
func (s *Server) load() (*material, error) {
	certPEM, err := pemOf("certificate", s.cfg.CertFile, s.cfg.Cert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pemOf("key", s.cfg.KeyFile, s.cfg.Key)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: certificate and key: %w", err)
	}
	m := &material{cert: cert, leaf: cert.Leaf}
	if m.leaf == nil { // x509keypairleaf=0
		if m.leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tlsconf: certificate: %w", err)
		}
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   DefaultNextProtos(),
	}
	switch s.cfg.clientAuth() {
	case ClientAuthRequire:
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	case ClientAuthVerifyIfGiven:
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if s.cfg.hasClientCA() {
		caPEM, err := pemOf("client CA", s.cfg.ClientCAFile, s.cfg.ClientCA)
		if err != nil {
			return nil, err
		}
		if m.pool, err = certPool(caPEM); err != nil {
			return nil, fmt.Errorf("tlsconf: client CA: %w", err)
		}
		tc.ClientCAs = m.pool
	}
	m.config = tc
	now := time.Now()
	if now.After(m.leaf.NotAfter) || now.Before(m.leaf.NotBefore) {
		s.log.Warn("tlsconf: the server certificate is not valid now", "not_before", m.leaf.NotBefore, "not_after", m.leaf.NotAfter)
	}
	return m, nil
}

// reload loads the files again; on failure the last good material stays.
func (s *Server) reload() error {
	m, err := s.load()
	if err != nil {
		s.log.Error("tlsconf: reload failed, keeping the last good certificate", "err", err)
		return err
	}
	s.cur.Store(m)
	s.log.Info("tlsconf: reloaded", "subject", m.leaf.Subject.String(), "not_after", m.leaf.NotAfter)
	return nil
}

// Reload reads the files again now (for SIGHUP). On failure the last good
// material stays and the error is returned.
func (s *Server) Reload() error { return s.reload() }

// Certificate returns the leaf certificate in force.
func (s *Server) Certificate() *x509.Certificate { return s.cur.Load().leaf }

// ClientAuth is the client-certificate policy in force.
func (s *Server) ClientAuth() ClientAuth { return s.cfg.clientAuth() }

// TLSConfig returns the configuration for a listener: hand it to
// credentials.NewTLS (gRPC), http.Server.TLSConfig or tls.NewListener.
// Each handshake uses the material in force at that moment. nextProtos
// are the ALPN protocols to offer, DefaultNextProtos when none are given;
// a REST listener that does not serve HTTP/2 passes "http/1.1".
func (s *Server) TLSConfig(nextProtos ...string) *tls.Config {
	if len(nextProtos) == 0 {
		nextProtos = DefaultNextProtos()
	}
	protos := append([]string(nil), nextProtos...)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := s.cur.Load().config.Clone()
			c.NextProtos = protos
			return c, nil
		},
		// For code that inspects the outer configuration only (e.g.
		// http.Server checks that a certificate source is set).
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			m := s.cur.Load()
			return &m.cert, nil
		},
	}
}

// Close stops watching the files and waits for the watcher to end. The
// Server keeps serving the material it has. Close is idempotent.
func (s *Server) Close() error {
	s.watch.Close()
	return nil
}

// pemOf returns the inline PEM or the content of the file.
func pemOf(what, file, inline string) ([]byte, error) {
	if inline != "" {
		return []byte(inline), nil
	}
	b, err := readFile(file)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: %s: %w", what, err)
	}
	return b, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	return b, nil
}

// certPool parses every CERTIFICATE block of data; any other block, a
// certificate that does not parse, or no certificate at all is an error
// (x509.CertPool.AppendCertsFromPEM would skip them silently).
func certPool(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q where a CERTIFICATE was expected", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// ClientConfig names the files a client uses to reach a TLS server.
type ClientConfig struct {
	// CAFile holds the CAs that sign the server's certificate (PEM); empty:
	// the system's roots.
	CAFile string
	// CertFile and KeyFile hold a client certificate and its key, for
	// servers that ask for one; both or neither.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the server's certificate
	// (default: the host dialled).
	ServerName string
}

// NewClientConfig builds a client-side configuration: TLS 1.2 at least,
// the server verified against CAFile (or the system roots), and the client
// certificate, when given, read again from its files at each handshake so
// a renewed certificate is used by the next connection (a failed read keeps
// the last good one).
func NewClientConfig(c ClientConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		data, err := readFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: CA: %w", err)
		}
		if tc.RootCAs, err = certPool(data); err != nil {
			return nil, fmt.Errorf("tlsconf: CA %s: %w", c.CAFile, err)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("tlsconf: a client certificate needs its key, and a key its certificate")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: client certificate: %w", err)
		}
		var last atomic.Pointer[tls.Certificate]
		last.Store(&cert)
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if fresh, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err == nil {
				last.Store(&fresh)
			}
			return last.Load(), nil
		}
	}
	return tc, nil
}
