package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/guardkit/guard"
)

const verifyMore = `Verifies TOKEN with a guard.Verifier built from the flags, so the verdict is
exactly the one a guard service configured the same way would give: size
cap, compact form, header (alg allowed by the key, kid known, no crit, typ),
signature, then exp (required), nbf, iat, lifetime (at most --max-lifetime),
iss, aud and sub (required).

Keys: --key FILE (PEM, JWK or JWK Set; a private key verifies with its public
half), --jwks URL (a JWK Set) or --issuer URL (OpenID Connect discovery, then
RFC 8414, then the jwks_uri, as guard.RemoteKeySet does; iss must then equal
URL unless --iss says otherwise). URLs must be https, or http to a loopback
host; any other http URL needs --insecure.

Output: "valid" and the claims, or "INVALID: <check>" naming the check that
failed first (signature, alg, kid, typ, malformed, expired, not yet valid,
lifetime, issuer, audience, missing claim, keys unavailable), then every
other failed claim check found in the token. Exit status 1 when invalid.

Examples:
  guard token verify --key signing.jwk --aud api "$TOKEN"
  guard token verify --jwks https://auth.example/.well-known/jwks.json --iss https://auth.example -
  guard token verify --issuer https://accounts.example.com --aud my-client --leeway 30s "$TOKEN"
  guard token verify --issuer http://auth.internal:8080 --insecure "$TOKEN"
`

// check is one failed verification check.
type check struct {
	Check  string `json:"check"`
	Detail string `json:"detail"`
}

func (c *cli) tokenVerify(args []string) int {
	fs := c.flagSet("token verify", "guard token verify (--key FILE | --jwks URL | --issuer URL) [--aud A] [--iss I] [--leeway D] [--json] TOKEN", verifyMore)
	keyFile := fs.String("key", "", "verification key `FILE` (PEM, JWK or JWK Set)")
	alg := fs.String("alg", "", "algorithm of a PEM key (default: implied by the key type; RS256 for RSA)")
	jwksURL := fs.String("jwks", "", "JWK Set `URL`")
	issuerURL := fs.String("issuer", "", "issuer `URL` whose discovery document names the JWK Set")
	var aud, iss listFlag
	fs.Var(&aud, "aud", "accepted audience; repeat or separate with commas (default: not checked)")
	fs.Var(&iss, "iss", "accepted issuer; repeat or separate with commas (default: --issuer, else not checked)")
	leeway := fs.Duration("leeway", 0, "clock skew allowed for exp, nbf and iat (at most 5m)")
	maxLife := fs.Duration("max-lifetime", guard.DefaultMaxTokenLifetime, "longest token lifetime accepted")
	atJWT := fs.Bool("at-jwt", false, "require header typ \"at+jwt\" (RFC 9068)")
	insecure := fs.Bool("insecure", false, "allow plain http URLs to non-loopback hosts")
	timeout := fs.Duration("timeout", 10*time.Second, "time allowed for fetching remote keys")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, status, done := c.parse(fs, args)
	if done {
		return status
	}
	n := 0
	for _, s := range []string{*keyFile, *jwksURL, *issuerURL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return c.fail("token verify", usagef("give exactly one of --key, --jwks and --issuer (see -h)"))
	}
	tok, err := c.tokenArg("verify", pos)
	if err != nil {
		return c.fail("token verify", err)
	}
	cfg := guard.VerifierConfig{
		Issuers: iss, Audiences: aud, Leeway: *leeway, MaxTokenLifetime: *maxLife,
		RequireAccessTokenType: *atJWT, Now: c.now,
	}
	if *issuerURL != "" && len(iss) == 0 {
		cfg.Issuers = []string{*issuerURL}
	}
	if *keyFile != "" {
		keys, err := loadKeys(*keyFile, guard.Algorithm(*alg))
		if err != nil {
			return c.fail("token verify", err)
		}
		for _, k := range keys {
			cfg.Keys = append(cfg.Keys, k.Public())
		}
	} else {
		remote, err := c.remoteKeys(*jwksURL, *issuerURL, *insecure, *timeout)
		if err != nil {
			return c.fail("token verify", err)
		}
		defer remote.Close()
		cfg.KeySource = remote
	}
	v, err := guard.NewVerifier(cfg)
	if err != nil {
		return c.fail("token verify", usagef("%v", err))
	}
	claims, verr := v.Verify(context.Background(), tok)
	now := c.now()
	var failed []check
	if verr != nil {
		failed = append(failed, check{checkName(verr), describe(verr)})
	}
	d, derr := decodeToken(tok)
	if verr != nil && derr == nil {
		failed = append(failed, claimChecks(d, cfg, now, failed[0].Check)...)
	}
	if *asJSON {
		res := map[string]any{"valid": verr == nil}
		if verr != nil {
			res["failed"] = failed
		}
		if derr == nil {
			res["header"], res["claims"] = json.RawMessage(d.Header), json.RawMessage(d.Claims)
		}
		if err := c.writeJSON(res); err != nil {
			return c.fail("token verify", err)
		}
	} else if verr == nil {
		var h struct{ Alg, Kid string }
		_ = json.Unmarshal(d.Header, &h)
		fmt.Fprintf(c.stdout, "valid: signature (%s, kid %q) and claims verified (sub %q)\n", h.Alg, h.Kid, claims.Subject)
		if derr == nil {
			fmt.Fprintf(c.stdout, "\nclaims:\n%s\n\ntimes:\n", d.Claims)
			for _, t := range d.times(now) {
				fmt.Fprintf(c.stdout, "  %-9s %s (%s)\n", t.Name, t.UTC, t.Relative)
			}
		}
	} else {
		fmt.Fprintf(c.stdout, "INVALID: %s (%s)\n", failed[0].Check, failed[0].Detail)
		if len(failed) > 1 {
			what := "also failed"
			if !claimsVerified(failed[0].Check) {
				what = "also failed, in the unverified claims"
			}
			fmt.Fprintf(c.stdout, "%s:\n", what)
			for _, f := range failed[1:] {
				fmt.Fprintf(c.stdout, "  %s: %s\n", f.Check, f.Detail)
			}
		}
	}
	if verr != nil {
		return exitFail
	}
	return exitOK
}

// remoteKeys starts a guard.RemoteKeySet for a JWKS URL or an issuer and
// waits for its first keys, or its first error.
func (c *cli) remoteKeys(jwksURL, issuer string, insecure bool, timeout time.Duration) (*guard.RemoteKeySet, error) {
	errc := make(chan error, 1)
	remote, err := guard.NewRemoteKeySet(guard.RemoteKeySetConfig{
		URL: jwksURL, Issuer: issuer, DangerouslyAllowInsecureHTTP: insecure, Timeout: timeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnError: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		target := jwksURL
		if target == "" {
			target = issuer
		}
		if errors.Is(err, guard.ErrInsecureURL) && !insecure && strings.HasPrefix(strings.ToLower(target), "http://") {
			return nil, usagef("%s is plain http to a non-loopback host; it needs --insecure", target)
		}
		return nil, usagef("%v", err)
	}
	remote.Start()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ready := make(chan error, 1)
	go func() { ready <- remote.Ready(ctx) }()
	select {
	case err = <-ready:
	case err = <-errc:
	}
	if err != nil {
		remote.Close()
		return nil, fmt.Errorf("cannot load the keys: %w", err)
	}
	return remote, nil
}

// checkName names the check that err, from guard.Verifier.Verify, failed.
func checkName(err error) string {
	desc := ""
	if e := guard.ErrorOf(err); e != nil {
		desc = e.Description
	}
	switch {
	case errors.Is(err, guard.ErrTokenTooLarge):
		return "size"
	case errors.Is(err, guard.ErrMalformedToken) && strings.Contains(desc, "type"):
		return "typ"
	case errors.Is(err, guard.ErrMalformedToken) && strings.Contains(desc, "critical"):
		return "crit"
	case errors.Is(err, guard.ErrMalformedToken):
		return "malformed"
	case errors.Is(err, guard.ErrAlgorithm):
		return "alg"
	case errors.Is(err, guard.ErrUnknownKey):
		return "kid"
	case errors.Is(err, guard.ErrInvalidSignature):
		return "signature"
	case errors.Is(err, guard.ErrTokenExpired):
		return "expired"
	case errors.Is(err, guard.ErrTokenNotYetValid):
		return "not yet valid"
	case errors.Is(err, guard.ErrTokenLifetime):
		return "lifetime"
	case errors.Is(err, guard.ErrInvalidIssuer):
		return "issuer"
	case errors.Is(err, guard.ErrInvalidAudience):
		return "audience"
	case errors.Is(err, guard.ErrMissingClaim):
		return "missing claim"
	case errors.Is(err, guard.ErrTokenRevoked):
		return "revoked"
	case errors.Is(err, guard.ErrKeysUnavailable):
		return "keys unavailable"
	}
	return "invalid"
}

// sentinels are guard's errors a verification failure may wrap; describe
// drops their text from a cause, which the check's name already says.
var sentinels = []error{
	guard.ErrTokenTooLarge, guard.ErrMalformedToken, guard.ErrAlgorithm, guard.ErrUnknownKey,
	guard.ErrInvalidSignature, guard.ErrTokenExpired, guard.ErrTokenNotYetValid, guard.ErrTokenLifetime,
	guard.ErrInvalidIssuer, guard.ErrInvalidAudience, guard.ErrMissingClaim, guard.ErrTokenRevoked,
	guard.ErrKeysUnavailable,
}

// claimsVerified reports whether the signature held when check failed.
func claimsVerified(check string) bool {
	switch check {
	case "expired", "not yet valid", "lifetime", "issuer", "audience", "missing claim", "revoked":
		return true
	}
	return false
}

// describe is the verifier's safe description of err, with its cause.
func describe(err error) string {
	e := guard.ErrorOf(err)
	if e == nil {
		return strings.ReplaceAll(err.Error(), "guard: ", "")
	}
	if e.Err != nil && e.Description != "" {
		cause := strings.ReplaceAll(e.Err.Error(), "guard: ", "")
		for _, s := range sentinels {
			cause = strings.TrimPrefix(cause, strings.TrimPrefix(s.Error(), "guard: ")+": ")
		}
		bare := slices.ContainsFunc(sentinels, func(s error) bool { return strings.TrimPrefix(s.Error(), "guard: ") == cause })
		if cause != e.Description && !bare {
			return e.Description + ": " + cause
		}
	}
	return e.Description
}

// claimChecks lists the claim checks of cfg that d's claims fail, other
// than first, which the verifier has already reported. They complete the
// verifier's verdict, which stops at the first failure.
func claimChecks(d decodedToken, cfg guard.VerifierConfig, now time.Time, first string) []check {
	var m map[string]json.RawMessage
	if json.Unmarshal(d.Claims, &m) != nil {
		return nil
	}
	var out []check
	add := func(name, format string, args ...any) {
		if name != first {
			out = append(out, check{name, fmt.Sprintf(format, args...)})
		}
	}
	lee := cfg.Leeway
	exp, hasExp := numericDate(m["exp"])
	iat, hasIat := numericDate(m["iat"])
	switch {
	case !hasExp:
		add("missing claim", "no numeric exp")
	case !now.Before(exp.Add(lee)):
		add("expired", "exp %s (%s), leeway %v", utc(exp), ago(exp, now), lee)
	case exp.Sub(now) > cfg.MaxTokenLifetime+lee || hasIat && exp.Sub(iat) > cfg.MaxTokenLifetime:
		add("lifetime", "exp %s is more than %v after iat or now", utc(exp), cfg.MaxTokenLifetime)
	}
	if nbf, ok := numericDate(m["nbf"]); ok && now.Add(lee).Before(nbf) {
		add("not yet valid", "nbf %s (%s), leeway %v", utc(nbf), ago(nbf, now), lee)
	}
	if hasIat && now.Add(lee).Before(iat) {
		add("not yet valid", "iat %s (%s) is in the future, leeway %v", utc(iat), ago(iat, now), lee)
	}
	shown := func(name string) string {
		if raw, ok := m[name]; ok {
			return string(raw)
		}
		return "(absent)"
	}
	var s string
	if len(cfg.Issuers) > 0 {
		if json.Unmarshal(m["iss"], &s) != nil || !slices.Contains(cfg.Issuers, s) {
			add("issuer", "iss %s is not one of %q", shown("iss"), cfg.Issuers)
		}
	}
	if len(cfg.Audiences) > 0 {
		var list []string
		if json.Unmarshal(m["aud"], &s) == nil {
			list = []string{s}
		} else {
			_ = json.Unmarshal(m["aud"], &list)
		}
		if !slices.ContainsFunc(list, func(a string) bool { return slices.Contains(cfg.Audiences, a) }) {
			add("audience", "aud %s names none of %q", shown("aud"), cfg.Audiences)
		}
	}
	if s = ""; json.Unmarshal(m["sub"], &s) != nil || s == "" {
		add("missing claim", "no sub")
	}
	return out
}
