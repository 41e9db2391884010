package dashboard

import (
	"strings"
	"testing"
)

func TestClientIDs(t *testing.T) {
	for _, tt := range []struct {
		pattern, conn string
		replayGroup   bool
		replayPrefix  string
	}{
		{"", "herald-dashboard", false, "herald-dashboard-"},
		{"*", "herald-dashboard", false, "herald-dashboard-"},
		{"ops-*", "ops-herald-dashboard", false, "ops-herald-dashboard-"},
		{"a*b*", "aherald-dashboardb", false, "aherald-dashboard-"},
		{"alice", "alice", true, "alice"},
	} {
		id := clientIDs("herald-dashboard", tt.pattern)
		if id.conn != tt.conn {
			t.Errorf("%q: connection %q, want %q", tt.pattern, id.conn, tt.conn)
		}
		c1, g1 := id.replay("herald-dashboard")
		c2, g2 := id.replay("herald-dashboard")
		if !strings.HasPrefix(c1, tt.replayPrefix) || (g1 != "") != tt.replayGroup {
			t.Errorf("%q: replay %q group %q", tt.pattern, c1, g1)
		}
		if c1 == c2 && g1 == g2 {
			t.Errorf("%q: two replays share %q %q", tt.pattern, c1, g1)
		}
	}
}
