package authserver

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/guardkit/guard"
)

// AuthCode is what an authorization code (RFC 6749 §4.1.2) stands for. The
// code itself is never stored: stores key records by its SHA-256 digest.
type AuthCode struct {
	// ClientID, RedirectURI and CodeChallenge bind the code to the request
	// that obtained it (RFC 7636, RFC 9700 §2.1.1).
	ClientID      string
	RedirectURI   string
	CodeChallenge string
	// Scopes are the granted scopes.
	Scopes []string
	// Resources are the resource indicators (RFC 8707) of the
	// authorization request: the token request may name some of them, and
	// gets them all by naming none. Default none.
	Resources []string
	// KeyThumbprint is the dpop_jkt of the authorization request (RFC 9449
	// §10): the token request must prove the DPoP key it names. "" for
	// none.
	KeyThumbprint string
	// Username is the account the user logged in as (looked up in the
	// token endpoint's UserStore when the code is exchanged).
	Username string
	// ExpiresAt ends the code's life: at most a minute after issue.
	ExpiresAt time.Time
	// Used is set by the redemption: a code is good once.
	Used bool
	// TokenID and RefreshFamily name the tokens issued from the code, so
	// that a second use can revoke them (RFC 6749 §4.1.2); the redemption
	// stores them with the used mark.
	TokenID, RefreshFamily string
	// Sealed and RetryUntil are the redemption's: the token response, sealed
	// with a key only the code and its PKCE verifier yield, and the end of
	// the window in which a second redemption is a retry. SettleAuthCode
	// drops them.
	Sealed     []byte
	RetryUntil time.Time
}

// AuthRedemption is one exchange of a code, for
// [AuthCodeStore.RedeemAuthCode]: what it issues, named before the code is
// marked used, so that a replay racing the first exchange still revokes
// what that exchange bought.
type AuthRedemption struct {
	// TokenID is the "jti" of the access token the exchange issues;
	// RefreshFamily its refresh-token family ("" for none).
	TokenID, RefreshFamily string
	// Sealed is the token response encrypted with a key that only the code
	// and its PKCE verifier yield: returned to a retry before RetryUntil,
	// the store cannot read it.
	Sealed []byte
	// Now is the time of the request; RetryUntil ends the window in which a
	// redemption of a used code counts as a retry (the endpoint calls
	// RedeemAuthCode only for the bound client with the right redirect URI
	// and verifier). The window is for an outcome the endpoint did not
	// learn: once RedeemAuthCode has answered, the endpoint calls
	// SettleAuthCode, and a second redemption is reuse.
	Now, RetryUntil time.Time
}

// ErrCodeReused is returned by [AuthCodeStore.RedeemAuthCode] for a code that
// was redeemed before, outside the retry window.
var ErrCodeReused = errors.New("guard: authorization code used twice")

// AuthCodeStore keeps authorization codes between the authorization and the
// token endpoint. Implementations must be safe for concurrent use, drop
// records after their ExpiresAt, and make RedeemAuthCode atomic: of two
// concurrent redemptions of one code, exactly one gets it unused. Errors
// other than [ErrNotFound] and [ErrCodeReused] are answered 503; an error
// from RedeemAuthCode leaves its outcome unknown, and the client's retry
// within the retry window gets the response of the redemption that did
// happen. When RedeemAuthCode answers, the endpoint settles the code: from
// then on a second redemption is reuse (RFC 6749 §4.1.2).
//
// The token endpoint first reads the code with LookupAuthCode and checks
// the client, the redirect URI and the PKCE verifier (RFC 6749 §4.1.3, RFC
// 7636 §4.6): a code presented without them is refused and stays as it was,
// so a leaked code alone can neither burn the code nor revoke the tokens it
// bought.
type AuthCodeStore interface {
	// SaveAuthCode stores a new, unused code under its digest.
	SaveAuthCode(ctx context.Context, digest [32]byte, c AuthCode) error
	// LookupAuthCode returns the code, changing nothing; [ErrNotFound] for
	// an unknown or expired one.
	LookupAuthCode(ctx context.Context, digest [32]byte) (AuthCode, error)
	// RedeemAuthCode is one atomic step:
	//   - an unknown code, or one expired at r.Now: [ErrNotFound];
	//   - an unused code: it is marked used with r's TokenID,
	//     RefreshFamily, Sealed and RetryUntil; it returns the code as it was
	//     and a nil sealed;
	//   - a used code before its RetryUntil: no change; it returns the code
	//     and the Sealed stored with it;
	//   - a used code after: it returns the code (with the TokenID and
	//     RefreshFamily to revoke) and [ErrCodeReused].
	RedeemAuthCode(ctx context.Context, digest [32]byte, r AuthRedemption) (c AuthCode, sealed []byte, err error)
	// SettleAuthCode drops the sealed response of a redeemed code: the
	// endpoint has learned the redemption's outcome, so a second redemption
	// is reuse. An unknown or expired code is no error, and nothing is
	// created.
	SettleAuthCode(ctx context.Context, digest [32]byte) error
}

// MemoryAuthCodes is the in-memory [AuthCodeStore] of one instance. Its zero
// value is ready to use; it is safe for concurrent use. Expired codes are
// dropped as new ones arrive, so memory follows the rate of logins times the
// code lifetime.
type MemoryAuthCodes struct {
	mu  sync.Mutex
	m   map[[32]byte]*AuthCode
	Now func() time.Time // default time.Now
}

func (s *MemoryAuthCodes) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// SaveAuthCode implements [AuthCodeStore].
func (s *MemoryAuthCodes) SaveAuthCode(_ context.Context, digest [32]byte, c AuthCode) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[32]byte]*AuthCode{}
	}
	for k, v := range s.m {
		if !now.Before(v.ExpiresAt) {
			delete(s.m, k)
		}
	}
	c.Scopes = append([]string(nil), c.Scopes...)
	c.Resources = append([]string(nil), c.Resources...)
	c.Used, c.TokenID, c.RefreshFamily, c.Sealed, c.RetryUntil = false, "", "", nil, time.Time{}
	s.m[digest] = &c
	return nil
}

// LookupAuthCode implements [AuthCodeStore].
func (s *MemoryAuthCodes) LookupAuthCode(_ context.Context, digest [32]byte) (AuthCode, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[digest]
	if !ok || !now.Before(c.ExpiresAt) {
		return AuthCode{}, guard.ErrNotFound
	}
	return c.copy(), nil
}

func (c *AuthCode) copy() AuthCode {
	out := *c
	out.Scopes = append([]string(nil), c.Scopes...)
	out.Resources = append([]string(nil), c.Resources...)
	out.Sealed = append([]byte(nil), c.Sealed...)
	return out
}

// RedeemAuthCode implements [AuthCodeStore].
func (s *MemoryAuthCodes) RedeemAuthCode(_ context.Context, digest [32]byte, r AuthRedemption) (AuthCode, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[digest]
	if !ok || !r.Now.Before(c.ExpiresAt) {
		return AuthCode{}, nil, guard.ErrNotFound
	}
	out := c.copy()
	switch {
	case !c.Used:
		c.Used, c.TokenID, c.RefreshFamily = true, r.TokenID, r.RefreshFamily
		c.Sealed, c.RetryUntil = append([]byte(nil), r.Sealed...), r.RetryUntil
		return out, nil, nil
	case c.Sealed != nil && r.Now.Before(c.RetryUntil):
		return out, out.Sealed, nil
	}
	return out, nil, ErrCodeReused
}

// SettleAuthCode implements [AuthCodeStore].
func (s *MemoryAuthCodes) SettleAuthCode(_ context.Context, digest [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[digest]; ok {
		c.Sealed, c.RetryUntil = nil, time.Time{}
	}
	return nil
}

var _ AuthCodeStore = (*MemoryAuthCodes)(nil)
