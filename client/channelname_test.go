package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldmq/herald/client"
)

// channelNames: each name with the KubeMQ code ValidateChannel refuses it
// with, when sending and when subscribing (wildcards allowed); 0 = valid.
var channelNames = []struct {
	name            string
	send, subscribe int
}{
	{"orders", 0, 0},
	{"a.b.c", 0, 0},
	{"zürich.ü", 0, 0},
	{"a-b_c?#", 0, 0},
	{strings.Repeat("x", 255), 0, 0},
	{"", 102, 102},
	{"a.", 119, 119},
	{"a b", 108, 108},
	{"a\tb", 108, 108},
	{"a\nb", 108, 108},
	{"a\x00b", 108, 108},
	{"a\u00a0b", 108, 108},
	{"a\xffb", 108, 108},
	{"a b.*", 108, 108},
	{"a b.", 119, 119},
	{"a.*", 107, 0},
	{"a*", 107, 0},
	{"a.*.c", 107, 0},
	{"a.>", 107, 0},
	{">", 107, 0},
	{"a.>.b", 107, 107},
	{"a.b>", 107, 107},
	{".a", 119, 119},
	{"a..b", 119, 119},
	{"a/b", 119, 119},
	{strings.Repeat("x", 256), 119, 119},
}

// codeOf checks that err is a refusal of the client's kind and returns its
// KubeMQ code (0 for nil).
func codeOf(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var code int
	if _, scanErr := fmt.Sscanf(err.Error(), "Error %d:", &code); scanErr != nil || !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("%v: not an ErrInvalidArgument with a KubeMQ code", err)
	}
	return code
}

func TestValidateChannel(t *testing.T) {
	for _, tt := range channelNames {
		if got := codeOf(t, client.ValidateChannel(tt.name, false)); got != tt.send {
			t.Errorf("ValidateChannel(%q, false): code %d, want %d", tt.name, got, tt.send)
		}
		if got := codeOf(t, client.ValidateChannel(tt.name, true)); got != tt.subscribe {
			t.Errorf("ValidateChannel(%q, true): code %d, want %d", tt.name, got, tt.subscribe)
		}
		wantQueue := 0
		if tt.send != 0 {
			wantQueue = 120
		}
		if got := codeOf(t, client.ValidateQueueChannel(tt.name)); got != wantQueue {
			t.Errorf("ValidateQueueChannel(%q): code %d, want %d", tt.name, got, wantQueue)
		}
	}
}

func TestValidateChannelReferenceTexts(t *testing.T) {
	for name, want := range map[string]string{
		"":    "Error 102: invalid channel value, cannot be empty",
		"a.":  "Error 119: invalid channel value, cannot end with `.`",
		"a b": "Error 108: invalid channel value, no white spaces are allowed",
		"a.*": "Error 107: invalid channel value, no wildcards are allowed",
	} {
		if err := client.ValidateChannel(name, false); err == nil || err.Error() != want {
			t.Errorf("ValidateChannel(%q) = %v, want %q", name, err, want)
		}
	}
	want := "Error 120: invalid queue name value, cannot be empty, contains wildcards ,white spaces and end with dot"
	for _, name := range []string{"", "a.", "a b", "a*", "a.>", "a\tb"} {
		if err := client.ValidateQueueChannel(name); err == nil || err.Error() != want {
			t.Errorf("ValidateQueueChannel(%q) = %v, want %q", name, err, want)
		}
	}
}

func TestReservedPrefix(t *testing.T) {
	for name, want := range map[string]string{
		client.ESGroupQueue("g", "orders"): "_herald.",
		"kubemq.cluster.internal.requests": "kubemq.cluster.internal.",
		"orders":                           "",
		"herald.x":                         "",
		"_herald":                          "",
	} {
		if got := client.ReservedPrefix(name); got != want {
			t.Errorf("ReservedPrefix(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestValidateChannelAgreesWithServer: a name ValidateChannel accepts is
// accepted by Herald, and a refused one is refused with the same text, for
// events and for queue messages. (Invalid UTF-8 does not reach the server:
// gRPC refuses to marshal it.)
func TestValidateChannelAgreesWithServer(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tt := range channelNames {
		if !utf8.ValidString(tt.name) {
			continue
		}
		err := c.E().SetChannel(tt.name).SetBody([]byte("x")).Send(ctx)
		sameRefusal(t, "event to "+fmt.Sprintf("%q", tt.name), err, client.ValidateChannel(tt.name, false))

		res, err := c.QM().SetChannel(tt.name).SetBody([]byte("x")).Send(ctx)
		if err == nil {
			err = res.Err()
		}
		sameRefusal(t, "queue message to "+fmt.Sprintf("%q", tt.name), err, client.ValidateQueueChannel(tt.name))
	}
}

// sameRefusal checks that the server's answer got matches the validator's
// verdict want: both nil, or the same text.
func sameRefusal(t *testing.T, what string, got, want error) {
	t.Helper()
	var ce *client.Error
	switch {
	case want == nil && got != nil:
		t.Errorf("%s: server refused with %v, validator accepted", what, got)
	case want != nil && got == nil:
		t.Errorf("%s: server accepted, validator refused with %v", what, want)
	case want != nil && (!errors.As(got, &ce) || ce.Message != want.Error()):
		t.Errorf("%s: server refused with %v, validator with %v", what, got, want)
	}
}
