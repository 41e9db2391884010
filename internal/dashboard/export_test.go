package dashboard

import "context"

// For the external tests (package dashboard_test), which start a real
// broker through server/heraldtest: the server imports this package, so
// they cannot be in it.

// StatusOf is statusOf.
var StatusOf = statusOf

// HasConn reports whether b keeps a connection for token.
func HasConn(b *Broker, token string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.conns[token]
	return ok
}

// ErrBadRequest is errBadRequest.
var ErrBadRequest = errBadRequest

// ChannelTraffic is Broker.channelTraffic.
func ChannelTraffic(b *Broker) func(ctx context.Context) (Traffic, error) { return b.channelTraffic }
