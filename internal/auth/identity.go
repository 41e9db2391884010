package auth

import (
	"strings"
	"time"
)

// Method says how a caller was authenticated.
type Method string

// The authentication methods.
const (
	MethodNone  Method = "none"  // authentication is off: Anonymous
	MethodJWT   Method = "jwt"   // a verified JWT
	MethodToken Method = "token" // a line of the static token file
)

// Identity is a verified caller.
type Identity struct {
	// Name says who the caller is, for logs: the identity claim of a JWT,
	// the client-id pattern of a static token, "" when anonymous or when an
	// unbound JWT (JWTConfig.AllowUnboundTokens) has no identity claim.
	Name string
	// Method is how the caller was authenticated.
	Method Method
	// ClientIDs is the pattern of the client ids the caller may declare:
	// literal text where "*" matches any run of characters. A JWT caller's
	// pattern is its Name (which never contains "*"); a static token's is
	// the pattern of its line; "*" for anonymous and unbound callers.
	ClientIDs string
	// ExpiresAt is when the credential stops being valid (a JWT's "exp");
	// zero when it does not expire.
	ExpiresAt time.Time
}

// Anonymous is the identity of every caller while authentication is off:
// it may declare any client id.
func Anonymous() Identity { return Identity{Method: MethodNone, ClientIDs: "*"} }

// AllowsClientID reports whether the caller may declare clientID in a
// request body. This is what stops a caller from acting as another client:
// the transport refuses a request whose ClientID it does not allow. An empty
// client id is never allowed.
func (id Identity) AllowsClientID(clientID string) bool {
	return clientID != "" && id.ClientIDs != "" && matchGlob(id.ClientIDs, clientID)
}

// Expired reports whether the credential has expired at now.
func (id Identity) Expired(now time.Time) bool {
	return !id.ExpiresAt.IsZero() && !now.Before(id.ExpiresAt)
}

// matchGlob reports whether s matches pattern, where "*" matches any run of
// bytes (including none) and every other byte only itself. It runs in
// O(len(pattern)·len(s)) at worst, without recursion.
func matchGlob(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
