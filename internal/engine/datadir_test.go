package engine

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestDataDirLock: a second engine on a data dir that one has open is
// refused, naming the holder; once the first closed, it opens.
func TestDataDirLock(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no data dir lock on this platform")
	}
	dir := t.TempDir()
	e, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(Config{DataDir: dir})
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second engine on the same data dir: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	_ = e2.Close()
}

// TestDataDirUnusable: a data dir that cannot be created is an error
// saying so, before the embedded server starts.
func TestDataDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{DataDir: filepath.Join(file, "data")})
	if err == nil || !strings.Contains(err.Error(), "cannot be created") {
		t.Fatalf("data dir below a file: %v", err)
	}
}

func TestSpaceGuard(t *testing.T) {
	free, err := freeBytes(t.TempDir())
	if err != nil {
		t.Skip("free space unknown here:", err)
	}
	g := &spaceGuard{dir: t.TempDir(), min: 1 << 20}
	if err := g.check(1024); err != nil {
		t.Fatalf("a small write with %d bytes free: %v", free, err)
	}
	g = &spaceGuard{dir: t.TempDir(), min: free + 1<<40} // more than there is
	if err := g.check(1); !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "kept in reserve") {
		t.Fatalf("below the reserve: %v", err)
	}
	if err := (*spaceGuard)(nil).check(1 << 30); err != nil {
		t.Fatalf("no guard: %v", err)
	}
}
