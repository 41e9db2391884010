package auth

import (
	"crypto/elliptic"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const grantRead = `rules:
  - {clients: reader, resources: queues, channels: "orders.>", actions: read}
`

const grantNothingUseful = `rules:
  - {clients: someone-else, resources: queues, channels: "orders.>", actions: read}
`

func TestZeroConfigAllowsEverything(t *testing.T) {
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.AuthenticationEnabled() || g.AuthorizationEnabled() || g.Policy() != nil {
		t.Fatal("a zero Config turned something on")
	}
	id, err := g.Authenticate("")
	if err != nil || id != Anonymous() {
		t.Fatalf("Authenticate with auth off: %+v, %v", id, err)
	}
	if err := g.Authorize(id, Queues, "anyone", "any.channel", Write); err != nil {
		t.Fatalf("Authorize with everything off: %v", err)
	}
	if err := g.Authorize(id, Queues, "", "any.channel", Write); !errors.Is(err, ErrClientIDNotAllowed) {
		t.Fatalf("empty client id: %v", err)
	}
}

func TestAuthorizeStopsImpersonationAndUnlistedRequests(t *testing.T) {
	g := newTestGuard(t, Config{ACL: grantRead})
	reader := Identity{Name: "reader", Method: MethodJWT, ClientIDs: "reader"}
	for _, c := range []struct {
		clientID, channel string
		act               Action
		want              error
	}{
		{"reader", "orders.eu", Read, nil},
		{"reader", "orders.eu", Write, ErrAccessDenied},
		{"reader", "invoices", Read, ErrAccessDenied},
		{"admin", "orders.eu", Read, ErrClientIDNotAllowed},
	} {
		if err := g.Authorize(reader, Queues, c.clientID, c.channel, c.act); !errors.Is(err, c.want) {
			t.Errorf("Authorize(%s, %s, %s) = %v, want %v", c.clientID, c.channel, c.act, err, c.want)
		}
	}
	// With authentication off, rules match the declared client id.
	if err := g.Authorize(Anonymous(), Queues, "reader", "orders.eu", Read); err != nil {
		t.Errorf("anonymous declaring reader: %v", err)
	}
	if err := g.Authorize(Anonymous(), Queues, "other", "orders.eu", Read); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("anonymous declaring other: %v", err)
	}
	if err := g.Authorize(reader, Responses, "reader", "_INBOX.x", Write); err != nil {
		t.Errorf("response: %v", err)
	}
}

func TestPolicyReloadGrantThenRevoke(t *testing.T) {
	path := writeFile(t, t.TempDir(), "acl.yaml", grantNothingUseful)
	g := newTestGuard(t, Config{ACLFile: path})
	var changes atomic.Int32
	remove := g.OnChange(func() { changes.Add(1) })

	if g.Allowed(Queues, "reader", "orders.eu", Read) {
		t.Fatal("allowed before the grant")
	}
	replaceFile(t, path, grantRead)
	g.watch.Poll()
	if !g.Allowed(Queues, "reader", "orders.eu", Read) {
		t.Fatal("grant not picked up")
	}
	if changes.Load() != 1 {
		t.Fatalf("%d change callbacks after the grant, want 1", changes.Load())
	}

	writeFile(t, "", path, grantNothingUseful) // an in-place rewrite this time
	g.watch.Poll()
	if g.Allowed(Queues, "reader", "orders.eu", Read) {
		t.Fatal("revocation not picked up")
	}
	if changes.Load() != 2 {
		t.Fatalf("%d change callbacks after the revocation, want 2", changes.Load())
	}

	remove()
	replaceFile(t, path, grantRead)
	g.watch.Poll()
	if changes.Load() != 2 {
		t.Fatal("a removed callback was called")
	}
}

func TestBrokenPolicyKeepsLastGood(t *testing.T) {
	path := writeFile(t, t.TempDir(), "acl.yaml", grantRead)
	g := newTestGuard(t, Config{ACLFile: path})
	var changes atomic.Int32
	g.OnChange(func() { changes.Add(1) })
	before := g.Policy()

	for _, broken := range []string{"rules: [", "[]", `[{"Events":true}]`} {
		replaceFile(t, path, broken)
		g.watch.Poll()
		if g.Policy() != before || !g.Allowed(Queues, "reader", "orders.eu", Read) {
			t.Fatalf("policy %q replaced the last good one", broken)
		}
		if err := g.Reload(); err == nil {
			t.Fatalf("Reload of %q: no error", broken)
		}
	}
	if err := removeFile(path); err != nil {
		t.Fatal(err)
	}
	g.watch.Poll()
	if !g.Allowed(Queues, "reader", "orders.eu", Read) {
		t.Fatal("a deleted file dropped the last good policy")
	}
	if changes.Load() != 0 {
		t.Fatalf("%d change callbacks for broken files", changes.Load())
	}
	writeFile(t, "", path, grantNothingUseful)
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	if g.Allowed(Queues, "reader", "orders.eu", Read) || changes.Load() != 1 {
		t.Fatal("the fixed file was not loaded by Reload")
	}
}

func TestStartupRefusesBrokenOrMissingFiles(t *testing.T) {
	dir := t.TempDir()
	broken := writeFile(t, dir, "broken", "rules: [")
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing ACL", Config{ACLFile: dir + "/nope.yaml"}, "no such file"},
		{"broken ACL", Config{ACLFile: broken}, "auth: policy"},
		{"broken inline ACL", Config{ACL: "[]"}, "no rules"},
		{"missing token file", Config{TokenFile: dir + "/nope"}, "no such file"},
		{"missing JWKS", Config{JWT: JWTConfig{Algorithm: "ES256", JWKSFile: dir + "/nope.json"}}, "no such file"},
		{"every problem at once", Config{TokenFile: dir + "/t", ACLFile: dir + "/a"}, "/a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error containing %q", err, c.want)
			}
			if g != nil {
				t.Fatal("New returned a guard with its error")
			}
		})
	}
}

func TestJWTKeyRotationDropsCachedTokens(t *testing.T) {
	dir := t.TempDir()
	old, next := testEC(t, elliptic.P256()), testEC(t, elliptic.P256())
	path := writeFile(t, dir, "key.pem", publicPEM(t, &old.PublicKey))
	g := newTestGuard(t, Config{JWT: JWTConfig{Algorithm: "ES256", KeyFile: path}})
	oldTok := sign(t, jwt.SigningMethodES256, old, claims("svc"), nil)
	newTok := sign(t, jwt.SigningMethodES256, next, claims("svc"), nil)
	if _, err := g.Authenticate(oldTok); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Authenticate(newTok); err == nil {
		t.Fatal("token of the next key accepted before rotation")
	}
	replaceFile(t, path, publicPEM(t, &next.PublicKey))
	g.watch.Poll()
	if _, err := g.Authenticate(oldTok); err == nil {
		t.Fatal("cached token of the old key accepted after rotation")
	}
	if _, err := g.Authenticate(newTok); err != nil {
		t.Fatalf("token of the new key after rotation: %v", err)
	}
	// A broken key file keeps the last good key.
	replaceFile(t, path, "not a key")
	g.watch.Poll()
	if _, err := g.Authenticate(newTok); err != nil {
		t.Fatalf("after a broken key file: %v", err)
	}
}

func TestTokenFileRevocation(t *testing.T) {
	path := writeFile(t, t.TempDir(), "tokens", "first-token-0123456789 a\nsecond-token-012345678 b\n")
	g := newTestGuard(t, Config{TokenFile: path})
	if _, err := g.Authenticate("second-token-012345678"); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, "first-token-0123456789 a\n")
	g.watch.Poll()
	if _, err := g.Authenticate("second-token-012345678"); err == nil {
		t.Fatal("revoked token still accepted")
	}
	if _, err := g.Authenticate("first-token-0123456789"); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherPicksUpChangesByItself(t *testing.T) {
	path := writeFile(t, t.TempDir(), "acl.yaml", grantNothingUseful)
	g, err := New(Config{ACLFile: path, ReloadInterval: 10 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 1)
	g.OnChange(func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	replaceFile(t, path, grantRead)
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s")
	}
	if !g.Allowed(Queues, "reader", "orders.eu", Read) {
		t.Fatal("grant not in force after the callback")
	}
	g.Close()
	g.Close()
}

func TestConfigValidateJoinsProblems(t *testing.T) {
	err := Config{
		JWT:     JWTConfig{Algorithm: "PS256", CacheSize: -1, IdentityClaim: " sub"},
		ACL:     "[]",
		ACLFile: "acl.yaml",
	}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"PS256" is not one of HS256`, "no JWT verification key", "cache size -1", "surrounding spaces", "inline or as a file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\ndoes not mention %q", err, want)
		}
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{JWT: JWTConfig{Key: "k"}}, "no JWT algorithm"},
		{Config{JWT: JWTConfig{Algorithm: "HS256"}}, "no JWT verification key"},
		{Config{JWT: JWTConfig{Algorithm: "HS256", Key: "k", KeyFile: "f"}}, "only one of"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if err := (Config{JWT: JWTConfig{Algorithm: "es512", KeyFile: "k.pem"}, TokenFile: "t", ACLFile: "a"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestConfigRedacted(t *testing.T) {
	c := Config{JWT: JWTConfig{Algorithm: "HS256", Key: testSecret}, ACLFile: "acl.yaml"}
	r := c.Redacted()
	if r.JWT.Key != "[redacted]" || r.ACLFile != "acl.yaml" || r.JWT.Algorithm != "HS256" {
		t.Fatalf("redacted %+v", r)
	}
	if c.JWT.Key != testSecret {
		t.Fatal("Redacted changed its receiver")
	}
	if (Config{}).Redacted().JWT.Key != "" {
		t.Fatal("an empty key became [redacted]")
	}
}
