package auth

import (
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldmq/herald/internal/pattern/kmq"
)

// authCase is one token and what Authenticate must make of it.
type authCase struct {
	name      string
	token     string
	wantName  string // identity on success
	wantCause string // substring of the cause on failure
}

func runAuthCases(t *testing.T, g *Guard, cases []authCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := g.Authenticate(c.token)
			if c.wantCause == "" {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if id.Name != c.wantName || id.Method != MethodJWT || id.ClientIDs != c.wantName {
					t.Fatalf("identity %+v, want name and client ids %q", id, c.wantName)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("Authenticate: %v (%T), want an *Error with cause %q", err, err, c.wantCause)
			}
			t.Logf("cause: %s", ae.Cause)
			if !strings.Contains(ae.Cause, c.wantCause) {
				t.Fatalf("cause %q, want it to contain %q", ae.Cause, c.wantCause)
			}
			if id != (Identity{}) {
				t.Fatalf("identity %+v on failure", id)
			}
		})
	}
}

func TestAuthenticateHS256(t *testing.T) {
	g := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "hs256", Key: testSecret}})
	key := []byte(testSecret)
	hs := jwt.SigningMethodHS256
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := claims("billing-1")
		edit(c)
		return c
	}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("billing-1"), nil)
	valid := sign(t, hs, key, claims("billing-1"), nil)
	parts := strings.Split(valid, ".")

	runAuthCases(t, g, []authCase{
		{name: "valid", token: valid, wantName: "billing-1"},
		{name: "garbage", token: "not-a-jwt", wantCause: "token is malformed"},
		{name: "three garbage segments", token: "a.b.c", wantCause: "token is malformed"},
		{name: "bad signature", token: sign(t, hs, []byte(testSecret+"x"), claims("billing-1"), nil), wantCause: "signature is invalid"},
		{name: "tampered claims", token: parts[0] + "." + strings.Split(sign(t, hs, key, claims("admin"), nil), ".")[1] + "." + parts[2], wantCause: "signature is invalid"},
		{name: "wrong HMAC size", token: sign(t, jwt.SigningMethodHS384, key, claims("billing-1"), nil), wantCause: "unexpected signing method: HS384"},
		{name: "alg none", token: none, wantCause: "unexpected signing method: none"},
		{name: "alg none with an empty signature", token: strings.TrimSuffix(none, ".") + ".", wantCause: "unexpected signing method: none"},
		{name: "unknown alg", token: fakeAlg(t, valid, "XS256"), wantCause: "unexpected signing method: XS256"},
		{name: "alg with junk", token: fakeAlg(t, valid, "HS256\n\x00 and a lot more text than fits"), wantCause: `unexpected signing method: "HS256\n\x00`},
		{name: "expired", token: sign(t, hs, key, with(func(c jwt.MapClaims) { c["exp"] = t0.Add(-time.Hour).Unix() }), nil), wantCause: "token is expired"},
		{name: "expired within the leeway", token: sign(t, hs, key, with(func(c jwt.MapClaims) { c["exp"] = t0.Add(-Leeway / 2).Unix() }), nil), wantName: "billing-1"},
		{name: "not yet valid", token: sign(t, hs, key, with(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Hour).Unix() }), nil), wantCause: "token is not valid yet"},
		{name: "nbf within the leeway", token: sign(t, hs, key, with(func(c jwt.MapClaims) { c["nbf"] = t0.Add(Leeway / 2).Unix() }), nil), wantName: "billing-1"},
		{name: "issued in the future", token: sign(t, hs, key, with(func(c jwt.MapClaims) { c["iat"] = t0.Add(time.Hour).Unix() }), nil), wantCause: "token used before issued"},
		{name: "exp of the wrong type", token: sign(t, hs, key, with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), nil), wantCause: "invalid type for claim"},
		{name: "no exp at all", token: sign(t, hs, key, jwt.MapClaims{"sub": "billing-1"}, nil), wantName: "billing-1"},
		{name: "no sub", token: sign(t, hs, key, jwt.MapClaims{"exp": t0.Add(time.Hour).Unix()}, nil), wantCause: "token has no sub claim"},
		{name: "sub not a string", token: sign(t, hs, key, jwt.MapClaims{"sub": 42}, nil), wantCause: "the sub claim is not a usable client id"},
		{name: "sub with a wildcard", token: sign(t, hs, key, jwt.MapClaims{"sub": "billing-*"}, nil), wantCause: "the sub claim is not a usable client id"},
		{name: "critical extension", token: sign(t, hs, key, claims("billing-1"), map[string]any{"crit": []string{"exp"}}), wantCause: "critical header extensions"},
		{name: "too long", token: strings.Repeat("a", MaxTokenSize+1), wantCause: "token is too long"},
	})

	if _, err := g.Authenticate(""); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty token: %v, want ErrNoToken", err)
	}
}

// fakeAlg rewrites the alg of token's header, keeping its signature.
func fakeAlg(t *testing.T, token, alg string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	h, err := jwt.NewParser().DecodeSegment(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	hdr := strings.Replace(string(h), `"HS256"`, jsonString(alg), 1)
	parts[0] = base64.RawURLEncoding.EncodeToString([]byte(hdr))
	return strings.Join(parts, ".")
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestAuthenticateRS256AndES256(t *testing.T) {
	rsaKey := testRSA(t, 0)
	ecKey := testEC(t, elliptic.P256())
	ec384 := testEC(t, elliptic.P384())
	pubPEM := publicPEM(t, &rsaKey.PublicKey)

	rs := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "RS256", Key: pubPEM}})
	runAuthCases(t, rs, []authCase{
		{name: "RS256 valid", token: sign(t, jwt.SigningMethodRS256, rsaKey, claims("svc-a"), nil), wantName: "svc-a"},
		{name: "RS256 other key", token: sign(t, jwt.SigningMethodRS256, testRSA(t, 1), claims("svc-a"), nil), wantCause: "signature is invalid"},
		{name: "RS512 same key", token: sign(t, jwt.SigningMethodRS512, rsaKey, claims("svc-a"), nil), wantCause: "unexpected signing method: RS512"},
		// The classic confusion attack: HMAC keyed with the public key's PEM.
		{name: "HS256 keyed with the public key", token: sign(t, jwt.SigningMethodHS256, []byte(pubPEM), claims("svc-a"), nil), wantCause: "unexpected signing method: HS256"},
	})

	es := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "ES256", Key: publicPEM(t, &ecKey.PublicKey)}})
	runAuthCases(t, es, []authCase{
		{name: "ES256 valid", token: sign(t, jwt.SigningMethodES256, ecKey, claims("svc-b"), nil), wantName: "svc-b"},
		{name: "ES256 other key", token: sign(t, jwt.SigningMethodES256, testEC(t, elliptic.P256()), claims("svc-b"), nil), wantCause: "signature is invalid"},
		{name: "ES384", token: sign(t, jwt.SigningMethodES384, ec384, claims("svc-b"), nil), wantCause: "unexpected signing method: ES384"},
	})
}

func TestAuthenticateJWKSPicksKeyByKID(t *testing.T) {
	k1, k2 := testRSA(t, 0), testRSA(t, 1)
	ec := testEC(t, elliptic.P256())
	set := jwks(
		jwkRSA("one", &k1.PublicKey),
		jwkRSA("two", &k2.PublicKey),
		jwkEC("ec", &ec.PublicKey), // another type: ignored under RS256
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}, // not for signatures: ignored
		map[string]any{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AA"},             // unsupported type: ignored
	)
	path := writeFile(t, t.TempDir(), "jwks.json", set)
	g := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "RS256", JWKSFile: path}})
	rs := jwt.SigningMethodRS256
	runAuthCases(t, g, []authCase{
		{name: "kid one", token: sign(t, rs, k1, claims("a"), map[string]any{"kid": "one"}), wantName: "a"},
		{name: "kid two", token: sign(t, rs, k2, claims("b"), map[string]any{"kid": "two"}), wantName: "b"},
		{name: "kid names the other key", token: sign(t, rs, k1, claims("a"), map[string]any{"kid": "two"}), wantCause: "signature is invalid"},
		{name: "unknown kid", token: sign(t, rs, k1, claims("a"), map[string]any{"kid": "three"}), wantCause: "no key for the token's kid"},
		{name: "kid of an ignored key", token: sign(t, rs, k1, claims("a"), map[string]any{"kid": "enc"}), wantCause: "no key for the token's kid"},
		{name: "no kid, several keys", token: sign(t, rs, k1, claims("a"), nil), wantCause: "token has no kid"},
		{name: "kid not a string", token: sign(t, rs, k1, claims("a"), map[string]any{"kid": 1}), wantCause: "token has no kid"},
	})

	one := writeFile(t, t.TempDir(), "jwks.json", jwks(jwkEC("", &ec.PublicKey)))
	ge := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "ES256", JWKSFile: one}})
	runAuthCases(t, ge, []authCase{
		{name: "no kid, one key", token: sign(t, jwt.SigningMethodES256, ec, claims("c"), nil), wantName: "c"},
	})
}

func TestJWKSFileProblems(t *testing.T) {
	ec := testEC(t, elliptic.P256())
	good := jwkEC("a", &ec.PublicKey)
	offCurve := jwkEC("a", &ec.PublicKey)
	offCurve["y"] = offCurve["x"]
	for _, c := range []struct {
		name, content, want string
	}{
		{"not JSON", "keys", "not a JSON Web Key Set"},
		{"no keys", `{"keys":[]}`, "no key usable with ES256"},
		{"only other curves", jwks(jwkEC("b", &testEC(t, elliptic.P384()).PublicKey)), "no key usable with ES256"},
		{"duplicate kid", jwks(good, good), `kid "a" appears twice`},
		{"point off the curve", jwks(offCurve), "key 0"},
		{"bad base64", `{"keys":[{"kty":"EC","crv":"P-256","x":"!!","y":"AA"}]}`, `bad "x" or "y"`},
		{"short RSA", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, ""}, // not RS: skipped under ES256, so: no usable key
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "jwks.json", c.content)
			_, err := New(Config{JWT: JWTConfig{Algorithm: "ES256", JWKSFile: path}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error containing %q", err, c.want)
			}
		})
	}
	path := writeFile(t, t.TempDir(), "jwks.json", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)
	if _, err := New(Config{JWT: JWTConfig{Algorithm: "RS256", JWKSFile: path}}); err == nil || !strings.Contains(err.Error(), "at least 2048") {
		t.Fatalf("New with a tiny RSA key: %v", err)
	}
}

func TestKeyMaterialProblems(t *testing.T) {
	rsaKey := testRSA(t, 0)
	for _, c := range []struct {
		name string
		cfg  JWTConfig
		want string
	}{
		{"RS256 with a secret", JWTConfig{Algorithm: "RS256", Key: "secret"}, "RS256 needs a PEM RSA public key"},
		{"ES256 with an RSA key", JWTConfig{Algorithm: "ES256", Key: publicPEM(t, &rsaKey.PublicKey)}, "ES256 needs a PEM EC public key"},
		{"ES256 with a P-384 key", JWTConfig{Algorithm: "ES256", Key: publicPEM(t, &testEC(t, elliptic.P384()).PublicKey)}, "ES256 needs a key on curve P-256, not P-384"},
		{"missing key file", JWTConfig{Algorithm: "HS256", KeyFile: "/nonexistent/herald.key"}, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(Config{JWT: c.cfg}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestIdentityClaimAndUnboundTokens(t *testing.T) {
	key := []byte(testSecret)
	hs := jwt.SigningMethodHS256
	g := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "HS256", Key: testSecret, IdentityClaim: "client_id"}})
	id, err := g.Authenticate(sign(t, hs, key, jwt.MapClaims{"sub": "user-7", "client_id": "orders-app"}, nil))
	if err != nil || id.Name != "orders-app" || !id.AllowsClientID("orders-app") || id.AllowsClientID("user-7") {
		t.Fatalf("identity %+v, %v; want orders-app, bound to it", id, err)
	}
	if _, err := g.Authenticate(sign(t, hs, key, jwt.MapClaims{"sub": "user-7"}, nil)); err == nil || !strings.Contains(err.Error(), "no client_id claim") {
		t.Fatalf("token without client_id: %v", err)
	}

	// v2.3.7-style tokens carry no claims at all.
	u := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "HS256", Key: testSecret, AllowUnboundTokens: true}})
	id, err = u.Authenticate(sign(t, hs, key, jwt.MapClaims{}, nil))
	if err != nil || id.Name != "" || !id.AllowsClientID("anyone") {
		t.Fatalf("unbound token: %+v, %v; want an unbound identity", id, err)
	}
	id, err = u.Authenticate(sign(t, hs, key, jwt.MapClaims{"sub": "bound"}, nil))
	if err != nil || id.AllowsClientID("anyone") || !id.AllowsClientID("bound") {
		t.Fatalf("token with sub under AllowUnboundTokens: %+v, %v; want bound to sub", id, err)
	}
}

func TestIssuerAndAudience(t *testing.T) {
	g := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "HS256", Key: testSecret, Issuer: "https://idp.example", Audience: "herald"}})
	good := claims("a")
	good["iss"], good["aud"] = "https://idp.example", []string{"other", "herald"}
	badIss := claims("a")
	badIss["iss"], badIss["aud"] = "https://evil.example", "herald"
	badAud := claims("a")
	badAud["iss"], badAud["aud"] = "https://idp.example", "other"
	key := []byte(testSecret)
	runAuthCases(t, g, []authCase{
		{name: "match", token: sign(t, jwt.SigningMethodHS256, key, good, nil), wantName: "a"},
		{name: "issuer", token: sign(t, jwt.SigningMethodHS256, key, badIss, nil), wantCause: "token has invalid issuer"},
		{name: "audience", token: sign(t, jwt.SigningMethodHS256, key, badAud, nil), wantCause: "token has invalid audience"},
		{name: "neither", token: sign(t, jwt.SigningMethodHS256, key, claims("a"), nil), wantCause: "invalid"},
	})
}

func TestErrorRendersAsReferenceText(t *testing.T) {
	g := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "HS256", Key: testSecret}})
	c := claims("a")
	c["exp"] = t0.Add(-time.Hour).Unix()
	_, err := g.Authenticate(sign(t, jwt.SigningMethodHS256, []byte(testSecret), c, nil))
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("%v is not an *Error", err)
	}
	if got, want := ae.KubeMQ().Error(), "Error 421: authentication verification failed, token is expired"; got != want {
		t.Errorf("KubeMQ text %q, want %q", got, want)
	}
	if !errors.Is(ae.KubeMQ(), kmq.ErrAuthentication) {
		t.Error("KubeMQ() is not kmq.ErrAuthentication")
	}
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Error("the golang-jwt error is not unwrapped")
	}
}

func TestVerifiedTokensAreCachedUntilExpiry(t *testing.T) {
	now := t0
	g, err := newGuard(Config{JWT: JWTConfig{Algorithm: "HS256", Key: testSecret, CacheSize: 2}}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cache := func() *tokenCache { return g.jwt.keys.Load().cache }
	key := []byte(testSecret)
	short := claims("a")
	short["exp"] = t0.Add(time.Minute).Unix()
	tok := sign(t, jwt.SigningMethodHS256, key, short, nil)
	if _, err := g.Authenticate(tok); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache().get(sumOf(tok), now); !ok {
		t.Fatal("verified token not cached")
	}
	// Past exp + leeway the cache must not answer and the parser refuses.
	now = t0.Add(time.Minute + Leeway + time.Second)
	if _, err := g.Authenticate(tok); err == nil || !strings.Contains(err.Error(), "token is expired") {
		t.Fatalf("after expiry: %v", err)
	}
	now = t0
	for _, sub := range []string{"b", "c", "d", "e"} {
		if _, err := g.Authenticate(sign(t, jwt.SigningMethodHS256, key, claims(sub), nil)); err != nil {
			t.Fatal(err)
		}
		if n := cache().len(); n > 2 {
			t.Fatalf("cache holds %d tokens, more than its size 2", n)
		}
	}
	// Failures are never cached.
	for range 10 {
		g.Authenticate("garbage")
	}
	if n := cache().len(); n > 2 {
		t.Fatalf("cache holds %d entries after failures", n)
	}
}

func TestTokenCacheKeepsTokensWithoutExpiryBriefly(t *testing.T) {
	c := newTokenCache(10)
	var sum [32]byte
	c.put(sum, Identity{Name: "a"}, t0)
	if _, ok := c.get(sum, t0.Add(noExpTTL-time.Second)); !ok {
		t.Fatal("token without exp forgotten early")
	}
	if _, ok := c.get(sum, t0.Add(noExpTTL)); ok {
		t.Fatal("token without exp remembered past noExpTTL")
	}
	c.put(sum, Identity{ExpiresAt: t0.Add(-time.Second)}, t0) // within the leeway: not cached
	if c.len() != 0 {
		t.Fatal("a token past its exp was cached")
	}
}
