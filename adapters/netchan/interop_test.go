package netchan_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/netchan"
	kubemq "github.com/kubemq-io/kubemq-go"
)

func TestNetchanInteropWire(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv, netchan.WithClientID("interop-writer"))
	ctx := ctxFor(t, 30*time.Second)
	kctx, kcancel := context.WithCancel(context.Background())
	defer kcancel()
	kc, err := kubemq.NewClient(kctx, kubemq.WithAddress(srv.Host, srv.Port), kubemq.WithClientId("kubemq-go"),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	// A topic message, read with the official SDK.
	topic := adaptertest.UniqueName("wire")
	pub, err := c.NewPublisher("pub-7", "ns", topic, netchan.WithPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	et := time.Unix(0, 1234567890123)
	if err := pub.PublishContext(ctx, &netchan.Message{Key: []byte{0, 1, 0xff}, Value: []byte("payload"),
		Headers: map[string][]byte{"bin": {0xfe, 0}}, EventTime: et}); err != nil {
		t.Fatal(err)
	}
	ch := "netchan.topic.ns." + topic + ".0"
	errCh := make(chan error, 1)
	evs, err := kc.SubscribeToEventsStore(kctx, ch, "", errCh, kubemq.StartFromFirstEvent())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-evs:
		want := map[string]string{
			"netchan.key": base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}), "netchan.h.bin": base64.StdEncoding.EncodeToString([]byte{0xfe, 0}),
			"netchan.event_time": strconv.FormatInt(et.UnixNano(), 10), "netchan.partitions": "1", "netchan.publisher": "pub-7",
		}
		if ev.Channel != ch || ev.Metadata != "netchan/1" || string(ev.Body) != "payload" || ev.Sequence != 1 {
			t.Fatalf("kubemq-go read %+v", ev)
		}
		for k, v := range want {
			if ev.Tags[k] != v {
				t.Fatalf("tag %s = %q, want %q (all: %v)", k, ev.Tags[k], v, ev.Tags)
			}
		}
	case err := <-errCh:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("kubemq-go read nothing")
	}

	// A raw send by the official SDK, read by a SubChannel.
	name := adaptertest.UniqueName("wire.raw")
	res, err := kc.ES().SetChannel("netchan.chan." + name).SetMetadata("netchan/1").SetBody([]byte("from kubemq-go")).Send(ctx)
	if err != nil || !res.Sent {
		t.Fatalf("kubemq-go send: %v, %v", res, err)
	}
	s, err := c.OpenSubChannel(ctx, "interop", name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m := readN(t, ctx, s.Messages(), 1)[0]; !bytes.Equal(m.Value, []byte("from kubemq-go")) || m.Channel != "netchan.chan."+name {
		t.Fatalf("SubChannel read %+v", m)
	}
}

func TestNetchanBadInput(t *testing.T) {
	// Nothing listens: every row must fail before any network call.
	host, port := adaptertest.ClosedAddress(t)
	c := netchan.NewMessagingClient(host + ":" + strconv.Itoa(port))
	defer c.Close()
	sub := func(opts ...netchan.SubOption) error { _, err := c.NewSubChannel("s", "ok", opts...); return err }
	pubc := func(opts ...netchan.PubOption) error { _, err := c.NewPubChannel("ok", opts...); return err }
	for _, tc := range []struct {
		name string
		err  error
		call func() error
	}{
		{"empty channel name", netchan.ErrInvalidName, func() error { _, err := c.NewPubChannel(""); return err }},
		{"white space", netchan.ErrInvalidName, func() error { _, err := c.NewSubChannel("s", "a b"); return err }},
		{"wildcard", netchan.ErrInvalidName, func() error { _, err := c.NewSubChannel("s", "a.*"); return err }},
		{"reserved", netchan.ErrInvalidName, func() error { _, err := c.NewPubChannel("_herald.x"); return err }},
		{"delete invalid", netchan.ErrInvalidName, func() error { return c.DeleteChannel("a..b") }},
		{"dot in namespace", netchan.ErrInvalidName, func() error { _, err := c.NewPublisher("p", "a.b", "t"); return err }},
		{"empty topic", netchan.ErrInvalidName, func() error { _, err := c.NewSubscriber("s", "ns", "", -1, time.Time{}); return err }},
		{"delete topic invalid", netchan.ErrInvalidName, func() error { return c.DeleteTopic("", "t") }},
		{"partition -2", netchan.ErrInvalidPartition, func() error { _, err := c.NewSubscriber("s", "ns", "t", -2, time.Time{}); return err }},
		{"partition = P", netchan.ErrInvalidPartition, func() error { _, err := c.NewSubscriber("s", "ns", "t", 4, time.Time{}); return err }},
		{"0 partitions", netchan.ErrInvalidPartition, func() error { _, err := c.NewPublisher("p", "ns", "t", netchan.WithPartitions(0)); return err }},
		{"1025 partitions", netchan.ErrInvalidPartition, func() error { _, err := c.NewPublisher("p", "ns", "t", netchan.WithPartitions(1025)); return err }},
		{"FromSequence(0)", netchan.ErrInvalidOption, func() error { return sub(netchan.FromSequence(0)) }},
		{"WithBuffer(-1)", netchan.ErrInvalidOption, func() error { return sub(netchan.WithBuffer(-1)) }},
		{"WithAsync(0)", netchan.ErrInvalidOption, func() error { return pubc(netchan.WithAsync(0)) }},
		{"Resume without id", netchan.ErrInvalidOption, func() error { _, err := c.NewSubChannel("", "ok", netchan.Resume()); return err }},
		{"bad address", netchan.ErrInvalidOption, func() error {
			_, err := netchan.Dial(context.Background(), netchan.WithAddresses("h:notaport"))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call()
			if !errorsIs(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("took %v: not refused before the network", d)
			}
		})
	}
	// Rows that need a publisher handle, which needs a server.
	srv := newServer(t)
	sc := dial(t, srv)
	p, err := sc.NewPublisher("p", "ns", adaptertest.UniqueName("bad"))
	if err != nil {
		t.Fatal(err)
	}
	isErr(t, p.Publish(nil), netchan.ErrNilMessage)
	isErr(t, p.Publish(&netchan.Message{Headers: map[string][]byte{"": nil}}), netchan.ErrInvalidHeader)
	isErr(t, p.Publish(&netchan.Message{Headers: map[string][]byte{"\xff": nil}}), netchan.ErrInvalidHeader)
	p.Shutdown()
	isErr(t, p.Publish(&netchan.Message{}), netchan.ErrClosed)
	// All addresses unreachable: the first operation lists each failure.
	h2, p2 := adaptertest.ClosedAddress(t)
	dead := netchan.NewMessagingClient(host+":"+strconv.Itoa(port), h2+":"+strconv.Itoa(p2))
	defer dead.Close()
	_, err = dead.NewPubChannel("ok")
	var ce *netchan.ConnectError
	if !errorsAs(err, &ce) || len(ce.Addresses) != 2 || len(ce.Errs) != 2 || !errorsIs(err, netchan.ErrConnect) {
		t.Fatalf("unreachable brokers: %v, want a ConnectError for both addresses", err)
	}
}

// The package is built on the client SDK and xxhash only.
func TestNetchanArchitecture(t *testing.T) {
	adaptertest.CheckImports(t, ".", "github.com/heraldmq/herald/client", "github.com/heraldmq/herald/client/queuesstream",
		"github.com/cespare/xxhash/v2")
}
