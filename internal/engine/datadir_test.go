package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestStoreRestartsAfterWriteFailure: with no reserve, the store itself
// meets a full file system and fails a write; once space returns the engine
// restarts JetStream by itself, writes work again and what was stored
// before is intact.
func TestStoreRestartsAfterWriteFailure(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mounts a tmpfs: Linux only")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	e, err := Open(Config{DataDir: filepath.Join(dir, "data"), MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	ctx := context.Background()
	if err := e.EnsureStream(ctx, StreamSpec{Name: "F", Subjects: []string{"f.>"}}); err != nil {
		t.Fatal(err)
	}
	publish := func(body string) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := e.PublishStored(ctx, "f.x", []byte(body), PubOpts{})
		return err
	}
	for i := range 10 {
		if err := publish(fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for { // the last bytes
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
	_ = f.Close()
	// Writes that still fit the file system's last allocated page are
	// stored; then the store fails one.
	stored := 10
	for i := 0; !e.writeFailed.Load(); i++ {
		if i == 10000 {
			t.Fatal("the store never failed a write on a full file system")
		}
		if err := publish(fmt.Sprint("m", stored)); err == nil {
			stored++
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for publish("after") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not take writes again after space returned")
		}
	}
	for i := range stored {
		m, err := e.NextMsg(ctx, "F", uint64(i+1), "f.x")
		if err != nil || m == nil || string(m.Data) != fmt.Sprint("m", i) {
			t.Fatalf("message %d after the restart: %v %+v", i+1, err, m)
		}
	}
}
