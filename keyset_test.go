package guard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// ksClock is a settable clock.
type ksClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *ksClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *ksClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustKeySet(t testing.TB, cfg KeySetConfig) *KeySet {
	t.Helper()
	s, err := NewKeySet(cfg)
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	return s
}

// jwksKids fetches h's JWK Set and returns its kids.
func jwksKids(t testing.TB, h http.Handler) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("JWKS: got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	keys, skipped, err := ParseJWKSet(rec.Body.Bytes())
	if err != nil || len(skipped) > 0 {
		t.Fatalf("JWKS does not parse as a public set: %v %v", err, skipped)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KeyID())
	}
	return kids
}

// snapshotKids returns the kids a verifier on s would accept.
func snapshotKids(s *KeySet) []string {
	snap, _ := s.VerificationKeys(context.Background())
	var kids []string
	for _, k := range snap.Keys() {
		kids = append(kids, k.KeyID())
	}
	return kids
}

func kidOf(t testing.TB, tok string) string {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := b64.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h jwsHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// TestKeySetManualRotation: add, promote, retire with one issuer, one
// verifier and one JWKS handler built once.
func TestKeySetManualRotation(t *testing.T) {
	clock := &ksClock{t: jwtNow}
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	k2 := jwtMustPriv(t, ES256, jwtP256b(), "k2")
	ks := mustKeySet(t, KeySetConfig{Keys: []*Key{k1}, RetireAfter: 20 * time.Minute, Now: clock.Now})
	iss, err := NewTokenIssuer(TokenIssuerConfig{Keys: ks, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The verifier's clock stays at jwtNow so the hand-made tokens stay
	// valid; only the key set's clock moves.
	v := jwtVerifier(t, VerifierConfig{KeySource: ks})
	jwks, err := ks.JWKSHandler(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	issue := func() string {
		t.Helper()
		tok, err := iss.Issue(ctx, Claims{Subject: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	old := jwtSign(t, k1, `{"alg":"ES256","kid":"k1"}`, jwtClaims(""))
	check := func(step string, wantSigner string, wantKids []string, oldErr error) {
		t.Helper()
		if got := kidOf(t, issue()); got != wantSigner {
			t.Errorf("%s: issued with kid %q, want %q", step, got, wantSigner)
		}
		if got := jwksKids(t, jwks); !slices.Equal(got, wantKids) {
			t.Errorf("%s: JWKS kids %q, want %q", step, got, wantKids)
		}
		if got := snapshotKids(ks); !slices.Equal(got, wantKids) {
			t.Errorf("%s: verification kids %q, want %q", step, got, wantKids)
		}
		if oldErr == nil {
			jwtCheckErr(t, verifyErr(v, old))
		} else {
			jwtCheckErr(t, verifyErr(v, old), oldErr)
		}
	}
	check("start", "k1", []string{"k1"}, nil)
	if err := ks.Add(k2); err != nil {
		t.Fatal(err)
	}
	check("added", "k1", []string{"k1", "k2"}, nil)
	if err := ks.Promote("k2"); err != nil {
		t.Fatal(err)
	}
	fresh := jwtSign(t, k2, `{"alg":"ES256","kid":"k2"}`, jwtClaims(""))
	jwtCheckErr(t, verifyErr(v, fresh))
	check("promoted", "k2", []string{"k1", "k2"}, nil)
	if err := ks.Retire("k1"); err != nil {
		t.Fatal(err)
	}
	check("retired", "k2", []string{"k1", "k2"}, nil)
	clock.Add(20*time.Minute - time.Nanosecond)
	check("end of window", "k2", []string{"k1", "k2"}, nil)
	clock.Add(time.Nanosecond)
	check("after the window", "k2", []string{"k2"}, ErrUnknownKey)
	jwtCheckErr(t, verifyErr(v, fresh))
}

// TestKeySetScheduledRotation runs the schedule with Tick and a fake clock:
// a key is made PublishFor before its turn, published, then signs, and
// the key it replaces leaves after RetireAfter.
func TestKeySetScheduledRotation(t *testing.T) {
	clock := &ksClock{t: jwtNow}
	var made atomic.Int32
	gen := func() (*Key, error) {
		made.Add(1)
		return generateES256()
	}
	ks := mustKeySet(t, KeySetConfig{RotateEvery: time.Hour, PublishFor: 10 * time.Minute, RetireAfter: 20 * time.Minute, Generate: gen, Now: clock.Now})
	if made.Load() != 1 {
		t.Fatalf("Generate calls at start: got %d, want 1", made.Load())
	}
	g1 := ks.SigningKey().KeyID()
	if ks.SigningKey().Algorithm() != ES256 {
		t.Errorf("generated key: got %s, want ES256", ks.SigningKey().Algorithm())
	}
	if _, err := ks.JWKSHandler(11 * time.Minute); err == nil {
		t.Error("JWKS max-age above PublishFor: got nil error, want one")
	}
	jwks, err := ks.JWKSHandler(5 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tick := func(at time.Duration) {
		t.Helper()
		clock.t = jwtNow.Add(at)
		if err := ks.Tick(clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	tick(49 * time.Minute)
	if made.Load() != 1 || len(snapshotKids(ks)) != 1 {
		t.Fatalf("before PublishFor ahead of the hour: %d keys made, kids %q; want 1 and 1", made.Load(), snapshotKids(ks))
	}
	tick(50 * time.Minute)
	kids := jwksKids(t, jwks)
	if made.Load() != 2 || len(kids) != 2 || ks.SigningKey().KeyID() != g1 {
		t.Fatalf("at 50m: %d made, JWKS %q, signing %q; want 2, two keys, %q", made.Load(), kids, ks.SigningKey().KeyID(), g1)
	}
	g2 := kids[1]
	tick(55 * time.Minute)
	if made.Load() != 2 {
		t.Errorf("second Tick with a key scheduled: %d made, want 2", made.Load())
	}
	// The promotion needs no Tick: the first read after its time applies it.
	clock.t = jwtNow.Add(time.Hour)
	if got := ks.SigningKey().KeyID(); got != g2 {
		t.Fatalf("at 1h: signing %q, want %q", got, g2)
	}
	clock.t = jwtNow.Add(time.Hour + 20*time.Minute - time.Second)
	if got := jwksKids(t, jwks); !slices.Equal(got, []string{g1, g2}) {
		t.Errorf("in the retirement window: JWKS %q, want [%s %s]", got, g1, g2)
	}
	clock.t = jwtNow.Add(time.Hour + 20*time.Minute)
	if got := jwksKids(t, jwks); !slices.Equal(got, []string{g2}) {
		t.Errorf("after the retirement window: JWKS %q, want [%s]", got, g2)
	}
	tick(time.Hour + 49*time.Minute)
	if made.Load() != 2 {
		t.Errorf("49m into the second key: %d made, want 2", made.Load())
	}
	tick(time.Hour + 50*time.Minute)
	if made.Load() != 3 {
		t.Errorf("50m into the second key: %d made, want 3", made.Load())
	}
}

func TestKeySetTickGenerateFails(t *testing.T) {
	clock := &ksClock{t: jwtNow}
	fail := false
	ks := mustKeySet(t, KeySetConfig{RotateEvery: time.Hour, Now: clock.Now, Generate: func() (*Key, error) {
		if fail {
			return nil, errors.New("hsm offline")
		}
		return generateES256()
	}})
	fail = true
	before := snapshotKids(ks)
	if err := ks.Tick(jwtNow.Add(55 * time.Minute)); err == nil {
		t.Fatal("got nil error, want Generate's")
	}
	if got := snapshotKids(ks); !slices.Equal(got, before) {
		t.Errorf("after a failed Tick: kids %q, want %q", got, before)
	}
	fail = false
	if err := ks.Tick(jwtNow.Add(56 * time.Minute)); err != nil || len(snapshotKids(ks)) != 2 {
		t.Errorf("retry: got %v and %d keys, want nil and 2", err, len(snapshotKids(ks)))
	}
}

func TestNewKeySetRefuses(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	pub := jwtMustPriv(t, ES256, jwtP256b(), "p").Public()
	for _, tc := range []struct {
		name string
		cfg  KeySetConfig
	}{
		{"nil key", KeySetConfig{Keys: []*Key{nil}}},
		{"zero key", KeySetConfig{Keys: []*Key{{}}}},
		{"no kid", KeySetConfig{Keys: []*Key{jwtMustPriv(t, ES256, jwtP256(), "")}}},
		{"duplicate kid", KeySetConfig{Keys: []*Key{k1, jwtMustPriv(t, ES256, jwtP256b(), "k1")}}},
		{"same key twice", KeySetConfig{Keys: []*Key{k1, jwtMustPriv(t, ES256, jwtP256(), "k2")}}},
		{"SigningKID unknown", KeySetConfig{Keys: []*Key{k1}, SigningKID: "k9"}},
		{"SigningKID cannot sign", KeySetConfig{Keys: []*Key{k1, pub}, SigningKID: "p"}},
		{"negative RetireAfter", KeySetConfig{RetireAfter: -1}},
		{"PublishFor not below RotateEvery", KeySetConfig{RotateEvery: time.Hour, PublishFor: time.Hour}},
		{"Generate fails", KeySetConfig{Generate: func() (*Key, error) { return nil, errors.New("no") }}},
		{"Generate returns a public key", KeySetConfig{Generate: func() (*Key, error) { return pub, nil }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKeySet(tc.cfg); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
}

func TestKeySetChangesRefused(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	pub := jwtMustPriv(t, ES256, jwtP256b(), "p").Public()
	ks := mustKeySet(t, KeySetConfig{Keys: []*Key{k1, pub}})
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"Add nil", ks.Add(nil)},
		{"Add without kid", ks.Add(jwtMustPriv(t, EdDSA, jwtEd(), ""))},
		{"Add duplicate kid", ks.Add(jwtMustPriv(t, EdDSA, jwtEd(), "k1"))},
		{"Add same material", ks.Add(jwtMustPriv(t, ES256, jwtP256(), "k3"))},
		{"Promote unknown", ks.Promote("k9")},
		{"Promote a public key", ks.Promote("p")},
		{"Retire the signing key", ks.Retire("k1")},
		{"Retire unknown", ks.Retire("k9")},
		{"Remove the signing key", ks.Remove("k1")},
		{"Remove unknown", ks.Remove("k9")},
	} {
		if tc.err == nil {
			t.Errorf("%s: got nil error, want one", tc.name)
		}
	}
	if got := snapshotKids(ks); !slices.Equal(got, []string{"k1", "p"}) || ks.SigningKey() != k1 {
		t.Errorf("after refused changes: kids %q, signing %v; want [k1 p], k1", got, ks.SigningKey())
	}
}

// TestKeySetRemove: a removed key stops verifying at once.
func TestKeySetRemove(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	k2 := jwtMustPriv(t, ES256, jwtP256b(), "k2")
	ks := mustKeySet(t, KeySetConfig{Keys: []*Key{k1, k2}})
	v := jwtVerifier(t, VerifierConfig{KeySource: ks})
	tok := jwtSign(t, k2, `{"alg":"ES256","kid":"k2"}`, jwtClaims(""))
	jwtCheckErr(t, verifyErr(v, tok))
	if err := ks.Remove("k2"); err != nil {
		t.Fatal(err)
	}
	jwtCheckErr(t, verifyErr(v, tok), ErrUnknownKey)
}

// TestKeySetRun: Run ticks at once, stops when its context ends (so its
// goroutine does not outlive it), and refuses to run twice.
func TestKeySetRun(t *testing.T) {
	clock := &ksClock{t: jwtNow}
	generated := make(chan struct{}, 4)
	ks := mustKeySet(t, KeySetConfig{RotateEvery: time.Hour, Now: clock.Now, Generate: func() (*Key, error) {
		generated <- struct{}{}
		return generateES256()
	}})
	<-generated // the first signing key
	clock.Add(55 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ks.Run(ctx) }()
	<-generated // Run's first Tick scheduled the next key
	if err := ks.Run(ctx); err == nil {
		t.Error("second Run: got nil error, want one")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: got %v, want context.Canceled", err)
	}
	if n := len(snapshotKids(ks)); n != 2 {
		t.Errorf("keys after Run's tick: got %d, want 2", n)
	}
	// Run may run again once stopped.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := ks.Run(ctx2); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after Run: got %v, want context.Canceled", err)
	}
}

// TestKeySetConcurrentRotation verifies and issues from many goroutines
// while keys rotate (meant for -race).
func TestKeySetConcurrentRotation(t *testing.T) {
	ks := mustKeySet(t, KeySetConfig{})
	iss, err := NewTokenIssuer(TokenIssuerConfig{Keys: ks, Now: jwtClock(jwtNow)})
	if err != nil {
		t.Fatal(err)
	}
	v := jwtVerifier(t, VerifierConfig{KeySource: ks})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := iss.Issue(context.Background(), Claims{Subject: "a"})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := v.Verify(context.Background(), tok); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		k, err := generateES256()
		if err != nil {
			t.Fatal(err)
		}
		old := ks.SigningKey().KeyID()
		if err := ks.Add(k); err != nil {
			t.Fatal(err)
		}
		if err := ks.Promote(k.KeyID()); err != nil {
			t.Fatal(err)
		}
		if err := ks.Retire(old); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestNewTokenIssuerKeySet(t *testing.T) {
	ks := mustKeySet(t, KeySetConfig{RetireAfter: 10 * time.Minute})
	k := jwtMustHMAC(t, HS256, jwtSecret32, "")
	for _, tc := range []struct {
		name string
		cfg  TokenIssuerConfig
	}{
		{"Key and Keys", TokenIssuerConfig{Key: k, Keys: ks, TTL: time.Minute}},
		{"TTL beyond RetireAfter", TokenIssuerConfig{Keys: ks, TTL: 11 * time.Minute}},
		{"default TTL beyond RetireAfter", TokenIssuerConfig{Keys: ks}},
		{"neither", TokenIssuerConfig{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewTokenIssuer(tc.cfg); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
	if _, err := NewTokenIssuer(TokenIssuerConfig{Keys: ks, TTL: 10 * time.Minute}); err != nil {
		t.Errorf("TTL equal to RetireAfter: got %v, want nil", err)
	}
}
