package guardtest_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/guardtest"
)

// TestJWKSServerRotation: a verifier on a RemoteKeySet that discovers the
// fake server over loopback http verifies its tokens, picks up a rotated key
// (an unknown kid makes it refetch) and, once the old key is retired and the
// set refetched, refuses that key's tokens.
func TestJWKSServerRotation(t *testing.T) {
	srv := guardtest.NewJWKSServer(t)
	clock := guardtest.NewClock(time.Now())
	remote, err := guard.NewRemoteKeySet(guard.RemoteKeySetConfig{Issuer: srv.Issuer(), Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	remote.Start()
	t.Cleanup(func() { _ = remote.Close() })
	ctx := t.Context()
	if err := remote.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	v := guardtest.Verifier(t, guard.VerifierConfig{KeySource: remote, Issuers: []string{srv.Issuer()}})
	verify := func(step, tok string, want error) {
		t.Helper()
		c, err := v.Verify(ctx, tok)
		switch {
		case want == nil && err != nil:
			t.Errorf("%s: got %v, want nil", step, err)
		case want == nil && c.Issuer != srv.Issuer():
			t.Errorf("%s: iss got %q, want %q", step, c.Issuer, srv.Issuer())
		case want != nil && !errors.Is(err, want):
			t.Errorf("%s: got %v, want %v", step, err, want)
		}
	}

	first := srv.SigningKID()
	old := srv.Token(t, guard.Claims{Subject: "alice"})
	verify("first key", old, nil)

	clock.Add(guard.DefaultRefetchInterval) // an unknown kid may refetch now
	second := srv.Rotate(t)
	if second == first || srv.SigningKID() != second {
		t.Fatalf("Rotate: got kid %q (signing %q), want a new signing kid besides %q", second, srv.SigningKID(), first)
	}
	rotated := srv.Token(t, guard.Claims{Subject: "bob"})
	verify("rotated key, unknown kid refetched", rotated, nil)
	verify("old key, still published", old, nil)

	srv.Retire(t, first)
	clock.Add(guard.DefaultRefetchInterval)
	if err := remote.Refresh(ctx, first); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	verify("retired key after refetch", old, guard.ErrUnknownKey)
	verify("rotated key after refetch", rotated, nil)
}

// TestJWKSServerDocuments checks what the server publishes.
func TestJWKSServerDocuments(t *testing.T) {
	srv := guardtest.NewJWKSServer(t)
	get := func(url string, v any) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: got %d, want 200", url, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get(srv.Issuer()+"/.well-known/openid-configuration", &meta)
	if meta.Issuer != srv.Issuer() || meta.JWKSURI != srv.URL() {
		t.Errorf("discovery: got issuer %q, jwks_uri %q; want %q, %q", meta.Issuer, meta.JWKSURI, srv.Issuer(), srv.URL())
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	get(srv.URL(), &set)
	if len(set.Keys) != 1 || set.Keys[0].Kid != srv.SigningKID() {
		t.Errorf("JWKS: got %+v, want the one key %q", set.Keys, srv.SigningKID())
	}
}

// TestJWKSServerRemoteKeySet: a verifier on the server's own RemoteKeySet
// verifies a token of a key Rotate just made, with no clock moved by the
// test, and keeps verifying the previous key's tokens.
func TestJWKSServerRemoteKeySet(t *testing.T) {
	srv := guardtest.NewJWKSServer(t)
	// The server mints with the real time; the test's clock stands a
	// second ahead of it and never moves.
	clock := guardtest.NewClock(time.Now().Add(time.Second))
	v := guardtest.Verifier(t, guard.VerifierConfig{KeySource: srv.RemoteKeySet(t, clock), Issuers: []string{srv.Issuer()}, Now: clock.Now})
	old := srv.Token(t, guard.Claims{Subject: "alice"})
	for round := range 3 {
		srv.Rotate(t)
		tok := srv.Token(t, guard.Claims{Subject: "bob"})
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("round %d: a token of the new key: %v", round, err)
		}
		if _, err := v.Verify(t.Context(), old); err != nil {
			t.Fatalf("round %d: a token of the first key: %v", round, err)
		}
	}
}
