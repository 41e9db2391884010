package test

import (
	"strings"
	"testing"
	"time"

	"github.com/kubemq-io/kubemq-go"

	"github.com/heraldmq/herald/server/heraldtest"
)

func TestSmokePingAndEvent(t *testing.T) {
	srv := heraldtest.NewServer(t)
	c := newClient(t, srv, "smoke")
	ctx := testCtx(t, 20*time.Second)
	info, err := c.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.Version, "2.4.0+herald.") {
		t.Fatalf("version %q", info.Version)
	}
	ch := uniq("smoke")
	errCh := make(chan error, 1)
	evs, err := c.SubscribeToEvents(ctx, ch, "", errCh)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := c.E().SetChannel(ch).SetBody([]byte("hi")).Send(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-evs:
		if string(ev.Body) != "hi" {
			t.Fatalf("body %q", ev.Body)
		}
	case err := <-errCh:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no event")
	}
	res, err := c.ES().SetChannel(ch).SetBody([]byte("stored")).Send(ctx)
	if err != nil || !res.Sent {
		t.Fatalf("es send: %v %+v", err, res)
	}
	stored, err := c.SubscribeToEventsStore(ctx, ch, "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-stored:
		if string(ev.Body) != "stored" || ev.Sequence != 1 {
			t.Fatalf("got %+v", ev)
		}
	case err := <-errCh:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no stored event")
	}
}
