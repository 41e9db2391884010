package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// clientTLS is the TLS configuration of the options, for both transports:
// TLS 1.2 at least; the server checked against the CA of WithCredentials or
// WithCertificate (the system's roots with WithMTLS alone); the client
// certificate of WithMTLS, read again at each handshake (a failed read
// keeps the last good one).
func clientTLS(o *Options) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.serverOverrideDomain}
	var caPEM []byte
	switch {
	case o.certFile != "":
		b, err := os.ReadFile(o.certFile)
		if err != nil {
			return nil, fmt.Errorf("client: could not load tls cert: %w", err)
		}
		caPEM = b
	case o.certData != "":
		caPEM = []byte(o.certData)
	case o.clientCertFile == "":
		return nil, invalidArgument("client: no valid tls security provided")
	}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, invalidArgument("client: credentials: failed to append certificates to pool")
		}
		tc.RootCAs = pool
	}
	if o.clientCertFile != "" || o.clientKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.clientCertFile, o.clientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("client: could not load the client certificate: %w", err)
		}
		var last atomic.Pointer[tls.Certificate]
		last.Store(&cert)
		certFile, keyFile := o.clientCertFile, o.clientKeyFile
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if fresh, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
				last.Store(&fresh)
			}
			return last.Load(), nil
		}
	}
	return tc, nil
}
