package client_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// WithMTLS presents a client certificate to a broker that requires one,
// over both transports; without it the handshake fails.
func TestWithMTLS(t *testing.T) {
	t.Parallel()
	certs := heraldtest.NewCerts(t)
	srv := heraldtest.NewServer(t, server.Options{Security: server.SecurityOptions{TLS: server.TLSOptions{
		CertFile: certs.CertFile, KeyFile: certs.KeyFile, ClientCAFile: certs.CAFile,
	}}})
	reach := func(rest bool, opts ...client.Option) []client.Option {
		if rest {
			return append([]client.Option{client.WithTransportType(client.TransportTypeRest),
				client.WithUri("https://" + srv.RESTAddr().String())}, opts...)
		}
		return append([]client.Option{client.WithAddress("127.0.0.1", srv.Port)}, opts...)
	}
	for _, rest := range []bool{false, true} {
		t.Run("rest="+strconv.FormatBool(rest), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 20*time.Second)
			c, err := client.NewClient(ctx, reach(rest, client.WithMTLS(certs.ClientCertFile, certs.ClientKeyFile, certs.CAFile),
				client.WithCheckConnection(true))...)
			if err != nil {
				t.Fatalf("with a client certificate: %v", err)
			}
			_ = c.Close()

			c, err = client.NewClient(ctx, reach(rest, client.WithCredentials(certs.CAFile, ""),
				client.WithCheckConnection(true), client.WithMaxReconnects(1))...)
			if err == nil {
				_ = c.Close()
				t.Fatal("without a client certificate: connected")
			}
		})
	}
}

func TestWithMTLSRefusesBadFiles(t *testing.T) {
	t.Parallel()
	certs := heraldtest.NewCerts(t)
	ctx := testCtx(t, 5*time.Second)
	for name, opt := range map[string]client.Option{
		"no key":     client.WithMTLS(certs.ClientCertFile, "", certs.CAFile),
		"swapped":    client.WithMTLS(certs.ClientKeyFile, certs.ClientCertFile, certs.CAFile),
		"missing ca": client.WithMTLS(certs.ClientCertFile, certs.ClientKeyFile, certs.Dir+"/none.pem"),
	} {
		if c, err := client.NewClient(ctx, client.WithAddress("127.0.0.1", 1), opt); err == nil {
			_ = c.Close()
			t.Errorf("%s: NewClient succeeded", name)
		}
	}
}
