package cloudevents_test

import (
	"testing"

	"github.com/heraldmq/herald/adapters/adaptertest"
)

// The package is built on the client SDK, sdk-go and xid only.
func TestCEArchitectureImports(t *testing.T) {
	adaptertest.CheckImports(t, ".", "github.com/heraldmq/herald/client", "github.com/heraldmq/herald/client/queuesstream",
		"github.com/cloudevents/sdk-go/v2/...", "github.com/rs/xid")
}
