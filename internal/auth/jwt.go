package auth

import (
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

// algorithms are the JWT algorithms accepted, as in the reference.
var algorithms = map[string]jwt.SigningMethod{
	"HS256": jwt.SigningMethodHS256,
	"HS384": jwt.SigningMethodHS384,
	"HS512": jwt.SigningMethodHS512,
	"RS256": jwt.SigningMethodRS256,
	"RS384": jwt.SigningMethodRS384,
	"RS512": jwt.SigningMethodRS512,
	"ES256": jwt.SigningMethodES256,
	"ES384": jwt.SigningMethodES384,
	"ES512": jwt.SigningMethodES512,
}

var algorithmNames = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

// family is the key type an algorithm needs: "HS", "RS" or "ES".
func family(alg string) string { return alg[:2] }

// curveFor is the curve an ES algorithm signs with.
func curveFor(alg string) elliptic.Curve {
	switch alg {
	case "ES256":
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	default:
		return elliptic.P521()
	}
}

// keySet is one generation of verification keys. A reload builds a new one,
// with an empty cache, so no token verified with a removed key survives it.
type keySet struct {
	single any            // the key of Key/KeyFile; nil with a JWKS
	byKID  map[string]any // JWKS keys by kid
	anon   []any          // usable JWKS keys, kid or not (a kid-less token may use the only one)
	cache  *tokenCache
}

// key is the keyfunc of jwt.Parse for this set.
func (ks *keySet) key(t *jwt.Token) (any, error) {
	if _, crit := t.Header["crit"]; crit {
		// RFC 7515 §4.1.11: extensions the recipient does not understand
		// must be refused, and none are understood here.
		return nil, keyError(causeCrit)
	}
	if ks.single != nil {
		return ks.single, nil
	}
	kid, ok := t.Header["kid"].(string)
	if !ok {
		if _, present := t.Header["kid"]; present || len(ks.anon) != 1 {
			return nil, keyError(causeNoKID)
		}
		return ks.anon[0], nil
	}
	if k, ok := ks.byKID[kid]; ok {
		return k, nil
	}
	return nil, keyError(causeUnknownKID)
}

// keyError is a keyfunc failure whose text is the cause to report.
type keyError string

func (e keyError) Error() string { return string(e) }

// parseKey turns the configured key material into a verification key for
// alg.
func parseKey(alg string, material []byte) (any, error) {
	switch family(alg) {
	case "HS":
		if len(material) == 0 {
			return nil, errors.New("the HMAC secret is empty")
		}
		return material, nil
	case "RS":
		k, err := jwt.ParseRSAPublicKeyFromPEM(material)
		if err != nil {
			return nil, fmt.Errorf("%s needs a PEM RSA public key or certificate: %w", alg, err)
		}
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits, at least 2048 needed", k.N.BitLen())
		}
		return k, nil
	default:
		k, err := jwt.ParseECPublicKeyFromPEM(material)
		if err != nil {
			return nil, fmt.Errorf("%s needs a PEM EC public key or certificate: %w", alg, err)
		}
		if want := curveFor(alg); k.Curve != want {
			return nil, fmt.Errorf("%s needs a key on curve %s, not %s", alg, want.Params().Name, k.Curve.Params().Name)
		}
		return k, nil
	}
}

// jwtVerifier verifies JWTs against the current key set.
type jwtVerifier struct {
	alg    string
	cfg    JWTConfig
	parser *jwt.Parser
	now    func() time.Time

	keys atomic.Pointer[keySet]
}

func newJWTVerifier(cfg JWTConfig, now func() time.Time) *jwtVerifier {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{cfg.Algorithm}),
		jwt.WithLeeway(Leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &jwtVerifier{alg: cfg.Algorithm, cfg: cfg, parser: jwt.NewParser(opts...), now: now}
}

// load reads the key or key set and, when it is usable, makes it current.
func (v *jwtVerifier) load() error {
	ks := &keySet{cache: newTokenCache(v.cfg.CacheSize)}
	switch {
	case v.cfg.JWKSFile != "":
		data, err := readFile(v.cfg.JWKSFile)
		if err != nil {
			return err
		}
		if ks.byKID, ks.anon, err = parseJWKS(v.alg, data); err != nil {
			return fmt.Errorf("auth: JWKS file %s: %w", v.cfg.JWKSFile, err)
		}
	case v.cfg.KeyFile != "":
		data, err := readFile(v.cfg.KeyFile)
		if err != nil {
			return err
		}
		if ks.single, err = parseKey(v.alg, data); err != nil {
			return fmt.Errorf("auth: JWT key file %s: %w", v.cfg.KeyFile, err)
		}
	default:
		var err error
		if ks.single, err = parseKey(v.alg, []byte(v.cfg.Key)); err != nil {
			return fmt.Errorf("auth: JWT key: %w", err)
		}
	}
	v.keys.Store(ks)
	return nil
}

// shortSecret reports whether an HS key is shorter than its hash, which RFC
// 7518 §3.2 forbids; worth a warning, not a refusal (the reference's own
// examples use short secrets).
func (v *jwtVerifier) shortSecret() bool {
	b, ok := v.keys.Load().single.([]byte)
	return ok && len(b)*8 < algorithms[v.alg].(*jwt.SigningMethodHMAC).Hash.Size()*8
}

// verify checks raw and returns the identity it carries.
func (v *jwtVerifier) verify(raw string) (Identity, error) {
	ks := v.keys.Load()
	sum := sha256.Sum256([]byte(raw))
	now := v.now()
	if id, ok := ks.cache.get(sum, now); ok {
		return id, nil
	}
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(raw, claims, ks.key)
	if err != nil {
		return Identity{}, failed(v.cause(tok, err), err)
	}
	id := Identity{Method: MethodJWT, ClientIDs: "*"}
	switch name, present := claims[v.cfg.IdentityClaim]; {
	case !present && v.cfg.AllowUnboundTokens:
	case !present:
		return Identity{}, failed(fmt.Sprintf(causeNoIdentity, v.cfg.IdentityClaim), nil)
	default:
		s, ok := name.(string)
		if !ok || s == "" || strings.Contains(s, "*") {
			return Identity{}, failed(fmt.Sprintf(causeBadIdentity, v.cfg.IdentityClaim), nil)
		}
		id.Name, id.ClientIDs = s, s
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	ks.cache.put(sum, id, now)
	return id, nil
}

// cause words a parse failure like the reference's golang-jwt v4 did.
func (v *jwtVerifier) cause(tok *jwt.Token, err error) string {
	if tok != nil && tok.Header != nil {
		if alg, _ := tok.Header["alg"].(string); alg != v.alg {
			return causeUnexpectedAlg + printable(tok.Header["alg"])
		}
	}
	var ke keyError
	switch {
	case errors.As(err, &ke):
		return string(ke)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return err.Error() // "token is malformed: <what>"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return causeSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return causeExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return causeNotValidYet
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return causeUsedBeforeIssue
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return causeIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return causeAudience
	}
	return err.Error()
}

// printable renders an attacker-chosen header value for an error text:
// as is when it is a short plain word, quoted and cut short otherwise.
func printable(v any) string {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return "<nil>"
		}
		s = fmt.Sprint(v)
	}
	plain := len(s) > 0 && len(s) <= 16
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' {
			plain = false
		}
	}
	if plain {
		return s
	}
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// tokenCache remembers verified tokens, by SHA-256, until they expire.
// It holds at most max entries: when full it drops expired ones, and if
// none has expired, an arbitrary one. Tokens without "exp" are kept for
// noExpTTL at most, so a revoked key stops them soon after a reload even
// if the cache were not replaced.
type tokenCache struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]cached
}

type cached struct {
	id    Identity
	until time.Time
}

// noExpTTL bounds how long a token without "exp" is remembered.
const noExpTTL = 5 * time.Minute

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[[sha256.Size]byte]cached)}
}

func (c *tokenCache) get(sum [sha256.Size]byte, now time.Time) (Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sum]
	if !ok {
		return Identity{}, false
	}
	if !now.Before(e.until) {
		delete(c.m, sum)
		return Identity{}, false
	}
	return e.id, true
}

func (c *tokenCache) put(sum [sha256.Size]byte, id Identity, now time.Time) {
	until := now.Add(noExpTTL)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(until) {
		until = id.ExpiresAt
	}
	if !now.Before(until) {
		return // within the leeway past "exp": valid, but not worth keeping
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[sum]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[sum] = cached{id: id, until: until}
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
