package guard

import (
	"context"
	"errors"
	"fmt"
	"reflect"
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
	if _, ok := v.cache.get(hashToken(tok)); !ok {
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
	if _, ok := v.cache.get(hashToken(tok)); ok {
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
