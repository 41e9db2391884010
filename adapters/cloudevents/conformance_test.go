package cloudevents_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/cloudevents"
)

// conformanceSubject runs Publish and an ephemeral Listen of the event
// type named by the channel, routed by type (so the events-store channel is
// "cloudevents.<channel>").
func conformanceSubject(name string, assumeHerald *bool) adaptertest.Subject {
	cfg := func(addr string) cloudevents.Config {
		return cloudevents.Config{
			Address: addr, ClientID: adaptertest.UniqueName("conf"), EventRouting: cloudevents.RouteByType, AssumeHerald: assumeHerald,
			ReconnectWait: 200 * time.Millisecond, EventsTimeout: 30 * time.Second, DrainTimeout: 2 * time.Second,
		}
	}
	open := func(addr, channel string) (*cloudevents.EventConn, error) {
		return cloudevents.NewEventConnection(context.Background(), cfg(addr))
	}
	return adaptertest.Subject{
		Start:          startHerald,
		Name:           name,
		Features:       adaptertest.Features{Persistent: true, Ordered: true},
		ErrClosed:      cloudevents.ErrClosed,
		ErrInvalidName: cloudevents.ErrInvalidName,
		Open: func(t *testing.T, srv *adaptertest.Server, channel string) (func(context.Context, []byte) error, func(context.Context) ([]byte, error), func() error) {
			e, err := open(srv.Host+":"+strconv.Itoa(srv.Port), channel)
			if err != nil {
				t.Fatal(err)
			}
			received := make(chan []byte)
			closed := make(chan struct{})
			var once sync.Once
			var wg sync.WaitGroup
			err = e.Listen(context.Background(), map[cloudevents.EventType]cloudevents.EventHandlerFunc{
				cloudevents.EventType(channel): func(ctx context.Context, ev cloudevents.Event, _ cloudevents.EventResponseWriter) error {
					select {
					case received <- ev.Data():
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				},
			}, &wg)
			if err != nil {
				t.Fatal(err)
			}
			closeFn := func() error {
				once.Do(func() {
					close(closed)
					_ = e.Close()
					wg.Wait()
				})
				return nil
			}
			write := func(ctx context.Context, b []byte) error {
				ce := newEvent(t, channel, nil)
				if err := ce.SetData("application/octet-stream", b); err != nil {
					return err
				}
				return e.PublishContext(ctx, ce)
			}
			read := func(ctx context.Context) ([]byte, error) {
				select {
				case <-closed:
					return nil, cloudevents.ErrClosed
				default:
				}
				select {
				case b := <-received:
					return b, nil
				case <-closed:
					return nil, cloudevents.ErrClosed
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return write, read, closeFn
		},
		OpenInvalid: func(t *testing.T, host string, port int, channel string) error {
			// Provision checks the event types before it dials.
			err := cloudevents.Provision(context.Background(), cfg(host+":"+strconv.Itoa(port)), cloudevents.EventType(channel))
			if err != nil && !errors.Is(err, cloudevents.ErrInvalidEventType) {
				t.Errorf("channel %q: %v does not match ErrInvalidEventType", channel, err)
			}
			return err
		},
	}
}

func TestCEConformance(t *testing.T) {
	adaptertest.Run(t, conformanceSubject("detected", nil))
	adaptertest.Run(t, conformanceSubject("assume-herald-false", boolPtr(false)))
}
