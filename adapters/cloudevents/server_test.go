package cloudevents_test

import (
	"testing"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/server/heraldtest"
)

// startHerald starts an in-process Herald for t, shut down when t ends: the
// broker of the conformance checks (Subject.Start).
func startHerald(t testing.TB) adaptertest.Broker { return heraldtest.NewServer(t) }

// newServer starts an in-process Herald for t.
func newServer(t testing.TB) *adaptertest.Server { return adaptertest.NewServer(t, startHerald(t)) }
