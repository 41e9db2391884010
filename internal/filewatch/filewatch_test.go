package filewatch

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// renameOver replaces path atomically, as editors and cert-manager do.
func renameOver(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestPollSeesEachKindOfChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acl.yaml")
	write(t, path, "one")

	var reloads atomic.Int32
	w := New(0)
	w.Add(func() { reloads.Add(1) }, path, "")
	defer w.Close()

	steps := []struct {
		name   string
		change func()
		want   int32 // reloads after the step's poll
	}{
		{"no change", func() {}, 0},
		{"rewrite in place, same size", func() { write(t, path, "two") }, 1},
		{"same content again", func() { write(t, path, "two") }, 1},
		{"atomic rename", func() { renameOver(t, path, "three") }, 2},
		{"removed", func() { os.Remove(path) }, 3},
		{"still missing", func() {}, 3},
		{"back", func() { write(t, path, "three") }, 4},
	}
	for _, s := range steps {
		s.change()
		w.Poll()
		if got := reloads.Load(); got != s.want {
			t.Fatalf("%s: %d reloads, want %d", s.name, got, s.want)
		}
	}
}

// Kubernetes mounts a Secret as name -> ..data/name, with ..data a symlink
// to a timestamped directory that an update swaps atomically.
func TestPollSeesKubernetesSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"v1", "v2"} {
		if err := os.Mkdir(filepath.Join(dir, v), 0o700); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, v, "tls.crt"), "cert "+v)
	}
	if err := os.Symlink("v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "tls.crt"), filepath.Join(dir, "tls.crt")); err != nil {
		t.Fatal(err)
	}

	var reloads atomic.Int32
	w := New(0)
	w.Add(func() { reloads.Add(1) }, filepath.Join(dir, "tls.crt"))
	defer w.Close()

	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink("v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	w.Poll()
	if got := reloads.Load(); got != 1 {
		t.Fatalf("%d reloads after the swap, want 1", got)
	}
}

func TestGroupsReloadIndependently(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "a")
	write(t, b, "b")
	var ra, rb atomic.Int32
	w := New(0)
	w.Add(func() { ra.Add(1) }, a)
	w.Add(func() { rb.Add(1) }, b)
	write(t, b, "b2")
	w.Poll()
	if ra.Load() != 0 || rb.Load() != 1 {
		t.Fatalf("reloads a=%d b=%d, want 0 and 1", ra.Load(), rb.Load())
	}
}

func TestStartPollsUntilClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	write(t, path, "x")
	reloaded := make(chan struct{}, 1)
	w := New(5 * time.Millisecond)
	w.Add(func() {
		select {
		case reloaded <- struct{}{}:
		default:
		}
	}, path)
	w.Start()
	w.Start() // a second Start is a no-op
	renameOver(t, path, "y")
	select {
	case <-reloaded:
	case <-time.After(5 * time.Second):
		t.Fatal("no reload within 5s")
	}
	w.Close()
	w.Close() // idempotent
}

func TestStartWithoutIntervalOrFilesDoesNothing(t *testing.T) {
	w := New(0)
	w.Add(func() { t.Error("reload called") }, filepath.Join(t.TempDir(), "f"))
	w.Start()
	w.Close()

	w = New(time.Millisecond)
	w.Add(func() {}, "")
	w.Start()
	w.Close()

	w = New(time.Millisecond)
	w.Close()
	w.Start() // after Close: nothing starts
	w.Close()
}
