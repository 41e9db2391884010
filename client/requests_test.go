package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/client/common"
)

// respond answers every command received on cmds with fn's error.
func respondCommands(ctx context.Context, c *client.Client, cmds <-chan *client.CommandReceive, fn func(*client.CommandReceive) error) {
	go func() {
		for cmd := range cmds {
			_ = c.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).SetExecutedAt(time.Now()).
				SetError(fn(cmd)).AddTag("responder", "yes").Send(ctx)
		}
	}()
}

func TestCommands(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithClientId("cmd-client"))
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("cmd")
		received := make(chan *client.CommandReceive, 10)
		cmds, err := c.SubscribeToCommandsWithRequest(ctx, &client.CommandsSubscription{Channel: ch, ClientId: "responder"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		respondCommands(ctx, c, cmds, func(cmd *client.CommandReceive) error {
			received <- cmd
			if string(cmd.Body) == "fail" {
				return errors.New("boom")
			}
			return nil
		})
		var resp *client.CommandResponse
		eventually(t, 5*time.Second, func() error {
			resp, err = c.C().SetId("cmd-1").SetChannel(ch).SetMetadata("m").SetBody([]byte("ok")).
				AddTag("a", "1").SetTimeout(time.Second).Send(ctx)
			return err
		})
		if resp.CommandId != "cmd-1" || !resp.Executed || resp.Error != "" || resp.ResponseClientId != "cmd-client" ||
			resp.Tags["responder"] != "yes" || time.Since(resp.ExecutedAt) > time.Minute {
			t.Fatalf("response %v", resp)
		}
		cmd := recv(t, received, time.Second)
		if cmd.Id != "cmd-1" || cmd.ClientId != "cmd-client" || cmd.Channel != ch || cmd.Metadata != "m" ||
			string(cmd.Body) != "ok" || cmd.ResponseTo == "" || cmd.Tags["a"] != "1" || cmd.String() == "" {
			t.Fatalf("received %v", cmd)
		}
		resp, err = c.NewCommand().SetChannel(ch).SetBody([]byte("fail")).SetClientId("other").SetTimeout(time.Second).Send(ctx)
		if err != nil || resp.Executed || resp.Error != "boom" {
			t.Fatalf("failed command: %v %v", err, resp)
		}
		// Nobody answers: Error 301 after the timeout.
		start := time.Now()
		_, err = c.C().SetChannel(uniq("nobody")).SetBody([]byte("x")).SetTimeout(300 * time.Millisecond).Send(ctx)
		if !errors.Is(err, client.ErrTimeout) || !strings.Contains(err.Error(), "Error 301") || time.Since(start) < 250*time.Millisecond {
			t.Fatalf("no responder: %v after %v", err, time.Since(start))
		}
		// The caller's deadline wins over a longer timeout.
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err = c.C().SetChannel(uniq("nobody")).SetBody([]byte("x")).SetTimeout(5 * time.Second).Send(short)
		if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("deadline: %v", err)
		}
		if _, err := c.C().SetChannel(ch).SetTimeout(time.Second).Send(ctx); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("empty command: %v", err)
		}
		if _, err := client.NewCommand().Send(ctx); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound: %v", err)
		}
		if tr := c.C().AddTrace("t"); tr == nil || tr.Name != "t" {
			t.Fatal("AddTrace")
		}
	})
}

func TestQueriesAndCache(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("query")
		calls := make(chan *client.QueryReceive, 10)
		queries, err := c.SubscribeToQueries(ctx, ch, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for q := range queries {
				calls <- q
				_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).
					SetMetadata("answer").SetBody(append([]byte("re: "), q.Body...)).SetClientId("responder").
					SetTags(map[string]string{"x": "y"}).Send(ctx)
			}
		}()
		var resp *client.QueryResponse
		eventually(t, 5*time.Second, func() error {
			resp, err = c.Q().SetChannel(ch).SetBody([]byte("probe")).SetTimeout(time.Second).Send(ctx)
			return err
		})
		<-calls
		resp, err = c.NewQuery().SetId("q-1").SetChannel(ch).SetMetadata("m").SetBody([]byte("hi")).
			SetTags(map[string]string{"k": "v"}).AddTag("k2", "v2").SetTimeout(time.Second).Send(ctx)
		if err != nil || resp.QueryId != "q-1" || !resp.Executed || resp.Metadata != "answer" || string(resp.Body) != "re: hi" ||
			resp.ResponseClientId != "responder" || resp.CacheHit || resp.Tags["x"] != "y" || resp.String() == "" {
			t.Fatalf("query: %v %v", err, resp)
		}
		q := recv(t, calls, time.Second)
		if q.Id != "q-1" || q.Metadata != "m" || q.Tags["k"] != "v" || q.Tags["k2"] != "v2" || q.String() == "" {
			t.Fatalf("received %v", q)
		}
		// Cached: the second query with the key is answered without the responder.
		key := uniq("key")
		for i, wantHit := range []bool{false, true} {
			resp, err := c.Q().SetChannel(ch).SetBody([]byte("cached")).SetCacheKey(key).SetCacheTTL(500 * time.Millisecond).
				SetTimeout(time.Second).Send(ctx)
			if err != nil || resp.CacheHit != wantHit || string(resp.Body) != "re: cached" {
				t.Fatalf("cache query %d: %v %v", i, err, resp)
			}
		}
		<-calls
		noRecv(t, calls, 100*time.Millisecond)
		if _, err := client.NewQuery().Send(ctx); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound: %v", err)
		}
		if tr := c.Q().AddTrace("t"); tr == nil {
			t.Fatal("AddTrace")
		}
	})
}

func TestResponseErrors(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 10*time.Second)
		if err := c.R().SetResponseTo("x").Send(ctx); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("no request id: %v", err)
		}
		if err := c.NewResponse().SetRequestId("r").SetResponseTo("_INBOX.unknown").Send(ctx); err != nil {
			t.Fatalf("late response: %v", err)
		}
		if err := client.NewResponse().Send(ctx); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound: %v", err)
		}
		r := c.R().SetRequestId("r").SetError(errors.New("e"))
		if r.AddTrace("t") == nil || !strings.Contains(r.String(), "Err: e") || !strings.Contains(c.R().String(), "Err: ") {
			t.Fatal("String / AddTrace")
		}
	})
}

func TestCommandsAndQueriesClients(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		ctx := testCtx(t, 20*time.Second)
		opts := tr.addr(srv, client.WithClientId("cq"))
		cc, err := client.NewCommandsClient(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		qc, err := client.NewQueriesClient(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer qc.Close()
		cmdCh, qCh := uniq("cc"), uniq("qc")
		err = cc.Subscribe(ctx, &client.CommandsSubscription{Channel: cmdCh}, func(cmd *client.CommandReceive, err error) {
			if err == nil {
				_ = cc.Response(ctx, &client.Response{RequestId: cmd.Id, ResponseTo: cmd.ResponseTo, ExecutedAt: time.Now()})
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		err = qc.Subscribe(ctx, &client.QueriesSubscription{Channel: qCh}, func(q *client.QueryReceive, err error) {
			if err == nil {
				_ = qc.Response(ctx, &client.Response{RequestId: q.Id, ResponseTo: q.ResponseTo, Body: []byte("answer")})
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, func() error {
			r, err := cc.Send(ctx, client.NewCommand().SetChannel(cmdCh).SetMetadata("m").SetTimeout(time.Second))
			if err == nil && !r.Executed {
				return errors.New("not executed")
			}
			return err
		})
		eventually(t, 5*time.Second, func() error {
			r, err := qc.Send(ctx, client.NewQuery().SetChannel(qCh).SetMetadata("m").SetTimeout(time.Second))
			if err == nil && string(r.Body) != "answer" {
				return errors.New("wrong body")
			}
			return err
		})
		if err := cc.Subscribe(ctx, &client.CommandsSubscription{}, func(*client.CommandReceive, error) {}); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("commands without channel: %v", err)
		}
		if err := qc.Subscribe(ctx, &client.QueriesSubscription{}, func(*client.QueryReceive, error) {}); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("queries without channel: %v", err)
		}
		if err := cc.Subscribe(ctx, &client.CommandsSubscription{Channel: "x"}, nil); err == nil {
			t.Fatal("commands without callback")
		}
		if err := qc.Subscribe(ctx, &client.QueriesSubscription{Channel: "x"}, nil); err == nil {
			t.Fatal("queries without callback")
		}
	})
}

func TestChannelManagement(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		ctx := testCtx(t, 20*time.Second)
		opts := tr.addr(srv, client.WithClientId("manager"))
		ec, _ := client.NewEventsClient(ctx, opts...)
		esc, _ := client.NewEventsStoreClient(ctx, opts...)
		cc, _ := client.NewCommandsClient(ctx, opts...)
		qc, _ := client.NewQueriesClient(ctx, opts...)
		quc, _ := client.NewQueuesClient(ctx, opts...)
		defer func() { ec.Close(); esc.Close(); cc.Close(); qc.Close(); quc.Close() }()

		names := func(kind string) []string {
			t.Helper()
			var out []string
			switch kind {
			case "events", "events_store":
				l := must(ec.List(ctx, ""))
				if kind == "events_store" {
					l = must(esc.List(ctx, ""))
				}
				for _, c := range l {
					if c.Type != kind || c.String() == "" {
						t.Fatalf("%s list item %v", kind, c)
					}
					out = append(out, c.Name)
				}
			case "commands", "queries":
				l := must(cc.List(ctx, ""))
				if kind == "queries" {
					l = must(qc.List(ctx, ""))
				}
				for _, c := range l {
					if c.Type != kind || c.String() == "" {
						t.Fatalf("%s list item %v", kind, c)
					}
					out = append(out, c.Name)
				}
			case "queues":
				for _, c := range must(quc.List(ctx, "")) {
					if c.Type != kind || c.String() == "" {
						t.Fatalf("%s list item %v", kind, c)
					}
					out = append(out, c.Name)
				}
			}
			return out
		}
		type manager interface {
			Create(context.Context, string) error
			Delete(context.Context, string) error
		}
		for kind, m := range map[string]manager{"events": ec, "events_store": esc, "commands": cc, "queries": qc, "queues": quc} {
			ch := uniq("managed." + kind)
			if err := m.Create(ctx, ch); err != nil {
				t.Fatalf("%s create: %v", kind, err)
			}
			if !slices.Contains(names(kind), ch) {
				t.Fatalf("%s: %s not listed: %v", kind, ch, names(kind))
			}
			if err := m.Delete(ctx, ch); err != nil {
				t.Fatalf("%s delete: %v", kind, err)
			}
			if slices.Contains(names(kind), ch) {
				t.Fatalf("%s: %s still listed after delete", kind, ch)
			}
			if err := m.Create(ctx, "bad name"); err == nil || !strings.Contains(err.Error(), "error creating channel") {
				t.Fatalf("%s: bad name created: %v", kind, err)
			}
		}
		c := tr.newClient(t, srv)
		if _, err := client.ListPubSubChannels(ctx, c, "manager", "nope", ""); err == nil || !strings.Contains(err.Error(), "invalid channel type") {
			t.Fatalf("unknown type: %v", err)
		}
		if err := client.DeleteChannel(ctx, c, "manager", "x", "nope"); err == nil {
			t.Fatal("delete of unknown type")
		}
		if _, err := client.DecodeCQChannelList([]byte("{")); err == nil {
			t.Fatal("bad JSON decoded")
		}
		if l, err := client.DecodeQueuesChannelList(nil); l != nil || err != nil {
			t.Fatal("nil list")
		}
		body, _ := json.Marshal([]common.PubSubChannel{{Name: "a", Incoming: common.PubSubStats{Messages: 3}}})
		if l, err := client.DecodePubSubChannelList(body); err != nil || l[0].Incoming.Messages != 3 || l[0].Incoming.String() == "" {
			t.Fatal("decode", l, err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
