package guard

import (
	"cmp"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
)

// KeyRingStore keeps the one key ring that the replicas of a service share
// (KeySetConfig.Store): a sealed document and its version. The document is
// opaque to the store; a [KeySet] seals it with AES-256-GCM under the
// key-encryption key it was given, so a store never sees a private key and
// cannot change the ring without the change being detected.
//
// Writes are compare-and-set on the version, never a lock: a replica that
// crashes mid-rotation leaves nothing held, and when two replicas rotate at
// once exactly one write wins. Implementations must be safe for concurrent
// use; [MemoryKeyRing] is one (for tests and a single process), package
// redisstore has another.
type KeyRingStore interface {
	// LoadKeyRing returns the stored document and its version. A ring never
	// stored is (nil, 0, nil).
	LoadKeyRing(ctx context.Context) (sealed []byte, version uint64, err error)
	// SwapKeyRing stores sealed as version old+1 if the stored version is
	// still old (0: nothing stored yet), and reports whether it did. false
	// with a nil error means another writer stored first: load and retry.
	SwapKeyRing(ctx context.Context, old uint64, sealed []byte) (swapped bool, err error)
}

// MemoryKeyRing is a [KeyRingStore] in memory: the replicas it serves are
// the KeySets of one process (tests, examples). The zero value is an empty
// store, safe for concurrent use.
type MemoryKeyRing struct {
	mu      sync.Mutex
	sealed  []byte
	version uint64
}

// LoadKeyRing implements [KeyRingStore].
func (m *MemoryKeyRing) LoadKeyRing(context.Context) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.sealed...), m.version, nil
}

// SwapKeyRing implements [KeyRingStore].
func (m *MemoryKeyRing) SwapKeyRing(_ context.Context, old uint64, sealed []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version != old {
		return false, nil
	}
	m.sealed = append([]byte(nil), sealed...)
	m.version++
	return true, nil
}

var _ KeyRingStore = (*MemoryKeyRing)(nil)

// ErrKeyRing: a shared key ring in its store cannot be opened: the
// KeySetConfig.KeyEncryptionKey is not the one it was sealed with, or the
// stored document is corrupt or of an unknown format. [NewKeySet] refuses
// to start on it (and never replaces it with a new key); later, a running
// set logs it and keeps the last good ring.
var ErrKeyRing = errors.New("guard: shared key ring cannot be opened")

// ringFormat is the first byte of a sealed ring: its layout.
const ringFormat = 1

// maxRingBytes bounds a sealed ring read from a store.
const maxRingBytes = 1 << 20

// sharedRing is a KeySet's link to its KeyRingStore.
type sharedRing struct {
	store   KeyRingStore
	aead    cipher.AEAD
	poll    time.Duration
	timeout time.Duration
	version uint64 // of the KeySet's current state; guarded by KeySet.mu
}

// newSharedRing checks the shared-ring fields of cfg; it returns nil
// without Store.
func newSharedRing(cfg *KeySetConfig, publishFor time.Duration, rotating bool) (*sharedRing, []error) {
	if cfg.Store == nil {
		if cfg.KeyEncryptionKey != nil {
			return nil, []error{errors.New("guard: KeySetConfig.KeyEncryptionKey is set without a Store")}
		}
		return nil, nil
	}
	r := &sharedRing{store: cfg.Store, poll: cmp.Or(cfg.PollInterval, DefaultPollInterval), timeout: cmp.Or(cfg.StoreTimeout, DefaultStoreTimeout)}
	var errs []error
	if len(cfg.KeyEncryptionKey) != 32 {
		errs = append(errs, fmt.Errorf("guard: KeySetConfig.Store needs a 32-byte KeyEncryptionKey (AES-256), got %d bytes", len(cfg.KeyEncryptionKey)))
	} else {
		block, err := aes.NewCipher(cfg.KeyEncryptionKey)
		if err == nil {
			r.aead, err = cipher.NewGCM(block)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("guard: KeySetConfig.KeyEncryptionKey: %w", err))
		}
	}
	if cfg.PollInterval < 0 || cfg.StoreTimeout < 0 {
		errs = append(errs, errors.New("guard: KeySetConfig.PollInterval and StoreTimeout must not be negative"))
	}
	if rotating && r.poll >= publishFor {
		errs = append(errs, fmt.Errorf("guard: KeySetConfig.PollInterval %v is not below PublishFor %v: a replica could sign with a key the others do not hold yet", r.poll, publishFor))
	}
	return r, errs
}

// exportable refuses keys a shared ring cannot carry to other replicas.
func (r *sharedRing) exportable(k *Key) error {
	if r == nil || k == nil {
		return nil
	}
	if k.hmac != nil {
		return fmt.Errorf("guard: %v: a shared key ring holds no HMAC secrets; use ES256, EdDSA or RSA keys", k)
	}
	if k.CanSign() {
		if _, err := x509.MarshalPKCS8PrivateKey(k.priv); err != nil {
			return fmt.Errorf("guard: %v: its private key cannot be exported to a shared key ring (an HSM or KMS signer is shared by its own service): %w", k, err)
		}
	}
	return nil
}

// ringDoc is a ring's plaintext: every key with its place in the rotation.
type ringDoc struct {
	Signing string    `json:"signing"`
	Keys    []ringKey `json:"keys"`
}

type ringKey struct {
	Kid       string    `json:"kid"`
	Alg       Algorithm `json:"alg"`
	Private   []byte    `json:"private,omitzero"` // PKCS #8
	Public    []byte    `json:"public,omitzero"`  // PKIX, for a key that only verifies
	Issuers   []string  `json:"issuers,omitzero"` // Key.ForIssuers
	Bound     bool      `json:"bound,omitzero"`
	Since     time.Time `json:"since,omitzero"`
	SignsFrom time.Time `json:"signs_from,omitzero"`
	Until     time.Time `json:"until,omitzero"`
}

// aad binds a sealed ring to its version, so that a document cannot be
// replayed under another version number.
func ringAAD(version uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("guard key ring"), version)
}

// seal encrypts the ring of entries as its version.
func (r *sharedRing) seal(entries []*keyEntry, signing *keyEntry, version uint64) ([]byte, error) {
	doc := ringDoc{Signing: signing.key.kid, Keys: make([]ringKey, 0, len(entries))}
	for _, e := range entries {
		k := e.key
		rk := ringKey{Kid: k.kid, Alg: k.alg, Issuers: k.issuers, Bound: k.bound, Since: e.since, SignsFrom: e.signsFrom, Until: e.until}
		var err error
		if k.CanSign() {
			rk.Private, err = x509.MarshalPKCS8PrivateKey(k.priv)
		} else {
			rk.Public, err = x509.MarshalPKIXPublicKey(k.pub)
		}
		if err != nil {
			return nil, fmt.Errorf("guard: sealing the shared key ring: %v: %w", k, err)
		}
		doc.Keys = append(doc.Keys, rk)
	}
	plain, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, r.aead.NonceSize(), 1+r.aead.NonceSize()+len(plain)+r.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{ringFormat}, nonce...)
	return r.aead.Seal(out, nonce, plain, ringAAD(version)), nil
}

// open decrypts a sealed ring of version. Keys the set holds already keep
// their *Key, so verifiers' cached tokens survive a change of the ring.
func (r *sharedRing) open(sealed []byte, version uint64, cur *keySetState) ([]*keyEntry, *keyEntry, error) {
	ns := r.aead.NonceSize()
	if len(sealed) > maxRingBytes || len(sealed) < 1+ns || sealed[0] != ringFormat {
		return nil, nil, fmt.Errorf("%w: version %d is not a sealed ring of format %d", ErrKeyRing, version, ringFormat)
	}
	plain, err := r.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], ringAAD(version))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: version %d does not unseal: wrong KeyEncryptionKey, or a corrupt entry", ErrKeyRing, version)
	}
	var doc ringDoc
	if err := json.Unmarshal(plain, &doc); err != nil {
		return nil, nil, fmt.Errorf("%w: version %d: %v", ErrKeyRing, version, err)
	}
	var entries []*keyEntry
	var signing *keyEntry
	for _, rk := range doc.Keys {
		k, err := rk.key()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: version %d: key %q: %v", ErrKeyRing, version, rk.Kid, err)
		}
		e := &keyEntry{since: rk.Since, signsFrom: rk.SignsFrom, until: rk.Until}
		if old := cur.entry(k.kid); old != nil && old.key.alg == k.alg && old.key.CanSign() == k.CanSign() && sameMaterial(old.key, k) &&
			old.key.bound == k.bound && slices.Equal(old.key.issuers, k.issuers) {
			e.key, e.pub, e.header = old.key, old.pub, old.header
		} else if fresh, err := newKeyEntry(k); err == nil {
			e.key, e.pub, e.header = fresh.key, fresh.pub, fresh.header
		} else {
			return nil, nil, fmt.Errorf("%w: version %d: key %q: %v", ErrKeyRing, version, rk.Kid, err)
		}
		if slices.ContainsFunc(entries, func(o *keyEntry) bool { return o.key.kid == k.kid }) {
			return nil, nil, fmt.Errorf("%w: version %d: kid %q twice", ErrKeyRing, version, k.kid)
		}
		entries = append(entries, e)
		if k.kid == doc.Signing && k.CanSign() {
			signing = e
		}
	}
	if signing == nil {
		return nil, nil, fmt.Errorf("%w: version %d: no signing key %q", ErrKeyRing, version, doc.Signing)
	}
	return entries, signing, nil
}

// key rebuilds a ring key.
func (rk ringKey) key() (*Key, error) {
	var k *Key
	if rk.Private != nil {
		priv, err := x509.ParsePKCS8PrivateKey(rk.Private)
		if err != nil {
			return nil, err
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%T is not a signer", priv)
		}
		if k, err = NewPrivateKey(rk.Alg, signer, rk.Kid); err != nil {
			return nil, err
		}
	} else {
		pub, err := x509.ParsePKIXPublicKey(rk.Public)
		if err != nil {
			return nil, err
		}
		if k, err = NewPublicKey(rk.Alg, pub, rk.Kid); err != nil {
			return nil, err
		}
	}
	if rk.Bound {
		k = k.ForIssuers(rk.Issuers...)
	}
	return k, nil
}

// entry returns the entry of kid in st, or nil.
func (st *keySetState) entry(kid string) *keyEntry {
	if st == nil {
		return nil
	}
	for _, e := range st.entries {
		if e.key.kid == kid {
			return e
		}
	}
	return nil
}

// start loads the stored ring into s, or seeds an empty store with s's
// current keys. Called by NewKeySet before s is shared.
func (r *sharedRing) start(s *KeySet) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	for range 4 {
		sealed, v, err := r.load(ctx)
		if err != nil {
			return err
		}
		if v > 0 {
			return r.adopt(s, sealed, v)
		}
		st := s.cur.Load()
		swapped, err := r.swap(ctx, 0, st.entries, st.signing)
		if err != nil {
			return err
		}
		if swapped { // seeded: version 1 is this set
			r.version = 1
			return nil
		}
	}
	return errors.New("guard: shared key ring: the store keeps changing; try again")
}

// load reads the store, bounded by the ring's timeout.
func (r *sharedRing) load(ctx context.Context) ([]byte, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sealed, v, err := r.store.LoadKeyRing(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("guard: reading the shared key ring: %w", err)
	}
	return sealed, v, nil
}

// swap seals entries as version old+1 and stores them if the store is
// still at old.
func (r *sharedRing) swap(ctx context.Context, old uint64, entries []*keyEntry, signing *keyEntry) (bool, error) {
	sealed, err := r.seal(entries, signing, old+1)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	swapped, err := r.store.SwapKeyRing(ctx, old, sealed)
	if err != nil {
		// The outcome is unknown: the next sync reads what the store holds.
		return false, fmt.Errorf("guard: writing the shared key ring: %w", err)
	}
	return swapped, nil
}

// adopt makes the sealed ring of version v the set's current state.
func (r *sharedRing) adopt(s *KeySet, sealed []byte, v uint64) error {
	entries, signing, err := r.open(sealed, v, s.cur.Load())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.storeLocked(entries, signing); err != nil {
		return err
	}
	r.version = v
	return nil
}

// sync takes up the store's ring when another replica changed it. A store
// that lost the ring (a Redis without persistence, restarted) gets this
// set's keys back, so that every replica keeps the same ones.
func (r *sharedRing) sync(ctx context.Context, s *KeySet) error {
	sealed, v, err := r.load(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	cur, st := r.version, s.cur.Load()
	s.mu.Unlock()
	if v == cur {
		return nil
	}
	if v == 0 {
		swapped, err := r.swap(ctx, 0, st.entries, st.signing)
		if swapped {
			s.mu.Lock()
			r.version = 1
			s.mu.Unlock()
			s.log.WarnContext(ctx, "guard: the shared key ring was missing from its store; stored this replica's ring again")
		}
		return err
	}
	return r.adopt(s, sealed, v)
}

// commit applies f to the ring by compare-and-set, recomputing it on the
// store's latest ring when another replica wrote first. Store calls run
// without the set's lock, so a slow store never holds up a request.
func (r *sharedRing) commit(s *KeySet, now time.Time, f changeFunc) error {
	ctx := context.Background()
	for range 8 {
		s.mu.Lock()
		s.advanceLocked(now)
		entries, signing, err := f(s.cur.Load(), now)
		base := r.version
		s.mu.Unlock()
		if errors.Is(err, errNoChange) {
			return nil
		}
		if err != nil {
			return err
		}
		sealed, err := r.seal(entries, signing, base+1)
		if err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, r.timeout)
		swapped, err := r.store.SwapKeyRing(sctx, base, sealed)
		cancel()
		if err != nil {
			return fmt.Errorf("guard: writing the shared key ring: %w", err)
		}
		if swapped {
			s.mu.Lock()
			defer s.mu.Unlock()
			if r.version != base {
				return nil // a sync took up this version, or a later one, meanwhile
			}
			r.version = base + 1
			return s.storeLocked(entries, signing)
		}
		if err := r.sync(ctx, s); err != nil {
			return err
		}
	}
	return errors.New("guard: shared key ring: too many concurrent writers; try again")
}
