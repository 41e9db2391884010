package auth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Sign makes a JWT that a Guard configured with alg and the matching
// verification key accepts: for `herald token sign` and for tests. key is
// the HMAC secret for HS*, a PEM private key (PKCS #1, SEC 1 or PKCS #8)
// for RS* and ES*. kid, when not empty, goes into the header for JWKS
// setups. claims are used as given; the caller sets "sub", "exp" and the
// rest.
func Sign(alg string, key []byte, kid string, claims map[string]any) (string, error) {
	alg = strings.ToUpper(alg)
	method := algorithms[alg]
	if method == nil {
		return "", fmt.Errorf("auth: JWT algorithm %q is not one of %s", alg, strings.Join(algorithmNames, ", "))
	}
	var signingKey any
	switch family(alg) {
	case "HS":
		if len(key) == 0 {
			return "", errors.New("auth: empty HMAC secret")
		}
		signingKey = key
	case "RS":
		k, err := jwt.ParseRSAPrivateKeyFromPEM(key)
		if err != nil {
			return "", fmt.Errorf("auth: %s needs a PEM RSA private key: %w", alg, err)
		}
		signingKey = k
	default:
		k, err := jwt.ParseECPrivateKeyFromPEM(key)
		if err != nil {
			return "", fmt.Errorf("auth: %s needs a PEM EC private key: %w", alg, err)
		}
		if want := curveFor(alg); k.Curve != want {
			return "", fmt.Errorf("auth: %s needs a key on curve %s, not %s", alg, want.Params().Name, k.Curve.Params().Name)
		}
		signingKey = k
	}
	tok := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(signingKey)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}
