package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// Every client verb reaches a broker that wants TLS with a client
// certificate and a JWT through --tls-ca, --tls-cert, --tls-key and
// --token, over both transports, and reports the broker's refusals.
func TestCLISecurity(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "jwt.secret")
	acl := filepath.Join(dir, "acl.yaml")
	for name, content := range map[string]string{
		secret: "a shared secret of thirty-two bytes!",
		acl:    "rules:\n  - {clients: billing, resources: queues, channels: \"orders.>\", actions: [read, write]}\n",
	} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	certs := heraldtest.NewCerts(t)
	srv := heraldtest.NewServer(t, server.Options{Security: server.SecurityOptions{
		TLS:  server.TLSOptions{CertFile: certs.CertFile, KeyFile: certs.KeyFile, ClientCAFile: certs.CAFile},
		Auth: server.AuthOptions{JWTAlgorithm: "HS256", JWTKeyFile: secret, ACLFile: acl},
	}})
	for _, v := range []string{envAddress, envClientID, envToken, envTransport} {
		t.Setenv(v, "")
	}
	token := strings.TrimSpace(runCLI(t, "", "token", "sign", "--key", secret, "--sub", "billing", "--ttl", "1h").ok(t).stdout)

	for _, tr := range []struct{ name, address, noToken string }{
		{"grpc", srv.Addr, "Authorization token is not supplied"},
		{"rest", srv.RESTAddr().String(), "invalid authentication header"},
	} {
		t.Run(tr.name, func(t *testing.T) {
			conn := []string{"--transport", tr.name, "--address", tr.address, "--client-id", "billing",
				"--tls-ca", certs.CAFile, "--tls-cert", certs.ClientCertFile, "--tls-key", certs.ClientKeyFile}
			with := func(args ...string) []string { return append(args, conn...) }

			runCLI(t, "", with("queues", "send", "orders."+tr.name, "one", "--token", token)...).ok(t)
			r := runCLI(t, "", with("queues", "receive", "orders."+tr.name, "--token", token)...).ok(t)
			if !strings.Contains(r.stdout, "body=one") {
				t.Errorf("receive printed %q", r.stdout)
			}
			runCLI(t, "", with("queues", "send", "invoices", "x", "--token", token)...).
				failed(t, "Error 412: access denied to resource")
			runCLI(t, "", with("queues", "send", "orders.x", "x", "--token", "garbage")...).
				failed(t, "Error 421: authentication verification failed, token is malformed")
			runCLI(t, "", with("queues", "send", "orders.x", "x")...).failed(t, tr.noToken)

			// Without a client certificate the handshake fails.
			noCert := []string{"queues", "send", "orders.x", "x", "--token", token, "--transport", tr.name,
				"--address", tr.address, "--client-id", "billing", "--tls-ca", certs.CAFile}
			if r := runCLI(t, "", noCert...); r.code != 1 {
				t.Errorf("without a client certificate: exit %d, stdout %q", r.code, r.stdout)
			}
		})
	}
}
