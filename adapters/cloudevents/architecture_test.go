package cloudevents_test

import (
	"testing"

	"github.com/heraldmq/herald/adapters/adaptertest"
)

// The package is built on the client SDK, sdk-go, xid and the
// OpenTelemetry API (trace context, as the client) only.
func TestCEArchitectureImports(t *testing.T) {
	adaptertest.CheckImports(t, ".", "github.com/heraldmq/herald/client", "github.com/heraldmq/herald/client/queuesstream",
		"github.com/cloudevents/sdk-go/v2/...", "github.com/rs/xid", "go.opentelemetry.io/otel/trace", "go.opentelemetry.io/otel/propagation")
}
