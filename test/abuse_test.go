package test

import (
	"context"
	"math"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server/heraldtest"
)

// healthy fails unless srv still answers Ping and stores and returns a
// queue message: what each abuse test asserts after its hostile request.
func healthy(t *testing.T, cl pb.KubemqClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Ping(ctx, &pb.Empty{}); err != nil {
		t.Fatalf("server does not answer Ping after the request: %v", err)
	}
	ch := uniq("healthy")
	qSendBodies(t, cl, ch, "alive")
	qWant(t, "after the request", qTake(t, cl, ch, 1, 2), []string{"alive"}, nil, nil)
}

// TestAbuseDownstreamMaxItems: a Get asks for up to MaxInt32 messages. The
// server must not size anything by that number (it used to allocate a
// buffer of that many messages and die out of memory).
func TestAbuseDownstreamMaxItems(t *testing.T) {
	t.Parallel()
	srv := heraldtest.NewServer(t)
	cl := rawClient(t, srv)
	ch := uniq("abuse.maxitems")
	qSendBodies(t, cl, ch, "a", "b", "c")
	for _, n := range []int32{math.MaxInt32, 0, -1, math.MinInt32} {
		ds := openDS(t, cl)
		resp := ds.getOK(ch, n, 1000)
		if got := len(resp.Messages); got != 3 {
			t.Fatalf("MaxItems %d: %d messages, want the 3 stored", n, got)
		}
		ds.settleOK(pb.QueuesDownstreamRequestType_CloseByClient, resp.TransactionId, nil, "")
	}
	ds := openDS(t, cl)
	if resp := ds.getOK(uniq("abuse.maxitems.empty"), math.MaxInt32, 1000); len(resp.Messages) != 0 {
		t.Fatalf("empty queue: %+v", resp)
	}
	healthy(t, cl)
}
