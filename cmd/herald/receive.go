package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/heraldmq/herald/client"
)

// recvFlags are the flags of the receive verbs.
type recvFlags struct {
	group   string
	count   int
	timeout time.Duration
}

func addRecvFlags(fs *pflag.FlagSet, rf *recvFlags) {
	fs.StringVar(&rf.group, "group", "", "subscription group: its members share the messages")
	fs.IntVar(&rf.count, "count", 0, "stop after `N` messages (0: run until SIGINT or --timeout)")
	fs.DurationVar(&rf.timeout, "timeout", 0, "stop after this long; with --count, fewer messages than N is an error (0: no limit)")
}

func (rf *recvFlags) check() error {
	if rf.count < 0 {
		return fmt.Errorf("invalid --count %d: want 0 or more", rf.count)
	}
	if rf.timeout < 0 {
		return fmt.Errorf("invalid --timeout %v: want 0 or more", rf.timeout)
	}
	return nil
}

// errBufferSize is the length of the error channels given to subscriptions.
const errBufferSize = 16

// receive hands every message of msgs to handle until --count messages came,
// --timeout passed, ctx ended (a signal: not an error) or the subscription
// ended by itself (an error). Interruptions the subscription recovers from
// are warnings on stderr.
func receive[T any](ctx context.Context, rf *recvFlags, msgs <-chan T, errs <-chan error, stderr io.Writer, handle func(T) error) error {
	tctx := ctx
	if rf.timeout > 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(ctx, rf.timeout)
		defer cancel()
	}
	n := 0
	var last error
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				for drained := false; !drained; {
					select {
					case err := <-errs:
						last = err
					default:
						drained = true
					}
				}
				if last == nil {
					last = errors.New("subscription ended")
				}
				return last
			}
			if err := handle(m); err != nil {
				return err
			}
			n++
			if rf.count > 0 && n >= rf.count {
				return nil
			}
		case err := <-errs:
			if errors.Is(err, client.ErrSubscriptionInterrupted) {
				fmt.Fprintln(stderr, "herald: warning: "+oneLine(err))
				continue
			}
			last = err
		case <-tctx.Done():
			if ctx.Err() != nil || rf.count == 0 {
				return nil
			}
			return fmt.Errorf("timeout after %v: received %d of %d messages", rf.timeout, n, rf.count)
		}
	}
}
