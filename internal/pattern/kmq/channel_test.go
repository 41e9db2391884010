package kmq

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateChannel(t *testing.T) {
	tests := []struct {
		name      string
		ch        string
		wildcards bool
		code      int // 0 = valid
	}{
		{"plain", "orders", false, 0},
		{"tokens", "a.b.c", false, 0},
		{"non-ascii", "zürich.ü", false, 0},
		{"punctuation", "a-b_c?#", false, 0},
		{"empty", "", false, 102},
		{"trailing dot", "a.", false, 119},
		{"space", "a b", false, 108},
		{"tab", "a\tb", false, 108},
		{"newline", "a\nb", false, 108},
		{"nul", "a\x00b", false, 108},
		{"nbsp", "a\u00a0b", false, 108},
		{"bad utf8", "a\xffb", false, 108},
		{"star on send", "a.*", false, 107},
		{"gt on send", "a.>", false, 107},
		{"star inside token on send", "a*", false, 107},
		{"leading dot", ".a", false, 119},
		{"empty token", "a..b", false, 119},
		{"slash", "a/b", false, 119},
		{"too long", strings.Repeat("x", 256), false, 119},
		{"max length", strings.Repeat("x", 255), false, 0},
		{"star pattern", "a.*.c", true, 0},
		{"gt pattern", "a.>", true, 0},
		{"gt alone", ">", true, 0},
		{"gt not last", "a.>.b", true, 107},
		{"gt inside token", "a.b>", true, 107},
		{"space before wildcard check", "a b.*", true, 108},
		{"trailing dot before space", "a b.", true, 119},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateChannel(tt.ch, tt.wildcards)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("ValidateChannel(%q) = %v, want nil", tt.ch, err)
				}
				return
			}
			var ke *Error
			if !errors.As(err, &ke) || ke.Code != tt.code {
				t.Fatalf("ValidateChannel(%q) = %v, want code %d", tt.ch, err, tt.code)
			}
		})
	}
}

func TestValidateChannelReferenceTexts(t *testing.T) {
	for ch, want := range map[string]string{
		"":    "Error 102: invalid channel value, cannot be empty",
		"a.":  "Error 119: invalid channel value, cannot end with `.`",
		"a b": "Error 108: invalid channel value, no white spaces are allowed",
		"a.*": "Error 107: invalid channel value, no wildcards are allowed",
	} {
		if err := ValidateChannel(ch, false); err == nil || err.Error() != want {
			t.Errorf("ValidateChannel(%q) = %v, want %q", ch, err, want)
		}
	}
}

func TestValidateQueueChannel(t *testing.T) {
	want := "Error 120: invalid queue name value, cannot be empty, contains wildcards ,white spaces and end with dot"
	for _, ch := range []string{"", "a.", "a b", "a*", "a.>", "a\tb"} {
		if err := ValidateQueueChannel(ch); err == nil || err.Error() != want {
			t.Errorf("ValidateQueueChannel(%q) = %v, want %q", ch, err, want)
		}
	}
	for _, ch := range []string{"a..b", ".a", "a/b", strings.Repeat("q", 300)} {
		err := ValidateQueueChannel(ch)
		var ke *Error
		if !errors.As(err, &ke) || ke.Code != 120 {
			t.Errorf("ValidateQueueChannel(%q) = %v, want code 120", ch, err)
		}
	}
	if err := ValidateQueueChannel("jobs.high"); err != nil {
		t.Errorf("valid queue refused: %v", err)
	}
}

func TestErrorIs(t *testing.T) {
	if !errors.Is(New(120, "other text"), ErrInvalidQueueName) {
		t.Error("errors.Is should match by code")
	}
	if errors.Is(ErrEmptyChannel, ErrEmptyClientID) {
		t.Error("different codes must not match")
	}
	if !errors.Is(New(0, "request unknown"), New(0, "request unknown")) || errors.Is(New(0, "a"), New(0, "b")) {
		t.Error("code-less errors match by text")
	}
}

func TestNewUUID(t *testing.T) {
	u := NewUUID()
	if len(u) != 36 || u[14] != '4' || strings.Count(u, "-") != 4 {
		t.Fatalf("bad uuid %q", u)
	}
	if a, b := NewID(), NewID(); NewUUID() == u || a == b {
		t.Fatal("ids repeat")
	}
}

// FuzzValidateChannel checks that validation never panics and that every
// accepted name is one the engine can use: valid UTF-8, no white space or
// control characters, no empty tokens, no `/`, at most 255 bytes, and
// wildcards only where allowed and only as whole tokens for `>`.
func FuzzValidateChannel(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a.*", "a.>", ">", "a..b", ".a", "a.", "a b", "a\tb", "a/b", "\xff", "zürich", "a.>.b"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, ch string, wildcards bool) {
		err := ValidateChannel(ch, wildcards)
		qerr := ValidateQueueChannel(ch)
		if err != nil {
			var ke *Error
			if !errors.As(err, &ke) || ke.Code == 0 {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !utf8.ValidString(ch) || len(ch) == 0 || len(ch) > MaxChannelLen {
			t.Fatalf("accepted %q", ch)
		}
		if strings.ContainsAny(ch, " \t\r\n/") || strings.Contains(ch, "..") || ch[0] == '.' || ch[len(ch)-1] == '.' {
			t.Fatalf("accepted %q", ch)
		}
		if !wildcards && strings.ContainsAny(ch, "*>") {
			t.Fatalf("accepted wildcard %q", ch)
		}
		if i := strings.Index(ch, ">"); i >= 0 && i != len(ch)-1 {
			t.Fatalf("accepted inner > in %q", ch)
		}
		if !strings.ContainsAny(ch, "*>") && qerr != nil {
			t.Fatalf("send channel %q valid but queue channel refused: %v", ch, qerr)
		}
	})
}
