package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/server"
)

// readyLine is the line `herald server` prints once gRPC accepts calls.
var readyLine = regexp.MustCompile(`^herald \S+: gRPC on (\S+), data in (.+)$`)

// lines sends every line read from r on the returned channel, which is
// closed at EOF.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// waitReady returns the gRPC address from the ready line, failing the test
// if it does not come within timeout.
func waitReady(t *testing.T, out <-chan string, timeout time.Duration, diag func() string) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-out:
			if !ok {
				t.Fatalf("stdout closed before the ready line; stderr:\n%s", diag())
			}
			if m := readyLine.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		case <-deadline:
			t.Fatalf("no ready line within %v; stderr:\n%s", timeout, diag())
		}
	}
}

// ping calls /kubemq.kubemq/Ping on addr with plain gRPC.
func ping(t *testing.T, addr string) *kubemqpb.PingResult {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res kubemqpb.PingResult
	if err := conn.Invoke(ctx, "/"+kubemqpb.WireServiceName+"/Ping", &kubemqpb.Empty{}, &res); err != nil {
		t.Fatalf("Ping %s: %v", addr, err)
	}
	return &res
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunServerShutsDownWhenContextEnds(t *testing.T) {
	cfg, err := load(t, []string{"--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--host", "inproc", "--log-format", "json", "--log-level", "debug"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		err := runServer(ctx, cfg, pw, &stderr)
		pw.Close()
		done <- err
	}()
	out := lines(pr)
	addr := waitReady(t, out, 30*time.Second, stderr.String)
	if res := ping(t, addr); res.Host != "inproc" {
		t.Errorf("Ping host %q, want inproc", res.Host)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runServer: %v", err)
		}
	case <-time.After(cfg.ShutdownTimeout + 5*time.Second):
		t.Fatal("runServer did not return after the context ended")
	}
	for range out { // drain
	}
	if !strings.Contains(stderr.String(), `"msg":"herald started"`) {
		t.Errorf("no JSON start log on stderr:\n%s", stderr.String())
	}
}

// TestHeraldBinary builds the real binary once and runs it as users do.
func TestHeraldBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the herald binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found:", err)
	}
	bin := filepath.Join(t.TempDir(), "herald")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The binary sees no HERALD_* variables from the test's environment.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	herald := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = slices.Clone(env)
		cmd.Dir = t.TempDir()
		return cmd
	}

	t.Run("PingThenSIGTERM", func(t *testing.T) {
		dataDir := t.TempDir()
		cmd := herald("server", "--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0", "--data-dir", dataDir, "--host", "e2e-node")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		out := lines(stdout)
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		addr := waitReady(t, out, 60*time.Second, stderr.String)
		go func() { // only after the ready line: the drain must not take it
			for range out { // read stdout to EOF before Wait closes the pipe
			}
			exited <- cmd.Wait()
		}()

		res := ping(t, addr)
		if res.Host != "e2e-node" || !strings.Contains(res.Version, server.Version) {
			t.Errorf("Ping = host %q version %q, want e2e-node and a version containing %s", res.Host, res.Version, server.Version)
		}

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("still running 30s after SIGTERM; stderr:\n%s", stderr.String())
		}
		if !strings.Contains(stderr.String(), "herald stopped") {
			t.Errorf("no shutdown log on stderr:\n%s", stderr.String())
		}
	})

	t.Run("Version", func(t *testing.T) {
		out, err := herald("--version").Output()
		if err != nil || !strings.Contains(string(out), server.Version) {
			t.Errorf("herald --version = %q, %v; want %s", out, err, server.Version)
		}
	})

	t.Run("CheckConfigOK", func(t *testing.T) {
		cmd := herald("server", "--check-config", "--config", "herald.example.yaml")
		cmd.Dir = "." // the package directory, where the example lives
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "configuration OK\n" {
			t.Errorf("--check-config on the example = %q, %v", out, err)
		}
	})

	badConfig := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("grpc-adr: :1\nstore-max-age: forever\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	failures := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"UnknownFlag", []string{"server", "--grpc-adr", ":1"}, nil, "herald: unknown flag: --grpc-adr"},
		{"UnknownCommand", []string{"serve"}, nil, `herald: unknown command "serve"`},
		{"ExtraArgument", []string{"server", "now"}, nil, `herald: unknown command "now"`},
		{"BadFlagValue", []string{"server", "--store-max-age", "soon"}, nil, "herald: invalid store-max-age"},
		{"BadEnvValue", []string{"server"}, []string{"HERALD_LOG_LEVEL=loud"}, "(env HERALD_LOG_LEVEL)"},
		{"BadConfigFile", []string{"server", "--config", badConfig}, nil, `unknown key "grpc-adr"`},
		{"BadConfigFileChecked", []string{"server", "--check-config", "--config", badConfig}, nil, "invalid store-max-age"},
		{"MissingConfigFile", []string{"server", "--config", badConfig + ".missing"}, nil, "no such file"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			cmd := herald(tt.args...)
			cmd.Env = append(cmd.Env, tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
				t.Fatalf("exit: %v, want exit status 1", err)
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "herald: ") || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q, want one line starting 'herald: ' containing %q", msg, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
