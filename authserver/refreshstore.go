package authserver

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/guardkit/guard"
)

// ErrRefreshTokenReused: a refresh token that was already rotated was
// presented again; its family is revoked (RFC 9700 §4.14.2). It comes with
// [guard.ErrInvalidGrant] on the wire.
var ErrRefreshTokenReused = errors.New("guard: refresh token reused")

// RefreshFamily is one login's line of refresh tokens: every token rotated
// from the first one the login got. Stores keep it with the digest of the
// family's current token, never a token itself.
type RefreshFamily struct {
	// ID names the family in the store: a fixed-size digest (22 base64url
	// characters) derived from the token, safe to use in a store's key.
	ID string
	// ClientID is the client the family was issued to; "" when the login
	// named no client. Only that client may refresh it.
	ClientID string
	// Username is the account's canonical name, looked up again in the
	// [UserStore] on every refresh.
	Username string
	// Subject is the "sub" of the login's tokens, checked against subject
	// revocations ([RevocationStore.RevokeSubject]).
	Subject string
	// Scopes were granted at login: the most any refresh may ask for.
	Scopes []string
	// Resources are the resource indicators (RFC 8707) of the login's
	// grant: a refresh may ask for some of them (the access token's "aud"),
	// and gets them all by asking for none. Stores keep them as they are
	// (URIs without spaces). Default none.
	Resources []string
	// KeyThumbprint is the RFC 7638 thumbprint of the DPoP key the family
	// is bound to (RFC 9449 §5): a refresh must prove that key. "" for a
	// family bound to no key.
	KeyThumbprint string
	// AuthTime is the login; ExpiresAt ends the family whatever its use
	// (the absolute lifetime).
	AuthTime, ExpiresAt time.Time
	// AccessTokens are the access tokens issued on the family's grant: the
	// login's and every refresh's (retries included), those not yet expired
	// (stores drop the others as they go). When the family ends by reuse or
	// at the revocation endpoint, they are revoked too (RFC 9700 §4.14.2,
	// RFC 7009 §2.1).
	AccessTokens []IssuedToken
}

// IssuedToken names an access token by its "jti" and its expiry.
type IssuedToken struct {
	ID        string
	ExpiresAt time.Time
}

// RefreshRotation is one use of a refresh token, for [RefreshStore.RotateRefreshToken].
type RefreshRotation struct {
	// Family is the presented token's RefreshFamily.ID.
	Family string
	// ClientID is the requesting client ("" for none); it must equal the family's.
	ClientID string
	// Presented and Next are the SHA-256 digests of the presented token and
	// of its successor.
	Presented, Next [32]byte
	// Sealed is the successor encrypted with a key only the presented token
	// yields, returned to a retry within the grace window; nil without one.
	Sealed []byte
	// Now is the time of the request; IdleUntil ends the successor's
	// validity if it is not used before (the idle lifetime); GraceUntil ends
	// the window in which the presented token counts as a retry.
	Now, IdleUntil, GraceUntil time.Time
	// AccessToken is the access token this refresh issues, picked before
	// the rotation: a rotation or a retry adds it to the family's
	// AccessTokens.
	AccessToken IssuedToken
}

// RefreshStore keeps refresh-token families for the token endpoint (see
// [RefreshConfig]). Every method is one atomic step; implementations must be
// safe for concurrent use, and a shared store (the redisstore module) lets
// several instances serve one family. Entries end at the family's ExpiresAt
// at the latest. Any error other than the ones listed is a store failure,
// answered 503 temporarily_unavailable with Retry-After (fail closed).
//
// A store error from RotateRefreshToken is "outcome unknown": the rotation
// may have happened (a Redis script runs after the client's timeout fired).
// The endpoint answers 503, and the client's retry of the same token within
// the grace window is answered as a retry, not as reuse (see
// [RefreshConfig].GraceWindow).
type RefreshStore interface {
	// CreateRefreshFamily stores a new family whose current token has the
	// digest first, valid until idleUntil, and files it under its Subject
	// for RevokeSubjectRefreshFamilies.
	CreateRefreshFamily(ctx context.Context, fam RefreshFamily, first [32]byte, idleUntil time.Time) error
	// RotateRefreshToken is the check-and-swap of one refresh, decided
	// against the family's state as one atomic step:
	//   - no such family, or it has expired (absolute or idle): [ErrNotFound];
	//   - rot.ClientID is not the family's: [ErrUnauthorizedClient], no change;
	//   - Presented is the current token: Next becomes current (valid until
	//     IdleUntil), Presented becomes the previous token (a retry until
	//     GraceUntil, with Sealed), rot.AccessToken joins the family's
	//     AccessTokens; it returns the family and nil;
	//   - Presented is the previous token and Now is before its GraceUntil:
	//     rot.AccessToken joins the family's AccessTokens, nothing else
	//     changes; it returns the family and the Sealed stored with it;
	//   - anything else is reuse of a rotated token: the family is deleted,
	//     and it returns the family as it was (its AccessTokens are to be
	//     revoked) and [ErrRefreshTokenReused].
	RotateRefreshToken(ctx context.Context, rot RefreshRotation) (fam RefreshFamily, sealed []byte, err error)
	// RevokeRefreshFamily deletes the family and returns it as it was (its
	// AccessTokens are to be revoked). It returns [ErrNotFound] when there
	// is none, and [ErrUnauthorizedClient], deleting nothing, when the
	// family was issued to a client other than clientID (a family issued to
	// no client may be revoked by anyone holding one of its tokens).
	RevokeRefreshFamily(ctx context.Context, family, clientID string) (RefreshFamily, error)
	// RevokeSubjectRefreshFamilies deletes every family of subject (their
	// RefreshFamily.Subject) and returns how many it deleted: "log out
	// everywhere" ends the refresh tokens at once, whatever the retention
	// of the subject's revocation entry. A family created while it runs
	// may survive; revoke the subject first (see
	// [TokenEndpoint.RevokeSubject]).
	RevokeSubjectRefreshFamilies(ctx context.Context, subject string) (int, error)
	// SettleRefreshToken closes the grace window of presented, the token a
	// rotation just replaced, when it is still the family's previous
	// token: the endpoint has the rotation's answer, so a second use of
	// presented is reuse from now on, not a retry. It returns nil when
	// there is nothing to close (no family, another previous token).
	SettleRefreshToken(ctx context.Context, family string, presented [32]byte) error
	// LookupRefreshToken reads, changing nothing, the family whose current
	// token has the digest presented: it returns the family and the instant
	// the current token lapses if unused (its idle deadline; the family's
	// ExpiresAt ends it anyway). It returns [ErrNotFound] when there is no
	// such family, when the family has expired at now (absolute or idle), and
	// when presented is not its current token: a rotated token is not
	// active, even within the grace window. The introspection endpoint
	// (RFC 7662) calls it; it never counts as a use, so it cannot trip reuse
	// detection.
	LookupRefreshToken(ctx context.Context, family string, presented [32]byte, now time.Time) (fam RefreshFamily, idleUntil time.Time, err error)
}

// MemoryRefreshStoreConfig configures [NewMemoryRefreshStore].
type MemoryRefreshStoreConfig struct {
	// MaxFamilies bounds memory. When full, expired families are dropped;
	// if none expired, CreateRefreshFamily fails (the login answers 503)
	// rather than end another user's session. Default 1 000 000.
	MaxFamilies int
}

// MemoryRefreshStore is the in-memory [RefreshStore], for a single instance.
// It is safe for concurrent use; every method holds one mutex for a few map
// operations. Create it with [NewMemoryRefreshStore]; the zero value answers
// every call with an error (503).
type MemoryRefreshStore struct {
	mu    sync.Mutex
	max   int
	m     map[string]*memFamily
	bySub map[string]map[string]struct{} // subject → family IDs
}

type memFamily struct {
	fam        RefreshFamily
	cur, prev  [32]byte
	hasPrev    bool
	idleUntil  time.Time
	graceUntil time.Time
	sealed     []byte
}

var errRefreshStoreZero = errors.New("guard: MemoryRefreshStore used without NewMemoryRefreshStore")

// errRefreshStoreFull: every family is live and MaxFamilies is reached.
var errRefreshStoreFull = errors.New("guard: refresh store full")

// NewMemoryRefreshStore validates cfg and returns an empty store. A zero
// MaxFamilies takes the default; a negative one is an error.
func NewMemoryRefreshStore(cfg MemoryRefreshStoreConfig) (*MemoryRefreshStore, error) {
	if cfg.MaxFamilies < 0 {
		return nil, errors.New("guard: MemoryRefreshStoreConfig.MaxFamilies is negative")
	}
	cfg.MaxFamilies = cmp.Or(cfg.MaxFamilies, 1_000_000)
	return &MemoryRefreshStore{max: cfg.MaxFamilies, m: map[string]*memFamily{}, bySub: map[string]map[string]struct{}{}}, nil
}

// MustNewMemoryRefreshStore is [NewMemoryRefreshStore] for wiring in main
// and tests: it panics on a config error.
func MustNewMemoryRefreshStore(cfg MemoryRefreshStoreConfig) *MemoryRefreshStore {
	x, err := NewMemoryRefreshStore(cfg)
	if err != nil {
		panic(err)
	}
	return x
}

// CreateRefreshFamily implements [RefreshStore].
func (s *MemoryRefreshStore) CreateRefreshFamily(_ context.Context, fam RefreshFamily, first [32]byte, idleUntil time.Time) error {
	if s.m == nil {
		return errRefreshStoreZero
	}
	fam.Scopes = slices.Clone(fam.Scopes)
	fam.Resources = slices.Clone(fam.Resources)
	fam.AccessTokens = liveTokens(fam.AccessTokens, fam.AuthTime)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		now := fam.AuthTime
		for id, f := range s.m {
			if !now.Before(f.fam.ExpiresAt) || !now.Before(f.idleUntil) {
				s.drop(id)
			}
		}
		if len(s.m) >= s.max {
			return errRefreshStoreFull
		}
	}
	s.drop(fam.ID)
	s.m[fam.ID] = &memFamily{fam: fam, cur: first, idleUntil: idleUntil}
	ids := s.bySub[fam.Subject]
	if ids == nil {
		ids = map[string]struct{}{}
		s.bySub[fam.Subject] = ids
	}
	ids[fam.ID] = struct{}{}
	return nil
}

// drop deletes a family and its index entry; s.mu is held.
func (s *MemoryRefreshStore) drop(id string) {
	f := s.m[id]
	if f == nil {
		return
	}
	delete(s.m, id)
	if ids := s.bySub[f.fam.Subject]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(s.bySub, f.fam.Subject)
		}
	}
}

// liveTokens returns the tokens of list not expired at now, and then add
// when it has an ID, in a new slice.
func liveTokens(list []IssuedToken, now time.Time, add ...IssuedToken) []IssuedToken {
	var out []IssuedToken
	for _, t := range append(slices.Clip(list), add...) {
		if t.ID != "" && now.Before(t.ExpiresAt) {
			out = append(out, t)
		}
	}
	return out
}

// RotateRefreshToken implements [RefreshStore].
func (s *MemoryRefreshStore) RotateRefreshToken(_ context.Context, rot RefreshRotation) (RefreshFamily, []byte, error) {
	if s.m == nil {
		return RefreshFamily{}, nil, errRefreshStoreZero
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.m[rot.Family]
	if f == nil {
		return RefreshFamily{}, nil, guard.ErrNotFound
	}
	if !rot.Now.Before(f.fam.ExpiresAt) {
		s.drop(rot.Family)
		return RefreshFamily{}, nil, guard.ErrNotFound
	}
	if rot.ClientID != f.fam.ClientID {
		return RefreshFamily{}, nil, guard.ErrUnauthorizedClient
	}
	switch {
	case rot.Presented == f.cur:
		if !rot.Now.Before(f.idleUntil) {
			s.drop(rot.Family)
			return RefreshFamily{}, nil, guard.ErrNotFound
		}
		f.prev, f.hasPrev, f.graceUntil, f.sealed = f.cur, true, rot.GraceUntil, rot.Sealed
		f.cur, f.idleUntil = rot.Next, rot.IdleUntil
		f.fam.AccessTokens = liveTokens(f.fam.AccessTokens, rot.Now, rot.AccessToken)
		return f.family(), nil, nil
	case f.hasPrev && rot.Presented == f.prev && rot.Now.Before(f.graceUntil):
		f.fam.AccessTokens = liveTokens(f.fam.AccessTokens, rot.Now, rot.AccessToken)
		return f.family(), f.sealed, nil
	}
	fam := f.family()
	fam.AccessTokens = liveTokens(fam.AccessTokens, rot.Now)
	s.drop(rot.Family)
	return fam, nil, ErrRefreshTokenReused
}

// family returns a copy the caller may keep.
func (f *memFamily) family() RefreshFamily {
	fam := f.fam
	fam.Scopes = slices.Clone(fam.Scopes)
	fam.Resources = slices.Clone(fam.Resources)
	fam.AccessTokens = slices.Clone(fam.AccessTokens)
	return fam
}

// RevokeRefreshFamily implements [RefreshStore].
func (s *MemoryRefreshStore) RevokeRefreshFamily(_ context.Context, family, clientID string) (RefreshFamily, error) {
	if s.m == nil {
		return RefreshFamily{}, errRefreshStoreZero
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.m[family]
	if f == nil {
		return RefreshFamily{}, guard.ErrNotFound
	}
	if f.fam.ClientID != "" && f.fam.ClientID != clientID {
		return RefreshFamily{}, guard.ErrUnauthorizedClient
	}
	s.drop(family)
	return f.family(), nil
}

// RevokeSubjectRefreshFamilies implements [RefreshStore].
// SettleRefreshToken implements [RefreshStore].
func (s *MemoryRefreshStore) SettleRefreshToken(_ context.Context, family string, presented [32]byte) error {
	if s.m == nil {
		return errRefreshStoreZero
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.m[family]; f != nil && f.hasPrev && f.prev == presented {
		f.graceUntil, f.sealed = time.Time{}, nil
	}
	return nil
}

func (s *MemoryRefreshStore) RevokeSubjectRefreshFamilies(_ context.Context, subject string) (int, error) {
	if s.m == nil {
		return 0, errRefreshStoreZero
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.bySub[subject] {
		s.drop(id)
		n++
	}
	return n, nil
}

// LookupRefreshToken implements [RefreshStore].
func (s *MemoryRefreshStore) LookupRefreshToken(_ context.Context, family string, presented [32]byte, now time.Time) (RefreshFamily, time.Time, error) {
	if s.m == nil {
		return RefreshFamily{}, time.Time{}, errRefreshStoreZero
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.m[family]
	if f == nil || presented != f.cur || !now.Before(f.fam.ExpiresAt) || !now.Before(f.idleUntil) {
		return RefreshFamily{}, time.Time{}, guard.ErrNotFound
	}
	return f.family(), f.idleUntil, nil
}

// Len returns the number of families held, expired ones not yet dropped included.
func (s *MemoryRefreshStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

var _ RefreshStore = (*MemoryRefreshStore)(nil)
