package guard

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
)

// Defaults of a [KeySet].
const (
	// DefaultRetireAfter is how long a retired key keeps verifying when
	// KeySetConfig.RetireAfter is zero: the default token lifetime plus the
	// largest leeway.
	DefaultRetireAfter = DefaultTokenTTL + MaxLeeway
	// DefaultPublishFor is how long a scheduled key is published before it
	// signs when KeySetConfig.PublishFor is zero: twice the default JWKS
	// max-age, so caches that honour it have fetched the key.
	DefaultPublishFor = 10 * time.Minute
	// DefaultPollInterval is how often a shared ring is read for other
	// replicas' changes when KeySetConfig.PollInterval is zero.
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultStoreTimeout bounds each call to a shared ring's store when
	// KeySetConfig.StoreTimeout is zero.
	DefaultStoreTimeout = 5 * time.Second
)

// KeySetConfig configures a [KeySet]. The config is copied; changing it
// afterwards has no effect.
type KeySetConfig struct {
	// Keys are the initial keys. Each needs a kid, unique in the set; a key
	// material may appear once. Keys that cannot sign (public keys of a
	// predecessor, say) only verify. Default none.
	Keys []*Key
	// SigningKID is the kid of the key in Keys that signs at first. Default:
	// the first key of Keys that can sign; when none can, a key made by
	// Generate.
	SigningKID string
	// RetireAfter is how long a retired key keeps verifying (and stays in
	// the JWKS): at least the longest lifetime of the tokens it signed plus
	// the verifiers' leeway. Default [DefaultRetireAfter] (20 minutes).
	// [NewTokenIssuer] refuses a TTL longer than it.
	RetireAfter time.Duration
	// RotateEvery, when positive, turns on scheduled rotation: every
	// RotateEvery, [KeySet.Tick] (called by [KeySet.Run]) makes a new key
	// with Generate, publishes it for PublishFor, then makes it the signing
	// key and retires the old one. Default 0: keys change only when asked.
	RotateEvery time.Duration
	// PublishFor is how long a scheduled key is in the JWKS before it signs,
	// so that other services' caches hold it first; it must be less than
	// RotateEvery, and a JWKS handler's max-age must not exceed it. Default
	// [DefaultPublishFor] (10 minutes).
	PublishFor time.Duration
	// Generate makes scheduled keys, and the first signing key when Keys has
	// none. Each key it returns must be able to sign and have a kid not in
	// the set. Default: an ES256 key on P-256 with a random 128-bit kid.
	Generate func() (*Key, error)
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives the errors of scheduled rotation and of the shared
	// ring in [KeySet.Run]. Default slog.Default().
	Logger *slog.Logger

	// Store, when set, makes the set one key ring shared by every replica
	// of a service that opens the same store: they sign with the same
	// current key, publish the same JWKS, and a rotation made by one (by
	// Tick, or by Add, Promote, Retire and Remove) reaches the others
	// through the store within PollInterval, while [KeySet.Run] runs.
	// Each change is a compare-and-set on the ring's version, so when
	// replicas rotate at once exactly one new key is made per period, and
	// no lock is ever held across a crash. The ring is sealed with
	// AES-256-GCM under KeyEncryptionKey; only keys whose private half can
	// be exported (RSA, ECDSA and Ed25519 keys, not HMAC secrets or opaque
	// crypto.Signers) can be in it. At construction the stored ring wins
	// over Keys, which only seed an empty store. Default nil: the keys live
	// in this process.
	Store KeyRingStore
	// KeyEncryptionKey is the 32-byte AES-256 key that seals the ring in
	// Store (required with it, and the same on every replica). Keep it out
	// of the store, for example in an environment variable or a mounted
	// secret: whoever holds it and the store holds the signing keys.
	KeyEncryptionKey []byte
	// PollInterval is how often [KeySet.Run] reads Store for another
	// replica's change. Default [DefaultPollInterval] (500 ms); it must be
	// below PublishFor when rotation is scheduled, so that every replica
	// holds a new key before it signs.
	PollInterval time.Duration
	// StoreTimeout bounds each call to Store. Default [DefaultStoreTimeout]
	// (5 seconds).
	StoreTimeout time.Duration

	// KeyFiles, when set, are the set's keys, read from files (PEM or JWK,
	// such as a mounted secret) at construction and again by [KeySet.Run]
	// every PollInterval (default [DefaultFilePollInterval], 5 seconds)
	// when their contents change; see [KeySet.ReloadKeyFiles]. This is the
	// recipe for keys managed by another system. It excludes Keys, Store
	// and RotateEvery. Default none.
	KeyFiles []KeyFile
}

// KeySet is the one owner of a service's keys: a [TokenIssuer] signs with its
// current signing key (TokenIssuerConfig.Keys), [Verifier]s read it as their
// [KeySource] (VerifierConfig.KeySource), and its JWKS handler publishes its
// public keys. Rotation is add, publish, promote, retire: [KeySet.Add] a key
// (it verifies and is published at once), [KeySet.Promote] it to signing key,
// [KeySet.Retire] the old one, which keeps verifying for RetireAfter and then
// leaves the verifiers and the JWKS. No issuer, verifier or token endpoint is
// rebuilt, so nothing they hold (limiter counters, caches) is lost.
//
// A KeySet is safe for concurrent use. Readers take an immutable snapshot
// through an atomic pointer, without locks; changes are serialised and
// publish a new snapshot. Time-driven changes (a retired key's window ending,
// a scheduled key's turn to sign) take effect at the first read after their
// time, even when [KeySet.Run] is not running; making new keys happens only in
// [KeySet.Tick].
type KeySet struct {
	retireAfter time.Duration
	rotateEvery time.Duration
	publishFor  time.Duration
	generate    func() (*Key, error)
	now         func() time.Time
	log         *slog.Logger

	mu      sync.Mutex // serialises changes
	cur     atomic.Pointer[keySetState]
	running atomic.Bool
	ring    *sharedRing // nil: the keys live in this process only
	files   *fileKeys   // nil: no KeyFiles
}

// keySetState is one immutable version of the set.
type keySetState struct {
	entries []*keyEntry // in the order added
	signing *keyEntry
	snap    *KeySnapshot
	jwks    []byte    // the public JWK Set document
	next    time.Time // earliest time a read must apply a change; zero: none
}

// keyEntry is a key and its place in the rotation. Entries are immutable:
// a change copies them.
type keyEntry struct {
	key       *Key
	pub       *Key      // key.Public(), made once: every snapshot holds the same *Key for it
	header    string    // the issuer's encoded JWS header plus '.', for keys that can sign
	since     time.Time // when it became the signing key
	signsFrom time.Time // a scheduled key: when it becomes the signing key
	until     time.Time // a retired key: when it stops verifying
}

// NewKeySet validates cfg, reporting every problem at once (a nil, zero or
// kid-less key, a duplicate kid or key material, a SigningKID that names no
// key that can sign, a negative duration, PublishFor not below RotateEvery,
// a failing Generate) and returns the set.
func NewKeySet(cfg KeySetConfig) (*KeySet, error) {
	s := &KeySet{
		retireAfter: cfg.RetireAfter,
		rotateEvery: cfg.RotateEvery,
		publishFor:  cfg.PublishFor,
		generate:    cfg.Generate,
		now:         cfg.Now,
		log:         cfg.Logger,
	}
	if s.retireAfter == 0 {
		s.retireAfter = DefaultRetireAfter
	}
	if s.publishFor == 0 {
		s.publishFor = DefaultPublishFor
	}
	if s.generate == nil {
		s.generate = generateES256
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var errs []error
	if cfg.RetireAfter < 0 || cfg.RotateEvery < 0 || cfg.PublishFor < 0 {
		errs = append(errs, errors.New("guard: KeySetConfig durations must not be negative"))
	}
	if s.rotateEvery > 0 && s.publishFor >= s.rotateEvery {
		errs = append(errs, fmt.Errorf("guard: KeySetConfig.PublishFor %v is not below RotateEvery %v", s.publishFor, s.rotateEvery))
	}
	ring, ringErrs := newSharedRing(&cfg, s.publishFor, s.rotateEvery > 0)
	errs = append(errs, ringErrs...)
	s.ring = ring
	if len(cfg.KeyFiles) > 0 {
		if len(cfg.Keys) > 0 || cfg.Store != nil || cfg.RotateEvery > 0 {
			errs = append(errs, errors.New("guard: KeySetConfig.KeyFiles excludes Keys, Store and RotateEvery: the files are the keys"))
		} else {
			keys, sum, err := loadKeyFiles(cfg.KeyFiles)
			if err != nil {
				errs = append(errs, err)
			}
			cfg.Keys = keys
			s.files = &fileKeys{files: slices.Clone(cfg.KeyFiles), poll: cmp.Or(cfg.PollInterval, DefaultFilePollInterval), sum: sum}
		}
	}
	now := s.now()
	var entries []*keyEntry
	var signing *keyEntry
	for i, k := range cfg.Keys {
		e, err := newKeyEntry(k)
		if err == nil {
			err = ring.exportable(k)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("guard: KeySetConfig.Keys[%d]: %w", i, err))
			continue
		}
		entries = append(entries, e)
		if signing == nil && k.CanSign() && (cfg.SigningKID == "" || cfg.SigningKID == k.kid) {
			signing = e
		}
	}
	if cfg.SigningKID != "" && signing == nil {
		errs = append(errs, fmt.Errorf("guard: KeySetConfig.SigningKID %q names no key that can sign", cfg.SigningKID))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if signing == nil {
		e, err := s.newGenerated(entries)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
		signing = e
	}
	s1 := *signing
	s1.since = now
	for i, e := range entries {
		if e == signing {
			entries[i] = &s1
		}
	}
	st, err := newKeySetState(entries, &s1)
	if err != nil {
		return nil, err
	}
	s.cur.Store(st)
	if s.ring != nil {
		// The stored ring wins; this process's keys only seed an empty store.
		if err := s.ring.start(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// generateES256 is the default KeySetConfig.Generate.
func generateES256() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewPrivateKey(ES256, priv, rand.Text())
}

// newKeyEntry checks k and prepares its issuer header.
func newKeyEntry(k *Key) (*keyEntry, error) {
	if k == nil || !k.usable() {
		return nil, errors.New("guard: nil or zero key")
	}
	if k.kid == "" {
		return nil, fmt.Errorf("guard: %v has no kid; keys of a KeySet need one", k)
	}
	e := &keyEntry{key: k, pub: k.Public()}
	if k.CanSign() {
		h, err := json.Marshal(jwsHeader{Alg: string(k.alg), Kid: k.kid, Typ: "at+jwt"})
		if err != nil {
			return nil, err
		}
		e.header = b64.EncodeToString(h) + "."
	}
	return e, nil
}

// newGenerated calls Generate and checks its key against entries.
func (s *KeySet) newGenerated(entries []*keyEntry) (*keyEntry, error) {
	k, err := s.generate()
	if err != nil {
		return nil, fmt.Errorf("guard: KeySet Generate: %w", err)
	}
	if k == nil || !k.CanSign() {
		return nil, errors.New("guard: KeySet Generate returned a key that cannot sign")
	}
	e, err := newKeyEntry(k)
	if err != nil {
		return nil, fmt.Errorf("guard: KeySet Generate: %w", err)
	}
	for _, o := range entries {
		if o.key.kid == k.kid {
			return nil, fmt.Errorf("guard: KeySet Generate returned kid %q, which the set holds", k.kid)
		}
	}
	return e, nil
}

// newKeySetState builds the snapshot and the JWKS of entries.
func newKeySetState(entries []*keyEntry, signing *keyEntry) (*keySetState, error) {
	keys := make([]*Key, len(entries))
	st := &keySetState{entries: entries, signing: signing}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for i, e := range entries {
		// The same public *Key in every snapshot: a verifier's cached tokens
		// of a key that stays need no new check after a rotation.
		keys[i] = e.pub
		if j, ok := e.key.publicJWK(); ok {
			set.Keys = append(set.Keys, j)
		}
		for _, t := range []time.Time{e.signsFrom, e.until} {
			if !t.IsZero() && (st.next.IsZero() || t.Before(st.next)) {
				st.next = t
			}
		}
	}
	snap, err := NewKeySnapshot(keys...)
	if err != nil {
		return nil, err
	}
	st.snap = snap
	if st.jwks, err = json.Marshal(set); err != nil {
		return nil, err
	}
	return st, nil
}

// load returns the current state, first applying the time-driven changes
// that are due.
func (s *KeySet) load() *keySetState {
	st := s.cur.Load()
	if st.next.IsZero() {
		return st
	}
	if now := s.now(); !now.Before(st.next) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.advanceLocked(now)
		st = s.cur.Load()
	}
	return st
}

// advanceLocked drops retired keys whose window has ended and promotes a
// scheduled key whose time has come (retiring the signing key it replaces).
func (s *KeySet) advanceLocked(now time.Time) {
	st := s.cur.Load()
	if st.next.IsZero() || now.Before(st.next) {
		return
	}
	signing := st.signing
	var entries []*keyEntry
	for _, e := range st.entries {
		if !e.until.IsZero() && !now.Before(e.until) {
			continue
		}
		if !e.signsFrom.IsZero() && !now.Before(e.signsFrom) {
			p := *e
			p.signsFrom, p.since = time.Time{}, p.signsFrom
			if signing == st.signing || p.since.After(signing.since) {
				signing = &p
			}
			e = &p
		}
		entries = append(entries, e)
	}
	if signing != st.signing {
		for i, e := range entries {
			if e.key == st.signing.key {
				r := *e
				r.until = signing.since.Add(s.retireAfter)
				entries[i] = &r
			}
		}
	}
	s.storeLocked(entries, signing)
}

// storeLocked publishes a new state. The entries have passed their checks,
// so a failure here is a bug; it keeps the old state.
func (s *KeySet) storeLocked(entries []*keyEntry, signing *keyEntry) error {
	st, err := newKeySetState(entries, signing)
	if err != nil {
		return err
	}
	s.cur.Store(st)
	return nil
}

// VerificationKeys returns the current snapshot of the set's verification
// keys: every key added and not removed, including scheduled keys not yet
// signing and retired keys within their window. It never fails and does not
// block. It implements [KeySource].
func (s *KeySet) VerificationKeys(context.Context) (*KeySnapshot, error) {
	return s.load().snap, nil
}

// SigningKey returns the key that signs now.
func (s *KeySet) SigningKey() *Key { return s.load().signing.key }

// signer returns the signing key and its encoded header segment plus '.'.
func (s *KeySet) signer() (*Key, string) {
	e := s.load().signing
	return e.key, e.header
}

// Add adds k: it verifies and is published at once, and signs only once
// promoted. It refuses a nil, zero or kid-less key, a kid already in the set,
// and key material already in it.
func (s *KeySet) Add(k *Key) error {
	e, err := newKeyEntry(k)
	if err != nil {
		return err
	}
	if err := s.ring.exportable(k); err != nil {
		return err
	}
	return s.commit(func(st *keySetState, _ time.Time) ([]*keyEntry, *keyEntry, error) {
		for _, o := range st.entries {
			if o.key.kid == k.kid {
				return nil, nil, fmt.Errorf("guard: kid %q is in the set", k.kid)
			}
		}
		return append(st.entries[:len(st.entries):len(st.entries)], e), st.signing, nil
	})
}

// Promote makes the key with kid the signing key from now on. The previous
// signing key keeps verifying, unretired; retire it with [KeySet.Retire]. A
// retired or scheduled key promoted this way is no longer either. It refuses
// an unknown kid and a key that cannot sign.
func (s *KeySet) Promote(kid string) error {
	return s.commit(func(st *keySetState, now time.Time) ([]*keyEntry, *keyEntry, error) {
		entries := make([]*keyEntry, len(st.entries))
		var signing *keyEntry
		for i, e := range st.entries {
			entries[i] = e
			if e.key.kid == kid {
				if !e.key.CanSign() {
					return nil, nil, fmt.Errorf("guard: %v cannot sign", e.key)
				}
				p := *e
				p.since, p.signsFrom, p.until = now, time.Time{}, time.Time{}
				entries[i], signing = &p, &p
			}
		}
		if signing == nil {
			return nil, nil, fmt.Errorf("guard: kid %q is not in the set", kid)
		}
		return entries, signing, nil
	})
}

// Retire starts the retirement of the key with kid: it keeps verifying and
// stays in the JWKS for RetireAfter, then leaves. Retiring a scheduled key
// cancels its promotion; retiring a retired key changes nothing. It refuses
// an unknown kid and the signing key (promote another key first).
func (s *KeySet) Retire(kid string) error {
	return s.change(kid, func(e *keyEntry, now time.Time) *keyEntry {
		if !e.until.IsZero() {
			return e
		}
		r := *e
		r.signsFrom, r.until = time.Time{}, now.Add(s.retireAfter)
		return &r
	})
}

// Remove drops the key with kid at once, from the verifiers and the JWKS:
// for a compromised key, whose tokens must stop verifying now. It refuses an
// unknown kid and the signing key (promote another key first).
func (s *KeySet) Remove(kid string) error {
	return s.change(kid, func(*keyEntry, time.Time) *keyEntry { return nil })
}

// change replaces the entry of kid, which must not sign, by f's result (nil
// removes it).
func (s *KeySet) change(kid string, f func(*keyEntry, time.Time) *keyEntry) error {
	return s.commit(func(st *keySetState, now time.Time) ([]*keyEntry, *keyEntry, error) {
		var entries []*keyEntry
		found := false
		for _, e := range st.entries {
			if e.key.kid == kid {
				if e == st.signing {
					return nil, nil, fmt.Errorf("guard: kid %q is the signing key; promote another key first", kid)
				}
				found = true
				if e = f(e, now); e == nil {
					continue
				}
			}
			entries = append(entries, e)
		}
		if !found {
			return nil, nil, fmt.Errorf("guard: kid %q is not in the set", kid)
		}
		return entries, st.signing, nil
	})
}

// changeFunc computes a new version of the set from st at now: its entries
// and signing key, or errNoChange.
type changeFunc func(st *keySetState, now time.Time) ([]*keyEntry, *keyEntry, error)

// errNoChange: a changeFunc found nothing to do.
var errNoChange = errors.New("guard: key set unchanged")

// commit applies a change: in this process for a local set, or for a
// shared ring by compare-and-set in its store, recomputed on the ring's
// latest version when another replica wrote first.
func (s *KeySet) commit(f changeFunc) error { return s.commitAt(s.now(), f) }

func (s *KeySet) commitAt(now time.Time, f changeFunc) error {
	if s.ring != nil {
		return s.ring.commit(s, now, f)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	entries, signing, err := f(s.cur.Load(), now)
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.storeLocked(entries, signing)
}

// Tick runs the schedule at now: it applies the time-driven changes that are
// due and, with RotateEvery set and no key scheduled, makes a new key with
// Generate when the signing key has signed for RotateEvery minus PublishFor,
// scheduling it to sign PublishFor later (or at the end of the signing
// key's RotateEvery, whichever is later). [KeySet.Run] calls it; call it
// yourself to run the schedule from your own timer or in tests. It returns
// Generate's error, if any; the set is then unchanged and the next Tick
// tries again.
func (s *KeySet) Tick(now time.Time) error {
	s.mu.Lock()
	s.advanceLocked(now)
	s.mu.Unlock()
	if s.rotateEvery <= 0 {
		return nil
	}
	return s.commitAt(now, func(st *keySetState, now time.Time) ([]*keyEntry, *keyEntry, error) {
		for _, e := range st.entries {
			if !e.signsFrom.IsZero() {
				return nil, nil, errNoChange // one scheduled key at a time
			}
		}
		due := st.signing.since.Add(s.rotateEvery)
		if now.Before(due.Add(-s.publishFor)) {
			return nil, nil, errNoChange
		}
		e, err := s.newGenerated(st.entries)
		if err != nil {
			return nil, nil, err
		}
		e.signsFrom = due
		if at := now.Add(s.publishFor); at.After(due) {
			e.signsFrom = at
		}
		return append(st.entries[:len(st.entries):len(st.entries)], e), st.signing, nil
	})
}

// nextTick returns when Tick next has something to do.
func (s *KeySet) nextTick() time.Time {
	st := s.cur.Load()
	next := st.next
	if s.rotateEvery > 0 {
		gen := st.signing.since.Add(s.rotateEvery - s.publishFor)
		scheduled := false
		for _, e := range st.entries {
			scheduled = scheduled || !e.signsFrom.IsZero()
		}
		if !scheduled && (next.IsZero() || gen.Before(next)) {
			next = gen
		}
	}
	return next
}

// Run runs the schedule until ctx is done, then returns ctx.Err(): it calls
// Tick at once and again whenever something is due (at least every minute,
// at most every second). Errors of Tick are logged to Logger and retried.
// For a shared ring (KeySetConfig.Store) it also reads the store every
// PollInterval and takes up the other replicas' changes; a ring it cannot
// read or unseal is logged, and the last good ring keeps serving. Every
// replica of a shared ring must run Run.
// Run it in its own goroutine; a second Run while one is running returns
// an error at once.
func (s *KeySet) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("guard: KeySet.Run is already running")
	}
	defer s.running.Store(false)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if s.ring != nil {
			if err := s.ring.sync(ctx, s); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "guard: shared key ring: keeping the last good ring", "err", err)
			}
		}
		if s.files != nil {
			s.reloadFiles(ctx)
		}
		now := s.now()
		if err := s.Tick(now); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "guard: scheduled key rotation failed", "err", err)
		}
		wait := time.Minute
		if next := s.nextTick(); !next.IsZero() {
			wait = min(max(next.Sub(now), time.Second), time.Minute)
		}
		if s.ring != nil {
			wait = min(wait, s.ring.poll)
		}
		if s.files != nil {
			wait = min(wait, s.files.poll)
		}
		t.Reset(wait)
	}
}

// JWKSHandler returns a handler serving the set's public keys as a JWK Set
// (RFC 7517 §5), the current snapshot at each request, with
// `Cache-Control: public, max-age=<maxAge>` (default 5 minutes when maxAge
// is zero; otherwise a whole number of seconds, at most PublishFor when
// rotation is scheduled, so caches see a key before it signs). HMAC keys are
// never published. GET and HEAD only (405 otherwise). The handler is safe
// for concurrent use and never fails.
func (s *KeySet) JWKSHandler(maxAge time.Duration) (http.Handler, error) {
	if maxAge == 0 {
		maxAge = 5 * time.Minute
	}
	if maxAge < time.Second || maxAge%time.Second != 0 {
		return nil, fmt.Errorf("guard: JWKS max-age %v is not a positive number of whole seconds", maxAge)
	}
	if s.rotateEvery > 0 && maxAge > s.publishFor {
		return nil, fmt.Errorf("guard: JWKS max-age %v exceeds the KeySet's PublishFor %v: caches would miss new keys", maxAge, s.publishFor)
	}
	cacheControl := "public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveJWKS(w, r, s.load().jwks, cacheControl)
	}), nil
}
