package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/guardkit/guard"
)

const tokenUsage = `Usage:
  guard token mint --key FILE [--sub S] [--aud A] [--iss I] [--ttl D] [--claims JSON]
  guard token inspect [--json] TOKEN
  guard token verify (--key FILE | --jwks URL | --issuer URL) [--aud A] [--iss I] [--leeway D] [--json] TOKEN

TOKEN may be "-" to read it from stdin. Run "guard token COMMAND -h" for details.
`

func (c *cli) token(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, tokenUsage)
		return exitUsage
	}
	switch args[0] {
	case "mint":
		return c.tokenMint(args[1:])
	case "inspect":
		return c.tokenInspect(args[1:])
	case "verify":
		return c.tokenVerify(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.stdout, tokenUsage)
		return exitOK
	}
	fmt.Fprintf(c.stderr, "guard token: unknown command %q\n\n%s", args[0], tokenUsage)
	return exitUsage
}

// tokenArg returns the TOKEN argument, read from stdin for "-", without
// surrounding space and without a "Bearer " prefix.
func (c *cli) tokenArg(name string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("want one TOKEN argument, got %d (see guard token %s -h)", len(pos), name)
	}
	tok := pos[0]
	if tok == "-" {
		data, err := io.ReadAll(io.LimitReader(c.stdin, maxInspectBytes+1))
		if err != nil {
			return "", err
		}
		tok = string(data)
	}
	tok = strings.TrimSpace(tok)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if tok == "" {
		return "", usagef("empty token")
	}
	return tok, nil
}

const mintMore = `Signs an access token with the key in FILE (a private JWK or PEM key, or an
HS* oct JWK) through guard's TokenIssuer: header alg from the key, its kid,
typ "at+jwt"; claims iss, aud, sub, iat, exp (now + --ttl), jti (128 random
bits), and the --claims members. The token is printed to stdout.

--claims is a JSON object: "role", "roles", "scope", "scp" and "client_id"
set guard's claims of those names; any other member that is not a registered
claim is added as is; iss, sub and aud may be given here or by flag (not
both); exp, iat, nbf and jti are set by mint.

Guard verifiers refuse tokens that live longer than 24h by default
(VerifierConfig.MaxTokenLifetime).

Examples:
  guard token mint --key signing.jwk --sub alice --aud api --iss https://auth.example
  guard token mint --key signing.pem --alg PS256 --sub svc --ttl 5m --claims '{"scope":"read write"}'
  guard token mint --key secret.jwk --sub bob --claims '{"role":"admin","tenant":"acme"}'
`

func (c *cli) tokenMint(args []string) int {
	fs := c.flagSet("token mint", "guard token mint --key FILE [--alg ALG] [--sub S] [--aud A] [--iss I] [--ttl D] [--claims JSON]", mintMore)
	keyFile := fs.String("key", "", "signing key `FILE` (required)")
	alg := fs.String("alg", "", "algorithm of a PEM key (default: implied by the key type; RS256 for RSA)")
	sub := fs.String("sub", "", "subject (sub)")
	iss := fs.String("iss", "", "issuer (iss)")
	var aud listFlag
	fs.Var(&aud, "aud", "audience (aud); repeat or separate with commas for several")
	ttl := fs.Duration("ttl", guard.DefaultTokenTTL, "lifetime")
	claimsJSON := fs.String("claims", "", "more claims as a JSON object")
	pos, status, done := c.parse(fs, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return c.fail("token mint", usagef("unexpected argument %q (see -h)", pos[0]))
	}
	if *keyFile == "" {
		return c.fail("token mint", usagef("--key is required (see -h)"))
	}
	if *ttl <= 0 {
		return c.fail("token mint", usagef("--ttl %v is not positive", *ttl))
	}
	claims := guard.Claims{Subject: *sub, Issuer: *iss, Audience: aud}
	if err := mergeClaims(&claims, *claimsJSON); err != nil {
		return c.fail("token mint", err)
	}
	if claims.Subject == "" {
		return c.fail("token mint", usagef("a subject is required: --sub or \"sub\" in --claims (guard verifiers refuse tokens without one)"))
	}
	key, err := loadKey(*keyFile, guard.Algorithm(*alg))
	if err != nil {
		return c.fail("token mint", err)
	}
	if !key.CanSign() {
		return c.fail("token mint", usagef("%s: %v is a public key; minting needs the private key", *keyFile, key))
	}
	issuer, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, TTL: *ttl, Now: c.now})
	if err != nil {
		return c.fail("token mint", usagef("%v", err))
	}
	tok, err := issuer.Issue(context.Background(), claims)
	if err != nil {
		return c.fail("token mint", usagef("%v", err))
	}
	if *ttl > guard.DefaultMaxTokenLifetime {
		fmt.Fprintf(c.stderr, "guard token mint: note: guard verifiers refuse tokens that live longer than %v unless MaxTokenLifetime is raised\n", guard.DefaultMaxTokenLifetime)
	}
	fmt.Fprintln(c.stdout, tok)
	return exitOK
}

// mergeClaims sets c from the --claims object s.
func mergeClaims(c *guard.Claims, s string) error {
	if s == "" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := strictJSON([]byte(s), &m); err != nil || m == nil {
		return usagef("--claims is not a JSON object (without duplicate names)")
	}
	str := func(name string, dst *string) error {
		raw, ok := m[name]
		if !ok {
			return nil
		}
		delete(m, name)
		if *dst != "" {
			return usagef("%q is given both by flag and in --claims", name)
		}
		if json.Unmarshal(raw, dst) != nil {
			return usagef("--claims %q is not a string", name)
		}
		return nil
	}
	strs := func(name string, dst *[]string, split func(string) []string) error {
		raw, ok := m[name]
		if !ok {
			return nil
		}
		delete(m, name)
		var one string
		if json.Unmarshal(raw, &one) == nil {
			*dst = append(*dst, split(one)...)
			return nil
		}
		var list []string
		if json.Unmarshal(raw, &list) != nil {
			return usagef("--claims %q is not a string or an array of strings", name)
		}
		*dst = append(*dst, list...)
		return nil
	}
	single := func(s string) []string { return []string{s} }
	if len(c.Audience) > 0 && m["aud"] != nil {
		return usagef("\"aud\" is given both by flag and in --claims")
	}
	for _, err := range []error{
		str("sub", &c.Subject), str("iss", &c.Issuer), str("client_id", &c.ClientID),
		strs("aud", &c.Audience, single), strs("role", &c.Roles, single), strs("roles", &c.Roles, single),
		strs("scope", &c.Scopes, strings.Fields), strs("scp", &c.Scopes, single),
	} {
		if err != nil {
			return err
		}
	}
	for _, name := range []string{"exp", "iat", "nbf", "jti"} {
		if _, ok := m[name]; ok {
			return usagef("--claims may not set %q; mint sets it (use --ttl for exp)", name)
		}
	}
	if len(m) > 0 {
		extra, err := json.Marshal(m)
		if err != nil {
			return usagef("--claims: %v", err)
		}
		c.Extra = extra
	}
	return nil
}

// maxInspectBytes bounds a token read for inspection or verification.
const maxInspectBytes = 1 << 20

// timeClaims are the claims shown as times.
var timeClaims = []string{"iat", "nbf", "exp", "auth_time"}

// ago describes t relative to now: "in 14m", "3h ago", "now".
func ago(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	future := d > 0
	if d < 0 {
		d = -d
	}
	var s string
	switch {
	case d == 0:
		return "now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		s = fmt.Sprintf("%dm", d/time.Minute)
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", d/time.Hour)
	default:
		s = fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// utc formats t as guard shows times.
func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// numericDate reads a JSON number of seconds since the epoch.
func numericDate(raw []byte) (time.Time, bool) {
	var f float64
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &f) != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}
