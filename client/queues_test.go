package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/client"
)

// sendQueue stores n messages with bodies "1" … "n" in ch.
func sendQueue(t *testing.T, c *client.Client, ch string, n int) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	batch := c.QMB()
	for i := 1; i <= n; i++ {
		batch.Add(c.QM().SetChannel(ch).SetBody(fmt.Appendf(nil, "%d", i)))
	}
	res, err := batch.Send(ctx)
	if err != nil || len(res) != n {
		t.Fatalf("batch: %v %v", err, res)
	}
	for _, r := range res {
		if r.IsError || r.Err() != nil {
			t.Fatalf("batch result %v", r)
		}
	}
}

func TestQueueSendAndReceive(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithClientId("sender"))
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("queue")
		before := time.Now()
		res, err := c.QM().SetId("m-1").SetChannel(ch).SetMetadata("meta").SetBody([]byte("body")).
			SetTags(map[string]string{"a": "1"}).AddTag("b", "2").SetPolicyExpirationSeconds(60).
			SetPolicyMaxReceiveCount(3).SetPolicyMaxReceiveQueue(ch + ".dlq").Send(ctx)
		if err != nil || res.IsError || res.MessageID != "m-1" || res.SentAt < before.UnixNano() || res.ExpirationAt == 0 || res.String() == "" {
			t.Fatalf("send: %v %v", err, res)
		}
		peek, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).SetIsPeak(true).SetId("peek-1").Send(ctx)
		if err != nil || peek.Err() != nil || !peek.IsPeak || peek.RequestID != "peek-1" || len(peek.Messages) != 1 {
			t.Fatalf("peek: %v %+v", err, peek)
		}
		got, err := c.NewReceiveQueueMessagesRequest().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).
			SetClientId("receiver").Send(ctx)
		if err != nil || got.IsError || got.MessagesReceived != 1 || len(got.Messages) != 1 {
			t.Fatalf("receive: %v %+v", err, got)
		}
		m := got.Messages[0]
		if m.MessageID != "m-1" || m.ClientID != "sender" || m.Channel != ch || m.Metadata != "meta" || string(m.Body) != "body" ||
			m.Tags["a"] != "1" || m.Tags["b"] != "2" || m.Attributes.Sequence != 1 || m.Attributes.ReceiveCount != 1 ||
			m.Policy.MaxReceiveCount != 3 || m.Policy.MaxReceiveQueue != ch+".dlq" || m.String() == "" {
			t.Fatalf("message %v", m)
		}
		// Not a stream message: no settlement.
		if m.Ack() == nil || m.Reject() == nil || m.ExtendVisibility(1) == nil || m.Resend("x") == nil {
			t.Fatal("settled a message that was not received from a stream")
		}
		// Refusals come in-band, as KubeMQ reports them.
		res, err = c.QM().SetChannel("bad queue").SetBody([]byte("x")).Send(ctx)
		if err != nil || !res.IsError || !errors.Is(res.Err(), client.ErrInvalidArgument) || !strings.HasPrefix(res.Error, "Error 120") {
			t.Fatalf("bad queue: %v %+v", err, res)
		}
		bad, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(0).Send(ctx)
		if err != nil || !bad.IsError || !errors.Is(bad.Err(), client.ErrInvalidArgument) {
			t.Fatalf("bad receive: %v %+v", err, bad)
		}
		if _, err := c.SendQueueMessages(ctx, nil); err == nil || !strings.Contains(err.Error(), "empty messages batch") {
			t.Fatalf("empty batch: %v", err)
		}
		if _, err := client.NewQueueMessage().SetChannel(ch).Send(ctx); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound: %v", err)
		}
		if _, err := client.NewReceiveQueueMessagesRequest().Send(ctx); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound receive: %v", err)
		}
		if r, err := c.SetQueueMessage(client.NewQueueMessage().SetChannel(ch).SetBody([]byte("bound"))).Send(ctx); err != nil || r.IsError {
			t.Fatalf("bound: %v %v", err, r)
		}
	})
}

func TestQueueBatchDelayAckAllAndInfo(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("batch")
		sendQueue(t, c, ch, 3)
		res, err := c.NewQueueMessage().SetChannel(ch).SetBody([]byte("later")).SetPolicyDelaySeconds(30).Send(ctx)
		if err != nil || res.IsError || res.DelayedTo == 0 {
			t.Fatalf("delayed: %v %v", err, res)
		}
		info, err := c.QueuesInfo(ctx, ch)
		if err != nil || info.TotalQueues != 1 || len(info.Queues) != 1 || info.Queues[0].Name != ch || info.Queues[0].Messages != 3 {
			t.Fatalf("info: %v %+v", err, info)
		}
		got, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(3).SetWaitTimeSeconds(2).Send(ctx)
		if err != nil || len(got.Messages) != 3 {
			t.Fatalf("receive: %v %+v", err, got)
		}
		for i, m := range got.Messages {
			if string(m.Body) != fmt.Sprint(i+1) {
				t.Fatalf("order: %d is %q", i, m.Body)
			}
		}
		sendQueue(t, c, ch, 2)
		ack, err := c.AQM().SetChannel(ch).SetWaitTimeSeconds(1).SetId("ack-1").Send(ctx)
		if err != nil || ack.Err() != nil || ack.AffectedMessages != 2 || ack.RequestID != "ack-1" {
			t.Fatalf("ack all: %v %+v", err, ack)
		}
		ack, err = c.NewAckAllQueueMessagesRequest().SetChannel("bad queue").SetClientId("x").Send(ctx)
		if err != nil || !ack.IsError || !errors.Is(ack.Err(), client.ErrInvalidArgument) {
			t.Fatalf("bad ack all: %v %+v", err, ack)
		}
		if _, err := (&client.AckAllQueueMessagesRequest{}).Send(ctx); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound ack all: %v", err)
		}
		all, err := c.QueuesInfo(ctx, "")
		if err != nil || all.TotalQueues < 1 {
			t.Fatalf("info all: %v %+v", err, all)
		}
	})
}

func TestQueueDeadLetter(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 20*time.Second)
		ch := uniq("dl")
		res, err := c.QM().SetChannel(ch).SetBody([]byte("poison")).SetPolicyMaxReceiveCount(1).SetPolicyMaxReceiveQueue(ch + ".dead").Send(ctx)
		if err != nil || res.IsError {
			t.Fatal(err, res)
		}
		sqm := c.SQM().SetChannel(ch)
		m, err := sqm.Next(ctx, 10, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Reject(); err != nil {
			t.Fatal(err)
		}
		got, err := c.RQM().SetChannel(ch + ".dead").SetMaxNumberOfMessages(1).SetWaitTimeSeconds(2).Send(ctx)
		if err != nil || len(got.Messages) != 1 || !got.Messages[0].Attributes.ReRouted || got.Messages[0].Attributes.ReRoutedFromQueue != ch {
			t.Fatalf("dead letter: %v %+v", err, got)
		}
	})
}

func TestStreamQueueMessage(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv, client.WithClientId("sqm"))
		ctx := testCtx(t, 30*time.Second)
		ch := uniq("sqm")
		sendQueue(t, c, ch, 5)

		sqm := c.NewStreamQueueMessage().SetChannel(ch).SetId("r1").SetClientId("sqm-receiver")
		if sqm.AddTrace("t") == nil {
			t.Fatal("AddTrace")
		}
		// Ack
		m, err := sqm.Next(ctx, 10, 1)
		if err != nil || string(m.Body) != "1" {
			t.Fatalf("next: %v %v", err, m)
		}
		if _, err := sqm.Next(ctx, 10, 1); err == nil {
			t.Fatal("second Next while a message is held")
		}
		if err := m.ExtendVisibility(20); err != nil {
			t.Fatalf("extend: %v", err)
		}
		if err := m.Ack(); err != nil {
			t.Fatalf("ack: %v", err)
		}
		if err := m.Ack(); err == nil {
			t.Fatal("acked twice")
		}
		// Reject: back at the tail, receive count 2.
		m, err = sqm.Next(ctx, 10, 1)
		if err != nil || string(m.Body) != "2" {
			t.Fatalf("next: %v %v", err, m)
		}
		if err := m.Reject(); err != nil {
			t.Fatalf("reject: %v", err)
		}
		// Resend to another queue.
		m, err = sqm.Next(ctx, 10, 1)
		if err != nil || string(m.Body) != "3" {
			t.Fatalf("next: %v %v", err, m)
		}
		if err := m.Resend(ch + ".other"); err != nil {
			t.Fatalf("resend: %v", err)
		}
		// Resend with a new message.
		m, err = sqm.Next(ctx, 10, 1)
		if err != nil || string(m.Body) != "4" {
			t.Fatalf("next: %v %v", err, m)
		}
		if err := sqm.ResendWithNewMessage(c.QM().SetChannel(ch + ".other").SetBody([]byte("4-modified"))); err != nil {
			t.Fatalf("resend new: %v", err)
		}
		// Close returns the held message.
		m, err = sqm.Next(ctx, 10, 1)
		if err != nil || string(m.Body) != "5" {
			t.Fatalf("next: %v %v", err, m)
		}
		sqm.Close()
		if err := m.Ack(); err == nil {
			t.Fatal("ack after Close")
		}
		// Left: 2 (rejected) and 5 (closed), both delivered a second time.
		seen := map[string]int32{}
		for i := 0; i < 2; i++ {
			m, err := sqm.Next(ctx, 10, 2)
			if err != nil {
				t.Fatalf("next %d: %v", i, err)
			}
			seen[string(m.Body)] = m.Attributes.ReceiveCount
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		if seen["2"] != 2 || seen["5"] != 2 {
			t.Fatalf("redelivered %v", seen)
		}
		other, err := c.RQM().SetChannel(ch + ".other").SetMaxNumberOfMessages(2).SetWaitTimeSeconds(2).Send(ctx)
		if err != nil || len(other.Messages) != 2 || string(other.Messages[0].Body) != "3" || string(other.Messages[1].Body) != "4-modified" {
			t.Fatalf("other queue: %v %+v", err, other)
		}
		// Nothing left: Error 138 after the wait.
		if _, err := sqm.Next(ctx, 10, 1); err == nil || !strings.Contains(err.Error(), "Error 138") {
			t.Fatalf("empty queue: %v", err)
		}
		if _, err := c.SQM().SetChannel("bad queue").Next(ctx, 1, 1); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("bad queue: %v", err)
		}
	})
}

func TestStreamQueueMessageVisibilityAndContext(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		c := tr.newClient(t, srv)
		ctx := testCtx(t, 30*time.Second)
		ch := uniq("vis")
		sendQueue(t, c, ch, 1)
		sqm := c.SQM().SetChannel(ch)
		m, err := sqm.Next(ctx, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		if err := m.Ack(); err == nil || !strings.Contains(err.Error(), "Error 129") {
			t.Fatalf("ack after visibility expired: %v", err)
		}
		// The message came back; a Next whose context ends returns it again.
		nctx, cancel := context.WithCancel(ctx)
		m, err = sqm.Next(nctx, 10, 2)
		if err != nil || m.Attributes.ReceiveCount != 2 {
			t.Fatalf("next: %v %v", err, m)
		}
		cancel()
		eventually(t, 5*time.Second, func() error {
			m, err = c.SQM().SetChannel(ch).Next(ctx, 10, 1)
			if err != nil {
				return err
			}
			return m.Ack()
		})
		// Next honours its context while waiting.
		short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel2()
		start := time.Now()
		if _, err := c.SQM().SetChannel(ch).Next(short, 10, 5); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Fatalf("next with short context: %v after %v", err, time.Since(start))
		}
		if _, err := (&client.StreamQueueMessage{}).Next(ctx, 1, 1); !errors.Is(err, client.ErrNoTransportDefined) {
			t.Fatalf("unbound: %v", err)
		}
	})
}

func TestQueuesClient(t *testing.T) {
	t.Parallel()
	overBoth(t, func(t *testing.T, tr tport) {
		srv := newServer(t)
		ctx := testCtx(t, 30*time.Second)
		qc, err := client.NewQueuesStreamClient(ctx, tr.addr(srv, client.WithClientId("qc"))...)
		if err != nil {
			t.Fatal(err)
		}
		defer qc.Close()
		c := tr.newClient(t, srv)
		ch := uniq("qc")
		if r, err := qc.Send(ctx, client.NewQueueMessage().SetChannel(ch).SetBody([]byte("1"))); err != nil || r.IsError {
			t.Fatalf("send: %v %v", err, r)
		}
		rs, err := qc.Batch(ctx, []*client.QueueMessage{
			client.NewQueueMessage().SetChannel(ch).SetBody([]byte("2")),
			client.NewQueueMessage().SetChannel(ch).SetBody([]byte("3")),
			client.NewQueueMessage().SetChannel(ch).SetBody([]byte("4")),
		})
		if err != nil || len(rs) != 3 {
			t.Fatalf("batch: %v %v", err, rs)
		}
		peek, err := qc.Peek(ctx, client.NewReceiveQueueMessagesRequest().SetChannel(ch).SetMaxNumberOfMessages(4).SetWaitTimeSeconds(1))
		if err != nil || len(peek.Messages) != 4 {
			t.Fatalf("peek: %v %+v", err, peek)
		}
		pull, err := qc.Pull(ctx, client.NewReceiveQueueMessagesRequest().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1))
		if err != nil || len(pull.Messages) != 1 || string(pull.Messages[0].Body) != "1" {
			t.Fatalf("pull: %v %+v", err, pull)
		}
		if _, err := qc.Pull(ctx, client.NewReceiveQueueMessagesRequest().SetChannel(ch)); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("pull without wait: %v", err)
		}
		// Transaction: one message, settled through the response.
		tx, err := qc.Transaction(ctx, client.NewQueueTransactionMessageRequest().SetChannel(ch).SetVisibilitySeconds(10).
			SetWaitTimeSeconds(1).SetId("tx").SetClientId("qc-tx"))
		if err != nil || string(tx.Message.Body) != "2" {
			t.Fatalf("transaction: %v %v", err, tx)
		}
		if err := tx.ExtendVisibilitySeconds(10); err != nil {
			t.Fatalf("extend: %v", err)
		}
		if err := tx.Ack(); err != nil {
			t.Fatalf("tx ack: %v", err)
		}
		tx, err = qc.Transaction(ctx, client.NewQueueTransactionMessageRequest().SetChannel(ch).SetVisibilitySeconds(10).SetWaitTimeSeconds(1))
		if err != nil || string(tx.Message.Body) != "3" {
			t.Fatalf("transaction: %v %v", err, tx)
		}
		if err := tx.Resend(ch + ".b"); err != nil {
			t.Fatalf("tx resend: %v", err)
		}
		tx, err = qc.Transaction(ctx, client.NewQueueTransactionMessageRequest().SetChannel(ch).SetVisibilitySeconds(10).SetWaitTimeSeconds(1))
		if err != nil || string(tx.Message.Body) != "4" {
			t.Fatalf("transaction: %v %v", err, tx)
		}
		if err := tx.ResendNewMessage(client.NewQueueMessage().SetChannel(ch + ".b").SetBody([]byte("4b"))); err != nil {
			t.Fatalf("tx resend new: %v", err)
		}
		if _, err := qc.Transaction(ctx, client.NewQueueTransactionMessageRequest().SetChannel(ch)); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("transaction without wait: %v", err)
		}
		// TransactionStream: rejects once, then acks the redelivery.
		got := make(chan string, 10)
		done, err := qc.TransactionStream(ctx, client.NewQueueTransactionMessageRequest().SetChannel(ch+".b").SetVisibilitySeconds(5).SetWaitTimeSeconds(1),
			func(r *client.QueueTransactionMessageResponse, err error) {
				if err != nil {
					return
				}
				if r.Message.Attributes.ReceiveCount == 1 {
					_ = r.Reject()
					return
				}
				got <- string(r.Message.Body)
				_ = r.Ack()
			})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := recv(t, got, 10*time.Second), recv(t, got, 10*time.Second); a != "3" || b != "4b" {
			t.Fatalf("transaction stream: %q %q", a, b)
		}
		close(done)
		// Subscribe: polls until stopped.
		sendQueue(t, c, ch, 2)
		msgs := make(chan string, 10)
		stop, err := qc.Subscribe(ctx, client.NewReceiveQueueMessagesRequest().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1),
			func(r *client.ReceiveQueueMessagesResponse, err error) {
				if err == nil {
					for _, m := range r.Messages {
						msgs <- string(m.Body)
					}
				}
			})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := recv(t, msgs, 5*time.Second), recv(t, msgs, 5*time.Second); a != "1" || b != "2" {
			t.Fatalf("subscribe: %q %q", a, b)
		}
		stop <- struct{}{}
		if _, err := qc.Subscribe(ctx, client.NewReceiveQueueMessagesRequest().SetChannel(ch), func(*client.ReceiveQueueMessagesResponse, error) {}); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("subscribe without wait: %v", err)
		}
		// Another queue: the stopped subscription's last pull may still take
		// a message of ch.
		purged := uniq("qc.purged")
		sendQueue(t, c, purged, 2)
		ack, err := qc.AckAll(ctx, c.AQM().SetChannel(purged).SetWaitTimeSeconds(1))
		if err != nil || ack.AffectedMessages != 2 {
			t.Fatalf("ack all: %v %+v", err, ack)
		}
		info, err := qc.QueuesInfo(ctx, ch)
		if err != nil || len(info.Queues) != 1 {
			t.Fatalf("info: %v %+v", err, info)
		}
	})
}
