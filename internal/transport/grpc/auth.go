package grpctransport

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/queues"
)

// Authentication and authorization live in the handlers themselves, not in
// interceptors: every front (gRPC, and REST and WebSocket, which call the
// handlers directly) and every way grpc-go dispatches a method (the
// ReceiveQueueMessages stream handler included) passes through them.
//
// A handler first finds its caller (Server.caller): the token from gRPC
// metadata, or the one another front put in the context
// (ContextWithToken), verified by the Guard. It then authorizes each thing
// the call declares (Server.authorize): the client id the caller may use
// and the list's grant on the channel. Streams verify the token and the
// grant again for every message they carry (Server.recheck), and
// subscriptions also whenever the Guard reloads a file (Server.live), so a
// revoked grant, a removed token or an expired JWT ends them.

// caller is who makes a call: the token it presented (kept to verify it
// again later) and the identity the token gave.
type caller struct {
	token string
	id    auth.Identity
}

type tokenKey struct{}

// ContextWithToken returns ctx carrying token as the caller's credential,
// for fronts that call the handlers directly (REST and WebSocket). The
// handlers verify it as they verify a gRPC call's "authorization" metadata.
func ContextWithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// AuthenticationEnabled reports whether calls must carry a token.
func (s *Server) AuthenticationEnabled() bool {
	return s.guard != nil && s.guard.AuthenticationEnabled()
}

// authorizationOn reports whether anything needs checking per request:
// client-id binding (authentication) or the list (authorization).
func (s *Server) authorizationOn() bool {
	return s.guard != nil && (s.guard.AuthenticationEnabled() || s.guard.AuthorizationEnabled())
}

// VerifyToken checks token as the handlers will, for fronts that answer a
// bad credential before they run a handler. Its error is the KubeMQ text,
// "Error 421: authentication verification failed, <cause>".
func (s *Server) VerifyToken(token string) error {
	if !s.AuthenticationEnabled() {
		return nil
	}
	if _, err := s.verify(token); err != nil {
		return err
	}
	return nil
}

// caller returns who makes the call of ctx. Its errors are statuses: the
// reference's Unauthenticated texts, and InvalidArgument for a context
// that carries neither metadata nor a token (a front that forgot to pass
// one is refused, not let in).
func (s *Server) caller(ctx context.Context) (caller, error) {
	if !s.AuthenticationEnabled() {
		return caller{id: auth.Anonymous()}, nil
	}
	token, ok := ctx.Value(tokenKey{}).(string)
	if !ok {
		md, found := metadata.FromIncomingContext(ctx)
		if !found {
			return caller{}, status.Error(codes.InvalidArgument, kmq.ErrNoMetadata.Error())
		}
		if v := md.Get("authorization"); len(v) > 0 {
			token = v[0]
		}
	}
	if token == "" {
		s.log.Info("authentication failed", "cause", "no token", "peer", peerOf(ctx))
		return caller{}, status.Error(codes.Unauthenticated, kmq.ErrNoAuthToken.Error())
	}
	id, err := s.verify(token)
	if err != nil {
		s.log.Info("authentication failed", "cause", err.Text, "peer", peerOf(ctx))
		return caller{}, status.Error(codes.Unauthenticated, err.Error())
	}
	return caller{token: token, id: id}, nil
}

// verify authenticates token; its errors are the reference's texts.
func (s *Server) verify(token string) (auth.Identity, *kmq.Error) {
	id, err := s.guard.Authenticate(token)
	if err == nil {
		return id, nil
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		return auth.Identity{}, ae.KubeMQ()
	}
	return auth.Identity{}, kmq.ErrNoAuthToken // ErrNoToken: an empty token
}

// reverify verifies c's token again (the Guard caches verified tokens, so
// this is cheap) and returns the caller as the token now identifies it: an
// expired JWT, a static token removed from its file or a JWT signed with a
// key that was rotated away fails.
func (s *Server) reverify(c caller) (caller, error) {
	if !s.AuthenticationEnabled() {
		return c, nil
	}
	id, err := s.verify(c.token)
	if err != nil {
		s.log.Info("authentication failed during a stream", "identity", c.id.Name, "cause", err.Text)
		return caller{}, status.Error(codes.Unauthenticated, err.Error())
	}
	return caller{token: c.token, id: id}, nil
}

// authorize checks that c may declare clientID and that the list grants act
// on res's channel. It returns kmq.ErrEmptyClientID for an empty client id
// (the request is invalid whoever sends it; handlers report it where they
// report validation errors) and kmq.ErrAccessDenied for a refusal (handlers
// report it with accessDenied or in-band). With authentication and
// authorization off it allows everything.
func (s *Server) authorize(c caller, res auth.Resource, clientID, channel string, act auth.Action) error {
	if !s.authorizationOn() {
		return nil
	}
	if clientID == "" {
		return kmq.ErrEmptyClientID
	}
	if err := s.guard.Authorize(c.id, res, clientID, channel, act); err != nil {
		s.log.Info("access denied", "identity", c.id.Name, "client_id", clientID, "resource", string(res),
			"channel", channel, "action", string(act), "err", err)
		return kmq.ErrAccessDenied
	}
	return nil
}

// bind checks only that c may declare clientID (an empty one included:
// nothing is declared then), for requests that act on something the
// caller was authorized for before, such as the message a stream holds.
func (s *Server) bind(c caller, clientID string) error {
	if clientID == "" || !s.AuthenticationEnabled() || c.id.AllowsClientID(clientID) {
		return nil
	}
	s.log.Info("access denied", "identity", c.id.Name, "client_id", clientID, "err", auth.ErrClientIDNotAllowed)
	return kmq.ErrAccessDenied
}

// recheck is a stream's check of one message: the token again, then the
// grant. Its errors are an Unauthenticated status (the stream ends) or
// those of authorize.
func (s *Server) recheck(c caller, res auth.Resource, clientID, channel string, act auth.Action) (caller, error) {
	c, err := s.reverify(c)
	if err != nil {
		return caller{}, err
	}
	return c, s.authorize(c, res, clientID, channel, act)
}

// live runs check whenever the Guard reloads a file (a key, the token
// file, the list) for as long as the returned stop is not called; when it
// fails, the returned context is cancelled with check's error as its
// cause (see ended). Subscriptions use it so that a revoked grant ends
// them even while no message flows.
func (s *Server) live(ctx context.Context, check func() error) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if !s.authorizationOn() {
		return ctx, func() { cancel(nil) }
	}
	remove := s.guard.OnChange(func() {
		if err := check(); err != nil {
			cancel(err)
		}
	})
	return ctx, func() { remove(); cancel(nil) }
}

// ended is what a subscription returns: the reason live cancelled ctx,
// when that is what ended it, else err.
func ended(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); isAuthError(cause) {
			return cause
		}
	}
	return err
}

// isAuthError reports whether err is a refusal of the caller: an
// Unauthenticated status or Error 412.
func isAuthError(err error) bool {
	if errors.Is(err, kmq.ErrAccessDenied) {
		return true
	}
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unauthenticated
}

// accessDenied renders Error 412 as a status: PermissionDenied with the
// reference's text (the reference used Internal or Unknown, as any error
// of the RPC; PermissionDenied is what clients classify as authorization).
func accessDenied() error {
	return status.Error(codes.PermissionDenied, kmq.ErrAccessDenied.Error())
}

// statusOf renders an error of authorize or recheck for an RPC that reports
// errors as a status: Unauthenticated stays, Error 412 is PermissionDenied,
// other errors are Internal as the RPC's validation errors.
func statusOf(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kmq.ErrAccessDenied):
		return accessDenied()
	}
	return internalErr(err)
}

// unauthenticated reports whether err is an Unauthenticated status, which
// ends a stream instead of being answered in-band.
func unauthenticated(err error) bool {
	st, ok := status.FromError(err)
	return ok && err != nil && st.Code() == codes.Unauthenticated
}

// queueResource is the resource and channel a queue request acts on: a
// group view of an events-store channel (queues.ESGroupPrefix) reads that
// channel, anything else is the queue of that name.
func queueResource(channel string) (auth.Resource, string) {
	if ch, ok := queues.ESGroupChannel(channel); ok {
		return auth.EventsStore, ch
	}
	return auth.Queues, channel
}

// authorizeQueue is authorize on a queue request's channel.
func (s *Server) authorizeQueue(c caller, clientID, channel string, act auth.Action) error {
	res, ch := queueResource(channel)
	return s.authorize(c, res, clientID, ch, act)
}

// authorizeQueueMessage checks a message to be stored: the sender writes
// to its queue and, when its policy names a dead-letter queue, to that
// one too, since the server will move the message there on the sender's
// behalf.
func (s *Server) authorizeQueueMessage(c caller, clientID, channel, deadLetter string) error {
	if err := s.authorizeQueue(c, clientID, channel, auth.Write); err != nil {
		return err
	}
	if deadLetter != "" {
		return s.authorizeQueue(c, clientID, deadLetter, auth.Write)
	}
	return nil
}

func peerOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
