package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

const tokenFile = `# static tokens: token client-id-pattern
billing-token-0123456789   billing-*

	# indented comment
reporter-token-abcdefghij reporter
wildcard-token-abcdefghij *
`

func TestStaticTokens(t *testing.T) {
	path := writeFile(t, t.TempDir(), "tokens", tokenFile)
	g := newTestGuard(t, Config{TokenFile: path})
	for _, c := range []struct {
		token, wantPattern string
		allowed, refused   []string
	}{
		{"billing-token-0123456789", "billing-*", []string{"billing-1", "billing-"}, []string{"billing", "reporter", "xbilling-1"}},
		{"reporter-token-abcdefghij", "reporter", []string{"reporter"}, []string{"reporter-2", "billing-1"}},
		{"wildcard-token-abcdefghij", "*", []string{"anything"}, []string{""}},
	} {
		id, err := g.Authenticate(c.token)
		if err != nil {
			t.Fatalf("%s: %v", c.token, err)
		}
		if id.Method != MethodToken || id.Name != c.wantPattern || id.ClientIDs != c.wantPattern {
			t.Errorf("%s: identity %+v, want pattern %q", c.token, id, c.wantPattern)
		}
		for _, cid := range c.allowed {
			if !id.AllowsClientID(cid) {
				t.Errorf("%s: client id %q refused", c.token, cid)
			}
		}
		for _, cid := range c.refused {
			if id.AllowsClientID(cid) {
				t.Errorf("%s: client id %q allowed", c.token, cid)
			}
		}
	}
	for _, bad := range []string{"billing-token-012345678", "billing-token-01234567890", "billing-*", "# static"} {
		_, err := g.Authenticate(bad)
		var ae *Error
		if !errors.As(err, &ae) || ae.Cause != "token is not known" {
			t.Errorf("%q: %v, want cause 'token is not known'", bad, err)
		}
	}
}

func TestStaticTokensBeforeJWT(t *testing.T) {
	path := writeFile(t, t.TempDir(), "tokens", "static-token-0123456789 ops-*\n")
	g := newTestGuard(t, Config{TokenFile: path, JWT: JWTConfig{Algorithm: "HS256", Key: testSecret}})
	if id, err := g.Authenticate("static-token-0123456789"); err != nil || id.Method != MethodToken {
		t.Fatalf("static token: %+v, %v", id, err)
	}
	if id, err := g.Authenticate(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims("svc"), nil)); err != nil || id.Method != MethodJWT {
		t.Fatalf("JWT: %+v, %v", id, err)
	}
	if _, err := g.Authenticate("static-token-wrong"); err == nil || !strings.Contains(err.Error(), "token is malformed") {
		t.Fatalf("unknown token with JWT on: %v, want the JWT parser's verdict", err)
	}
}

func TestTokenFileProblems(t *testing.T) {
	for _, c := range []struct{ name, content, want string }{
		{"one field", "only-a-token-0123456789\n", "line 1: want \"token client-id-pattern\", got 1 fields"},
		{"three fields", "tok-0123456789abcdef a b\n", "got 3 fields"},
		{"short token", "\n\nshort a\n", "line 3: token shorter than 16 bytes"},
		{"duplicate", "tok-0123456789abcdef a\ntok-0123456789abcdef b\n", "line 2: same token as line 1"},
		{"all problems reported", "x\nshort a\n", "line 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "tokens", c.content)
			_, err := New(Config{TokenFile: path})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error containing %q", err, c.want)
			}
		})
	}
	_, err := parseTokens([]byte("x\nshort a\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("both lines should be reported: %v", err)
	}
	if _, err := New(Config{TokenFile: "/nonexistent/tokens"}); err == nil {
		t.Error("a missing token file must stop New")
	}
	// An empty file is valid: nobody gets in.
	g := newTestGuard(t, Config{TokenFile: writeFile(t, t.TempDir(), "tokens", "# nobody yet\n")})
	if _, err := g.Authenticate("static-token-0123456789"); err == nil {
		t.Error("a token was accepted with an empty token file")
	}
}
