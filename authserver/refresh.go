package authserver

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/guardkit/guard"
)

// Refresh-token defaults and bounds.
const (
	// DefaultRefreshLifetime is the absolute lifetime of a refresh-token
	// family when RefreshConfig.Lifetime is zero.
	DefaultRefreshLifetime = 30 * 24 * time.Hour
	// DefaultRefreshIdleTimeout ends a family whose current token has gone
	// unused this long, when RefreshConfig.IdleTimeout is zero.
	DefaultRefreshIdleTimeout = 7 * 24 * time.Hour
	// MaxRefreshGraceWindow is the longest RefreshConfig.GraceWindow accepted.
	MaxRefreshGraceWindow = time.Minute
	// DefaultRefreshGraceWindow is how long a rotation whose outcome the
	// endpoint never learned may be retried when RefreshConfig.GraceWindow
	// is zero: well over a store's timeout (redisstore's is 500 ms) plus a
	// client's retry delay, so that a retry after a 503 whose rotation did
	// happen is a retry.
	DefaultRefreshGraceWindow = 10 * time.Second
)

// RefreshConfig turns on refresh tokens (RFC 6749 §6, with the rotation and
// reuse detection of RFC 9700 §4.14.2) at a [TokenEndpoint]. With it, the
// password grant answers with a refresh_token as well when the login named no
// client, or a client whose Grants include "refresh_token";
// client_credentials never gets one (RFC 6749 §4.4.3). grant_type=refresh_token
// is served to the same clients.
//
// A refresh token is 43 base64url characters: 128 random bits naming its
// family and 128 random bits of its own, from crypto/rand. The store holds
// only digests. Every refresh rotates: the presented token is replaced by a
// new one. Presenting a token that was already rotated is taken as theft
// (RFC 9700 §4.14.2): the whole family is deleted, so both the thief and the
// user must log in again, and the answer is 400 invalid_grant. Each refresh
// re-reads the user from the [UserStore]: an unknown or disabled user ends
// the family (invalid_grant), and changed roles or scopes take effect.
// Scope may be narrowed by the request (RFC 6749 §6), never widened beyond
// the login's grant or the user's and client's current scopes
// (invalid_scope). A token issued to one client is refused for another
// (invalid_grant). Failures of the store answer 503 temporarily_unavailable
// with Retry-After.
type RefreshConfig struct {
	// Store keeps the families. Required; [NewMemoryRefreshStore] for one
	// instance, the redisstore module for several.
	Store RefreshStore
	// Lifetime is the absolute lifetime of a family, from the login.
	// Default [DefaultRefreshLifetime] (30 days).
	Lifetime time.Duration
	// IdleTimeout ends a family whose current token is not used within it.
	// Default [DefaultRefreshIdleTimeout] (7 days); at most Lifetime.
	IdleTimeout time.Duration
	// GraceWindow lets the token just rotated be presented again for this
	// long, counted from the first attempt, as a client's retry after a
	// lost response: the retry gets the same successor refresh token (kept
	// only sealed with a key derived from the presented token, so the store
	// cannot read it) and a new access token, and reuse detection is not
	// tripped. Within the window a thief replaying the token gets the same
	// successor as the user; the user's next refresh then makes one of the
	// two a reuse.
	//
	// Default 0: a second use of a token after the endpoint answered its
	// rotation is reuse at once (the family ends), and only a rotation whose
	// outcome the endpoint never learned (the store failed or timed out,
	// and answered 503, while a Redis script may still have run) can be
	// retried, for [DefaultRefreshGraceWindow] (10 seconds): the endpoint
	// closes that window with RefreshStore.SettleRefreshToken as soon as the
	// store answers. Negative: no grace at all, so even a retry after a 503
	// ends the family. At most [MaxRefreshGraceWindow].
	GraceWindow time.Duration
}

const (
	grantRefreshToken = "refresh_token"
	// refreshTokenLen is the encoded length of a refresh token: 32 bytes.
	refreshTokenLen = 43
)

var (
	errTokenNoRefresh   = tokenError(http.StatusBadRequest, "invalid_request", "refresh_token required", nil)
	errTokenBadRefresh  = tokenError(http.StatusBadRequest, "invalid_grant", "invalid refresh token", guard.ErrInvalidGrant)
	errTokenReusedGrant = tokenError(http.StatusBadRequest, "invalid_grant", "invalid refresh token", ErrRefreshTokenReused)
)

// validateRefresh checks the refresh settings of cfg.
func validateRefresh(cfg *TokenEndpointConfig) []error {
	rc := cfg.Refresh
	if rc == nil {
		return nil
	}
	var errs []error
	if rc.Store == nil {
		errs = append(errs, errors.New("guard: RefreshConfig.Store is nil"))
	}
	if !cfg.EnablePasswordGrant && cfg.AuthCodes == nil {
		errs = append(errs, errors.New("guard: Refresh needs EnablePasswordGrant or AuthCodes (refresh tokens are issued with the password and authorization code grants)"))
	}
	if rc.Lifetime < 0 || rc.IdleTimeout < 0 {
		errs = append(errs, errors.New("guard: RefreshConfig durations must not be negative"))
	}
	if rc.GraceWindow > MaxRefreshGraceWindow {
		errs = append(errs, fmt.Errorf("guard: RefreshConfig.GraceWindow %v is over %v", rc.GraceWindow, MaxRefreshGraceWindow))
	}
	life := rc.Lifetime
	if life == 0 {
		life = DefaultRefreshLifetime
	}
	if rc.IdleTimeout > life {
		errs = append(errs, fmt.Errorf("guard: RefreshConfig.IdleTimeout %v is longer than Lifetime %v", rc.IdleTimeout, life))
	}
	return errs
}

// refreshSettings is the RefreshConfig with defaults applied.
type refreshSettings struct {
	store                 RefreshStore
	lifetime, idle, grace time.Duration
	settle                bool // the grace is for an unknown outcome only: close it once the store answers
	now                   func() time.Time
	revocations           guard.RevocationChecker // subject revocations, when configured
}

func newRefreshSettings(cfg *TokenEndpointConfig) *refreshSettings {
	rc := cfg.Refresh
	if rc == nil {
		return nil
	}
	s := &refreshSettings{store: rc.Store, lifetime: rc.Lifetime, idle: rc.IdleTimeout, grace: rc.GraceWindow, now: cfg.Now}
	if s.lifetime == 0 {
		s.lifetime = DefaultRefreshLifetime
	}
	if s.idle == 0 {
		s.idle = min(DefaultRefreshIdleTimeout, s.lifetime)
	}
	switch {
	case s.grace == 0:
		s.grace, s.settle = DefaultRefreshGraceWindow, true
	case s.grace < 0:
		s.grace = 0
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.Revocations != nil {
		s.revocations = cfg.Revocations
	}
	return s
}

// refreshToken is a parsed refresh token.
type refreshToken struct {
	raw    string
	family string   // the store's family ID
	digest [32]byte // SHA-256 of raw
}

// newRefreshToken makes a token of the family named by famSeed (16 bytes),
// or of a new family when famSeed is nil.
func newRefreshToken(famSeed []byte) refreshToken {
	var b [32]byte
	if famSeed != nil {
		copy(b[:16], famSeed)
		rand.Read(b[16:]) // crypto/rand never fails on supported platforms
	} else {
		rand.Read(b[:])
	}
	t, _ := parseRefreshToken(base64.RawURLEncoding.EncodeToString(b[:]))
	return t
}

// parseRefreshToken checks the shape of s (43 base64url characters, checked
// before anything else) and derives the family ID and digest.
func parseRefreshToken(s string) (refreshToken, bool) {
	if len(s) != refreshTokenLen {
		return refreshToken{}, false
	}
	var b [32]byte
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(s))
	if err != nil || n != len(b) {
		return refreshToken{}, false
	}
	return refreshToken{raw: s, family: refreshFamilyID(b[:16]), digest: sha256.Sum256([]byte(s))}, true
}

// refreshFamilyID is the store's name for the family whose tokens start with
// seed: a digest, so the store holds no part of a token.
func refreshFamilyID(seed []byte) string {
	h := sha256.New()
	h.Write([]byte("guard refresh family\x00"))
	h.Write(seed)
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:16])
}

func (t refreshToken) seed() []byte {
	b, _ := base64.RawURLEncoding.DecodeString(t.raw)
	return b[:16]
}

// sealKey is the key that seals a token's successor: only the holder of the
// presented token can derive it.
func sealKey(presented string) cipher.AEAD {
	k := sha256.Sum256([]byte("guard refresh retry\x00" + presented))
	block, _ := aes.NewCipher(k[:])
	aead, _ := cipher.NewGCM(block)
	return aead
}

func sealSuccessor(presented, next string) []byte {
	aead := sealKey(presented)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(next)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(next), nil)
}

func openSuccessor(presented string, sealed []byte) (string, bool) {
	aead := sealKey(presented)
	if len(sealed) < aead.NonceSize() {
		return "", false
	}
	next, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	return string(next), err == nil
}

// refreshFor reports whether a password-grant login by client (nil: none)
// gets a refresh token.
func (e *TokenEndpoint) refreshFor(client *Client) bool {
	return e.refresh != nil && (client == nil || slices.Contains(client.Grants, grantRefreshToken))
}

// startRefreshFamily creates a family for a login whose access token is at
// and returns its first token.
func (e *TokenEndpoint) startRefreshFamily(ctx context.Context, clientID, username, subject string, scopes []string, at IssuedToken) (string, error) {
	raw, _, err := e.startFamily(ctx, RefreshFamily{ClientID: clientID, Username: username, Subject: subject, Scopes: scopes}, at)
	return raw, err
}

// startFamily creates a family holding the grant g (its ClientID,
// Username, Subject, Scopes, Resources and KeyThumbprint) for a login
// whose access token is at; it returns the family's first token and ID.
func (e *TokenEndpoint) startFamily(ctx context.Context, g RefreshFamily, at IssuedToken) (raw, family string, _ error) {
	rs := e.refresh
	now := rs.now()
	t := newRefreshToken(nil)
	fam := RefreshFamily{ID: t.family, ClientID: g.ClientID, Username: g.Username, Subject: g.Subject,
		Scopes: g.Scopes, Resources: g.Resources, KeyThumbprint: g.KeyThumbprint, AuthTime: now, ExpiresAt: now.Add(rs.lifetime)}
	if at.ID != "" {
		fam.AccessTokens = []IssuedToken{at}
	}
	if err := rs.store.CreateRefreshFamily(ctx, fam, t.digest, now.Add(rs.idle)); err != nil {
		return "", "", e.storeDown(ctx, "refresh store", err)
	}
	return t.raw, t.family, nil
}

// RevokeSubject is "log out everywhere" for subject: it refuses the
// subject's tokens issued until now (RevocationStore.RevokeSubject with the
// endpoint's clock, when Revocations is set) and then deletes every
// refresh-token family of the subject (RefreshStore.RevokeSubjectRefreshFamilies,
// when Refresh is set), so that no family refreshes again once the
// revocation entry has expired. It returns when the current second is over
// (at most a second later, or when ctx ends), so that a login after it
// gets live tokens: "iat" has whole seconds, and a token of the
// revocation's second is refused. A store failure returns an error wrapping
// [guard.ErrUnavailable] (answer 503 with Retry-After); the call may be
// repeated. It is safe for concurrent use.
func (e *TokenEndpoint) RevokeSubject(ctx context.Context, subject string) error {
	if subject == "" {
		return errors.New("guard: RevokeSubject needs a subject")
	}
	if e.cfg.Revocations != nil {
		if err := e.cfg.Revocations.RevokeSubject(ctx, subject, e.refreshNow()); err != nil {
			return e.storeDown(ctx, "revocation store", err)
		}
	}
	if e.refresh != nil {
		if _, err := e.refresh.store.RevokeSubjectRefreshFamilies(ctx, subject); err != nil {
			return e.storeDown(ctx, "refresh store", err)
		}
	}
	// Tokens carry "iat" in whole seconds, so a token issued later in the
	// revocation's second cannot be told from one issued before it, and is
	// refused. RevokeSubject returns only once that second is over: a
	// login that follows it ("change password, sign in again") is issued
	// in a later second and gets live tokens.
	now := e.refreshNow()
	wait := now.Truncate(time.Second).Add(time.Second).Sub(now)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}
