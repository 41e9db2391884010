package test

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	pb "github.com/kubemq-io/protobuf/go"

	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

var versionRE = regexp.MustCompile(`^2\.4\.0\+herald\.[0-9A-Za-z.+-]+$`)

func TestPing(t *testing.T) {
	before := time.Now().Unix()
	srv := heraldtest.NewServer(t)
	after := time.Now().Unix()
	c := newClient(t, srv, "pinger")
	ctx := testCtx(t, 20*time.Second)

	info, err := c.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if info.Host != host {
		t.Errorf("Host = %q, want the OS host name %q", info.Host, host)
	}
	if !versionRE.MatchString(info.Version) {
		t.Errorf("Version = %q, want 2.4.0+herald.<build>", info.Version)
	}
	// Unix seconds, not ms or ns.
	if info.ServerStartTime < before-1 || info.ServerStartTime > after+1 {
		t.Errorf("ServerStartTime = %d, want Unix seconds in [%d, %d]", info.ServerStartTime, before, after)
	}
	if info.ServerUpTimeSeconds < 0 || info.ServerUpTimeSeconds > time.Now().Unix()-before+1 {
		t.Errorf("ServerUpTimeSeconds = %d right after start", info.ServerUpTimeSeconds)
	}

	// Up time counts seconds, and the start time stays put.
	cl := rawClient(t, srv)
	eventually(t, 5*time.Second, func() error {
		r, err := cl.Ping(context.Background(), &pb.Empty{})
		if err != nil {
			return err
		}
		if r.ServerStartTime != info.ServerStartTime {
			t.Fatalf("ServerStartTime changed: %d then %d", info.ServerStartTime, r.ServerStartTime)
		}
		if r.ServerUpTimeSeconds < 1 {
			return errf("up time still %d", r.ServerUpTimeSeconds)
		}
		if now := time.Now().Unix(); r.ServerUpTimeSeconds > now-before+1 {
			t.Fatalf("ServerUpTimeSeconds = %d, more than the %d s since start", r.ServerUpTimeSeconds, now-before)
		}
		return nil
	})
}

func TestPingConfiguredHost(t *testing.T) {
	srv := heraldtest.NewServer(t, server.Options{Host: "node-x"})
	r, err := rawClient(t, srv).Ping(testCtx(t, 10*time.Second), &pb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Host != "node-x" {
		t.Fatalf("Host = %q, want node-x", r.Host)
	}
}
