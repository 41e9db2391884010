package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/pattern/kmq"
	"github.com/heraldmq/herald/internal/pattern/queues"
	"github.com/heraldmq/herald/internal/tlsconf"
	"github.com/heraldmq/herald/internal/transport/rest"
)

// SecurityOptions configure TLS, authentication, authorization and CORS.
// The zero value turns everything off: plain text, every caller let in,
// no CORS headers.
type SecurityOptions struct {
	// TLS turns TLS on for the gRPC and REST listeners (and is what
	// HTTPTLSConfig offers the HTTP front) once a certificate is set.
	TLS TLSOptions
	// Auth turns on authentication (a JWT algorithm or a token file) and
	// authorization (an access-control list).
	Auth AuthOptions
	// CORSOrigins lists the origins whose browser pages may call the REST
	// API ("*": any). Empty: no CORS headers, so browsers refuse
	// cross-origin calls.
	CORSOrigins []string
	// ReloadInterval is how often certificate, key, token and
	// access-control-list files are checked for changes (default 2 s).
	ReloadInterval time.Duration
}

// Client-certificate policies, the values of TLSOptions.ClientAuth.
const (
	ClientAuthRequire       = string(tlsconf.ClientAuthRequire)
	ClientAuthVerifyIfGiven = string(tlsconf.ClientAuthVerifyIfGiven)
	ClientAuthOff           = string(tlsconf.ClientAuthOff)
)

// TLSOptions configure the server certificate and client verification.
// Each PEM is a file or inline text, not both.
type TLSOptions struct {
	CertFile string // server certificate chain, PEM file
	KeyFile  string // its private key, PEM file
	Cert     string // the certificate chain, inline PEM
	Key      string // the key, inline PEM
	// ClientCAFile or ClientCA (inline) holds the CAs that sign client
	// certificates.
	ClientCAFile string
	ClientCA     string
	// ClientAuth is ClientAuthRequire (no valid client certificate, no
	// handshake; the default once a client CA is set),
	// ClientAuthVerifyIfGiven or ClientAuthOff.
	ClientAuth string
}

// AuthOptions configure who may call and what they may do.
type AuthOptions struct {
	// JWTAlgorithm turns JWT authentication on: HS256, HS384, HS512, RS256,
	// RS384, RS512, ES256, ES384 or ES512. Exactly one of JWTKey,
	// JWTKeyFile and JWKSFile gives the key.
	JWTAlgorithm string
	// JWTKey is the verification key inline: the shared secret for HS*, a
	// PEM public key for RS* and ES*.
	JWTKey string
	// JWTKeyFile holds the key; for HS* every byte of the file is the
	// secret, a trailing newline included.
	JWTKeyFile string
	// JWKSFile is a JSON Web Key Set; a token's "kid" picks the key.
	JWKSFile string
	// IdentityClaim names the claim holding the one client id a JWT caller
	// may declare (default "sub").
	IdentityClaim string
	// Issuer and Audience, when set, must match the token's "iss" and one
	// of its "aud" values.
	Issuer   string
	Audience string
	// AllowUnboundTokens accepts JWTs without the identity claim (as the
	// KubeMQ reference did) and lets them declare any client id.
	AllowUnboundTokens bool
	// TokenFile lists static tokens, one "token client-id-pattern" a line;
	// it turns authentication on too.
	TokenFile string
	// ACLFile or ACL (inline) is the access-control list, in Herald's YAML
	// or the reference's JSON; it turns authorization on: what no rule
	// grants is denied.
	ACLFile string
	ACL     string
}

// tlsConfig is o as tlsconf reads it.
func (o SecurityOptions) tlsConfig() tlsconf.Config {
	t := o.TLS
	return tlsconf.Config{
		CertFile: t.CertFile, KeyFile: t.KeyFile, Cert: t.Cert, Key: t.Key,
		ClientCAFile: t.ClientCAFile, ClientCA: t.ClientCA, ClientAuth: tlsconf.ClientAuth(t.ClientAuth),
		ReloadInterval: o.ReloadInterval,
	}
}

// authConfig is o as auth reads it.
func (o SecurityOptions) authConfig() auth.Config {
	a := o.Auth
	return auth.Config{
		JWT: auth.JWTConfig{
			Algorithm: a.JWTAlgorithm, Key: a.JWTKey, KeyFile: a.JWTKeyFile, JWKSFile: a.JWKSFile,
			IdentityClaim: a.IdentityClaim, AllowUnboundTokens: a.AllowUnboundTokens,
			Issuer: a.Issuer, Audience: a.Audience,
		},
		TokenFile: a.TokenFile, ACLFile: a.ACLFile, ACL: a.ACL,
		ReloadInterval: o.ReloadInterval,
	}
}

// TLSEnabled reports whether o turns TLS on.
func (o SecurityOptions) TLSEnabled() bool { return o.tlsConfig().Enabled() }

// AuthenticationEnabled reports whether callers must present a token.
func (o SecurityOptions) AuthenticationEnabled() bool { return o.authConfig().AuthenticationEnabled() }

// AuthorizationEnabled reports whether an access-control list applies.
func (o SecurityOptions) AuthorizationEnabled() bool { return o.authConfig().AuthorizationEnabled() }

// validate reports every problem of o, joined; it reads no file.
func (o SecurityOptions) validate() error {
	var errs []error
	if o.TLS != (TLSOptions{}) {
		errs = append(errs, o.tlsConfig().Validate())
	}
	errs = append(errs, o.authConfig().Validate())
	for _, origin := range o.CORSOrigins {
		if origin != "*" && (origin == "" || strings.TrimSpace(origin) != origin || strings.HasSuffix(origin, "/") ||
			!(strings.HasPrefix(origin, "http://") || strings.HasPrefix(origin, "https://"))) {
			errs = append(errs, fmt.Errorf("cors origin %q: want * or scheme://host[:port], as browsers send it", origin))
		}
	}
	if o.ReloadInterval < 0 {
		errs = append(errs, errors.New("security reload interval must not be negative"))
	}
	return errors.Join(errs...)
}

// load reads every file o names, as the server will, and discards the
// result: New reports a missing or broken file instead of Start.
func (o SecurityOptions) load() error {
	var errs []error
	if o.TLSEnabled() {
		c := o.tlsConfig()
		c.ReloadInterval = -1
		if ts, err := tlsconf.NewServer(c); err != nil {
			errs = append(errs, err)
		} else {
			_ = ts.Close()
		}
	}
	c := o.authConfig()
	c.ReloadInterval = -1
	if g, err := auth.New(c); err != nil {
		errs = append(errs, err)
	} else {
		_ = g.Close()
	}
	return errors.Join(errs...)
}

// Redacted returns a copy of o fit to show, for example as the served
// configuration: inline keys and PEMs are replaced by "[redacted]"; file
// paths stay (the files are not read).
func (o Options) Redacted() Options {
	s := &o.Security
	t := s.tlsConfig().Redacted()
	s.TLS.Cert, s.TLS.Key, s.TLS.ClientCA = t.Cert, t.Key, t.ClientCA
	a := s.authConfig().Redacted()
	s.Auth.JWTKey = a.JWT.Key
	s.CORSOrigins = slices.Clone(s.CORSOrigins)
	return o
}

// openSecurity loads the TLS material and the guard; Start calls it first,
// so a missing or broken file stops the server before anything opens.
func (s *Server) openSecurity() error {
	sec := s.opts.Security
	if sec.TLSEnabled() {
		c := sec.tlsConfig()
		c.Logger = s.log
		ts, err := tlsconf.NewServer(c)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		s.tls.Store(ts)
	}
	c := sec.authConfig()
	c.Logger = s.log
	g, err := auth.New(c)
	if err != nil {
		s.closeSecurity()
		return fmt.Errorf("server: %w", err)
	}
	s.guard.Store(g)
	return nil
}

// logSecurity says what is enforced, without any secret; Start calls it
// once the server is up.
func (s *Server) logSecurity() {
	sec := s.opts.Security
	attrs := []any{"tls", sec.TLSEnabled()}
	if ts := s.tls.Load(); ts != nil {
		attrs = append(attrs, "client_auth", string(ts.ClientAuth()), "certificate", ts.Certificate().Subject.String())
	}
	var methods []string
	if sec.Auth.JWTAlgorithm != "" {
		methods = append(methods, "jwt "+strings.ToUpper(sec.Auth.JWTAlgorithm))
	}
	if sec.Auth.TokenFile != "" {
		methods = append(methods, "token file")
	}
	attrs = append(attrs, "authentication", cmpOr(strings.Join(methods, ", "), "off"))
	if p := s.guard.Load().Policy(); p != nil {
		attrs = append(attrs, "authorization", fmt.Sprintf("%d rules (%s)", p.Len(), p.Format()))
	} else {
		attrs = append(attrs, "authorization", "off")
	}
	attrs = append(attrs, "cors_origins", strings.Join(sec.CORSOrigins, ","))
	s.log.Info("security", attrs...)
	if !sec.AuthenticationEnabled() && sec.AuthorizationEnabled() {
		s.log.Warn("the access-control list matches the client ids requests declare, and authentication is off: any client can declare any id")
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// closeSecurity stops watching the security files.
func (s *Server) closeSecurity() {
	if g := s.guard.Swap(nil); g != nil {
		_ = g.Close()
	}
	if ts := s.tls.Swap(nil); ts != nil {
		_ = ts.Close()
	}
}

// channelAllowed is the check of channel management (create-channel,
// delete-channel, list-channels on kubemq.cluster.internal.requests): the
// client id that sent the request must be granted write on a channel to
// create or delete it, and read to see it listed. Nil when no list is set.
func (s *Server) channelAllowed() func(clientID, channelType, channel string, write bool) bool {
	g := s.guard.Load()
	if g == nil || !g.AuthorizationEnabled() {
		return nil
	}
	return func(clientID, channelType, channel string, write bool) bool {
		res := auth.Resource(channelType)
		if res == auth.Queues {
			if ch, ok := queues.ESGroupChannel(channel); ok {
				res, channel = auth.EventsStore, ch
			}
		}
		act := auth.Read
		if write {
			act = auth.Write
		}
		return g.Allowed(res, clientID, channel, act)
	}
}

// HTTPTLSConfig is the TLS configuration for the HTTP front (dashboard,
// metrics): the gRPC and REST listeners' certificate, client-certificate
// policy and rotation, offering ALPN "h2" and "http/1.1". Use it as
// http.Server.TLSConfig (then ServeTLS(lis, "", "")) or with
// tls.NewListener. Nil when TLS is off or the server is not started.
func (s *Server) HTTPTLSConfig() *tls.Config {
	ts := s.tls.Load()
	if ts == nil {
		return nil
	}
	return ts.TLSConfig()
}

// AuthenticateHTTP checks the credential of an HTTP request as the REST
// front does and returns its token, for the HTTP front to act on the broker
// with (the dashboard passes it to its Broker, so each user's calls are
// authorized as theirs). The token is read from "Authorization: Bearer
// <token>" or, without that header, the query parameter "token" (for
// EventSource and WebSocket requests, which cannot set headers).
//
// With authentication off it returns "" and no error. Otherwise the error
// is for an HTTP 401, with KubeMQ's text as its message: "invalid
// authentication header" (no or a malformed credential) or "Error 421:
// authentication verification failed, <cause>". It never contains the
// token. It is safe for concurrent use once Start returned.
func (s *Server) AuthenticateHTTP(r *http.Request) (token string, err error) {
	g := s.guard.Load()
	if g == nil {
		if s.opts.Security.AuthenticationEnabled() {
			return "", errors.New("server: not serving")
		}
		return "", nil
	}
	if !g.AuthenticationEnabled() {
		return "", nil
	}
	if _, ok := r.Header["Authorization"]; ok || r.URL.Query().Get("token") == "" {
		if token, err = rest.Token(r); err != nil {
			return "", err
		}
	} else {
		token = r.URL.Query().Get("token")
	}
	if _, err := g.Authenticate(token); err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			return "", ae.KubeMQ()
		}
		return "", kmq.ErrAuthHeader
	}
	return token, nil
}
