package client

import "crypto/rand"

// newID returns a fresh random id (26 characters of base32) for messages,
// requests and batches whose callers left the id empty.
func newID() string { return rand.Text() }
