package guard

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/guardkit/guard/internal/claimsjson"
	"github.com/guardkit/guard/internal/syntax"
)

// DefaultTokenTTL is the lifetime of issued tokens when TokenIssuerConfig.TTL is zero.
const DefaultTokenTTL = 15 * time.Minute

// TokenIssuerConfig configures a [TokenIssuer]. The config is copied; changing it
// afterwards has no effect.
type TokenIssuerConfig struct {
	// Key signs tokens; it must hold a secret or private key. Set either
	// Key or Keys. A key bound with [Key.ForIssuers] must be bound to
	// Issuer, and Issue refuses a Claims.Issuer it is not bound to.
	Key *Key
	// Keys, instead of Key, is a [KeySet] whose current signing key signs
	// each token, so keys rotate without a new TokenIssuer. TTL must not
	// exceed the set's RetireAfter, or tokens would outlive their key.
	Keys *KeySet
	// Issuer is written as "iss" when not empty.
	Issuer string
	// Audience is written as "aud" when not empty (a string for one value).
	Audience []string
	// TTL is the token lifetime. Default [DefaultTokenTTL] (15 minutes).
	// Verifiers refuse tokens that live longer than their
	// VerifierConfig.MaxTokenLifetime (default [DefaultMaxTokenLifetime], 24
	// hours); a longer TTL needs verifiers configured for it.
	TTL time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// TokenIssuer mints signed JWT access tokens (RFC 9068 shape: header typ
// "at+jwt" and the key's kid; claims iss, aud, sub, iat, exp, jti, role(s),
// scope). It is immutable and safe for concurrent use. A TokenIssuer not built
// by [NewTokenIssuer] (the zero value, a nil pointer) has no key: Issue
// returns an error.
type TokenIssuer struct {
	key      *Key
	keys     *KeySet
	issuer   string
	audience []string
	ttl      time.Duration
	now      func() time.Time
	header   string // the encoded header segment plus '.'
}

// NewTokenIssuer validates cfg: exactly one of Key and Keys is required, the
// (current) signing key must be bound to Issuer when bound at all, and TTL
// must not be negative nor, with Keys, longer than the set's RetireAfter.
func NewTokenIssuer(cfg TokenIssuerConfig) (*TokenIssuer, error) {
	var errs []error
	if cfg.Keys != nil {
		if cfg.Key != nil {
			errs = append(errs, errors.New("guard: TokenIssuerConfig has both Key and Keys; set one"))
		} else if k := cfg.Keys.SigningKey(); !k.signsFor(cfg.Issuer) {
			errs = append(errs, fmt.Errorf("guard: the KeySet's signing key %v is not bound to Issuer %q", k, cfg.Issuer))
		}
		if ttl := cmp.Or(cfg.TTL, DefaultTokenTTL); ttl > cfg.Keys.retireAfter {
			errs = append(errs, fmt.Errorf("guard: TokenIssuerConfig.TTL %v exceeds the KeySet's RetireAfter %v", ttl, cfg.Keys.retireAfter))
		}
	} else if cfg.Key == nil {
		errs = append(errs, errors.New("guard: TokenIssuerConfig.Key is nil and Keys is nil"))
	} else if !cfg.Key.usable() {
		errs = append(errs, errors.New("guard: TokenIssuerConfig.Key is a zero Key"))
	} else if !cfg.Key.CanSign() {
		errs = append(errs, fmt.Errorf("guard: TokenIssuerConfig.Key %v cannot sign (public key only)", cfg.Key))
	}
	if cfg.Key != nil && !cfg.Key.signsFor(cfg.Issuer) {
		errs = append(errs, fmt.Errorf("guard: TokenIssuerConfig.Key %v is not bound to Issuer %q", cfg.Key, cfg.Issuer))
	}
	if cfg.TTL < 0 {
		errs = append(errs, errors.New("guard: TokenIssuerConfig.TTL is negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	i := &TokenIssuer{
		key:      cfg.Key,
		keys:     cfg.Keys,
		issuer:   cfg.Issuer,
		audience: append([]string(nil), cfg.Audience...),
		ttl:      cfg.TTL,
		now:      cfg.Now,
	}
	if i.ttl == 0 {
		i.ttl = DefaultTokenTTL
	}
	if i.now == nil {
		i.now = time.Now
	}
	if cfg.Keys != nil {
		return i, nil
	}
	h, err := json.Marshal(jwsHeader{Alg: string(cfg.Key.alg), Kid: cfg.Key.kid, Typ: "at+jwt"})
	if err != nil {
		return nil, err
	}
	i.header = b64.EncodeToString(h) + "."
	return i, nil
}

// TTL returns the lifetime of the tokens i issues.
func (i *TokenIssuer) TTL() time.Duration { return i.ttl }

// Issue signs a token for c. Subject is required. Issuer and Audience default
// to the issuer's; IssuedAt to now; ExpiresAt to now plus the TTL (a later
// ExpiresAt is cut to that); ID to 128 random bits. Extra, when set, must be a
// JSON object whose names do not collide with the claims Issue writes.
// Confirmation, when set, binds the token to a DPoP key (RFC 9449 §6.1): it
// is written as "cnf":{"jkt":…}, and its JKT must be a SHA-256 thumbprint
// (43 base64url characters), such as [DPoPProof].Thumbprint.
func (i *TokenIssuer) Issue(ctx context.Context, c Claims) (string, error) {
	if i == nil || i.key == nil && i.keys == nil {
		return "", errors.New("guard: TokenIssuer used without NewTokenIssuer; it has no key")
	}
	key, header := i.key, i.header
	if i.keys != nil {
		key, header = i.keys.signer()
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if c.Subject == "" {
		return "", errors.New("guard: Issue needs a Subject")
	}
	now := i.now()
	if c.Issuer == "" {
		c.Issuer = i.issuer
	}
	if !key.signsFor(c.Issuer) {
		return "", fmt.Errorf("guard: %v is not bound to issuer %q", key, c.Issuer)
	}
	if len(c.Audience) == 0 {
		c.Audience = i.audience
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if max := now.Add(i.ttl); c.ExpiresAt.IsZero() || c.ExpiresAt.After(max) {
		c.ExpiresAt = max
	}
	if c.ID == "" {
		c.ID = rand.Text()
	}
	for _, s := range c.Scopes {
		if !syntax.IsScopeToken(s) {
			return "", fmt.Errorf("guard: scope %q is not a scope token (RFC 6749 §3.3)", s)
		}
	}
	if err := checkExtra(c.Extra); err != nil {
		return "", err
	}
	if c.Confirmation != nil && !isThumbprint(c.Confirmation.JKT) {
		return "", errors.New("guard: Claims.Confirmation.JKT is not a SHA-256 JWK thumbprint")
	}
	payload, err := json.Marshal(c.wire())
	if err != nil {
		return "", fmt.Errorf("guard: encoding claims: %w", err)
	}
	var b strings.Builder
	b.Grow(len(header) + b64.EncodedLen(len(payload)) + 1 + 700)
	b.WriteString(header)
	b.WriteString(b64.EncodeToString(payload))
	sig, err := key.sign([]byte(b.String()))
	if err != nil {
		return "", fmt.Errorf("guard: signing: %w", err)
	}
	b.WriteByte('.')
	b.WriteString(b64.EncodeToString(sig))
	return b.String(), nil
}

// checkExtra checks that extra, when set, is a JSON object whose top-level
// names are not registered claims (claimsjson.Registered: the marshaler only
// catches a collision with a member it actually writes, so an empty Issuer
// would let Extra set "iss" unnoticed). Marshaling checks the rest (duplicates,
// UTF-8).
func checkExtra(extra []byte) error {
	if len(extra) == 0 {
		return nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(extra))
	if dec.PeekKind() != '{' {
		return errors.New("guard: Claims.Extra is not a JSON object")
	}
	if _, err := dec.ReadToken(); err != nil {
		return fmt.Errorf("guard: Claims.Extra: %w", err)
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return fmt.Errorf("guard: Claims.Extra: %w", err)
		}
		if claimsjson.IsRegistered(name.String()) {
			return fmt.Errorf("guard: Claims.Extra sets registered claim %q", name.String())
		}
		if err := dec.SkipValue(); err != nil {
			return fmt.Errorf("guard: Claims.Extra: %w", err)
		}
	}
	return nil
}
