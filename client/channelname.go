package client

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxChannelLen is the longest channel name Herald accepts, in bytes.
const MaxChannelLen = 255

// ValidateChannel checks a channel name of events, events store, commands
// and queries by the rules of Herald's server, so a caller can refuse a name
// before any network call. allowWildcards admits the subscription patterns
// `*` (one token) and `>` (the last token, matching the rest).
//
// The checks run in the KubeMQ reference server's order: empty (Error 102),
// ending in `.` (119), white space (108), wildcards when not allowed (107).
// Herald also refuses control characters and invalid UTF-8 (108), a leading
// `.`, empty tokens (`a..b`), `/` and names longer than MaxChannelLen (119),
// and `>` anywhere but as the last token (107).
//
// The error is an *Error matching ErrInvalidArgument whose text is the one
// Herald's server answers, e.g. "Error 108: invalid channel value, no white
// spaces are allowed". The KubeMQ reference server applies only the
// reference's four checks.
func ValidateChannel(name string, allowWildcards bool) error {
	if name == "" {
		return channelError(102, "cannot be empty")
	}
	if strings.HasSuffix(name, ".") {
		return channelError(119, "cannot end with `.`")
	}
	if err := checkChannelChars(name); err != nil {
		return err
	}
	if !allowWildcards {
		if strings.ContainsAny(name, "*>") {
			return channelError(107, "no wildcards are allowed")
		}
	} else if i := strings.Index(name, ">"); i >= 0 && !isLastToken(name, i) {
		return channelError(107, "`>` is allowed only as the last token")
	}
	return checkChannelShape(name, channelError)
}

// ValidateQueueChannel checks a queue name by the rules of ValidateChannel
// without wildcards, as Herald's server does for queue messages and
// receives. Every refusal is Error 120: the reference's text, which names
// all the reference's rules, or for Herald's own rules (a leading `.`, empty
// tokens, `/`, the length) a text naming the rule.
func ValidateQueueChannel(name string) error {
	if name == "" || strings.HasSuffix(name, ".") || strings.ContainsAny(name, "*>") || checkChannelChars(name) != nil {
		return invalidArgument("Error 120: invalid queue name value, cannot be empty, contains wildcards ,white spaces and end with dot")
	}
	return checkChannelShape(name, func(_ int, rule string) error {
		return invalidArgument("Error 120: invalid queue name value, " + rule)
	})
}

// channelError is the server's refusal of a channel name: KubeMQ error
// code, then the broken rule.
func channelError(code int, rule string) error {
	return invalidArgument("Error " + strconv.Itoa(code) + ": invalid channel value, " + rule)
}

// isLastToken reports whether the `>` at index i is a whole, final token.
func isLastToken(name string, i int) bool {
	return i == len(name)-1 && (i == 0 || name[i-1] == '.')
}

func checkChannelChars(name string) error {
	if !utf8.ValidString(name) {
		return channelError(108, "must be valid UTF-8")
	}
	for _, r := range name {
		if r == ' ' {
			return channelError(108, "no white spaces are allowed")
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return channelError(108, "no white spaces or control characters are allowed")
		}
	}
	return nil
}

// checkChannelShape checks Herald's rules of the 119 family, reporting a
// broken one through refuse.
func checkChannelShape(name string, refuse func(code int, rule string) error) error {
	if len(name) > MaxChannelLen {
		return refuse(119, "longer than 255 bytes")
	}
	if strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return refuse(119, "cannot start with `.` or contain empty tokens (`..`)")
	}
	if strings.Contains(name, "/") {
		return refuse(119, "cannot contain `/`")
	}
	return nil
}

// ReservedPrefix returns the prefix of name that servers reserve for their
// own channels — "_herald." (Herald's, e.g. ESGroupQueue) or
// "kubemq.cluster.internal." (KubeMQ's channel management) — or "" when
// name has none. ValidateChannel accepts such names, as the server does
// (the SDK uses them); the adapters refuse them as user input.
func ReservedPrefix(name string) string {
	for _, p := range []string{"_herald.", "kubemq.cluster.internal."} {
		if strings.HasPrefix(name, p) {
			return p
		}
	}
	return ""
}
