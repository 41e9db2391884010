package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldmq/herald/internal/auth"
)

// verify checks token with a Guard built from cfg and returns the identity.
func verify(t *testing.T, cfg auth.Config, token string) (auth.Identity, error) {
	t.Helper()
	cfg.ReloadInterval = -1
	g, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	return g.Authenticate(token)
}

func TestTokenSignHS256WithKeyFile(t *testing.T) {
	key := filepath.Join(t.TempDir(), "jwt.secret")
	if err := os.WriteFile(key, []byte("a shared secret of 32 bytes ok!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "token", "sign", "--key", key, "--sub", "billing-1", "--ttl", "1h", "--claim", "team=billing").ok(t)
	if r.stderr != "" {
		t.Errorf("stderr %q with a key file", r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	id, err := verify(t, auth.Config{JWT: auth.JWTConfig{Algorithm: "HS256", KeyFile: key}}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "billing-1" || !id.AllowsClientID("billing-1") || id.AllowsClientID("billing-2") {
		t.Fatalf("identity %+v", id)
	}
	if d := time.Until(id.ExpiresAt); d < 59*time.Minute || d > time.Hour+time.Minute {
		t.Errorf("expires in %v, want about 1h", d)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil || claims["team"] != "billing" {
		t.Errorf("claims %v, %v", claims, err)
	}
	// The file's trailing newline is part of the key, on both sides.
	if _, err := verify(t, auth.Config{JWT: auth.JWTConfig{Algorithm: "HS256", Key: "a shared secret of 32 bytes ok!"}}, tok); err == nil {
		t.Error("verified without the newline the file has")
	}
}

func TestTokenSignES256AndClaims(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	// Inline PEM, a custom identity claim, no expiry, issuer and audience.
	r := runCLI(t, "", "token", "sign", "--key", keyPEM, "--alg", "es256", "--claim", "client_id=orders-app",
		"--ttl", "0", "--iss", "idp", "--aud", "herald", "--kid", "k1").ok(t)
	if !strings.Contains(r.stderr, "using its value as the key") {
		t.Errorf("stderr %q: want the inline-key note", r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	id, err := verify(t, auth.Config{JWT: auth.JWTConfig{Algorithm: "ES256", Key: pubPEM, IdentityClaim: "client_id", Issuer: "idp", Audience: "herald"}}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "orders-app" || !id.ExpiresAt.IsZero() {
		t.Fatalf("identity %+v", id)
	}
	hdr, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil || hdr.Header["kid"] != "k1" {
		t.Fatalf("header %v, %v", hdr.Header, err)
	}
	// Signed with ES256, refused by an HS256 broker.
	_, err = verify(t, auth.Config{JWT: auth.JWTConfig{Algorithm: "HS256", Key: "secret"}}, tok)
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Cause != "unexpected signing method: ES256" {
		t.Fatalf("HS256 broker: %v", err)
	}
}

func TestTokenSignProblems(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "sign", "--sub", "a"}, "--key is required"},
		{[]string{"token", "sign", "--key", "k", "--alg", "none"}, `"NONE" is not one of`},
		{[]string{"token", "sign", "--key", "k", "--alg", "RS256"}, "RS256 needs a PEM RSA private key"},
		{[]string{"token", "sign", "--key", "k", "--ttl", "-1h"}, "invalid --ttl"},
		{[]string{"token", "sign", "--key", "k", "--claim", "sub=x"}, "use --sub"},
		{[]string{"token", "sign", "--key", "k", "--claim", "iat=1"}, "iat is set by herald"},
		{[]string{"token", "sign", "--key", "k", "--claim", "novalue"}, "want name=value"},
		{[]string{"token", "sign", "--key", "k", "--claim", "a=1", "--claim", "a=2"}, "a given twice"},
		{[]string{"token"}, "missing subcommand"},
	} {
		r := runCLI(t, "", c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", c.args, r.code, r.stdout, r.stderr, c.want)
		}
	}
}
