package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// badQueueNames are refused on every queue channel field with Error 120;
// exact is the reference text, or "" for Herald's extra refusals in the 120
// family (empty tokens, `/`).
var badQueueNames = []struct{ name, exact string }{
	{"", qErr120},
	{"a.", qErr120},
	{"a b", qErr120},
	{"a*", qErr120},
	{"a.*.b", qErr120},
	{"a.>", qErr120},
	{">", qErr120},
	{"a\tb", qErr120},
	{"a\nb", qErr120},
	{"a..b", ""},
	{".a", ""},
	{"a/b", ""},
	{strings.Repeat("x", 256), ""},
}

// wantQueueNameErr fails unless got is the Error 120 expected for name.
func wantQueueNameErr(t *testing.T, name, exact, got string) {
	t.Helper()
	if exact != "" && got == exact || exact == "" && strings.HasPrefix(got, qErr120Family) {
		return
	}
	want := exact
	if want == "" {
		want = qErr120Family + "…"
	}
	t.Fatalf("channel %q: got error %q, want %q", name, got, want)
}

// TestQueueValidationSend checks §8.1 rows 1–7 in order, in-band with
// status OK and a MessageID in every result.
func TestQueueValidationSend(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qval")
	pol := func(p pb.QueueMessagePolicy) *pb.QueueMessage {
		return &pb.QueueMessage{ClientID: "c", Channel: ch, Body: []byte("b"), Policy: &p}
	}
	cases := []struct {
		name string
		msg  *pb.QueueMessage
		want string
	}{
		{"no client id", &pb.QueueMessage{Channel: ch, Body: []byte("b")}, qErr101},
		{"client id before channel", &pb.QueueMessage{Channel: "", Body: nil}, qErr101},
		{"channel before empty message", &pb.QueueMessage{ClientID: "c", Channel: "a b"}, qErr120},
		{"empty message", &pb.QueueMessage{ClientID: "c", Channel: ch}, qErr110},
		{"empty message before policy", &pb.QueueMessage{ClientID: "c", Channel: ch, Policy: &pb.QueueMessagePolicy{ExpirationSeconds: -1}}, qErr110},
		{"expiration negative", pol(pb.QueueMessagePolicy{ExpirationSeconds: -1}), qErr133},
		{"expiration over max", pol(pb.QueueMessagePolicy{ExpirationSeconds: 43201}), qErr133},
		{"expiration before receive count", pol(pb.QueueMessagePolicy{ExpirationSeconds: -1, MaxReceiveCount: -1}), qErr133},
		{"max receive count negative", pol(pb.QueueMessagePolicy{MaxReceiveCount: -1}), qErr134},
		{"max receive count over max", pol(pb.QueueMessagePolicy{MaxReceiveCount: 1025}), qErr134},
		{"receive count before delay", pol(pb.QueueMessagePolicy{MaxReceiveCount: 1025, DelaySeconds: -1}), qErr134},
		{"delay negative", pol(pb.QueueMessagePolicy{DelaySeconds: -1}), qErr135},
		{"delay over max", pol(pb.QueueMessagePolicy{DelaySeconds: 43201}), qErr135},
		{"delay before dead-letter queue", pol(pb.QueueMessagePolicy{DelaySeconds: 43201, MaxReceiveQueue: "a b"}), qErr135},
		{"dead-letter queue with space", pol(pb.QueueMessagePolicy{MaxReceiveQueue: "a b"}), qErr120},
		{"dead-letter queue trailing dot", pol(pb.QueueMessagePolicy{MaxReceiveQueue: "dlq."}), qErr120},
		{"dead-letter queue wildcard", pol(pb.QueueMessagePolicy{MaxReceiveQueue: "dlq.*"}), qErr120},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := qSendRaw(t, cl, tc.msg)
			if !res.IsError || res.Error != tc.want || res.MessageID == "" || res.SentAt != 0 || res.ExpirationAt != 0 || res.DelayedTo != 0 {
				t.Fatalf("got %+v, want in-band %q with a MessageID", res, tc.want)
			}
		})
	}
	t.Run("queue names", func(t *testing.T) {
		for _, bad := range badQueueNames {
			res := qSendRaw(t, cl, &pb.QueueMessage{ClientID: "c", Channel: bad.name, Body: []byte("b")})
			if !res.IsError || res.MessageID == "" {
				t.Fatalf("channel %q: %+v", bad.name, res)
			}
			wantQueueNameErr(t, bad.name, bad.exact, res.Error)
		}
	})
	t.Run("limits accepted", func(t *testing.T) {
		res := qSendRaw(t, cl, pol(pb.QueueMessagePolicy{ExpirationSeconds: 43200, MaxReceiveCount: 1024, DelaySeconds: 43200, MaxReceiveQueue: ch + ".dlq"}))
		if res.IsError {
			t.Fatalf("limits: %+v", res)
		}
		// names the reference accepts stay accepted
		for _, name := range []string{"Ünïcode.Q", "a-b_c", "a?b#c", "UPPER"} {
			if res := qSendRaw(t, cl, &pb.QueueMessage{ClientID: "c", Channel: name + uniq(""), Body: []byte("b")}); res.IsError {
				t.Fatalf("channel %q: %+v", name, res)
			}
		}
	})
	t.Run("batch items", func(t *testing.T) {
		var msgs []*pb.QueueMessage
		for _, tc := range cases {
			msgs = append(msgs, tc.msg)
		}
		resp, err := cl.SendQueueMessagesBatch(context.Background(), &pb.QueueMessagesBatchRequest{Messages: msgs})
		if err != nil || len(resp.Results) != len(cases) || !resp.HaveErrors {
			t.Fatalf("batch: %v %+v", err, resp)
		}
		for i, tc := range cases {
			if r := resp.Results[i]; r.Error != tc.want || r.MessageID == "" {
				t.Fatalf("item %d (%s): %+v, want %q", i, tc.name, r, tc.want)
			}
		}
	})
}

// TestQueueValidationReceive checks §9 and §10 validation.
func TestQueueValidationReceive(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("qval")
	ctx := testCtx(t, 60*time.Second)
	cases := []struct {
		name      string
		client    string
		channel   string
		max, wait int32
		want      string
	}{
		{"no client id", "", ch, 1, 1, qErr101},
		{"client id first", "", "", 0, -1, qErr101},
		{"empty channel", "c", "", 1, 1, qErr120},
		{"channel before max", "c", "a*", 0, 1, qErr120},
		{"max 0", "c", ch, 0, 1, qErr122},
		{"max negative", "c", ch, -1, 1, qErr122},
		{"max 1025", "c", ch, 1025, 1, qErr122},
		{"max before wait", "c", ch, 1025, -1, qErr122},
		{"wait negative", "c", ch, 1, -1, qErr136},
		{"wait 3601", "c", ch, 1, 3601, qErr136},
	}
	for _, peek := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s peek=%v", tc.name, peek), func(t *testing.T) {
				res, err := cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{
					RequestID: "req-1", ClientID: tc.client, Channel: tc.channel, MaxNumberOfMessages: tc.max, WaitTimeSeconds: tc.wait, IsPeak: peek,
				})
				if err != nil {
					t.Fatal(err)
				}
				if !res.IsError || res.Error != tc.want || res.RequestID != "req-1" || res.IsPeak != peek || len(res.Messages) != 0 {
					t.Fatalf("peek=%v: got %+v, want %q", peek, res, tc.want)
				}
			})
		}
	}
	t.Run("queue names", func(t *testing.T) {
		for _, bad := range badQueueNames {
			res, err := cl.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "c", Channel: bad.name, MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
			if err != nil || !res.IsError {
				t.Fatalf("channel %q: %v %+v", bad.name, err, res)
			}
			wantQueueNameErr(t, bad.name, bad.exact, res.Error)
			if res.RequestID == "" {
				t.Fatal("RequestID not generated")
			}
		}
	})
	t.Run("ack all", func(t *testing.T) {
		for _, tc := range []struct {
			client, channel string
			wait            int32
			want            string
		}{
			{"", ch, 1, qErr101},
			{"c", "", 1, qErr120},
			{"c", "a b", -1, qErr120},
			{"c", ch, -1, qErr136},
			{"c", ch, 3601, qErr136},
		} {
			res, err := cl.AckAllQueueMessages(ctx, &pb.AckAllQueueMessagesRequest{RequestID: "aa", ClientID: tc.client, Channel: tc.channel, WaitTimeSeconds: tc.wait})
			if err != nil || !res.IsError || res.Error != tc.want || res.RequestID != "aa" || res.AffectedMessages != 0 {
				t.Fatalf("ack all %+v: %v %+v, want %q", tc, err, res, tc.want)
			}
		}
		for _, bad := range badQueueNames {
			res, err := cl.AckAllQueueMessages(ctx, &pb.AckAllQueueMessagesRequest{ClientID: "c", Channel: bad.name, WaitTimeSeconds: 1})
			if err != nil || !res.IsError {
				t.Fatalf("channel %q: %v %+v", bad.name, err, res)
			}
			wantQueueNameErr(t, bad.name, bad.exact, res.Error)
		}
	})
	t.Run("limits accepted", func(t *testing.T) {
		qSendBodies(t, cl, ch, "x")
		res := qReceive(t, cl, ch, 1024, 1, true)
		if res.IsError || len(res.Messages) != 1 {
			t.Fatalf("max 1024: %+v", res)
		}
		// wait 0 means 1 s, not an error
		start := time.Now()
		res = qReceive(t, cl, uniq("qval"), 1, 0, false)
		if res.IsError || len(res.Messages) != 0 {
			t.Fatalf("wait 0: %+v", res)
		}
		if el := time.Since(start); el < 900*time.Millisecond || el > 5*time.Second {
			t.Fatalf("wait 0 answered after %v, want ≈1 s", el)
		}
	})
}
