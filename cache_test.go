package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cacheFixture is an ES256 verifier with a token cache and a movable clock.
func cacheFixture(t testing.TB, size int) (v *Verifier, k *Key, now *atomic.Int64) {
	t.Helper()
	now = new(atomic.Int64)
	now.Store(jwtNow.Unix())
	k = jwtMustPriv(t, ES256, jwtP256(), "")
	v = jwtVerifier(t, VerifierConfig{
		Keys:      []*Key{k},
		CacheSize: size,
		Now:       func() time.Time { return time.Unix(now.Load(), 0) },
	})
	return v, k, now
}

func TestTokenCache(t *testing.T) {
	v, k, now := cacheFixture(t, 16)
	ctx := context.Background()
	tok := jwtSign(t, k, `{"alg":"ES256","typ":"at+jwt"}`, jwtClaims(`,"role":"admin","scope":"a b","tenant":"x"`))

	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	if _, ok := cacheEntry(v, tok); !ok {
		t.Fatal("a verified ES256 token was not cached")
	}
	second, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("cached Verify: %v", err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("cached claims differ:\n got %+v\nwant %+v", second, first)
	}

	// The entry dies with the token: exp is checked on every hit.
	now.Store(jwtNow.Add(time.Hour).Unix())
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("cached token after exp: got %v, want ErrTokenExpired", err)
	}
	if _, ok := cacheEntry(v, tok); ok {
		t.Error("an expired entry stayed in the cache")
	}
}

func TestTokenCacheNeverHoldsFailures(t *testing.T) {
	v, k, _ := cacheFixture(t, 16)
	ctx := context.Background()
	good := jwtSign(t, k, `{"alg":"ES256"}`, jwtClaims(""))
	bad := good[:len(good)-2] + "AA"
	if bad == good {
		bad = good[:len(good)-2] + "BA"
	}
	noSub := jwtSign(t, k, `{"alg":"ES256"}`, `{"exp":`+jwtExp+`}`)
	for i := 0; i < 3; i++ {
		if _, err := v.Verify(ctx, bad); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("bad signature, try %d: got %v, want ErrInvalidToken", i, err)
		}
		if _, err := v.Verify(ctx, noSub); !errors.Is(err, ErrMissingClaim) {
			t.Fatalf("no sub, try %d: got %v, want ErrMissingClaim", i, err)
		}
	}
	if n := v.cache.n.Load(); n != 0 {
		t.Errorf("cache holds %d entries after failures only, want 0", n)
	}
}

func TestTokenCacheSkipsHMAC(t *testing.T) {
	k := jwtMustHMAC(t, HS256, jwtSecret32, "")
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}, CacheSize: 16})
	tok := jwtSign(t, k, `{"alg":"HS256"}`, jwtClaims(""))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := v.cache.n.Load(); n != 0 {
		t.Errorf("HS256 token cached (%d entries); HMAC is cheaper than the lookup", n)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	const size = 8
	v, k, _ := cacheFixture(t, size)
	ctx := context.Background()
	for i := range 100 {
		tok := jwtSign(t, k, `{"alg":"ES256"}`, jwtClaims(fmt.Sprintf(`,"n":%d`, i)))
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.n.Load(); n > size {
			t.Fatalf("after %d tokens the cache holds %d entries, limit %d", i+1, n, size)
		}
	}
}

func TestNewVerifierRefusesNegativeCache(t *testing.T) {
	_, err := NewVerifier(VerifierConfig{Keys: []*Key{jwtMustHMAC(t, HS256, jwtSecret32, "")}, CacheSize: -1})
	if err == nil {
		t.Fatal("CacheSize -1 accepted")
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	for _, alg := range []Algorithm{ES256, EdDSA, RS256} {
		var k *Key
		switch alg {
		case ES256:
			k = jwtMustPriv(b, alg, jwtP256(), "")
		case EdDSA:
			k = jwtMustPriv(b, alg, jwtEd(), "")
		case RS256:
			k = jwtMustPriv(b, alg, jwtRSA(), "")
		}
		v := jwtVerifier(b, VerifierConfig{Keys: []*Key{k}, CacheSize: 1024})
		tok := jwtSign(b, k, `{"alg":"`+string(alg)+`"}`, jwtClaims(`,"role":"admin"`))
		ctx := context.Background()
		b.Run(string(alg), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(alg)+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// mutateClaims writes into every slice of c and p, as a careless handler might.
func mutateClaims(p *Principal) {
	for i := range p.Roles {
		p.Roles[i] = "admin"
	}
	for i := range p.Scopes {
		p.Scopes[i] = "admin"
	}
	if c := p.Claims; c != nil {
		for i := range c.Audience {
			c.Audience[i] = "evil"
		}
		for i := range c.Roles {
			c.Roles[i] = "admin"
		}
		for i := range c.Scopes {
			c.Scopes[i] = "admin"
		}
		for i := range c.Extra {
			c.Extra[i] = ' '
		}
	}
}

// TestTokenCacheHandsOutCopies: with the cache on, what one request gets is
// its own: a handler that writes into its principal's or claims' slices
// changes nothing for later requests with the same token, whether it got the
// claims on the miss that filled the entry or on a hit.
func TestTokenCacheHandsOutCopies(t *testing.T) {
	tests := []struct {
		name  string
		extra string
	}{
		{"one role", `,"role":"user"`},
		{"roles, scope, aud, extra", `,"roles":["user","viewer"],"scope":"read write","scp":["list"],"aud":["api","web"],"tenant":"t1"`},
		{"role and scope", `,"role":"user","scope":"read"`},
		{"aud string", `,"aud":"api","role":"user"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, k, _ := cacheFixture(t, 16)
			tok := jwtSign(t, k, `{"alg":"ES256"}`, jwtClaims(tt.extra))
			want, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			// want is now only ours; compare against a fresh deep copy.
			want = deepCopyClaims(want)
			forgetToken(v, tok) // start from a miss

			admin := v.RequireBearer(RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
			careless := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, _ := PrincipalFrom(r.Context())
				mutateClaims(p)
			}))
			serve := func(h http.Handler) int {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			for i := range 3 { // a miss, then hits
				if got := serve(careless); got != http.StatusOK {
					t.Fatalf("request %d: got %d, want 200", i, got)
				}
				if _, ok := cacheEntry(v, tok); !ok {
					t.Fatalf("request %d: token not cached", i)
				}
				if got := serve(admin); got != http.StatusForbidden {
					t.Errorf("after a handler rewrote its roles (request %d): /admin got %d, want 403", i, got)
				}
				c, err := v.Verify(context.Background(), tok)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(deepCopyClaims(c), want) {
					t.Errorf("request %d: cached claims changed:\n got %+v\nwant %+v", i, c, want)
				}
				mutateClaims(&Principal{Claims: c})
			}
		})
	}
}

func deepCopyClaims(c *Claims) *Claims {
	d := *c
	d.Audience = slices.Clone(c.Audience)
	d.Roles = slices.Clone(c.Roles)
	d.Scopes = slices.Clone(c.Scopes)
	d.Extra = slices.Clone(c.Extra)
	d.oneRole, d.oneAud = [1]string{}, [1]string{}
	return &d
}

// cachedVerifyAllocBudget is the allocations of a cache hit for a token with
// one "role" (the *Claims; the role lives in Claims itself) and for a token
// with roles, scopes, one aud and extra claims (plus one backing array for
// the roles and scopes, and one copy of Extra; the aud lives in Claims).
const (
	cachedVerifyAllocBudgetOneRole = 1
	cachedVerifyAllocBudgetFull    = 3
)

func TestTokenCacheHitAllocs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		extra  string
		keySet bool
		budget float64
	}{
		{"one role", `,"role":"admin"`, false, cachedVerifyAllocBudgetOneRole},
		{"full", `,"roles":["a","b"],"scope":"r w","aud":"api","tenant":"t"`, false, cachedVerifyAllocBudgetFull},
		// With a KeySource, the check that the token's key is still served
		// costs no allocation.
		{"one role, KeySet", `,"role":"admin"`, true, cachedVerifyAllocBudgetOneRole},
	} {
		v, k, _ := cacheFixture(t, 16)
		header := `{"alg":"ES256"}`
		if tt.keySet {
			k = jwtMustPriv(t, ES256, jwtP256(), "k1")
			set, err := NewKeySet(KeySetConfig{Keys: []*Key{k}, Now: func() time.Time { return jwtNow }})
			if err != nil {
				t.Fatal(err)
			}
			v = jwtVerifier(t, VerifierConfig{KeySource: set, CacheSize: 16, Now: func() time.Time { return jwtNow }})
			header = `{"alg":"ES256","kid":"k1"}`
		}
		tok := jwtSign(t, k, header, jwtClaims(tt.extra))
		ctx := context.Background()
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got := measureAllocs(t, 200, func() {
			if _, err := v.Verify(ctx, tok); err != nil {
				panic(err)
			}
		})
		t.Logf("cached Verify, %s: %.0f allocs/op", tt.name, got)
		if got > tt.budget {
			t.Errorf("cached Verify, %s: got %.0f allocs/op, want <= %.0f", tt.name, got, tt.budget)
		}
	}
}

// TestTokenCacheFollowsKeySet: a cached token stops verifying the moment its
// key leaves a KeySet (Remove, for a compromised key), and a token whose key
// stays is served from the cache through the change.
func TestTokenCacheFollowsKeySet(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	k2 := jwtMustPriv(t, ES256, jwtP256b(), "k2")
	set, err := NewKeySet(KeySetConfig{Keys: []*Key{k1, k2}, SigningKID: "k1", Now: func() time.Time { return jwtNow }})
	if err != nil {
		t.Fatal(err)
	}
	v := jwtVerifier(t, VerifierConfig{KeySource: set, CacheSize: 16, Now: func() time.Time { return jwtNow }})
	ctx := context.Background()
	tok1 := jwtSign(t, k1, `{"alg":"ES256","kid":"k1"}`, jwtClaims(""))
	tok2 := jwtSign(t, k2, `{"alg":"ES256","kid":"k2"}`, jwtClaims(""))
	for _, tok := range []string{tok1, tok2, tok1, tok2} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("Verify before the change: %v", err)
		}
	}
	before, ok := cacheEntry(v, tok1)
	if !ok {
		t.Fatal("tok1 was not cached")
	}

	if err := set.Remove("k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok2); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify of a cached token whose key was removed: got %v, want ErrUnknownKey", err)
	}
	if _, ok := cacheEntry(v, tok2); ok {
		t.Error("the token of the removed key is still cached")
	}
	// The key that stayed is the same *Key in the new snapshot: its cached
	// token is served on without a new check.
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Fatalf("Verify of a token whose key stayed: %v", err)
	}
	if after, _ := cacheEntry(v, tok1); after != before {
		t.Error("a change to the set made the cached token of a key that stayed verify again")
	}
}

// TestTokenCacheFollowsRemoteKeys: a key withdrawn from a remote JWKS stops
// vouching for the tokens cached under it as soon as the set is refetched;
// a refetch of the same document changes nothing.
func TestTokenCacheFollowsRemoteKeys(t *testing.T) {
	checkNoLeak(t)
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	k2 := jwtMustPriv(t, ES256, jwtP256b(), "k2")
	srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1, k2), ""))
	rs := startRemote(t, RemoteKeySetConfig{URL: srv.URL}, true)
	v, err := NewVerifier(VerifierConfig{KeySource: rs, CacheSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok1 := remoteIssue(t, k1, "", "alice", time.Now)
	tok2 := remoteIssue(t, k2, "", "bob", time.Now)
	for _, tok := range []string{tok1, tok2, tok1, tok2} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("Verify before the withdrawal: %v", err)
		}
	}

	// The same document again keeps the snapshot: cached tokens are served
	// on, not verified again.
	before, _ := cacheEntry(v, tok1)
	snap := rs.current().keys
	if err := refetch(t, rs); err != nil {
		t.Fatal(err)
	}
	if rs.current().keys != snap {
		t.Error("an unchanged JWKS built a new snapshot")
	}
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Fatal(err)
	}
	if after, _ := cacheEntry(v, tok1); after != before {
		t.Error("an unchanged JWKS made a cached token verify again")
	}

	srv.set(serveJSON(jwksOf(t, k1), ""))
	if err := refetch(t, rs); err != nil {
		t.Fatal(err)
	}
	if rs.current().keys == snap {
		t.Error("a changed JWKS kept the old snapshot")
	}
	if _, err := v.Verify(ctx, tok2); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify of a cached token whose key was withdrawn: got %v, want ErrUnknownKey", err)
	}
	if c, err := v.Verify(ctx, tok1); err != nil || c.Subject != "alice" {
		t.Errorf("Verify of a token whose key stayed: got %v, %v", c, err)
	}
}

// swappableKeySource is a KeySource whose snapshot a test replaces; nil means no
// keys.
type swappableKeySource struct {
	mu   sync.Mutex
	snap *KeySnapshot
}

func (s *swappableKeySource) VerificationKeys(context.Context) (*KeySnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == nil {
		return nil, fmt.Errorf("%w: none", ErrKeysUnavailable)
	}
	return s.snap, nil
}

func (s *swappableKeySource) set(t *testing.T, keys ...*Key) {
	t.Helper()
	var snap *KeySnapshot
	if len(keys) > 0 {
		var err error
		if snap, err = NewKeySnapshot(keys...); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
}

// TestTokenCacheKeySourceChanges: a token cached under a KeySource's key is
// served from the cache only while that very key is in the source's current
// snapshot. Whatever replaces it (the same kid bound to other issuers or to
// another algorithm, another kid-less key of the same algorithm, nothing at
// all) makes the token go through the full check again, with that check's
// answer.
func TestTokenCacheKeySourceChanges(t *testing.T) {
	signer := jwtMustPriv(t, ES256, jwtP256(), "k1")
	kidless := jwtMustPriv(t, ES256, jwtP256(), "")
	tests := []struct {
		name    string
		header  string
		signer  *Key
		before  []*Key
		after   func(t *testing.T, before []*Key) []*Key
		wantErr []error // nil: served on
		cached  bool    // the entry from before the change is still in the cache
	}{
		{"same *Key in a new snapshot", `{"alg":"ES256","kid":"k1"}`, signer, []*Key{signer.Public()},
			func(t *testing.T, b []*Key) []*Key {
				return []*Key{b[0], jwtMustPriv(t, ES256, jwtP256b(), "k2").Public()}
			},
			nil, true},
		{"same kid now bound to another issuer", `{"alg":"ES256","kid":"k1"}`, signer, []*Key{signer.Public()},
			func(_ *testing.T, b []*Key) []*Key { return []*Key{b[0].ForIssuers("https://other.example")} },
			[]error{ErrInvalidToken, ErrInvalidIssuer}, false},
		{"same kid now another algorithm", `{"alg":"ES256","kid":"k1"}`, signer, []*Key{signer.Public()},
			func(t *testing.T, _ []*Key) []*Key { return []*Key{jwtMustPriv(t, ES384, jwtP384(), "k1").Public()} },
			[]error{ErrInvalidToken, ErrAlgorithm}, false},
		{"kid-less key replaced by another of its algorithm", `{"alg":"ES256"}`, kidless, []*Key{kidless.Public()},
			func(t *testing.T, _ []*Key) []*Key { return []*Key{jwtMustPriv(t, ES256, jwtP256b(), "").Public()} },
			[]error{ErrInvalidToken, ErrInvalidSignature}, false},
		// A fresh check would find two kid-less ES256 keys and refuse the
		// token as ambiguous; so does a cache hit.
		{"second kid-less key of its algorithm added", `{"alg":"ES256"}`, kidless, []*Key{kidless.Public()},
			func(t *testing.T, b []*Key) []*Key {
				return []*Key{b[0], jwtMustPriv(t, ES256, jwtP256b(), "").Public()}
			},
			[]error{ErrInvalidToken, ErrUnknownKey}, false},
		{"key gone, source empty", `{"alg":"ES256","kid":"k1"}`, signer, []*Key{signer.Public()},
			func(*testing.T, []*Key) []*Key { return nil },
			[]error{ErrKeysUnavailable}, true}, // refused, not forgotten
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &swappableKeySource{}
			src.set(t, tt.before...)
			v := jwtVerifier(t, VerifierConfig{KeySource: src, CacheSize: 16})
			tok := jwtSign(t, tt.signer, tt.header, jwtClaims(`,"iss":"https://auth.example"`))
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("Verify before the change: %v", err)
			}
			entry, ok := cacheEntry(v, tok)
			if !ok {
				t.Fatal("the token was not cached")
			}
			src.set(t, tt.after(t, src.snap.Keys())...)
			c, err := v.Verify(ctx, tok)
			if tt.wantErr == nil {
				if err != nil || c.Subject != "alice" {
					t.Fatalf("Verify after the change: %v, %v", c, err)
				}
			} else {
				if c != nil {
					t.Fatalf("Verify after the change served %+v", c)
				}
				for _, want := range tt.wantErr {
					if !errors.Is(err, want) {
						t.Errorf("Verify after the change: got %v, want %v", err, want)
					}
				}
			}
			if got, _ := cacheEntry(v, tok); (got == entry) != tt.cached {
				t.Errorf("cache entry kept: %v, want %v", got == entry, tt.cached)
			}
		})
	}
}

// cacheEntry returns v's cache entry of tok.
func cacheEntry(v *Verifier, tok string) (*cachedToken, bool) {
	return v.cache.get(v.cache.key(tok), tok)
}

// forgetToken drops tok from v's cache.
func forgetToken(v *Verifier, tok string) {
	if e, ok := cacheEntry(v, tok); ok {
		v.cache.remove(v.cache.key(tok), e)
	}
}

// TestTokenCacheComparesToken: an entry is found by a hash of its token but
// answers for that token only, so no other token can hit it, whatever the
// hash; an entry of the same hash replaces it, and a stale removal leaves
// the replacement.
func TestTokenCacheComparesToken(t *testing.T) {
	c := newTokenCache(4)
	e := &cachedToken{token: "a.b.c"}
	k := c.key(e.token)
	c.put(k, e, testNow)
	if got, ok := c.get(k, "a.b.c"); !ok || got != e {
		t.Fatalf("get: got %v, %v; want the entry", got, ok)
	}
	if _, ok := c.get(k, "a.b.d"); ok {
		t.Error("another token under the entry's key: got a hit, want a miss")
	}
	other := &cachedToken{token: "x.y.z"}
	c.put(k, other, testNow)
	c.remove(k, e)
	if got, ok := c.get(k, "x.y.z"); !ok || got != other {
		t.Errorf("after a stale removal: got %v, %v; want the replacement", got, ok)
	}
	if n := c.n.Load(); n != 1 {
		t.Errorf("entries: got %d, want 1", n)
	}
}
