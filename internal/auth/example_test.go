package auth_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldmq/herald/internal/auth"
)

// A transport's whole check of one request: authenticate the token, then
// authorize what the request declares.
func Example() {
	dir, _ := os.MkdirTemp("", "herald-auth-example")
	defer os.RemoveAll(dir)
	tokens := filepath.Join(dir, "tokens")
	os.WriteFile(tokens, []byte("billing-token-0123456789 billing-*\n"), 0o600)

	g, err := auth.New(auth.Config{
		TokenFile: tokens,
		JWT:       auth.JWTConfig{Algorithm: "HS256", Key: "a secret of at least thirty-two bytes"},
		ACL: `rules:
  - {clients: "billing-*", resources: queues, channels: "invoices.>", actions: [read, write]}
  - {clients: auditor, resources: queues, channels: "invoices.>", actions: read}
`,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()

	check := func(token string, clientID, channel string, act auth.Action) {
		id, err := g.Authenticate(token)
		var ae *auth.Error
		switch {
		case errors.As(err, &ae):
			fmt.Println(ae.KubeMQ())
			return
		case err != nil:
			fmt.Println(err)
			return
		}
		if err := g.Authorize(id, auth.Queues, clientID, channel, act); err != nil {
			fmt.Printf("%s as %s: %v\n", id.Name, clientID, err)
			return
		}
		fmt.Printf("%s as %s: %s %s allowed\n", id.Name, clientID, act, channel)
	}

	auditor, _ := auth.Sign("HS256", []byte("a secret of at least thirty-two bytes"), "",
		map[string]any{"sub": "auditor", "exp": time.Now().Add(time.Hour).Unix()})

	check("billing-token-0123456789", "billing-7", "invoices.eu", auth.Write)
	check("billing-token-0123456789", "auditor", "invoices.eu", auth.Read)
	check(auditor, "auditor", "invoices.eu", auth.Read)
	check(auditor, "auditor", "invoices.eu", auth.Write)
	check("not-a-jwt", "auditor", "invoices.eu", auth.Read)
	// Output:
	// billing-* as billing-7: write invoices.eu allowed
	// billing-* as auditor: auth: client id not allowed for this identity
	// auditor as auditor: read invoices.eu allowed
	// auditor as auditor: auth: access denied
	// Error 421: authentication verification failed, token is malformed: token contains an invalid number of segments
}
