package bus_test

import (
	"testing"

	"github.com/heraldmq/herald/adapters/adaptertest"
)

// The package is built on the client SDK only.
func TestBusImportsOnlyStdlibAndClient(t *testing.T) {
	adaptertest.CheckImports(t, ".", "github.com/heraldmq/herald/client", "github.com/heraldmq/herald/client/queuesstream",
		"go.opentelemetry.io/otel/trace") // the OpenTelemetry API, for trace context, as the client
}
