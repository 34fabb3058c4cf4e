package guard

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// RevocationChecker decides whether an access token that verified must still
// be refused. A [Verifier] with [VerifierConfig].Revocations set asks it after
// the signature and the claims have been checked, on every request (cache
// hits included). Implementations must be safe for concurrent use.
type RevocationChecker interface {
	// Revoked reports whether c is revoked: its "jti" is on the deny-list,
	// or its subject was revoked at or after its "iat" (see
	// [RevocationStore.RevokeSubject]). An error means the answer is unknown;
	// the verifier then refuses the request with 503 temporarily_unavailable
	// and Retry-After (fail closed).
	Revoked(ctx context.Context, c *Claims) (bool, error)
}

// TokenRevocationChecker is a [RevocationChecker] that needs the token
// itself, not only its claims: [IntrospectionChecker] sends it to its
// issuer (RFC 7662). A [Verifier] whose Revocations implements it calls
// RevokedToken instead of Revoked, with the token it has just verified and
// its claims. The answers and the failure rule are those of Revoked.
// Implementations must be safe for concurrent use and must not keep c after
// they return (a verifier reuses it).
type TokenRevocationChecker interface {
	RevocationChecker
	RevokedToken(ctx context.Context, token string, c *Claims) (bool, error)
}

// RevocationStore is a [RevocationChecker] that can also be written: the
// token endpoint's revocation endpoint (RFC 7009) and an app's "log out
// everywhere" write to it, and verifiers read it. Entries expire on their
// own, so the store never grows without bound. Implementations must be safe
// for concurrent use; a shared store (the redisstore module) makes a
// revocation on one instance visible to all.
type RevocationStore interface {
	RevocationChecker
	// RevokeToken puts jti on the deny-list until expiresAt, the token's own
	// "exp": after it the token is refused as expired anyway.
	RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error
	// RevokeSubject refuses every token of subject issued at or before at,
	// for as long as the store keeps the entry (longer than any access token
	// lives), and every refresh-token family of the subject that began then
	// or earlier for as long. Use it for "log out everywhere" and after a
	// password change, through the token endpoint's RevokeSubject
	// (authserver), which also deletes the subject's refresh families, so
	// that none refreshes again once the entry is gone. A later call with an
	// earlier instant does not move the instant back.
	//
	// The instant is kept to the millisecond. A token whose "iat" has a
	// millisecond fraction (some issuers write one; RFC 7519 §2 allows it)
	// is refused when issued at or before it. A token whose "iat" is whole
	// seconds S, as [TokenIssuer] writes it (PyJWT refuses a fraction as a
	// token from the future within its second), may have been issued
	// anywhere within S: it is refused when S is the revocation's second or
	// earlier, so no token issued before the revocation is ever accepted.
	// The token endpoint's RevokeSubject therefore returns only once that
	// second is over, so that a user who changes a password and signs in
	// again gets live tokens. The instant is compared with "iat" as written
	// by the issuer, so the issuer's and the revoker's clocks must agree.
	// (See [RevokedBySubject].)
	RevokeSubject(ctx context.Context, subject string, at time.Time) error
}

// RevokedBySubject reports whether a token issued at iat is covered by a
// subject revocation at notBeforeMilli (Unix milliseconds), the rule every
// [RevocationStore] applies (see [RevocationStore.RevokeSubject]). iat is
// taken to the millisecond, rounded to the nearest (a fraction read from
// JSON is not exact in binary). An iat with a millisecond fraction is
// refused when at or before notBeforeMilli; an iat of whole seconds S may
// stand for any instant within S and is refused when S is at or before the
// revocation's second. A token without "iat" cannot be placed after the
// revocation and is refused.
func RevokedBySubject(iat time.Time, notBeforeMilli int64) bool {
	if iat.IsZero() {
		return true
	}
	ms := iat.Add(500 * time.Microsecond).UnixMilli()
	if ms%1000 == 0 {
		return floorDiv(ms, 1000) <= floorDiv(notBeforeMilli, 1000)
	}
	return ms <= notBeforeMilli
}

// SubjectRevocationMilli is the revocation instant a [RevocationStore]
// keeps for RevokeSubject(at): at rounded up to the millisecond, so that a
// token issued at or before at, whose "iat" is that instant or earlier to
// the millisecond, is covered.
func SubjectRevocationMilli(at time.Time) int64 {
	return at.Add(time.Millisecond - time.Nanosecond).UnixMilli()
}

// floorDiv is a/b rounded down, for negative a too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// MemoryRevocationsConfig configures [NewMemoryRevocations]. Zero fields take
// the defaults.
type MemoryRevocationsConfig struct {
	// MaxTokenLifetime is how long a subject revocation is kept: longer than
	// any token it must refuse may live. Default [DefaultMaxTokenLifetime]
	// (24 hours). Refresh-token families live longer (30 days by default):
	// revoke a subject through the token endpoint's RevokeSubject
	// (authserver), which deletes its families too, or set this to the
	// longest refresh-token lifetime.
	MaxTokenLifetime time.Duration
	// MaxEntries bounds memory (jti and subject entries together). When full,
	// expired entries are dropped; if none expired, RevokeToken and
	// RevokeSubject return an error (the revocation endpoint answers 503)
	// rather than forget a live revocation. Default 1 000 000.
	MaxEntries int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// MemoryRevocations is the in-memory [RevocationStore]: a jti deny-list and
// per-subject revocation instants, each entry expiring on its own. Lookups
// take no lock; with nothing revoked a check is one atomic load. It is safe
// for concurrent use. Create it with [NewMemoryRevocations]; the zero value
// answers every call with an error (which a verifier answers 503).
type MemoryRevocations struct {
	cfg      MemoryRevocationsConfig
	jtis     sync.Map // string -> int64: Unix seconds the entry expires
	subjects sync.Map // string -> *subjectRevocation
	n        atomic.Int64
	mu       sync.Mutex // serializes writers (pruning and the MaxEntries check)
}

// subjectRevocation: notBefore in Unix milliseconds, until in Unix seconds.
type subjectRevocation struct{ notBefore, until int64 }

var errRevocationsZero = errors.New("guard: MemoryRevocations used without NewMemoryRevocations")

// errRevocationsFull: every entry is live and MaxEntries is reached.
var errRevocationsFull = errors.New("guard: revocation list full")

// NewMemoryRevocations validates cfg and returns an empty MemoryRevocations.
// Zero fields take the defaults; negative ones are errors, reported
// together.
func NewMemoryRevocations(cfg MemoryRevocationsConfig) (*MemoryRevocations, error) {
	var errs []error
	if cfg.MaxTokenLifetime < 0 {
		errs = append(errs, errors.New("guard: MemoryRevocationsConfig.MaxTokenLifetime is negative"))
	}
	if cfg.MaxEntries < 0 {
		errs = append(errs, errors.New("guard: MemoryRevocationsConfig.MaxEntries is negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.MaxTokenLifetime = cmp.Or(cfg.MaxTokenLifetime, DefaultMaxTokenLifetime)
	cfg.MaxEntries = cmp.Or(cfg.MaxEntries, 1_000_000)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryRevocations{cfg: cfg}, nil
}

// MustNewMemoryRevocations is [NewMemoryRevocations] for wiring in main and
// tests: it panics on a config error.
func MustNewMemoryRevocations(cfg MemoryRevocationsConfig) *MemoryRevocations {
	x, err := NewMemoryRevocations(cfg)
	if err != nil {
		panic(err)
	}
	return x
}

// Revoked implements [RevocationChecker]. It never fails once constructed.
func (m *MemoryRevocations) Revoked(_ context.Context, c *Claims) (bool, error) {
	if m.cfg.Now == nil {
		return false, errRevocationsZero
	}
	if m.n.Load() == 0 {
		return false, nil
	}
	// Expired entries may linger until the next prune; they cannot refuse a
	// live token: a jti entry expires with its token, and a subject entry
	// outlives every token it covers.
	if c.ID != "" {
		if _, ok := m.jtis.Load(c.ID); ok {
			return true, nil
		}
	}
	if v, ok := m.subjects.Load(c.Subject); ok {
		return RevokedBySubject(c.IssuedAt, v.(*subjectRevocation).notBefore), nil
	}
	return false, nil
}

// RevokeToken implements [RevocationStore]. An expiresAt already past stores nothing.
func (m *MemoryRevocations) RevokeToken(_ context.Context, jti string, expiresAt time.Time) error {
	if m.cfg.Now == nil {
		return errRevocationsZero
	}
	now := m.cfg.Now()
	if jti == "" || !expiresAt.After(now) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jtis.Load(jti); !ok {
		if err := m.room(now); err != nil {
			return err
		}
		m.n.Add(1)
	}
	m.jtis.Store(jti, expiresAt.Unix()+1)
	return nil
}

// RevokeSubject implements [RevocationStore].
func (m *MemoryRevocations) RevokeSubject(_ context.Context, subject string, at time.Time) error {
	if m.cfg.Now == nil {
		return errRevocationsZero
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	rev := &subjectRevocation{notBefore: SubjectRevocationMilli(at), until: max(now.Unix(), at.Unix()) + int64(m.cfg.MaxTokenLifetime/time.Second) + 1}
	if v, ok := m.subjects.Load(subject); ok {
		old := v.(*subjectRevocation)
		rev.notBefore = max(rev.notBefore, old.notBefore)
		rev.until = max(rev.until, old.until)
	} else {
		if err := m.room(now); err != nil {
			return err
		}
		m.n.Add(1)
	}
	m.subjects.Store(subject, rev)
	return nil
}

// room makes space for one more entry; m.mu is held.
func (m *MemoryRevocations) room(now time.Time) error {
	if m.n.Load() < int64(m.cfg.MaxEntries) {
		return nil
	}
	sec := now.Unix()
	m.jtis.Range(func(k, v any) bool {
		if v.(int64) <= sec {
			m.jtis.Delete(k)
			m.n.Add(-1)
		}
		return true
	})
	m.subjects.Range(func(k, v any) bool {
		if v.(*subjectRevocation).until <= sec {
			m.subjects.Delete(k)
			m.n.Add(-1)
		}
		return true
	})
	if m.n.Load() >= int64(m.cfg.MaxEntries) {
		return errRevocationsFull
	}
	return nil
}

var _ RevocationStore = (*MemoryRevocations)(nil)
