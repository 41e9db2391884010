package auth

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestSignMakesTokensTheGuardAccepts(t *testing.T) {
	ec := testEC(t, elliptic.P384())
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := testRSA(t, 0)
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"sub": "svc", "exp": t0.Add(time.Hour).Unix()}
	for _, tc := range []struct {
		alg       string
		signKey   []byte
		verifyKey string
	}{
		{"HS512", []byte(testSecret), testSecret},
		{"es384", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), publicPEM(t, &ec.PublicKey)},
		{"RS256", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}), publicPEM(t, &rsaKey.PublicKey)},
	} {
		tok, err := Sign(tc.alg, tc.signKey, "", c)
		if err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		g := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: tc.alg, Key: tc.verifyKey}})
		if id, err := g.Authenticate(tok); err != nil || id.Name != "svc" {
			t.Fatalf("%s: %+v, %v", tc.alg, id, err)
		}
	}

	path := writeFile(t, t.TempDir(), "jwks.json", jwks(jwkEC("k1", &ec.PublicKey)))
	g := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "ES384", JWKSFile: path}})
	tok, err := Sign("ES384", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), "k1", c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Authenticate(tok); err != nil {
		t.Fatalf("with kid: %v", err)
	}
}

func TestSignProblems(t *testing.T) {
	ec := testEC(t, elliptic.P256())
	der, _ := x509.MarshalECPrivateKey(ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	for _, c := range []struct {
		alg  string
		key  []byte
		want string
	}{
		{"none", []byte("k"), `"NONE" is not one of`},
		{"HS256", nil, "empty HMAC secret"},
		{"RS256", []byte("secret"), "RS256 needs a PEM RSA private key"},
		{"ES512", ecPEM, "curve P-521, not P-256"},
	} {
		if _, err := Sign(c.alg, c.key, "", nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Sign(%s): %v, want %q", c.alg, err, c.want)
		}
	}
}
