package kmq

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxChannelLen is the longest channel name Herald accepts, in bytes. Longer
// names break persistent channels on the reference server; 255 bytes keeps
// every engine name derived from a channel within its limits.
const MaxChannelLen = 255

// Extra refusals in the reference's error families, for names the reference
// accepted and then mishandled.
var (
	errControl    = New(108, "invalid channel value, no white spaces or control characters are allowed")
	errBadUTF8    = New(108, "invalid channel value, must be valid UTF-8")
	errEmptyToken = New(119, "invalid channel value, cannot start with `.` or contain empty tokens (`..`)")
	errSlash      = New(119, "invalid channel value, cannot contain `/`")
	errTooLong    = New(119, "invalid channel value, longer than 255 bytes")
	errGTNotLast  = New(107, "invalid channel value, `>` is allowed only as the last token")
)

// ValidateChannel checks a channel name of events, events store, commands and
// queries in the reference's order: empty (102), trailing dot (119), white
// space (108), wildcards (107, unless allowed). Herald also refuses control
// characters and invalid UTF-8 (108), leading dots, empty tokens, `/` and
// names over MaxChannelLen (119), and `>` anywhere but as the last token.
func ValidateChannel(ch string, allowWildcards bool) error {
	if ch == "" {
		return ErrEmptyChannel
	}
	if strings.HasSuffix(ch, ".") {
		return ErrChannelEndsWithDot
	}
	if err := checkChars(ch); err != nil {
		return err
	}
	if !allowWildcards {
		if strings.ContainsAny(ch, "*>") {
			return ErrWildcards
		}
	} else if i := strings.Index(ch, ">"); i >= 0 && !isLastToken(ch, i) {
		return errGTNotLast
	}
	return checkShape(ch)
}

// ValidateQueueChannel checks a queue channel name; every failure is Error 120,
// whose text names all the rules.
func ValidateQueueChannel(ch string) error {
	if ch == "" || strings.HasSuffix(ch, ".") || strings.ContainsAny(ch, "*>") || checkChars(ch) != nil {
		return ErrInvalidQueueName
	}
	var shape *Error
	if errors.As(checkShape(ch), &shape) {
		return New(120, "invalid queue name value, "+strings.TrimPrefix(shape.Text, "invalid channel value, "))
	}
	return nil
}

func checkChars(ch string) error {
	if !utf8.ValidString(ch) {
		return errBadUTF8
	}
	for _, r := range ch {
		if r == ' ' {
			return ErrWhiteSpace
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return errControl
		}
	}
	return nil
}

func checkShape(ch string) error {
	if len(ch) > MaxChannelLen {
		return errTooLong
	}
	if strings.HasPrefix(ch, ".") || strings.Contains(ch, "..") {
		return errEmptyToken
	}
	if strings.Contains(ch, "/") {
		return errSlash
	}
	return nil
}

// isLastToken reports whether the '>' at index i is a whole, final token.
func isLastToken(ch string, i int) bool {
	return i == len(ch)-1 && (i == 0 || ch[i-1] == '.')
}

// ValidateGroup checks a subscription group name: white space and control
// characters are refused (they cannot be queue group names), and so are
// names over MaxChannelLen bytes (a longer one would not fit the engine's
// protocol line, whose overflow ends the engine's connection).
func ValidateGroup(g string) error {
	if g == "" {
		return nil
	}
	if len(g) > MaxChannelLen {
		return Invalid("invalid group value, longer than 255 bytes")
	}
	if !utf8.ValidString(g) {
		return Invalid("invalid group value, must be valid UTF-8")
	}
	for _, r := range g {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return Invalid("invalid group value, no white spaces or control characters are allowed")
		}
	}
	return nil
}

// ValidateClientID checks that a client id is present (101).
func ValidateClientID(id string) error {
	if id == "" {
		return ErrEmptyClientID
	}
	return nil
}
