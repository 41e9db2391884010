package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/internal/engine"
	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// mountTmpfs mounts a tmpfs with the given mount options on a new
// directory and unmounts it at cleanup; it skips the test, saying why,
// where the machine does not let the test mount.
func mountTmpfs(t *testing.T, options string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("mounts a tmpfs: Linux only")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

func freeSpace(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fill grows the file path until the file system of dir has at most
// leave bytes free.
func fill(t *testing.T, dir, path string, leave int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, 1<<20)
	for _, chunk := range []int{1 << 20, 4096} {
		for freeSpace(t, dir) > leave+int64(chunk) {
			if _, err := f.Write(buf[:chunk]); err != nil {
				if errors.Is(err, syscall.ENOSPC) {
					break
				}
				t.Fatal(err)
			}
		}
	}
	if leave == 0 { // the last bytes
		for {
			if _, err := f.Write(buf[:512]); err != nil {
				break
			}
		}
	}
}

const notStored = "not stored: the data dir's file system is full"

// wantRefused fails unless every kind of stored send is refused in-band
// with the disk-full error, and none reports success.
func wantRefused(t *testing.T, cl pb.KubemqClient, q, es string) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	if res := qSendRaw(t, cl, qMsg(q, "full")); !res.IsError || !strings.Contains(res.Error, notStored) || res.SentAt != 0 {
		t.Fatalf("queue send on a full disk: %+v", res)
	}
	delayed := qMsg(q, "full-delayed")
	delayed.Policy = &pb.QueueMessagePolicy{DelaySeconds: 1}
	if res := qSendRaw(t, cl, delayed); !res.IsError || !strings.Contains(res.Error, notStored) {
		t.Fatalf("delayed queue send on a full disk: %+v", res)
	}
	batch, err := cl.SendQueueMessagesBatch(ctx, &pb.QueueMessagesBatchRequest{Messages: []*pb.QueueMessage{qMsg(q, "full-1"), qMsg(q, "full-2")}})
	if err != nil || !batch.HaveErrors || len(batch.Results) != 2 {
		t.Fatalf("batch on a full disk: %v %+v", err, batch)
	}
	for _, r := range batch.Results {
		if !r.IsError || !strings.Contains(r.Error, notStored) || r.SentAt != 0 {
			t.Fatalf("batch item on a full disk: %+v", r)
		}
	}
	ev, err := cl.SendEvent(ctx, &pb.Event{ClientID: "c", Channel: es, Body: []byte("full"), Store: true})
	if err != nil || ev.Sent || !strings.Contains(ev.Error, notStored) {
		t.Fatalf("events-store send on a full disk: %v %+v", err, ev)
	}
	stream, err := cl.SendEventsStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.Event{EventID: "s", ClientID: "c", Channel: es, Body: []byte("full"), Store: true}); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.Sent || !strings.Contains(r.Error, notStored) {
		t.Fatalf("events-store stream send on a full disk: %v %+v", err, r)
	}
	_ = stream.CloseSend()
	// Events are not stored: they still go through.
	if res, err := cl.SendEvent(ctx, &pb.Event{ClientID: "c", Channel: "disk.live", Body: []byte("x")}); err != nil || !res.Sent {
		t.Fatalf("plain event on a full disk: %v %+v", err, res)
	}
}

// TestDiskFull runs Herald on a small file system and fills it: first below
// the space Herald keeps in reserve, then to the last byte, as another
// program would. Stored sends are refused with a clear error and never
// reported stored; what was stored can still be read, acknowledged and
// subscribed to; once the filler is deleted Herald takes sends again by
// itself, and after a restart everything stored is there, in order.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "size=192m")
	srv := heraldtest.NewServer(t, server.Options{DataDir: filepath.Join(dir, "data")})
	cl := rawClient(t, srv)
	q, es := uniq("disk.q"), uniq("disk.es")
	qSendBodies(t, cl, q, bodies(1, 6)...)
	store(t, cl, es, bodies(1, 3)...)

	// Below the reserve (64 MiB) but not full: Herald's own rule.
	filler := filepath.Join(dir, "filler")
	fill(t, dir, filler, 24<<20)
	var stored []string // sends made before Herald read the new free space: really stored
	eventually(t, 10*time.Second, func() error {
		body := fmt.Sprintf("probe%d", len(stored))
		if res := qSendRaw(t, cl, qMsg(q, body)); !res.IsError {
			stored = append(stored, body)
			return errors.New("still stored")
		}
		return nil
	})
	wantRefused(t, cl, q, es)
	qWant(t, "below the reserve", qTake(t, cl, q, 2, 1), bodies(1, 2), nil, nil)
	wantSeqs(t, esSub(t, cl, es, "reader1", "", pb.Subscribe_StartFromFirst, 0), 1, 2, 3)

	// To the last byte: Herald releases its reserve file, so reads,
	// acknowledgements and new subscriptions still find room.
	fill(t, dir, filler, 0)
	eventually(t, 10*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(srv.DataDir, engine.ReserveFile)); err == nil {
			return errors.New("the reserve file is still there")
		}
		return nil
	})
	wantRefused(t, cl, q, es)
	qWant(t, "on a full disk", qTake(t, cl, q, 2, 1), bodies(3, 4), nil, nil)
	wantSeqs(t, esSub(t, cl, es, "reader2", "", pb.Subscribe_StartFromFirst, 0), 1, 2, 3)

	// Space returns: sends are taken again, without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		if res := qSendRaw(t, cl, qMsg(q, "after")); res.IsError {
			return errors.New(res.Error)
		}
		return nil
	})
	store(t, cl, es, "b4")
	want := append(append(bodies(5, 6), stored...), "after")
	qWant(t, "after space returned", qTake(t, cl, q, 100, 1), want, nil, nil)

	// Nothing stored was lost or damaged, and nothing refused was stored.
	srv.Restart()
	cl = rawClient(t, srv)
	wantSeqs(t, esSub(t, cl, es, "reader3", "", pb.Subscribe_StartFromFirst, 0), 1, 2, 3, 4)
	qWantEmpty(t, cl, q)
	healthy(t, cl)
}

// TestDataDirInUse: a second server on a data dir that a running server
// uses is refused, with the lock file and the holder in the error, and
// the first one goes on; `herald server` says so in one line and exits 1.
func TestDataDirInUse(t *testing.T) {
	srv := heraldtest.NewServer(t)
	second, err := server.New(server.Options{DataDir: srv.DataDir, GRPCAddr: "127.0.0.1:0", RESTAddr: server.RESTOff})
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start()
	if !errors.Is(err, engine.ErrDataDirInUse) || !strings.Contains(err.Error(), filepath.Join(srv.DataDir, engine.LockFile)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("second server on the same data dir: %v", err)
	}
	_ = second.Shutdown(context.Background())
	healthy(t, rawClient(t, srv))

	if testing.Short() {
		return
	}
	out, code := runHeraldServer(t, buildHerald(t), srv.DataDir)
	if code != 1 || !strings.HasPrefix(out, "herald: ") || strings.Count(out, "\n") != 1 || !strings.Contains(out, "data dir in use") {
		t.Fatalf("herald server on a data dir in use: exit %d, stderr %q; want exit 1 and one line", code, out)
	}
}

// runHeraldServer runs `herald server` on dataDir, which must fail to
// start, and returns its stderr and exit code.
func runHeraldServer(t *testing.T, bin, dataDir string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "server", "--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--rest-addr", "off")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("herald server on %s: %v (it should have failed to start)", dataDir, err)
	}
	return stderr.String(), exit.ExitCode()
}

// TestDataDirUnusableAtStart: a data dir on a read-only file system, one
// that cannot be created, and one that is a file: `herald server` prints one
// clear line and exits 1.
func TestDataDirUnusableAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, dataDir, want string }{
		{"below a file", filepath.Join(file, "data"), "cannot be created"},
		{"a file", file, "cannot be created"},
	}
	if ro := mountTmpfsOrEmpty(t, "size=1m,ro"); ro != "" {
		cases = append(cases,
			struct{ name, dataDir, want string }{"read-only, missing", filepath.Join(ro, "data"), "read-only file system"},
			struct{ name, dataDir, want string }{"read-only, present", ro, "read-only file system"})
	}
	for _, tc := range cases {
		out, code := runHeraldServer(t, bin, tc.dataDir)
		if code != 1 || !strings.HasPrefix(out, "herald: ") || strings.Count(out, "\n") != 1 || !strings.Contains(out, tc.want) ||
			!strings.Contains(out, tc.dataDir) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and one line naming %s and %q", tc.name, code, out, tc.dataDir, tc.want)
		}
	}
}

// mountTmpfsOrEmpty is mountTmpfs that logs and returns "" instead of
// skipping where mounting is not allowed.
func mountTmpfsOrEmpty(t *testing.T, options string) string {
	t.Helper()
	dir := t.TempDir()
	if runtime.GOOS != "linux" {
		t.Log("read-only data dir not tested: mounts a tmpfs, Linux only")
		return ""
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Logf("read-only data dir not tested: cannot mount a tmpfs here: %v: %s", err, strings.TrimSpace(string(out)))
		return ""
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}
