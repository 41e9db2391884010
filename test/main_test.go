package test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the end-to-end tests, then fails the run if any goroutine
// outlived them: every server, client, stream and helper a test started
// must have stopped by then (goleak retries for a while, so goroutines that
// are just finishing are not counted). Goroutines that packages start at
// init, before any test, are ignored.
func TestMain(m *testing.M) {
	atInit := goleak.IgnoreCurrent()
	code := m.Run()
	if code == 0 {
		http.DefaultClient.CloseIdleConnections() // the REST tests' keep-alive connections
		if err := goleak.Find(atInit); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines outlived the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
