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
	// Username is the account the user logged in as (looked up in the
	// token endpoint's UserStore when the code is exchanged).
	Username string
	// ExpiresAt ends the code's life: at most a minute after issue.
	ExpiresAt time.Time
	// Used is set by the redemption: a code is good once.
	Used bool
	// TokenID and RefreshFamily name the tokens issued from the code, so
	// that a second use can revoke them (RFC 6749 §4.1.2).
	TokenID, RefreshFamily string
}

// ErrCodeReused is returned by [AuthCodeStore.RedeemAuthCode] for a code that
// was redeemed before.
var ErrCodeReused = errors.New("guard: authorization code used twice")

// AuthCodeStore keeps authorization codes between the authorization and the
// token endpoint. Implementations must be safe for concurrent use, drop
// records after their ExpiresAt, and make RedeemAuthCode atomic: of two
// concurrent redemptions of one code, exactly one gets it unused. Errors
// other than [ErrNotFound] and [ErrCodeReused] are answered 503.
type AuthCodeStore interface {
	// SaveAuthCode stores a new, unused code under its digest.
	SaveAuthCode(ctx context.Context, digest [32]byte, c AuthCode) error
	// RedeemAuthCode marks the code used and returns it as it was. For a
	// code redeemed before it returns the record and [ErrCodeReused]; for an
	// unknown or expired code, [ErrNotFound].
	RedeemAuthCode(ctx context.Context, digest [32]byte) (AuthCode, error)
	// RecordIssued notes the tokens issued from a redeemed code.
	RecordIssued(ctx context.Context, digest [32]byte, tokenID, refreshFamily string) error
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
	c.Used = false
	s.m[digest] = &c
	return nil
}

// RedeemAuthCode implements [AuthCodeStore].
func (s *MemoryAuthCodes) RedeemAuthCode(_ context.Context, digest [32]byte) (AuthCode, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[digest]
	if !ok || !now.Before(c.ExpiresAt) {
		return AuthCode{}, guard.ErrNotFound
	}
	out := *c
	out.Scopes = append([]string(nil), c.Scopes...)
	if c.Used {
		return out, ErrCodeReused
	}
	c.Used = true
	return out, nil
}

// RecordIssued implements [AuthCodeStore].
func (s *MemoryAuthCodes) RecordIssued(_ context.Context, digest [32]byte, tokenID, family string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[digest]; ok {
		c.TokenID, c.RefreshFamily = tokenID, family
	}
	return nil
}

var _ AuthCodeStore = (*MemoryAuthCodes)(nil)
