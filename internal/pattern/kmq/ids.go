package kmq

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// NewID returns a fresh random id (26 characters of base32) for events,
// requests and messages whose senders left the id empty.
func NewID() string { return rand.Text() }

// NewUUID returns a random (version 4) UUID in its 36-character text form.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// Token is a readable prefix of s and a hash of it: unique per s, and valid
// in engine stream and consumer names and in key-value keys, whatever s
// holds. Channel, client and group names become parts of engine names
// through it.
func Token(s string) string {
	sum := sha256.Sum256([]byte(s))
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 48 {
			break
		}
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(sum[:8]))
	return b.String()
}
