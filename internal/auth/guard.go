package auth

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/filewatch"
)

// Guard authenticates callers and authorizes their requests with the
// material of a Config, reloading its files when they change. It is safe
// for concurrent use. Close ends its file watcher.
type Guard struct {
	cfg Config // with defaults
	log *slog.Logger

	jwt    *jwtVerifier // nil: no JWT verification
	tokens atomic.Pointer[tokenTable]
	policy atomic.Pointer[Policy]

	reloadMu sync.Mutex // one load at a time
	watch    *filewatch.Watcher

	subsMu  sync.Mutex
	subs    map[int]func()
	nextSub int
}

// New checks cfg, reads every file it names and starts watching them. Any
// problem is an error, so that a server never starts with less protection
// than configured. With a zero Config everything is off: every caller is
// Anonymous and every request allowed.
func New(cfg Config) (*Guard, error) { return newGuard(cfg, time.Now) }

func newGuard(cfg Config, now func() time.Time) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := &Guard{cfg: cfg, log: cfg.Logger, subs: make(map[int]func())}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	// Each Add records the files before they are loaded: a change made
	// in between is seen by the first poll.
	g.watch = filewatch.New(cfg.ReloadInterval)
	var errs []error
	if cfg.JWT.enabled() {
		g.jwt = newJWTVerifier(cfg.JWT, now)
		g.watch.Add(func() { g.reloadAndNotify("JWT key", g.loadJWT) }, cfg.JWT.KeyFile, cfg.JWT.JWKSFile)
		errs = append(errs, g.loadJWT())
	}
	if cfg.TokenFile != "" {
		g.watch.Add(func() { g.reloadAndNotify("token file", g.loadTokens) }, cfg.TokenFile)
		errs = append(errs, g.loadTokens())
	}
	if cfg.AuthorizationEnabled() {
		g.watch.Add(func() { g.reloadAndNotify("access-control list", g.loadPolicy) }, cfg.ACLFile)
		errs = append(errs, g.loadPolicy())
	}
	if err := errors.Join(errs...); err != nil {
		g.watch.Close()
		return nil, err
	}
	g.watch.Start()
	return g, nil
}

func (g *Guard) loadJWT() error {
	if err := g.jwt.load(); err != nil {
		return err
	}
	if g.jwt.shortSecret() {
		g.log.Warn("auth: the JWT secret is shorter than its hash; RFC 7518 asks for at least as many bytes", "algorithm", g.cfg.JWT.Algorithm)
	}
	return nil
}

func (g *Guard) loadTokens() error {
	data, err := readFile(g.cfg.TokenFile)
	if err != nil {
		return err
	}
	t, err := parseTokens(data)
	if err != nil {
		return errors.Join(errors.New("auth: token file "+g.cfg.TokenFile), err)
	}
	g.tokens.Store(t)
	return nil
}

func (g *Guard) loadPolicy() error {
	var (
		p   *Policy
		err error
	)
	if g.cfg.ACLFile != "" {
		p, err = LoadPolicyFile(g.cfg.ACLFile)
	} else {
		p, err = ParsePolicy([]byte(g.cfg.ACL))
	}
	if err != nil {
		return err
	}
	g.policy.Store(p)
	return nil
}

// reload runs load under the reload lock and logs the outcome.
func (g *Guard) reload(what string, load func() error) error {
	g.reloadMu.Lock()
	err := load()
	g.reloadMu.Unlock()
	if err != nil {
		g.log.Error("auth: reload failed, keeping the last good "+what, "err", err)
		return err
	}
	g.log.Info("auth: reloaded " + what)
	return nil
}

func (g *Guard) reloadAndNotify(what string, load func() error) {
	if g.reload(what, load) == nil {
		g.notify()
	}
}

// Reload reads every file again now, as a poll that saw them all change
// would (for SIGHUP). A file that fails keeps its last good version; the
// errors are returned joined. Callbacks run once if anything was reloaded.
func (g *Guard) Reload() error {
	var errs []error
	ok := false
	try := func(what string, load func() error) {
		if err := g.reload(what, load); err != nil {
			errs = append(errs, err)
		} else {
			ok = true
		}
	}
	if g.jwt != nil && (g.cfg.JWT.KeyFile != "" || g.cfg.JWT.JWKSFile != "") {
		try("JWT key", g.loadJWT)
	}
	if g.cfg.TokenFile != "" {
		try("token file", g.loadTokens)
	}
	if g.cfg.ACLFile != "" {
		try("access-control list", g.loadPolicy)
	}
	if ok {
		g.notify()
	}
	return errors.Join(errs...)
}

// AuthenticationEnabled reports whether callers must present a token.
func (g *Guard) AuthenticationEnabled() bool { return g.cfg.AuthenticationEnabled() }

// AuthorizationEnabled reports whether an access-control list applies.
func (g *Guard) AuthorizationEnabled() bool { return g.cfg.AuthorizationEnabled() }

// Authenticate verifies token and returns who presented it. With
// authentication off it returns Anonymous and no error. Otherwise an empty
// token gives ErrNoToken, and a token that fails verification an *Error
// whose Cause says why. A token listed in the static token file is
// accepted as such; anything else is verified as a JWT when JWT is on.
func (g *Guard) Authenticate(token string) (Identity, error) {
	if !g.AuthenticationEnabled() {
		return Anonymous(), nil
	}
	if token == "" {
		return Identity{}, ErrNoToken
	}
	if len(token) > MaxTokenSize {
		return Identity{}, failed(causeTooLong, nil)
	}
	if t := g.tokens.Load(); t != nil {
		if pattern, ok := t.lookup(token); ok {
			return Identity{Name: pattern, Method: MethodToken, ClientIDs: pattern}, nil
		}
	}
	if g.jwt != nil {
		return g.jwt.verify(token)
	}
	return Identity{}, failed(causeUnknownToken, nil)
}

// Allowed reports whether the access-control list grants act on res to
// clientID on channel (see Policy.Allowed); always true when authorization
// is off.
func (g *Guard) Allowed(res Resource, clientID, channel string, act Action) bool {
	if !g.AuthorizationEnabled() {
		return true
	}
	return g.policy.Load().Allowed(res, clientID, channel, act)
}

// Authorize is the whole check of one request: id may declare clientID
// (else ErrClientIDNotAllowed) and the list grants the request (else
// ErrAccessDenied). Transports answer both with the reference's
// "Error 412: access denied to resource".
func (g *Guard) Authorize(id Identity, res Resource, clientID, channel string, act Action) error {
	if !id.AllowsClientID(clientID) {
		return ErrClientIDNotAllowed
	}
	if !g.Allowed(res, clientID, channel, act) {
		return ErrAccessDenied
	}
	return nil
}

// Policy returns the access-control list in force, nil when authorization
// is off.
func (g *Guard) Policy() *Policy { return g.policy.Load() }

// OnChange registers fn to be called after every successful reload of a
// key, the token file or the access-control list, so that live
// subscriptions can be checked again. fn runs on the watcher's goroutine
// (or Reload's caller), one call at a time per reload; it must return
// promptly and must not call Close. The returned func unregisters fn.
func (g *Guard) OnChange(fn func()) (remove func()) {
	g.subsMu.Lock()
	defer g.subsMu.Unlock()
	id := g.nextSub
	g.nextSub++
	g.subs[id] = fn
	return func() {
		g.subsMu.Lock()
		defer g.subsMu.Unlock()
		delete(g.subs, id)
	}
}

func (g *Guard) notify() {
	g.subsMu.Lock()
	fns := make([]func(), 0, len(g.subs))
	for _, fn := range g.subs {
		fns = append(fns, fn)
	}
	g.subsMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Close stops watching files and waits for the watcher to end. The Guard
// keeps answering with the material it has. Close is idempotent.
func (g *Guard) Close() error {
	g.watch.Close()
	return nil
}
