package guard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeSource is a KeySource whose snapshot tests swap, optionally a
// KeyRefresher that loads next on Refresh.
type fakeSource struct {
	snap    atomic.Pointer[KeySnapshot]
	err     error
	next    *KeySnapshot // installed by Refresh
	refErr  error
	mu      sync.Mutex
	refresh []string // kids Refresh was called with
}

func (s *fakeSource) VerificationKeys(ctx context.Context) (*KeySnapshot, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.snap.Load(), nil
}

type refreshingSource struct{ *fakeSource }

func (s refreshingSource) Refresh(ctx context.Context, kid string) error {
	s.mu.Lock()
	s.refresh = append(s.refresh, kid)
	s.mu.Unlock()
	if s.refErr != nil {
		return s.refErr
	}
	if s.next != nil {
		s.snap.Store(s.next)
	}
	return nil
}

func mustSnapshot(t testing.TB, keys ...*Key) *KeySnapshot {
	t.Helper()
	s, err := NewKeySnapshot(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewKeySnapshotRefuses(t *testing.T) {
	a := jwtMustPriv(t, ES256, jwtP256(), "a")
	for _, tc := range []struct {
		name string
		keys []*Key
	}{
		{"nil key", []*Key{nil}},
		{"zero key", []*Key{{}}},
		{"duplicate kid", []*Key{a, jwtMustPriv(t, ES256, jwtP256b(), "a")}},
		{"same key twice", []*Key{a, jwtMustPriv(t, ES256, jwtP256(), "b")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKeySnapshot(tc.keys...); err == nil {
				t.Errorf("got nil error, want one")
			}
		})
	}
}

func TestKeySnapshotLookup(t *testing.T) {
	a := jwtMustPriv(t, ES256, jwtP256(), "a")
	b := jwtMustPriv(t, ES256, jwtP256b(), "b")
	e := jwtMustPriv(t, EdDSA, jwtEd(), "")
	s := mustSnapshot(t, a, b, e)
	if s.Len() != 3 || len(s.Keys()) != 3 || s.Keys()[0].CanSign() {
		t.Fatalf("got %d keys (%v), want 3 public keys", s.Len(), s.Keys())
	}
	for _, tc := range []struct {
		kid  string
		alg  Algorithm
		want string
		err  error
	}{
		{"a", ES256, "a", nil},
		{"b", ES256, "b", nil},
		{"", EdDSA, "", nil},
		{"c", ES256, "", ErrUnknownKey},
		{"", ES256, "", ErrUnknownKey}, // two ES256 keys and no kid
		{"a", ES384, "", ErrAlgorithm},
		{"", RS256, "", ErrAlgorithm},
	} {
		k, err := s.Lookup(tc.kid, tc.alg)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Lookup(%q, %s): got %v, want %v", tc.kid, tc.alg, err, tc.err)
			}
			continue
		}
		if err != nil || k.KeyID() != tc.want || k.Algorithm() != tc.alg {
			t.Errorf("Lookup(%q, %s): got %v, %v; want kid %q", tc.kid, tc.alg, k, err, tc.want)
		}
	}
}

func TestVerifierKeySource(t *testing.T) {
	a := jwtMustPriv(t, ES256, jwtP256(), "a")
	b := jwtMustPriv(t, ES256, jwtP256b(), "b")
	tokA := jwtSign(t, a, `{"alg":"ES256","kid":"a"}`, jwtClaims(""))
	tokB := jwtSign(t, b, `{"alg":"ES256","kid":"b"}`, jwtClaims(""))
	ctx := context.Background()

	t.Run("static source", func(t *testing.T) {
		src, err := StaticKeySource(a)
		if err != nil {
			t.Fatal(err)
		}
		v := jwtVerifier(t, VerifierConfig{KeySource: src})
		_, err = v.Verify(ctx, tokA)
		jwtCheckErr(t, err)
		_, err = v.Verify(ctx, tokB)
		jwtCheckErr(t, err, ErrUnknownKey)
	})

	t.Run("snapshot swap", func(t *testing.T) {
		src := &fakeSource{}
		src.snap.Store(mustSnapshot(t, a))
		v := jwtVerifier(t, VerifierConfig{KeySource: src})
		jwtCheckErr(t, verifyErr(v, tokA))
		src.snap.Store(mustSnapshot(t, b))
		jwtCheckErr(t, verifyErr(v, tokA), ErrUnknownKey) // the header cache is per snapshot
		jwtCheckErr(t, verifyErr(v, tokB))
	})

	t.Run("refresh on unknown kid", func(t *testing.T) {
		src := &fakeSource{next: mustSnapshot(t, a, b)}
		src.snap.Store(mustSnapshot(t, a))
		v := jwtVerifier(t, VerifierConfig{KeySource: refreshingSource{src}})
		jwtCheckErr(t, verifyErr(v, tokA))
		if len(src.refresh) != 0 {
			t.Errorf("known kid: Refresh called with %q, want no call", src.refresh)
		}
		jwtCheckErr(t, verifyErr(v, tokB))
		if len(src.refresh) != 1 || src.refresh[0] != "b" {
			t.Errorf("unknown kid: Refresh calls %q, want [b]", src.refresh)
		}
	})

	t.Run("refresh error is 401", func(t *testing.T) {
		src := &fakeSource{refErr: errors.New("fetch failed")}
		src.snap.Store(mustSnapshot(t, a))
		v := jwtVerifier(t, VerifierConfig{KeySource: refreshingSource{src}})
		err := verifyErr(v, tokB)
		jwtCheckErr(t, err, ErrUnknownKey)
		if errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("got %v, want it not to match ErrKeysUnavailable", err)
		}
	})

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"not loaded", ErrKeysUnavailable},
		{"other error", context.DeadlineExceeded},
		{"nil snapshot", nil},
	} {
		t.Run(tc.name+" is 503", func(t *testing.T) {
			src := &fakeSource{err: tc.err}
			v := jwtVerifier(t, VerifierConfig{KeySource: src})
			err := verifyErr(v, tokA)
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Code != "temporarily_unavailable" {
				t.Fatalf("got %v, want a 503 temporarily_unavailable *Error", err)
			}
			if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrInvalidToken) {
				t.Errorf("got %v, want it to match ErrKeysUnavailable and not ErrInvalidToken", err)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("got %v, want it to keep the cause %v", err, tc.err)
			}
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("next ran") })
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tokA)
			v.RequireBearer(next).ServeHTTP(rec, req)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
				t.Errorf("got %d, Retry-After %q; want 503, 5", rec.Code, rec.Header().Get("Retry-After"))
			}
		})
	}
}

func verifyErr(v *Verifier, tok string) error {
	_, err := v.Verify(context.Background(), tok)
	return err
}

func TestNewVerifierKeysOrSource(t *testing.T) {
	a := jwtMustPriv(t, ES256, jwtP256(), "a")
	src, _ := StaticKeySource(a)
	for _, tc := range []struct {
		name string
		cfg  VerifierConfig
	}{
		{"neither", VerifierConfig{}},
		{"both", VerifierConfig{Keys: []*Key{a}, KeySource: src}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVerifier(tc.cfg); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
}

// TestKidlessKeysOfOneAlgorithm: a snapshot (what a remote JWKS becomes)
// keeps kid-less keys of one algorithm, which then verify no kid-less token,
// while StaticKeySource, a local configuration like VerifierConfig.Keys,
// refuses them with a message that says how to fix it.
func TestKidlessKeysOfOneAlgorithm(t *testing.T) {
	tests := []struct {
		name string
		keys []*Key
		msg  string
	}{
		{"two without kid", []*Key{jwtMustHMAC(t, HS256, jwtSecret32, ""), jwtMustHMAC(t, HS256, jwtSecret64, "")},
			`keys[0] and [1] are both HS256 without a kid: give each key a kid (NewHMACKey(alg, secret, "2026-01"))`},
		{"one without kid beside one with", []*Key{jwtMustPriv(t, ES256, jwtP256(), "a").Public(), jwtMustPriv(t, ES256, jwtP256b(), "").Public()},
			`keys[1] is ES256 without a kid beside keys[0], so no token can choose it: give it a kid (NewPublicKey(alg, pub, "2026-01"))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSnapshot(t, tt.keys...)
			alg := tt.keys[0].Algorithm()
			if _, err := s.Lookup("", alg); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("Lookup(\"\", %s): got %v, want %v", alg, err, ErrUnknownKey)
			}
			_, err := StaticKeySource(tt.keys...)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("StaticKeySource: got %v, want an error containing %q", err, tt.msg)
			}
		})
	}
}
