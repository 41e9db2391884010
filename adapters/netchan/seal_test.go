package netchan_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
	kubemq "github.com/kubemq-io/kubemq-go"
)

func TestNetchanSealRejectsWrites(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv)
	ctx := ctxFor(t, 20*time.Second)
	name := adaptertest.UniqueName("seal")
	p, err := c.OpenPubChannel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, p, 1, 4)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	isErr(t, p.Publish([]byte("late")), netchan.ErrClosed)
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	p2, err := c.OpenPubChannel(ctx, name) // Herald: no pre-check, the server refuses
	if err != nil {
		t.Fatal(err)
	}
	isErr(t, p2.Publish([]byte("after the seal")), netchan.ErrChannelClosed)
	_ = p2.Release()

	// The official SDK is refused too: the seal is the server's.
	kctx, kcancel := context.WithCancel(context.Background())
	defer kcancel()
	kc, err := kubemq.NewClient(kctx, kubemq.WithAddress(srv.Host, srv.Port), kubemq.WithClientId("kubemq-go"),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	res, err := kc.ES().SetChannel("netchan.chan." + name).SetBody([]byte("x")).Send(ctx)
	if err == nil && res != nil {
		err = res.Err
		if res.Sent {
			t.Fatal("kubemq-go stored a message on a sealed channel")
		}
	}
	if err == nil || !strings.Contains(err.Error(), "channel is sealed") {
		t.Fatalf("kubemq-go send to a sealed channel: %v, want \"channel is sealed\"", err)
	}
}

func TestNetchanSealFallbackPrecheck(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv, netchan.AssumeHerald(false))
	ctx := ctxFor(t, 20*time.Second)
	name := adaptertest.UniqueName("fallback")
	p, err := c.OpenPubChannel(ctx, name, netchan.WithCloseCheck(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, p, 1, 6)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenPubChannel(ctx, name); !errors.Is(err, netchan.ErrChannelClosed) {
		t.Fatalf("OpenPubChannel on a closed channel: %v, want ErrChannelClosed", err)
	}
	// A racing writer on a server without seals appends after the marker.
	// Herald seals on the exact value "true", so a marker written as "TRUE"
	// (which netchan readers honour, ignoring case) stands for a marker
	// stored on a server without H2, and the raw append succeeds.
	name2 := adaptertest.UniqueName("fallback.raw")
	raw := rawClient(t, srv)
	send := func(body string, tags map[string]string) {
		t.Helper()
		res, err := raw.ES().SetChannel("netchan.chan." + name2).SetMetadata("netchan/1").SetBody([]byte(body)).SetTags(tags).Send(ctx)
		if err == nil && !res.Sent {
			err = res.Err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	send("one", nil)
	send("", map[string]string{"herald.seal": "TRUE", "netchan.count": "1"})
	send("after the marker", nil)
	for _, ch := range []string{name, name2} {
		s, err := c.OpenSubChannel(ctx, "r", ch)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{name: 5, name2: 1}[ch]
		readN(t, ctx, s.Channel(), want)
		expectClosed(t, ctx, s.Channel())
		if !s.Closed() || s.Err() != nil {
			t.Fatalf("%s: reader did not stop at the marker: Closed %v, Err %v", ch, s.Closed(), s.Err())
		}
		_ = s.Close()
	}
}
