package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults and limits.
const (
	// Leeway is the clock skew allowed when checking a JWT's "exp", "nbf"
	// and "iat".
	Leeway = 30 * time.Second
	// DefaultReloadInterval is how often files are polled for changes.
	DefaultReloadInterval = 2 * time.Second
	// DefaultCacheSize is how many verified JWTs are remembered.
	DefaultCacheSize = 10000
	// DefaultIdentityClaim is the JWT claim that names the caller.
	DefaultIdentityClaim = "sub"
	// MaxTokenSize is the longest token verified; longer ones are refused
	// before any parsing.
	MaxTokenSize = 16 << 10
	// MaxFileSize is the largest key, JWKS, token or policy file read.
	MaxFileSize = 1 << 20
	// MinStaticTokenSize is the shortest token the static token file may
	// list.
	MinStaticTokenSize = 16
)

// Redacted replaces secrets in Config.Redacted and tlsconf's equivalent.
const Redacted = "[redacted]"

// Config configures a Guard. The zero value turns everything off.
type Config struct {
	// JWT configures JWT verification; off while JWT.Algorithm is empty.
	JWT JWTConfig
	// TokenFile names the static token file: one "token client-id-pattern"
	// per line, "#" starts a comment line, blank lines are skipped. Tokens
	// are at least MinStaticTokenSize bytes; the pattern may use "*".
	TokenFile string

	// ACLFile names the access-control list (see ParsePolicy for both
	// formats). Authorization is on when it or ACL is set.
	ACLFile string
	// ACL is the access-control list inline (the reference's
	// authorization.policyData, which may be base64).
	ACL string

	// ReloadInterval is how often the files above are checked for changes
	// (default DefaultReloadInterval; negative: read once at New, never
	// again).
	ReloadInterval time.Duration
	// Logger receives reload reports; nil discards them.
	Logger *slog.Logger
}

// JWTConfig configures JWT verification. Exactly one of Key, KeyFile and
// JWKSFile gives the verification key.
type JWTConfig struct {
	// Algorithm is HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384
	// or ES512 (any case). Tokens signed with anything else are refused.
	Algorithm string
	// Key is the key inline: the shared secret's bytes for HS*, a PEM public
	// key (or certificate) for RS* and ES*.
	Key string
	// KeyFile holds the key, read as is: for HS* every byte of the file is
	// the secret, a trailing newline included (as in the reference).
	KeyFile string
	// JWKSFile is a JSON Web Key Set ({"keys":[…]}); a token's "kid" picks
	// the key. A token without "kid" is accepted only when the set has one
	// usable key. Keys whose "alg" or "use" do not fit Algorithm are
	// ignored.
	JWKSFile string

	// IdentityClaim names the claim that holds the caller's identity and
	// thus the one client id it may declare (default "sub"; "client_id" is
	// common). It must be a string without "*".
	IdentityClaim string
	// AllowUnboundTokens accepts tokens without the identity claim, as the
	// reference did, and lets them declare any client id. Off by default:
	// such tokens are refused.
	AllowUnboundTokens bool
	// Issuer and Audience, when set, must match the "iss" claim and one of
	// the "aud" values.
	Issuer   string
	Audience string

	// CacheSize caps the verified tokens remembered until their expiry
	// (default DefaultCacheSize).
	CacheSize int
}

// enabled reports whether JWT verification is configured.
func (c JWTConfig) enabled() bool { return c.Algorithm != "" }

// AuthenticationEnabled reports whether c turns authentication on.
func (c Config) AuthenticationEnabled() bool { return c.JWT.enabled() || c.TokenFile != "" }

// AuthorizationEnabled reports whether c turns authorization on.
func (c Config) AuthorizationEnabled() bool { return c.ACLFile != "" || c.ACL != "" }

// Validate reports every problem of c at once, joined. It reads no file;
// New does, and fails on a file it cannot use.
func (c Config) Validate() error {
	var errs []error
	j := c.JWT
	sources := 0
	for _, s := range []string{j.Key, j.KeyFile, j.JWKSFile} {
		if s != "" {
			sources++
		}
	}
	switch {
	case j.Algorithm == "" && sources > 0:
		errs = append(errs, errors.New("auth: a JWT key is set but no JWT algorithm"))
	case j.Algorithm == "":
	case algorithms[strings.ToUpper(j.Algorithm)] == nil:
		errs = append(errs, fmt.Errorf("auth: JWT algorithm %q is not one of %s", j.Algorithm, strings.Join(algorithmNames, ", ")))
		if sources == 0 {
			errs = append(errs, errors.New("auth: no JWT verification key: set a key, a key file or a JWKS file"))
		}
	case sources == 0:
		errs = append(errs, errors.New("auth: no JWT verification key: set a key, a key file or a JWKS file"))
	}
	if sources > 1 {
		errs = append(errs, errors.New("auth: set only one of JWT key, key file and JWKS file"))
	}
	if j.IdentityClaim != "" && strings.TrimSpace(j.IdentityClaim) != j.IdentityClaim {
		errs = append(errs, fmt.Errorf("auth: JWT identity claim %q has surrounding spaces", j.IdentityClaim))
	}
	if j.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("auth: JWT cache size %d is negative", j.CacheSize))
	}
	if c.ACL != "" && c.ACLFile != "" {
		errs = append(errs, errors.New("auth: set the access-control list inline or as a file, not both"))
	}
	return errors.Join(errs...)
}

// Redacted returns a copy of c fit to show (the HTTP port serves the
// configuration): the inline JWT key is replaced by "[redacted]". Paths
// stay; the files behind them are not read.
func (c Config) Redacted() Config {
	if c.JWT.Key != "" {
		c.JWT.Key = Redacted
	}
	return c
}

// withDefaults fills in the defaults of the zero fields.
func (c Config) withDefaults() Config {
	c.JWT.Algorithm = strings.ToUpper(c.JWT.Algorithm)
	if c.JWT.IdentityClaim == "" {
		c.JWT.IdentityClaim = DefaultIdentityClaim
	}
	if c.JWT.CacheSize == 0 {
		c.JWT.CacheSize = DefaultCacheSize
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultReloadInterval
	}
	return c
}
