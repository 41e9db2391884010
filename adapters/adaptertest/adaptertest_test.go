package adaptertest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/client"
)

var (
	errClosed  = errors.New("sdk subject: closed")
	errInvalid = errors.New("sdk subject: invalid name")
)

// validName is the adapters' channel-name check.
func validName(ch string) error {
	if err := client.ValidateChannel(ch, false); err != nil || client.ReservedPrefix(ch) != "" {
		return fmt.Errorf("%w: %q", errInvalid, ch)
	}
	return nil
}

// sdkSubject is the SDK's events store used directly, the way an adapter
// would: it shows that Run's checks pass on a correct implementation.
func sdkSubject() adaptertest.Subject {
	return adaptertest.Subject{
		Start:          startHerald,
		Name:           "sdk-events-store",
		Features:       adaptertest.Features{Persistent: true, Ordered: true, Replay: true},
		ErrClosed:      errClosed,
		ErrInvalidName: errInvalid,
		Open: func(t *testing.T, srv *adaptertest.Server, channel string) (func(context.Context, []byte) error, func(context.Context) ([]byte, error), func() error) {
			c := srv.Client(t)
			subCtx, cancel := context.WithCancel(context.Background())
			events, err := c.SubscribeToEventsStore(subCtx, channel, "", nil, client.StartFromFirstEvent())
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var once sync.Once
			closeFn := func() error {
				once.Do(func() {
					close(done)
					cancel()
					_ = c.Close()
				})
				return nil
			}
			write := func(ctx context.Context, b []byte) error {
				id := adaptertest.UniqueName("id")
				for {
					r, err := c.ES().SetId(id).SetChannel(channel).SetBody(b).Send(ctx)
					if err == nil && r.Err != nil {
						err = r.Err
					}
					if err == nil || !errors.Is(err, client.ErrUnavailable) {
						return err
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
			read := func(ctx context.Context) ([]byte, error) {
				select {
				case <-done:
					return nil, errClosed
				default:
				}
				select {
				case e, ok := <-events:
					if !ok {
						return nil, errClosed
					}
					return e.Body, nil
				case <-done:
					return nil, errClosed
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return write, read, closeFn
		},
		OpenInvalid: func(t *testing.T, host string, port int, channel string) error {
			return validName(channel)
		},
	}
}

func TestRunOnTheSDK(t *testing.T) {
	adaptertest.Run(t, sdkSubject())
}

func TestNoLeaksSeesALeak(t *testing.T) {
	ft := &fakeT{TB: t}
	stop := make(chan struct{})
	adaptertest.NoLeaks(ft)
	go func() { <-stop }()
	ft.cleanup()
	close(stop)
	if !ft.failed {
		t.Fatal("a goroutine left running was not reported")
	}
}

// fakeT records failures and runs cleanups on demand.
type fakeT struct {
	testing.TB
	failed   bool
	cleanups []func()
}

func (f *fakeT) Cleanup(fn func())     { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Helper()               {}
func (f *fakeT) cleanup() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// adaptertest is public and depends on the client SDK only, like the
// adapters (tests start the broker with server/heraldtest).
func TestImportsOnlyStdlibAndClient(t *testing.T) {
	adaptertest.CheckImports(t, ".", "github.com/heraldmq/herald/client")
}

func TestCheckImportsSeesAForbiddenImport(t *testing.T) {
	dir := t.TempDir()
	src := "package x\n\nimport (\n\t\"fmt\"\n\t\"github.com/nats-io/nats.go\"\n\t\"github.com/cloudevents/sdk-go/v2/event\"\n)\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ft := &fakeT{TB: t}
	adaptertest.CheckImports(ft, dir, "github.com/cloudevents/sdk-go/v2/...")
	if !ft.failed {
		t.Fatal("a NATS import was not reported")
	}
	ft = &fakeT{TB: t}
	adaptertest.CheckImports(ft, dir, "github.com/cloudevents/sdk-go/v2/...", "github.com/nats-io/nats.go")
	if ft.failed {
		t.Fatal("allowed imports were reported")
	}
}
