package cloudevents_test

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCEArchitectureImports fails when a non-test file of the package
// imports anything but the standard library, Herald's client, sdk-go and xid.
func TestCEArchitectureImports(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"github.com/heraldmq/herald/client", "github.com/cloudevents/sdk-go/v2", "github.com/rs/xid"}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			ok := false
			for _, a := range allowed {
				if path == a || strings.HasPrefix(path, a+"/") {
					ok = true
				}
			}
			if strings.HasPrefix(path, "github.com/heraldmq/herald/client/") && path != "github.com/heraldmq/herald/client/queuesstream" {
				ok = false
			}
			if !ok {
				t.Errorf("%s imports %s: the package may import the standard library, client, client/queuesstream, sdk-go and xid only", name, path)
			}
		}
	}
}
