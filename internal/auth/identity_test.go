package auth

import (
	"testing"
	"time"
)

func TestMatchGlob(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"a", "a", true},
		{"a", "ab", false},
		{"", "", true},
		{"*", "", true},
		{"*", "anything at all", true},
		{"billing-*", "billing-", true},
		{"billing-*", "billing-7", true},
		{"billing-*", "xbilling-7", false},
		{"*-eu", "svc-eu", true},
		{"*-eu", "svc-eu-2", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"a**b", "ab", true},
		{"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"a.b", "aXb", false}, // only * is special
		{"ü*", "über", true},
	} {
		if got := matchGlob(c.pattern, c.s); got != c.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestAllowsClientID(t *testing.T) {
	for _, c := range []struct {
		id       Identity
		clientID string
		want     bool
	}{
		{Anonymous(), "anyone", true},
		{Anonymous(), "", false},
		{Identity{Method: MethodJWT, Name: "svc", ClientIDs: "svc"}, "svc", true},
		{Identity{Method: MethodJWT, Name: "svc", ClientIDs: "svc"}, "svc2", false},
		{Identity{Method: MethodToken, Name: "ops-*", ClientIDs: "ops-*"}, "ops-1", true},
		{Identity{}, "x", false}, // the zero identity allows nothing
	} {
		if got := c.id.AllowsClientID(c.clientID); got != c.want {
			t.Errorf("%+v.AllowsClientID(%q) = %v, want %v", c.id, c.clientID, got, c.want)
		}
	}
}

func TestIdentityExpired(t *testing.T) {
	if (Identity{}).Expired(t0) {
		t.Error("an identity without expiry expired")
	}
	id := Identity{ExpiresAt: t0}
	if id.Expired(t0.Add(-time.Second)) || !id.Expired(t0) {
		t.Error("Expired is wrong around ExpiresAt")
	}
}
