package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// tokenTable is a parsed static token file. Only the SHA-256 of each token
// is kept.
type tokenTable struct {
	entries []tokenEntry
}

type tokenEntry struct {
	sum     [sha256.Size]byte
	pattern string
}

// parseTokens reads "token client-id-pattern" lines. Lines whose first
// non-blank character is "#" are comments; blank lines are skipped. A
// token is at least MinStaticTokenSize bytes and appears once.
func parseTokens(data []byte) (*tokenTable, error) {
	t := &tokenTable{}
	seen := make(map[[sha256.Size]byte]int)
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			errs = append(errs, fmt.Errorf("line %d: want \"token client-id-pattern\", got %d fields", n, len(f)))
			continue
		}
		if len(f[0]) < MinStaticTokenSize {
			errs = append(errs, fmt.Errorf("line %d: token shorter than %d bytes", n, MinStaticTokenSize))
			continue
		}
		sum := sha256.Sum256([]byte(f[0]))
		if prev, dup := seen[sum]; dup {
			errs = append(errs, fmt.Errorf("line %d: same token as line %d", n, prev))
			continue
		}
		seen[sum] = n
		t.entries = append(t.entries, tokenEntry{sum: sum, pattern: f[1]})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// lookup returns the client-id pattern of token. It compares the token's
// hash with every entry, without stopping at a match, so the time taken
// says nothing about which entry matched or how much of a token was right.
func (t *tokenTable) lookup(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], t.entries[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return t.entries[found].pattern, true
}

// readFile reads a configuration file of at most MaxFileSize bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(bufio.NewReader(f), MaxFileSize+1)); err != nil {
		return nil, fmt.Errorf("auth: read %s: %w", path, err)
	}
	if buf.Len() > MaxFileSize {
		return nil, fmt.Errorf("auth: %s is larger than %d bytes", path, MaxFileSize)
	}
	return buf.Bytes(), nil
}
