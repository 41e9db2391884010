package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		code codes.Code
		msg  string
		is   []error
		not  []error
	}{
		{codes.Internal, "Error 301: timeout for request message", []error{ErrTimeout}, []error{ErrInvalidArgument, ErrNoResponder}},
		{codes.DeadlineExceeded, "context deadline exceeded", []error{ErrTimeout, context.DeadlineExceeded}, nil},
		{codes.Canceled, "context canceled", []error{context.Canceled}, []error{ErrTimeout}},
		{codes.Unauthenticated, "bad token", []error{ErrUnauthorized}, nil},
		{codes.PermissionDenied, "no", []error{ErrUnauthorized}, nil},
		{codes.Internal, "Error 412: access denied to resource", []error{ErrUnauthorized}, nil},
		{codes.Internal, "Error 421: authentication verification failed, expired", []error{ErrUnauthorized}, nil},
		{codes.InvalidArgument, "whatever", []error{ErrInvalidArgument}, nil},
		{codes.Internal, "Error 101: invalid clientID value, cannot be empty", []error{ErrInvalidArgument}, nil},
		{codes.Internal, "Error 120: invalid queue name value", []error{ErrInvalidArgument}, nil},
		{codes.Internal, "Error 207: invalid subscribe type", []error{ErrInvalidArgument}, nil},
		{codes.OK, "Error 124: no active message to ack", nil, []error{ErrInvalidArgument, ErrTimeout}},
		{codes.OK, "Error 138: no new message in queue, wait time expired", nil, []error{ErrInvalidArgument, ErrTimeout}},
		{codes.Unavailable, "nats: no responders available for request", []error{ErrNoResponder}, nil},
		{codes.FailedPrecondition, "channel is sealed", []error{ErrChannelSealed}, nil},
		{codes.OK, "invalid group value, no white spaces or control characters are allowed", []error{ErrInvalidArgument}, nil},
		{codes.Unknown, "events store channel a.b was removed", []error{ErrChannelDeleted}, []error{ErrChannelSealed}},
		{codes.Unavailable, "connection refused", []error{ErrUnavailable}, []error{ErrTimeout, ErrInvalidArgument, ErrUnauthorized}},
	}
	for _, tc := range cases {
		var err error
		if tc.code == codes.OK {
			err = InBandError(tc.msg)
		} else {
			err = wrapError(status.Error(tc.code, tc.msg), false)
		}
		for _, want := range tc.is {
			if !errors.Is(err, want) {
				t.Errorf("%v %q: not %v", tc.code, tc.msg, want)
			}
		}
		for _, no := range tc.not {
			if errors.Is(err, no) {
				t.Errorf("%v %q: is %v", tc.code, tc.msg, no)
			}
		}
		var e *Error
		if !errors.As(err, &e) || e.Message != tc.msg || e.Code != tc.code {
			t.Errorf("%v %q: %#v", tc.code, tc.msg, err)
		}
		if tc.code != codes.OK && (status.Code(err) != tc.code || err.Error() != status.Error(tc.code, tc.msg).Error()) {
			t.Errorf("%v %q: status %v, text %q", tc.code, tc.msg, status.Code(err), err.Error())
		}
		if tc.code == codes.OK && err.Error() != tc.msg {
			t.Errorf("in-band text %q", err.Error())
		}
	}
}

func TestWrapErrorPassesThrough(t *testing.T) {
	if wrapError(nil, false) != nil || wrapError(io.EOF, false) != io.EOF {
		t.Fatal("nil or EOF changed")
	}
	e := InBandError("x")
	if wrapError(e, false) != e || wrapError(fmt.Errorf("op: %w", e), false) == nil {
		t.Fatal("wrapped twice")
	}
	if err := wrapError(status.Error(codes.Canceled, "grpc: the client connection is closing"), true); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("closing: %v", err)
	}
	if err := wrapError(context.Canceled, false); err != context.Canceled {
		t.Fatalf("context error: %v", err)
	}
	if err := wrapError(errors.New("plain"), false); status.Code(err) != codes.Unknown {
		t.Fatalf("plain: %v", err)
	}
	if !permanent(invalidArgument("x")) || permanent(status.Error(codes.Unavailable, "x")) ||
		!permanent(wrapError(status.Error(codes.Unimplemented, "x"), false)) {
		t.Fatal("permanent")
	}
	ie := &interruptedError{what: "w", err: status.Error(codes.Unavailable, "down")}
	if !errors.Is(ie, ErrSubscriptionInterrupted) || status.Code(ie) != codes.Unavailable {
		t.Fatal("interrupted")
	}
}

func TestUnitConversions(t *testing.T) {
	for d, want := range map[time.Duration]int32{0: 0, time.Microsecond: 1, 1500 * time.Millisecond: 1500, 1000 * time.Hour: 1<<31 - 1} {
		if got := timeoutMS(d); got != want {
			t.Errorf("timeoutMS(%v) = %d, want %d", d, got, want)
		}
	}
	for d, want := range map[time.Duration]int32{0: 0, time.Millisecond: 1, 15 * time.Minute: 900, 1500 * time.Millisecond: 2} {
		if got := cacheTTLSeconds(d); got != want {
			t.Errorf("cacheTTLSeconds(%v) = %d, want %d", d, got, want)
		}
	}
	now := time.Unix(1_790_000_000, 123_456_789)
	for ts, want := range map[int64]time.Time{
		now.Unix():      time.Unix(now.Unix(), 0),
		now.UnixMilli(): time.UnixMilli(now.UnixMilli()),
		now.UnixMicro(): time.UnixMicro(now.UnixMicro()),
		now.UnixNano():  now,
	} {
		if got := executedAt(ts); !got.Equal(want) {
			t.Errorf("executedAt(%d) = %v, want %v", ts, got, want)
		}
	}
	for n := 1; n < 10; n++ {
		if d := backoffDelay(n, time.Second); d < 80*time.Millisecond || d > 1200*time.Millisecond {
			t.Errorf("backoff %d: %v", n, d)
		}
	}
	if wireMethod("/herald.kubemq.v1.kubemq/Ping") != "/kubemq.kubemq/Ping" || wireMethod("/other/X") != "/other/X" {
		t.Fatal("wireMethod")
	}
}
