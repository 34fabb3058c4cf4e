package guard

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// TestParseJWKSetAlgLessRSADuplicate: since an RSA key without "alg" is
// bound to RS256, such an entry that repeats another entry's key material
// or kid must not make the whole set unusable. Before the RS256 default
// these sets loaded (the alg-less entry was skipped); refusing them now would
// turn a working identity provider's JWKS into a 503 for every token.
func TestParseJWKSetAlgLessRSADuplicate(t *testing.T) {
	n, e := b64Big(jwtRSA().N), b64Big(big.NewInt(int64(jwtRSA().E)))
	n2 := b64Big(jwtRSA2().N)
	set := func(keys ...[]byte) []byte {
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = string(k)
		}
		return rawJWKS(s...)
	}
	tests := []struct {
		name     string
		data     []byte
		wantKids []string
		wantAlgs []Algorithm
		skipped  int
	}{
		{"same key with RS256 and without alg",
			set(jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "n", n, "e", e), jwkOf("kty", "RSA", "kid", "r2", "n", n, "e", e)),
			[]string{"r1"}, []Algorithm{RS256}, 1},
		{"alg-less copy listed first",
			set(jwkOf("kty", "RSA", "kid", "r2", "n", n, "e", e), jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "n", n, "e", e)),
			[]string{"r1"}, []Algorithm{RS256}, 1},
		{"same key with PS256 and without alg",
			set(jwkOf("kty", "RSA", "alg", "PS256", "kid", "r1", "n", n, "e", e), jwkOf("kty", "RSA", "kid", "r2", "n", n, "e", e)),
			[]string{"r1"}, []Algorithm{PS256}, 1},
		{"alg-less key reusing another entry's kid",
			set(jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "n", n, "e", e), jwkOf("kty", "RSA", "kid", "r1", "n", n2, "e", e)),
			[]string{"r1"}, []Algorithm{RS256}, 1},
		// Without a clash the alg-less key is used, bound to RS256.
		{"distinct alg-less key",
			set(jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "n", n, "e", e), jwkOf("kty", "RSA", "kid", "r2", "n", n2, "e", e)),
			[]string{"r1", "r2"}, []Algorithm{RS256, RS256}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := ParseJWKSet(tt.data)
			if err != nil {
				t.Fatalf("ParseJWKSet: %v", err)
			}
			var kids []string
			var algs []Algorithm
			for _, k := range keys {
				kids = append(kids, k.KeyID())
				algs = append(algs, k.Algorithm())
			}
			if fmt.Sprint(kids) != fmt.Sprint(tt.wantKids) || fmt.Sprint(algs) != fmt.Sprint(tt.wantAlgs) {
				t.Errorf("keys: got %v %v, want %v %v", kids, algs, tt.wantKids, tt.wantAlgs)
			}
			if len(skipped) != tt.skipped {
				t.Errorf("skipped: got %v, want %d", skipped, tt.skipped)
			}
			for _, s := range skipped {
				if !errors.Is(s, ErrUnsupportedKey) {
					t.Errorf("skipped %v does not match ErrUnsupportedKey", s)
				}
			}
		})
	}
}

// reviewPGUsers is a UserStore that, like a PostgreSQL-backed one, fails on
// a username that is not valid UTF-8 ("invalid byte sequence for encoding
// UTF8"), and counts its lookups.
type reviewPGUsers struct {
	*tokUsers
	lookups atomic.Int32
}

func (s *reviewPGUsers) LookupUser(ctx context.Context, name string) (User, error) {
	s.lookups.Add(1)
	if !utf8.ValidString(name) {
		return User{}, errors.New(`ERROR: invalid byte sequence for encoding "UTF8" (SQLSTATE 22021)`)
	}
	return s.tokUsers.LookupUser(ctx, name)
}

// TestLoginMalformedInput: Login refuses what the password grant refuses as
// malformed (a username or password that is not UTF-8) the way it refuses
// an empty one: invalid_grant, without a store lookup or a hash. Handing
// such a name to the store instead makes an SQL store fail, so anyone could
// get the sign-in page's 503 and an error-level "user store failed" line,
// unthrottled.
func TestLoginMalformedInput(t *testing.T) {
	t.Parallel()
	var store *reviewPGUsers
	f := newTokFixture(t, PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		store = &reviewPGUsers{tokUsers: c.Users.(*tokUsers)}
		c.Users = store
	})
	tests := []struct{ name, username, password string }{
		{"username not UTF-8", "alice\xff", tokAlicePW},
		{"password not UTF-8", "alice", "pass\xffword"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The password grant's answer: malformed, before any lookup.
			rec := f.do(tokRequest("grant_type=password&username=" + strings.ReplaceAll(tt.username, "\xff", "%FF") +
				"&password=" + strings.ReplaceAll(tt.password, "\xff", "%FF")))
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
				t.Fatalf("password grant: got %d %s, want 400 invalid_request", rec.Code, rec.Body)
			}
			if n := store.lookups.Swap(0); n != 0 {
				t.Fatalf("the password grant looked a malformed username up %d times", n)
			}

			_, err := f.e.Login(loginRequest(), tt.username, tt.password)
			if !errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrThrottled) {
				t.Errorf("Login: got %v, want ErrInvalidGrant", err)
			}
			if e := ErrorOf(err); e == nil || e.Status != http.StatusBadRequest {
				t.Errorf("Login: got %v, want a 400", err)
			}
			if n := store.lookups.Swap(0); n != 0 {
				t.Errorf("Login handed the store a malformed input (%d lookups)", n)
			}
			if runs := f.kdf(); len(runs) != 0 {
				t.Errorf("key-derivation runs: got %d, want 0", len(runs))
			}
		})
	}
}

// reviewSource is a KeySource whose snapshot a test replaces; nil means no
// keys.
type reviewSource struct {
	mu   sync.Mutex
	snap *KeySnapshot
}

func (s *reviewSource) VerificationKeys(context.Context) (*KeySnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == nil {
		return nil, fmt.Errorf("%w: none", ErrKeysUnavailable)
	}
	return s.snap, nil
}

func (s *reviewSource) set(t *testing.T, keys ...*Key) {
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
		{"key gone, source empty", `{"alg":"ES256","kid":"k1"}`, signer, []*Key{signer.Public()},
			func(*testing.T, []*Key) []*Key { return nil },
			[]error{ErrKeysUnavailable}, true}, // refused, not forgotten
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &reviewSource{}
			src.set(t, tt.before...)
			v := jwtVerifier(t, VerifierConfig{KeySource: src, CacheSize: 16})
			tok := jwtSign(t, tt.signer, tt.header, jwtClaims(`,"iss":"https://auth.example"`))
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("Verify before the change: %v", err)
			}
			entry, ok := v.cache.get(hashToken(tok))
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
			if got, _ := v.cache.get(hashToken(tok)); (got == entry) != tt.cached {
				t.Errorf("cache entry kept: %v, want %v", got == entry, tt.cached)
			}
		})
	}
}

// TestVerifierNoKeysHeaderCheck: before a KeySource has keys, a token that
// no key could ever verify gets its 401 with its own sentinel, cache or no
// cache, and never the 503; a well-formed one gets the 503.
func TestVerifierNoKeysHeaderCheck(t *testing.T) {
	hdr := func(h string) string {
		return b64.EncodeToString([]byte(h)) + "." + b64.EncodeToString([]byte(jwtClaims(""))) + ".c2ln"
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"alg none", hdr(`{"alg":"none"}`), ErrAlgorithm},
		{"unknown alg", hdr(`{"alg":"ES256K","kid":"k1"}`), ErrAlgorithm},
		{"crit", hdr(`{"alg":"ES256","kid":"k1","crit":["b64"]}`), ErrMalformedToken},
		{"header not JSON", b64.EncodeToString([]byte(`{"alg"`)) + ".e30.c2ln", ErrMalformedToken},
		{"header not base64url", "***.e30.c2ln", ErrMalformedToken},
		{"well-formed", hdr(`{"alg":"ES256","kid":"k1"}`), ErrKeysUnavailable},
	}
	for _, size := range []int{0, 16} {
		v := jwtVerifier(t, VerifierConfig{KeySource: &reviewSource{}, CacheSize: size})
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/cache %d", tt.name, size), func(t *testing.T) {
				_, err := v.Verify(context.Background(), tt.token)
				e := ErrorOf(err)
				if !errors.Is(err, tt.want) || e == nil {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				wantStatus := http.StatusUnauthorized
				if tt.want == ErrKeysUnavailable {
					wantStatus = http.StatusServiceUnavailable
				}
				if e.Status != wantStatus {
					t.Errorf("status: got %d, want %d", e.Status, wantStatus)
				}
			})
		}
	}
}
