package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// KeySource supplies the keys a [Verifier] checks signatures with. Set it as
// VerifierConfig.KeySource instead of the static VerifierConfig.Keys. A
// [KeySet] (keys this process rotates) is one; a key set fetched from a
// remote JWKS is another.
//
// The contract, for implementations:
//   - VerificationKeys returns the current snapshot. It is called once per
//     verification, so it must be cheap (an atomic load) and safe for
//     concurrent use. The snapshot returned is never modified afterwards;
//     a change of keys is a new snapshot.
//   - ctx is the request's context. A source that has no keys yet (a remote
//     set not loaded) may wait for them within ctx, or return at once; either
//     way it returns an error that wraps [ErrKeysUnavailable]. The verifier
//     answers any error from VerificationKeys with 503
//     temporarily_unavailable and Retry-After (fail closed, never a 500),
//     and the *[Error] it returns matches ErrKeysUnavailable; only a token
//     that no key could ever verify (a malformed header, crit, a refused
//     typ, an unknown alg) gets its 401 instead.
//   - A nil snapshot with a nil error is treated as ErrKeysUnavailable.
//
// A source may also implement [KeyRefresher] to be told about tokens whose
// kid it does not know.
type KeySource interface {
	// VerificationKeys returns the current immutable snapshot of
	// verification keys, or an error wrapping ErrKeysUnavailable.
	VerificationKeys(ctx context.Context) (*KeySnapshot, error)
}

// KeyRefresher is implemented by a [KeySource] that can fetch keys on demand,
// such as a remote JWKS. When a token names a kid the current snapshot does
// not hold, the verifier calls Refresh once with the request's context and
// that kid, then asks VerificationKeys again and looks the kid up once more.
// A kid that is still unknown, or any error from Refresh, is answered 401
// invalid_token ([ErrUnknownKey]); an error never turns into a 503, so a
// flood of tokens with made-up kids cannot take a service down.
//
// Refresh is called on the request path by every request with an unknown
// kid, concurrently: the implementation must coalesce concurrent calls
// (single flight) and limit how often it really fetches (for example at most
// once per interval), returning at once, without error, when it may not
// fetch yet. It should return when ctx is done.
type KeyRefresher interface {
	Refresh(ctx context.Context, kid string) error
}

// KeySnapshot is an immutable set of verification keys, as a [KeySource]
// hands them to a [Verifier]: the lookup tables by kid and by algorithm are
// built once, by [NewKeySnapshot]. It is safe for concurrent use.
//
// A verifier remembers, per snapshot, which key verified which token header
// (at most 16 headers, only of tokens whose signature verified), so a source
// should hand out the same *KeySnapshot until its keys change rather than
// build a new one per call.
type KeySnapshot struct {
	keys    []*Key // public halves, in the order given
	byKID   map[string]*Key
	byAlg   map[Algorithm][]*Key
	headers headerCache
}

// NewKeySnapshot checks keys and returns a snapshot of their public halves.
// It refuses, reporting every problem at once: a nil or zero key, two keys
// with the same kid, and one key material offered twice (for the same or for
// two algorithms). No keys at all make an empty snapshot, which verifies
// nothing (every token gets 401). Keys without a kid are allowed, as a JWKS
// may publish them; a token without a kid is verified only when exactly one
// key of its algorithm exists, so a kid-less key beside another key of its
// algorithm verifies nothing ([NewVerifier] and [StaticKeySource] refuse it).
func NewKeySnapshot(keys ...*Key) (*KeySnapshot, error) {
	return newKeySnapshot("keys", keys)
}

// newKeySnapshot is NewKeySnapshot with the name of the keys' field in errors.
func newKeySnapshot(field string, keys []*Key) (*KeySnapshot, error) {
	s := &KeySnapshot{byKID: map[string]*Key{}, byAlg: map[Algorithm][]*Key{}}
	var errs []error
	for i, k := range keys {
		if k == nil {
			errs = append(errs, fmt.Errorf("guard: %s[%d] is nil", field, i))
			continue
		}
		if !k.usable() {
			errs = append(errs, fmt.Errorf("guard: %s[%d] is a zero Key; build keys with NewHMACKey, NewPublicKey, NewPrivateKey, ParsePEMKey or ParseJWK", field, i))
			continue
		}
		k = k.Public()
		for _, o := range s.keys {
			if sameMaterial(k, o) {
				if k.alg != o.alg {
					errs = append(errs, fmt.Errorf("guard: one key is offered for both %s and %s", o.alg, k.alg))
				} else {
					errs = append(errs, fmt.Errorf("guard: %v is configured twice", k))
				}
			}
		}
		if k.kid != "" {
			if _, dup := s.byKID[k.kid]; dup {
				errs = append(errs, fmt.Errorf("guard: kid %q is used by two keys", k.kid))
			}
			s.byKID[k.kid] = k
		}
		s.keys = append(s.keys, k)
		s.byAlg[k.alg] = append(s.byAlg[k.alg], k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Keys returns the public halves of the snapshot's keys (HMAC keys are their
// own public half), in the order given to [NewKeySnapshot]. The slice is a
// copy; the keys are immutable.
func (s *KeySnapshot) Keys() []*Key {
	if s == nil {
		return nil
	}
	return slices.Clone(s.keys)
}

// Len returns the number of keys in s.
func (s *KeySnapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// Lookup returns the one key that may verify a token whose header has kid
// and alg, the way a [Verifier] chooses: by kid when kid is not empty (the
// key's algorithm must then be alg), otherwise the only key of alg. It
// returns an error matching [ErrUnknownKey] when kid names no key or, without
// a kid, several keys of alg exist, and [ErrAlgorithm] when the key found is
// for another algorithm or no key of alg exists.
func (s *KeySnapshot) Lookup(kid string, alg Algorithm) (*Key, error) {
	k, miss := s.lookup(kid, alg)
	switch miss {
	case lookupKID:
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	case lookupAmbiguous:
		return nil, fmt.Errorf("%w: no kid and several %s keys", ErrUnknownKey, alg)
	case lookupAlg:
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
	}
	return k, nil
}

// lookupMiss says why a lookup found no key.
type lookupMiss uint8

const (
	lookupOK        lookupMiss = iota
	lookupKID                  // the kid names no key
	lookupAmbiguous            // no kid, several keys of the algorithm
	lookupAlg                  // the key or keys are for another algorithm
)

func (s *KeySnapshot) lookup(kid string, alg Algorithm) (*Key, lookupMiss) {
	if s == nil {
		return nil, lookupKID
	}
	if kid != "" {
		k := s.byKID[kid]
		if k == nil {
			return nil, lookupKID
		}
		if k.alg != alg {
			return nil, lookupAlg
		}
		return k, lookupOK
	}
	switch c := s.byAlg[alg]; len(c) {
	case 0:
		return nil, lookupAlg
	case 1:
		return c[0], lookupOK
	}
	return nil, lookupAmbiguous
}

// holds reports whether a lookup in s for k's kid and algorithm finds k
// itself: the same *Key, not merely equal material. A kid-less key must be
// the only one of its algorithm, as a lookup without a kid requires.
func (s *KeySnapshot) holds(k *Key) bool {
	if s == nil || k == nil {
		return false
	}
	if k.kid != "" {
		return s.byKID[k.kid] == k
	}
	c := s.byAlg[k.alg]
	return len(c) == 1 && c[0] == k
}

// staticKeys is the KeySource of a fixed snapshot.
type staticKeys struct{ s *KeySnapshot }

func (k staticKeys) VerificationKeys(context.Context) (*KeySnapshot, error) { return k.s, nil }

// StaticKeySource returns a [KeySource] that always supplies the snapshot
// of keys, checked as by [NewKeySnapshot] and, like VerifierConfig.Keys, also
// refusing a key without a kid beside another key of its algorithm. It is
// what VerifierConfig.Keys amounts to; it is useful to tests and to wrappers
// of a source.
func StaticKeySource(keys ...*Key) (KeySource, error) {
	s, err := NewKeySnapshot(keys...)
	if err := errors.Join(err, errors.Join(kidlessConflicts("keys", keys)...)); err != nil {
		return nil, err
	}
	return staticKeys{s}, nil
}

// kidlessConflicts reports each key of a local configuration that has no kid
// while another key has its algorithm: no token can choose it (without a kid
// the choice is ambiguous; with one, the token names another key). A fetched
// JWKS is taken as published instead, so NewKeySnapshot allows this.
func kidlessConflicts(field string, keys []*Key) []error {
	var errs []error
	reported := map[[2]int]bool{}
	for i, k := range keys {
		if k == nil || !k.usable() || k.kid != "" {
			continue
		}
		j := slices.IndexFunc(keys, func(o *Key) bool { return o != k && o != nil && o.usable() && o.alg == k.alg })
		switch {
		case j < 0:
		case keys[j].kid != "":
			errs = append(errs, fmt.Errorf("guard: %s[%d] is %s without a kid beside %s[%d], so no token can choose it: give it a kid (%s)",
				field, i, k.alg, field, j, kidHint(k)))
		case !reported[[2]int{min(i, j), max(i, j)}]:
			reported[[2]int{min(i, j), max(i, j)}] = true
			first := keys[min(i, j)]
			errs = append(errs, fmt.Errorf("guard: %s[%d] and [%d] are both %s without a kid: give each key a kid (%s) so tokens can name theirs",
				field, min(i, j), max(i, j), k.alg, kidHint(first)))
		}
	}
	return errs
}

// kidHint names the constructor argument that gives k a kid.
func kidHint(k *Key) string {
	switch {
	case k.hmac != nil:
		return `NewHMACKey(alg, secret, "2026-01")`
	case k.CanSign():
		return `NewPrivateKey(alg, priv, "2026-01")`
	}
	return `NewPublicKey(alg, pub, "2026-01")`
}
