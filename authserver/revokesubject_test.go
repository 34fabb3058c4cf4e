package authserver

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// TestLoginAfterRevokeSubject is "change password, sign in again", in real
// time: RevokeSubject refuses the tokens issued before it and returns once
// its second is over, so a login right after it gets a live token (issue
// 17, item 3), however the revocation falls within its second.
func TestLoginAfterRevokeSubject(t *testing.T) {
	t.Parallel()
	key, err := guard.NewHMACKey(guard.HS256, []byte(tokHMACKey), "k1")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, Issuer: "https://auth.example"})
	if err != nil {
		t.Fatal(err)
	}
	revs := guard.MustNewMemoryRevocations(guard.MemoryRevocationsConfig{})
	ver, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Issuers: []string{"https://auth.example"}, Revocations: revs})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{BcryptCost: 10})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewTokenEndpoint(TokenEndpointConfig{Issuer: iss, Hasher: hasher, EnablePasswordGrant: true, Revocations: revs,
		Users: NewMemoryUsers(map[string]User{"alice": {PasswordHash: guard.Secret(tokHashes()[tokAlicePW])}})})
	if err != nil {
		t.Fatal(err)
	}
	login := func() string {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, tokRequest(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {tokAlicePW}}.Encode()))
		if rec.Code != 200 {
			t.Fatalf("login: %d %s", rec.Code, rec.Body)
		}
		return decodeTok(t, rec).AccessToken
	}
	ctx := context.Background()
	for round := range 3 {
		before := login()
		start := time.Now()
		if err := e.RevokeSubject(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 1100*time.Millisecond {
			t.Errorf("round %d: RevokeSubject took %v, want at most the rest of its second", round, took)
		}
		if _, err := ver.Verify(ctx, before); !errors.Is(err, guard.ErrTokenRevoked) {
			t.Errorf("round %d: a token from before the revocation: got %v, want ErrTokenRevoked", round, err)
		}
		if _, err := ver.Verify(ctx, login()); err != nil {
			t.Errorf("round %d: a login right after the revocation: %v", round, err)
		}
	}
}
