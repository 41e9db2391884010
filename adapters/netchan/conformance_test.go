package netchan_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
)

func TestNetchanConformance(t *testing.T) {
	for _, herald := range []bool{true, false} {
		var opts []netchan.Option
		suffix := "herald"
		if !herald {
			opts, suffix = []netchan.Option{netchan.AssumeHerald(false)}, "portable"
		}
		adaptertest.Run(t, channelSubject("channels-"+suffix, opts))
		adaptertest.Run(t, topicSubject("topic-"+suffix, opts))
	}
}

// openInvalid opens through a lazily connecting client on an address
// where nothing listens: a name must be refused before any network call.
func openInvalid(open func(c *netchan.Client, channel string) error) func(t *testing.T, host string, port int, channel string) error {
	return func(t *testing.T, host string, port int, channel string) error {
		c := netchan.NewMessagingClient(fmt.Sprintf("%s:%d", host, port))
		defer c.Close()
		return open(c, channel)
	}
}

func channelSubject(name string, opts []netchan.Option) adaptertest.Subject {
	return adaptertest.Subject{
		Start:          startHerald,
		Name:           name,
		Features:       adaptertest.Features{Persistent: true, Ordered: true, Replay: true},
		ErrClosed:      netchan.ErrClosed,
		ErrInvalidName: netchan.ErrInvalidName,
		Open: func(t *testing.T, srv *adaptertest.Server, channel string) (func(context.Context, []byte) error, func(context.Context) ([]byte, error), func() error) {
			c := dial(t, srv, opts...)
			ctx := ctxFor(t, 10*time.Second)
			p, err := c.OpenPubChannel(ctx, channel, netchan.WithCloseCheck(200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.OpenSubChannel(ctx, "conformance", channel)
			if err != nil {
				t.Fatal(err)
			}
			view := s.Channel()
			read := func(ctx context.Context) ([]byte, error) {
				select {
				case m, ok := <-view:
					if !ok {
						return nil, fmt.Errorf("view closed: %w", s.Err())
					}
					return m, nil
				case <-ctx.Done():
					return nil, fmt.Errorf("read: %w", ctx.Err())
				}
			}
			var once sync.Once
			closeFn := func() error {
				once.Do(func() {
					_ = p.Release()
					_ = s.Close()
					_ = c.Close()
				})
				return nil
			}
			return p.PublishContext, read, closeFn
		},
		OpenInvalid: openInvalid(func(c *netchan.Client, channel string) error {
			_, perr := c.NewPubChannel(channel)
			_, serr := c.NewSubChannel("conformance", channel)
			if !errors.Is(perr, netchan.ErrInvalidName) {
				return perr
			}
			return serr
		}),
	}
}

func topicSubject(name string, opts []netchan.Option) adaptertest.Subject {
	one := netchan.WithPartitions(1)
	return adaptertest.Subject{
		Start:          startHerald,
		Name:           name,
		Features:       adaptertest.Features{Persistent: true, Ordered: true, Replay: true},
		ErrClosed:      netchan.ErrClosed,
		ErrInvalidName: netchan.ErrInvalidName,
		Open: func(t *testing.T, srv *adaptertest.Server, channel string) (func(context.Context, []byte) error, func(context.Context) ([]byte, error), func() error) {
			c := dial(t, srv, opts...)
			pub, err := c.NewPublisher("conformance", "conf", channel, one)
			if err != nil {
				t.Fatal(err)
			}
			sub, err := c.NewSubscriber("conformance", "conf", channel, -1, time.Time{}, one)
			if err != nil {
				t.Fatal(err)
			}
			msgs := make(chan []byte)
			ended := make(chan struct{})
			go func() {
				defer close(ended)
				_ = sub.SubscribeContext(context.Background(), func(ctx context.Context, m *netchan.Message) error {
					select {
					case msgs <- m.Value:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
			}()
			write := func(ctx context.Context, b []byte) error {
				return pub.PublishContext(ctx, &netchan.Message{Value: b})
			}
			read := func(ctx context.Context) ([]byte, error) {
				select {
				case m := <-msgs:
					return m, nil
				case <-ended:
					if err := sub.Err(); err != nil {
						return nil, err
					}
					return nil, netchan.ErrClosed // Subscribe returned after Close
				case <-ctx.Done():
					return nil, fmt.Errorf("read: %w", ctx.Err())
				}
			}
			var once sync.Once
			closeFn := func() error {
				once.Do(func() {
					_ = pub.Close()
					_ = sub.Close()
					<-ended
					_ = c.Close()
				})
				return nil
			}
			return write, read, closeFn
		},
		OpenInvalid: openInvalid(func(c *netchan.Client, channel string) error {
			_, perr := c.NewPublisher("p", "conf", channel, one)
			_, serr := c.NewSubscriber("s", "conf", channel, -1, time.Time{}, one)
			if !errors.Is(perr, netchan.ErrInvalidName) {
				return perr
			}
			return serr
		}),
	}
}
