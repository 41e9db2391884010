package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldmq/herald/internal/auth"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make authentication tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("missing subcommand (see '%s --help')", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newTokenSignCmd())
	return cmd
}

// reservedClaims are set by flags of their own, not by --claim.
var reservedClaims = map[string]string{"sub": "--sub", "exp": "--ttl", "iat": "", "nbf": "", "iss": "--iss", "aud": "--aud"}

func newTokenSignCmd() *cobra.Command {
	var (
		key, alg, sub, kid, iss, aud string
		ttl                          time.Duration
		extra                        []string
	)
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign a JWT and print it",
		Long: `Sign a JWT for a broker started with JWT authentication, and print it.

--key is a file if a file of that name exists, else the key itself: the
shared secret for HS256/384/512 (a file's every byte, trailing newline
included, as the broker reads it), a PEM private key for RS* and ES*. The
token carries "iat" (now), "exp" (now + --ttl; none with --ttl 0), "sub"
and the --claim values, as strings. The broker binds the caller to the
client id in "sub", or in the claim its JWT identity claim setting names.`,
		Example: `  herald token sign --key ./jwt.secret --sub billing-1 --ttl 24h
  herald token sign --key ./jwt-private.pem --alg ES256 --claim client_id=orders-app --kid 2026-11`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				return fmt.Errorf("--key is required (see '%s --help')", cmd.CommandPath())
			}
			if ttl < 0 {
				return fmt.Errorf("invalid --ttl %v: want 0 (no expiry) or more", ttl)
			}
			material, fromFile, err := keyMaterial(key)
			if err != nil {
				return err
			}
			if !fromFile {
				fmt.Fprintln(cmd.ErrOrStderr(), "herald: note: no file named by --key; using its value as the key")
			}
			now := time.Now()
			claims := map[string]any{"iat": now.Unix()}
			if ttl > 0 {
				claims["exp"] = now.Add(ttl).Unix()
			}
			for name, v := range map[string]string{"sub": sub, "iss": iss, "aud": aud} {
				if v != "" {
					claims[name] = v
				}
			}
			for _, kv := range extra {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("invalid --claim %q: want name=value", kv)
				}
				if flag, reserved := reservedClaims[k]; reserved {
					if flag == "" {
						return fmt.Errorf("invalid --claim %q: %s is set by herald", kv, k)
					}
					return fmt.Errorf("invalid --claim %q: use %s", kv, flag)
				}
				if _, dup := claims[k]; dup {
					return fmt.Errorf("invalid --claim %q: %s given twice", kv, k)
				}
				claims[k] = v
			}
			tok, err := auth.Sign(alg, material, kid, claims)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&key, "key", "", "signing key: a file, or the key itself (required)")
	fs.StringVar(&alg, "alg", "HS256", "algorithm: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 or ES512")
	fs.StringVar(&sub, "sub", "", `"sub" claim: the caller's identity and client id`)
	fs.DurationVar(&ttl, "ttl", time.Hour, "lifetime (0: the token never expires)")
	fs.StringArrayVar(&extra, "claim", nil, "extra claim name=value (repeatable)")
	fs.StringVar(&kid, "kid", "", `"kid" header, to pick a key of a JWKS`)
	fs.StringVar(&iss, "iss", "", `"iss" claim`)
	fs.StringVar(&aud, "aud", "", `"aud" claim`)
	fs.SortFlags = false
	return cmd
}

// keyMaterial reads v as a file when one of that name exists, else returns
// v itself; fromFile says which.
func keyMaterial(v string) (material []byte, fromFile bool, err error) {
	fi, err := os.Stat(v)
	if err != nil || fi.IsDir() {
		return []byte(v), false, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, false, fmt.Errorf("--key: %w", err)
	}
	return b, true, nil
}
