package heraldtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are TLS files for tests, made fresh by NewCerts in a temporary
// directory (nothing to commit, nothing that expires between runs): a CA,
// a server certificate for 127.0.0.1, ::1 and localhost, and a client
// certificate, both signed by the CA. Keys are ECDSA P-256 PEM.
type Certs struct {
	Dir            string
	CAFile         string // the CA certificate: trust it on both sides
	CertFile       string // the server certificate
	KeyFile        string // its key
	ClientCertFile string // a client certificate (common name "herald-client")
	ClientKeyFile  string // its key

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	t     testing.TB
}

// NewCerts makes a CA and the certificates it signs in t.TempDir().
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	c := &Certs{Dir: t.TempDir(), t: t}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "herald test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("heraldtest: CA: %v", err)
	}
	if c.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatalf("heraldtest: CA: %v", err)
	}
	c.caKey = key
	c.CAFile = c.write("ca.pem", pemOf("CERTIFICATE", der))
	c.CertFile, c.KeyFile = c.Issue("server", true)
	c.ClientCertFile, c.ClientKeyFile = c.Issue("herald-client", false)
	return c
}

// Issue signs a new certificate with the CA and writes it and its key as
// name.pem and name-key.pem: a server certificate for 127.0.0.1, ::1 and
// localhost, or a client certificate whose common name is name.
func (c *Certs) Issue(name string, server bool) (certFile, keyFile string) {
	c.t.Helper()
	key := newKey(c.t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(c.t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.caKey)
	if err != nil {
		c.t.Fatalf("heraldtest: certificate %s: %v", name, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		c.t.Fatalf("heraldtest: key %s: %v", name, err)
	}
	return c.write(name+".pem", pemOf("CERTIFICATE", der)), c.write(name+"-key.pem", pemOf("PRIVATE KEY", kder))
}

// CAPEM returns the CA certificate, PEM.
func (c *Certs) CAPEM() []byte {
	b, err := os.ReadFile(c.CAFile)
	if err != nil {
		c.t.Fatalf("heraldtest: %v", err)
	}
	return b
}

func (c *Certs) write(name string, data []byte) string {
	path := filepath.Join(c.Dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		c.t.Fatalf("heraldtest: %v", err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("heraldtest: key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("heraldtest: serial: %v", err)
	}
	return n
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
