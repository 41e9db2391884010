package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// jwk is one JSON Web Key (RFC 7517), the members used here.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	K   string `json:"k"`   // oct
	N   string `json:"n"`   // RSA
	E   string `json:"e"`   // RSA
	Crv string `json:"crv"` // EC
	X   string `json:"x"`   // EC
	Y   string `json:"y"`   // EC
}

// parseJWKS reads a JSON Web Key Set and returns the keys usable with alg:
// by kid, and all of them in order. Keys of other types, curves, "alg" or
// "use" are skipped; a malformed key of the right type is an error, as are
// a repeated kid and a set with no usable key.
func parseJWKS(alg string, data []byte) (map[string]any, []any, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	byKID := make(map[string]any)
	var all []any
	for i, k := range set.Keys {
		if (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != alg) {
			continue
		}
		key, err := k.publicKey(alg)
		if err != nil {
			return nil, nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if key == nil {
			continue
		}
		if k.Kid != "" {
			if _, dup := byKID[k.Kid]; dup {
				return nil, nil, fmt.Errorf("kid %q appears twice", k.Kid)
			}
			byKID[k.Kid] = key
		}
		all = append(all, key)
	}
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("no key usable with %s among %d", alg, len(set.Keys))
	}
	return byKID, all, nil
}

// publicKey returns the verification key of k for alg, nil when k is of
// another type or curve.
func (k jwk) publicKey(alg string) (any, error) {
	switch family(alg) {
	case "HS":
		if k.Kty != "oct" {
			return nil, nil
		}
		b, err := b64(k.K)
		if err != nil || len(b) == 0 {
			return nil, errors.New(`bad or empty "k"`)
		}
		return b, nil
	case "RS":
		if k.Kty != "RSA" {
			return nil, nil
		}
		n, errN := b64(k.N)
		e, errE := b64(k.E)
		if errN != nil || errE != nil {
			return nil, errors.New(`bad "n" or "e"`)
		}
		return rsaKey(n, e)
	default:
		curve := curveFor(alg)
		if k.Kty != "EC" || k.Crv != curve.Params().Name {
			return nil, nil
		}
		x, errX := b64(k.X)
		y, errY := b64(k.Y)
		if errX != nil || errY != nil {
			return nil, errors.New(`bad "x" or "y"`)
		}
		return ecdsaKey(curve, x, y)
	}
}

// b64 decodes base64url, with or without padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// ecdsaKey builds a public key from JWK coordinates; the point must be on
// the curve.
func ecdsaKey(curve elliptic.Curve, x, y []byte) (*ecdsa.PublicKey, error) {
	size := (curve.Params().BitSize + 7) / 8
	if len(x) == 0 || len(y) == 0 || len(x) > size || len(y) > size {
		return nil, errors.New("coordinates of the wrong size for the curve")
	}
	point := make([]byte, 1+2*size)
	point[0] = 4 // uncompressed
	copy(point[1+size-len(x):1+size], x)
	copy(point[1+2*size-len(y):], y)
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}

// rsaKey builds a public key from JWK "n" and "e".
func rsaKey(n, e []byte) (*rsa.PublicKey, error) {
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad exponent")
	}
	exp := 0
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("bad exponent")
	}
	k := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	if k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key of %d bits, at least 2048 needed", k.N.BitLen())
	}
	return k, nil
}
