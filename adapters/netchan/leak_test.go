package netchan_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
)

func TestNetchanNoLeaks(t *testing.T) {
	adaptertest.NoLeaks(t)
	srv := newServer(t)
	ctx := ctxFor(t, 30*time.Second)
	c, err := netchan.Dial(ctx, netchan.WithAddresses(srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	name := adaptertest.UniqueName("leaks")
	p, err := c.OpenPubChannel(ctx, name, netchan.WithAsync(8))
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, p, 0, 20)
	s, err := c.OpenSubChannel(ctx, "leaks", name)
	if err != nil {
		t.Fatal(err)
	}
	readN(t, ctx, s.Channel(), 20)
	r, err := c.OpenSubChannel(ctx, "cursor", name, netchan.Resume(), netchan.WithBuffer(4))
	if err != nil {
		t.Fatal(err)
	}
	readN(t, ctx, r.Channel(), 1)
	pub, err := c.NewPublisher("p", "ns", name)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(&netchan.Message{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	sub, err := c.NewSubscriber("s", "ns", name, -1, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- sub.SubscribeContext(context.Background(), func(context.Context, *netchan.Message) error { return nil })
	}()
	// Handles closed one by one, the last ones (subscriber, Resume reader)
	// by the client's Close.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_ = pub.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Subscribe after the client closed: %v", err)
	}
	isErr(t, r.Err(), netchan.ErrClosed)
	if _, err := c.OpenSubChannel(ctx, "late", name); err == nil {
		t.Fatal("open after Close succeeded")
	}
}
