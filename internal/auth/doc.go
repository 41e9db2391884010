// Package auth decides who a caller is and what it may do: token
// verification (JWT or a static token file), the binding of a caller to the
// client ids it may declare, and a per-channel access-control list. It
// knows nothing of gRPC or HTTP; the transports extract the token, call a
// [Guard], and render its answers as the reference server's texts.
//
// # Authentication
//
// Off by default. It is on when [Config] names a JWT algorithm or a static
// token file (or both; a token listed in the file wins, anything else is
// verified as a JWT).
//
//   - JWT: HS256/384/512 with a shared secret, RS256/384/512 or
//     ES256/384/512 with a PEM public key, or a JWKS file whose keys are
//     chosen by the token's "kid". The token's "alg" must equal the
//     configured algorithm ("none" never does). "exp", "nbf" and "iat" are
//     checked when present, with [Leeway] of clock skew. Verified tokens are
//     cached until they expire (at most [JWTConfig.CacheSize] of them).
//   - Static tokens: a file of "token client-id-pattern" lines, for
//     deployments without a token issuer. Tokens are compared in constant
//     time; only their SHA-256 is kept in memory.
//
// # Identity and client ids
//
// Every KubeMQ request declares a ClientID in its body, and the reference
// trusted it. Here a verified caller gets an [Identity] whose
// [Identity.AllowsClientID] says which client ids it may declare: a JWT
// caller exactly its identity claim ("sub" unless configured otherwise), a
// static-token caller whatever matches the pattern of its line ("*" is a
// wildcard). With authentication off every caller is [Anonymous] and may
// declare any client id.
//
// # Authorization
//
// Off unless an access-control list is configured; then everything no rule
// grants is denied. A rule grants read and/or write on some of the
// resources events, events_store, queues, commands and queries, to client
// ids, on channels. Two formats are read (see [ParsePolicy]): the reference
// server's JSON array, with its unanchored regular expressions, and a YAML
// form with anchored client-id patterns and NATS-style channel wildcards.
// Rules are matched against the client id the request declares, which the
// transport has checked with AllowsClientID first, so one list works with
// authentication on or off.
//
// Responses to commands and queries ([Responses]) need no rule: the reply
// channel is a per-request inbox that only reaches a responder that was
// allowed to read the request's channel, so whoever received the request
// may answer it. The reference checked a "responses" resource that no rule
// could grant, which denied every response.
//
// # How a transport uses it
//
//	g, err := auth.New(cfg) // at start-up; an error here must stop the server
//	defer g.Close()
//	...
//	id := auth.Anonymous()
//	if g.AuthenticationEnabled() {
//		if token == "" { /* kmq.ErrNoAuthToken (gRPC) or kmq.ErrAuthHeader (REST) */ }
//		id, err = g.Authenticate(token)
//		var ae *auth.Error
//		if errors.As(err, &ae) { /* Unauthenticated + ae.KubeMQ(): "Error 421: authentication verification failed, <cause>" */ }
//	}
//	if err := g.Authorize(id, auth.Queues, msg.ClientID, msg.Channel, auth.Write); err != nil {
//		/* kmq.ErrAccessDenied: "Error 412: access denied to resource" */
//	}
//
// Live subscriptions were authorized when they started. [Guard.OnChange]
// tells the transport when the list, the tokens or the keys changed, so it
// can check them again and end those no longer allowed.
//
// # Reload
//
// Files (the key or JWKS file, the token file, the access-control list)
// are read at [New], where any problem is an error: the server never starts
// wide open. They are then polled every [Config.ReloadInterval]; a changed
// file is loaded again, and a broken one is logged and the last good
// version kept. [Guard.Reload] does the same on demand (for SIGHUP).
//
// # Concurrency
//
// A Guard and a [Policy] are safe for concurrent use. Policies are
// immutable; a reload swaps in a new one.
package auth
