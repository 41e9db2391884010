package adaptertest_test

import (
	"testing"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/server/heraldtest"
)

// startHerald starts an in-process Herald for t, shut down when t ends: the
// broker of the conformance checks (Subject.Start).
func startHerald(t testing.TB) adaptertest.Broker { return heraldtest.NewServer(t) }
