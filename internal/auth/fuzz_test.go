package auth

import (
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenSeeds are real tokens and near misses, for the token fuzzers.
func tokenSeeds(t testing.TB) []string {
	key := []byte(testSecret)
	valid := sign(t, jwt.SigningMethodHS256, key, claims("billing-1"), nil)
	parts := strings.Split(valid, ".")
	return []string{
		valid,
		sign(t, jwt.SigningMethodHS384, key, claims("billing-1"), nil),
		sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("x"), nil),
		sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": 1, "exp": "x", "nbf": []int{1}}, map[string]any{"kid": map[string]any{}}),
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		"..",
		"not-a-jwt",
		"static-token-0123456789",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","crit":["b64"],"b64":false}`)) + "." + parts[1] + "." + parts[2],
		"",
	}
}

func FuzzParseToken(f *testing.F) {
	for _, s := range tokenSeeds(f) {
		f.Add(s)
	}
	ec := testEC(f, elliptic.P256())
	f.Add(sign(f, jwt.SigningMethodES256, ec, claims("a"), map[string]any{"kid": "one"}))
	hs := newJWTVerifier(Config{JWT: JWTConfig{Algorithm: "HS256", Key: testSecret}}.withDefaults().JWT, func() time.Time { return t0 })
	if err := hs.load(); err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	es := newJWTVerifier(Config{JWT: JWTConfig{Algorithm: "ES256", JWKSFile: writeFile(f, dir, "jwks.json", jwks(jwkEC("one", &ec.PublicKey), jwkEC("two", &testEC(f, elliptic.P256()).PublicKey)))}}.withDefaults().JWT, func() time.Time { return t0 })
	if err := es.load(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, v := range []*jwtVerifier{hs, es} {
			id, err := v.verify(raw)
			if err != nil {
				var ae *Error
				if !errors.As(err, &ae) || ae.Cause == "" {
					t.Fatalf("verify(%q): %v is not an *Error with a cause", raw, err)
				}
				continue
			}
			if id.Method != MethodJWT || id.Name == "" || strings.Contains(id.ClientIDs, "*") {
				t.Fatalf("verify(%q) gave %+v", raw, id)
			}
		}
	})
}

func FuzzAuthenticate(f *testing.F) {
	for _, s := range tokenSeeds(f) {
		f.Add(s)
	}
	path := writeFile(f, f.TempDir(), "tokens", "static-token-0123456789 ops-*\n")
	g, err := newGuard(Config{TokenFile: path, ReloadInterval: -1, JWT: JWTConfig{Algorithm: "HS256", Key: testSecret}}, func() time.Time { return t0 })
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { g.Close() })
	f.Fuzz(func(t *testing.T, token string) {
		id, err := g.Authenticate(token)
		var ae *Error
		switch {
		case err == nil:
			if id.ClientIDs == "" || id.Method == MethodNone {
				t.Fatalf("Authenticate(%q) gave %+v", token, id)
			}
		case token == "" && errors.Is(err, ErrNoToken):
		case errors.As(err, &ae):
			if ae.KubeMQ().Error() != "Error 421: authentication verification failed, "+ae.Cause {
				t.Fatalf("rendering %q", ae.KubeMQ().Error())
			}
		default:
			t.Fatalf("Authenticate(%q): unexpected error %v", token, err)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		specExample,
		referenceTestPolicy,
		base64.StdEncoding.EncodeToString([]byte(specExample)),
		yamlExample,
		grantRead,
		`[{"events":true,"clientid":"^a{1,3}$","CHANNEL":"(?i)x|y","write":true}]`,
		"rules:\n  - {clients: a, resources: events, channels: a.>.b, actions: read}",
		"rules: &a [*a]",
		"[null]",
		"",
	} {
		f.Add([]byte(s), "billing-1", "orders.eu")
	}
	f.Fuzz(func(t *testing.T, data []byte, clientID, channel string) {
		p, err := ParsePolicy(data)
		if err != nil {
			if p != nil {
				t.Fatal("a policy with an error")
			}
			return
		}
		if p.Len() == 0 {
			t.Fatal("a policy without rules")
		}
		for _, res := range []Resource{Events, EventsStore, Queues, Commands, Queries} {
			for _, act := range []Action{Read, Write} {
				first := p.Allowed(res, clientID, channel, act)
				if p.Allowed(res, clientID, channel, act) != first { // the second answer is the cache's
					t.Fatalf("cached decision differs for %s %q %q %s", res, clientID, channel, act)
				}
			}
		}
	})
}
