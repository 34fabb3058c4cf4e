package guard

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var testKEK = []byte("0123456789abcdef0123456789abcdef")

// testRing is a MemoryKeyRing whose calls can be made to fail.
type testRing struct {
	MemoryKeyRing
	loadErr, swapErr atomic.Pointer[error]
	swapThenFail     atomic.Bool // the write lands, but the caller hears an error (a timeout after the fact)
	swaps            atomic.Int32
}

func (r *testRing) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	if e := r.loadErr.Load(); e != nil {
		return nil, 0, *e
	}
	return r.MemoryKeyRing.LoadKeyRing(ctx)
}

func (r *testRing) SwapKeyRing(ctx context.Context, old uint64, sealed []byte) (bool, error) {
	if e := r.swapErr.Load(); e != nil {
		return false, *e
	}
	ok, err := r.MemoryKeyRing.SwapKeyRing(ctx, old, sealed)
	if ok {
		r.swaps.Add(1)
	}
	if r.swapThenFail.Load() {
		return false, context.DeadlineExceeded
	}
	return ok, err
}

var errRingDown = errors.New("ring store: connection refused")

func fail(p *atomic.Pointer[error], err error) {
	if err == nil {
		p.Store(nil)
		return
	}
	p.Store(&err)
}

// replica opens a KeySet on the shared store, as one replica of a service.
func replica(t testing.TB, store KeyRingStore, clock *ksClock, mod ...func(*KeySetConfig)) *KeySet {
	t.Helper()
	cfg := KeySetConfig{Store: store, KeyEncryptionKey: testKEK, Now: clock.Now, RotateEvery: time.Hour, PublishFor: 10 * time.Minute,
		Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mod {
		m(&cfg)
	}
	return mustKeySet(t, cfg)
}

func jwksBody(t testing.TB, s *KeySet) []byte {
	t.Helper()
	h, err := s.JWKSHandler(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	return rec.Body.Bytes()
}

func syncRing(t testing.TB, s *KeySet) {
	t.Helper()
	if err := s.ring.sync(context.Background(), s); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func TestSharedRingConfigRefused(t *testing.T) {
	hk := jwtMustHMAC(t, HS256, jwtSecret32, "h")
	signer := opaqueSigner{jwtP256()}
	opaque, err := NewPrivateKey(ES256, signer, "hsm")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  KeySetConfig
		want string
	}{
		{"store without a key-encryption key", KeySetConfig{Store: &MemoryKeyRing{}}, "needs a 32-byte KeyEncryptionKey"},
		{"short key-encryption key", KeySetConfig{Store: &MemoryKeyRing{}, KeyEncryptionKey: testKEK[:16]}, "got 16 bytes"},
		{"key-encryption key without a store", KeySetConfig{KeyEncryptionKey: testKEK}, "without a Store"},
		{"HMAC key in a shared ring", KeySetConfig{Store: &MemoryKeyRing{}, KeyEncryptionKey: testKEK, Keys: []*Key{hk}}, "no HMAC secrets"},
		{"opaque signer in a shared ring", KeySetConfig{Store: &MemoryKeyRing{}, KeyEncryptionKey: testKEK, Keys: []*Key{opaque}}, "cannot be exported"},
		{"poll not below PublishFor", KeySetConfig{Store: &MemoryKeyRing{}, KeyEncryptionKey: testKEK, RotateEvery: 2 * time.Second, PublishFor: time.Second, PollInterval: time.Second}, "PollInterval 1s is not below PublishFor 1s"},
		{"negative poll", KeySetConfig{Store: &MemoryKeyRing{}, KeyEncryptionKey: testKEK, PollInterval: -1}, "must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeySet(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestSharedRingReplicas: replicas on one store sign with one key, publish
// one JWKS, and verify each other's tokens; the second replica seeds
// nothing.
func TestSharedRingReplicas(t *testing.T) {
	store := &testRing{}
	clock := &ksClock{t: jwtNow}
	a := replica(t, store, clock)
	b := replica(t, store, clock)
	if store.swaps.Load() != 1 {
		t.Fatalf("store writes: got %d, want 1 (the first replica seeds, the second reads)", store.swaps.Load())
	}
	if ka, kb := a.SigningKey().KeyID(), b.SigningKey().KeyID(); ka != kb {
		t.Fatalf("signing keys differ: %s, %s", ka, kb)
	}
	if ja, jb := jwksBody(t, a), jwksBody(t, b); !bytes.Equal(ja, jb) {
		t.Fatalf("JWKS differ:\n%s\n%s", ja, jb)
	}
	for _, pair := range [][2]*KeySet{{a, b}, {b, a}} {
		iss, err := NewTokenIssuer(TokenIssuerConfig{Keys: pair[0], Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.Issue(context.Background(), Claims{Subject: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		v := jwtVerifier(t, VerifierConfig{KeySource: pair[1], Now: clock.Now})
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("a token of one replica at the other: %v", err)
		}
	}
}

// TestSharedRingOneKeyPerPeriod: five replicas tick at the same moment when
// a rotation is due; exactly one new key is made, and all of them take it
// up, publish it for PublishFor and then sign with it.
func TestSharedRingOneKeyPerPeriod(t *testing.T) {
	store := &testRing{}
	clock := &ksClock{t: jwtNow}
	var rs []*KeySet
	for range 5 {
		rs = append(rs, replica(t, store, clock))
	}
	first := rs[0].SigningKey().KeyID()
	for period := range 3 {
		clock.Add(50 * time.Minute) // RotateEvery - PublishFor: the next key is due
		before := store.swaps.Load()
		var wg sync.WaitGroup
		for _, r := range rs {
			wg.Go(func() {
				if err := r.Tick(clock.Now()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := store.swaps.Load() - before; got != 1 {
			t.Fatalf("period %d: store writes got %d, want exactly 1", period, got)
		}
		for _, r := range rs {
			syncRing(t, r)
		}
		want := jwksBody(t, rs[0])
		for i, r := range rs {
			if got := jwksBody(t, r); !bytes.Equal(got, want) {
				t.Errorf("period %d: replica %d publishes another JWKS", period, i)
			}
			if n := len(snapshotKids(r)); n < 2 {
				t.Errorf("period %d: replica %d holds %d keys, want the next key published", period, i, n)
			}
		}
		signing := rs[0].SigningKey().KeyID()
		clock.Add(10 * time.Minute) // PublishFor later, every replica signs with the new key
		for i, r := range rs {
			if got := r.SigningKey().KeyID(); got == signing {
				t.Errorf("period %d: replica %d still signs with %s", period, i, got)
			}
			if got := r.SigningKey().KeyID(); got != rs[0].SigningKey().KeyID() {
				t.Errorf("period %d: replica %d signs with %s, replica 0 with %s", period, i, got, rs[0].SigningKey().KeyID())
			}
		}
	}
	if slices.Contains(snapshotKids(rs[0]), first) {
		t.Errorf("the first key %s is still served after three periods and its retirement", first)
	}
}

// TestSharedRingManualChanges: Add, Promote, Retire and Remove on one
// replica reach the others at their next sync.
func TestSharedRingManualChanges(t *testing.T) {
	store := &testRing{}
	clock := &ksClock{t: jwtNow}
	a := replica(t, store, clock)
	b := replica(t, store, clock)
	old := a.SigningKey().KeyID()
	k := jwtMustPriv(t, EdDSA, jwtEd(), "ed-1")
	for _, step := range []struct {
		name string
		do   func() error
		want func(t *testing.T)
	}{
		{"add", func() error { return a.Add(k) }, func(t *testing.T) {
			if !slices.Contains(snapshotKids(b), "ed-1") {
				t.Errorf("b: got %v, want ed-1 published", snapshotKids(b))
			}
		}},
		{"promote", func() error { return a.Promote("ed-1") }, func(t *testing.T) {
			if got := b.SigningKey().KeyID(); got != "ed-1" {
				t.Errorf("b signs with %s, want ed-1", got)
			}
		}},
		{"retire", func() error { return a.Retire(old) }, func(t *testing.T) {
			clock.Add(DefaultRetireAfter)
			if slices.Contains(snapshotKids(b), old) {
				t.Errorf("b still serves %s after its retirement window", old)
			}
		}},
		{"remove", func() error {
			k2 := jwtMustPriv(t, ES256, jwtP256b(), "es-2")
			if err := a.Add(k2); err != nil {
				return err
			}
			return a.Remove("es-2")
		}, func(t *testing.T) {
			if slices.Contains(snapshotKids(b), "es-2") {
				t.Errorf("b still serves es-2 after Remove")
			}
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			if err := step.do(); err != nil {
				t.Fatal(err)
			}
			syncRing(t, b)
			step.want(t)
		})
	}
	// A change computed on a stale ring is recomputed on the latest one.
	k3 := jwtMustPriv(t, ES384, jwtP384(), "es-3")
	if err := b.Add(k3); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(jwtMustPriv(t, ES512, jwtP521(), "es-4")); err != nil { // a has not synced: its CAS fails, it reloads and retries
		t.Fatal(err)
	}
	syncRing(t, b)
	for _, s := range []*KeySet{a, b} {
		if kids := snapshotKids(s); !slices.Contains(kids, "es-3") || !slices.Contains(kids, "es-4") {
			t.Errorf("got %v, want es-3 and es-4 both", kids)
		}
	}
}

// TestSharedRingCannotBeOpened: a wrong key-encryption key, a corrupt
// entry, or a document replayed under another version refuses start-up with
// ErrKeyRing and never replaces the ring with a new key; a running replica
// keeps its last good ring.
func TestSharedRingCannotBeOpened(t *testing.T) {
	store := &testRing{}
	clock := &ksClock{t: jwtNow}
	good := replica(t, store, clock)
	sealed, v, _ := store.LoadKeyRing(context.Background())

	wrongKEK := []byte("ffffffffffffffffffffffffffffffff")
	_, err := NewKeySet(KeySetConfig{Store: store, KeyEncryptionKey: wrongKEK})
	if !errors.Is(err, ErrKeyRing) || !strings.Contains(err.Error(), "wrong KeyEncryptionKey") {
		t.Errorf("wrong KEK: got %v, want ErrKeyRing naming the key-encryption key", err)
	}
	if after, v2, _ := store.LoadKeyRing(context.Background()); v2 != v || !bytes.Equal(after, sealed) {
		t.Errorf("the ring changed after a refused start (version %d -> %d)", v, v2)
	}

	for name, doc := range map[string][]byte{
		"flipped byte": func() []byte { b := bytes.Clone(sealed); b[len(b)-1] ^= 1; return b }(),
		"truncated":    sealed[:10],
		"other format": append([]byte{9}, sealed[1:]...),
	} {
		t.Run(name, func(t *testing.T) {
			bad := &MemoryKeyRing{}
			bad.sealed, bad.version = doc, v
			_, err := NewKeySet(KeySetConfig{Store: bad, KeyEncryptionKey: testKEK})
			if !errors.Is(err, ErrKeyRing) {
				t.Errorf("got %v, want ErrKeyRing", err)
			}
			if bad.version != v {
				t.Errorf("version: got %d, want %d unchanged", bad.version, v)
			}
		})
	}
	t.Run("replayed under another version", func(t *testing.T) {
		bad := &MemoryKeyRing{sealed: sealed, version: v + 1}
		if _, err := NewKeySet(KeySetConfig{Store: bad, KeyEncryptionKey: testKEK}); !errors.Is(err, ErrKeyRing) {
			t.Errorf("got %v, want ErrKeyRing", err)
		}
	})

	// Later, a corrupt write by someone else: the replica keeps serving.
	kid := good.SigningKey().KeyID()
	store.mu.Lock()
	store.sealed, store.version = []byte("garbage"), v+1
	store.mu.Unlock()
	if err := good.ring.sync(context.Background(), good); !errors.Is(err, ErrKeyRing) {
		t.Errorf("sync of a corrupt ring: got %v, want ErrKeyRing", err)
	}
	if got := good.SigningKey().KeyID(); got != kid {
		t.Errorf("after a corrupt ring: signs with %s, want the last good %s", got, kid)
	}
}

// TestSharedRingStoreFaults: a store that fails refuses start-up with the
// cause; later it fails a change (state unchanged) and a sync (last good
// ring kept); a write whose reply is lost is taken up at the next sync
// without a second key; a store that lost the ring gets it back.
func TestSharedRingStoreFaults(t *testing.T) {
	clock := &ksClock{t: jwtNow}
	down := &testRing{}
	fail(&down.loadErr, errRingDown)
	if _, err := NewKeySet(KeySetConfig{Store: down, KeyEncryptionKey: testKEK}); !errors.Is(err, errRingDown) {
		t.Errorf("start on a store that is down: got %v, want its error", err)
	}

	store := &testRing{}
	a := replica(t, store, clock)
	b := replica(t, store, clock)
	kids := snapshotKids(a)
	fail(&store.swapErr, errRingDown)
	if err := a.Add(jwtMustPriv(t, EdDSA, jwtEd(), "ed-1")); !errors.Is(err, errRingDown) {
		t.Errorf("Add with the store down: got %v, want its error", err)
	}
	if got := snapshotKids(a); !slices.Equal(got, kids) {
		t.Errorf("after a failed Add: got %v, want %v", got, kids)
	}
	fail(&store.swapErr, nil)
	fail(&store.loadErr, errRingDown)
	if err := a.ring.sync(context.Background(), a); !errors.Is(err, errRingDown) {
		t.Errorf("sync with the store down: got %v", err)
	}
	if got := snapshotKids(a); !slices.Equal(got, kids) {
		t.Errorf("after a failed sync: got %v, want %v", got, kids)
	}
	fail(&store.loadErr, nil)

	// The rotation's write lands but its reply is lost.
	clock.Add(50 * time.Minute)
	store.swapThenFail.Store(true)
	if err := a.Tick(clock.Now()); err == nil {
		t.Error("Tick with a lost reply: got nil, want the error")
	}
	store.swapThenFail.Store(false)
	before := store.swaps.Load()
	for _, s := range []*KeySet{a, b} {
		syncRing(t, s)
		if err := s.Tick(clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := store.swaps.Load() - before; got != 0 {
		t.Errorf("after the lost reply: %d more writes, want 0 (the key was made once)", got)
	}
	if !bytes.Equal(jwksBody(t, a), jwksBody(t, b)) || len(snapshotKids(a)) != len(kids)+1 {
		t.Errorf("after the lost reply: a %v, b %v, want both with one new key", snapshotKids(a), snapshotKids(b))
	}

	// The store lost everything (a Redis without persistence, restarted).
	store.mu.Lock()
	store.sealed, store.version = nil, 0
	store.mu.Unlock()
	syncRing(t, a)
	syncRing(t, b)
	if _, v, _ := store.LoadKeyRing(context.Background()); v != 1 {
		t.Errorf("after the store lost the ring: version %d, want 1 (stored again once)", v)
	}
	if !bytes.Equal(jwksBody(t, a), jwksBody(t, b)) {
		t.Error("after the store lost the ring, the replicas differ")
	}
}

// TestSharedRingRun: Run takes up another replica's rotation within the
// poll interval, in real time.
func TestSharedRingRun(t *testing.T) {
	store := &MemoryKeyRing{}
	a := mustKeySet(t, KeySetConfig{Store: store, KeyEncryptionKey: testKEK, PollInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	b := mustKeySet(t, KeySetConfig{Store: store, KeyEncryptionKey: testKEK, PollInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	if err := a.Add(jwtMustPriv(t, EdDSA, jwtEd(), "ed-run")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(snapshotKids(b), "ed-run") {
		if time.Now().After(deadline) {
			t.Fatal("b did not take up a's key within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkKeyRing: signing and verifying through a KeySet whose ring is
// shared (KeySetConfig.Store) against a local one. Both read one immutable
// snapshot; the store is only read by Run, never on these paths.
func BenchmarkKeyRing(b *testing.B) {
	k := jwtMustPriv(b, ES256, jwtP256(), "k1")
	for _, tc := range []struct {
		name string
		cfg  KeySetConfig
	}{
		{"local", KeySetConfig{Keys: []*Key{k}}},
		{"shared", KeySetConfig{Keys: []*Key{k}, Store: &MemoryKeyRing{}, KeyEncryptionKey: testKEK}},
	} {
		ks := mustKeySet(b, tc.cfg)
		iss, err := NewTokenIssuer(TokenIssuerConfig{Keys: ks, Now: jwtClock(jwtNow)})
		if err != nil {
			b.Fatal(err)
		}
		v := jwtVerifier(b, VerifierConfig{KeySource: ks})
		ctx := context.Background()
		tok, err := iss.Issue(ctx, Claims{Subject: "alice"})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("sign/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.Issue(ctx, Claims{Subject: "alice"}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("verify/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
