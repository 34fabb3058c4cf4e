package authserver

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// TestTokenEndpointProbesVerifier: NewTokenEndpoint refuses an
// AccessTokenVerifier that would refuse the endpoint's own tokens, naming
// what differs.
func TestTokenEndpointProbesVerifier(t *testing.T) {
	t.Parallel()
	hmac := func(secret, kid string) *guard.Key { return jwtMustHMAC(t, guard.HS256, []byte(secret), kid) }
	es := jwtMustPriv(t, guard.ES256, jwtP256(), "k1")
	now := func() time.Time { return tokNow }
	revs := guard.MustNewMemoryRevocations(guard.MemoryRevocationsConfig{Now: now})
	cases := []struct {
		name   string
		issuer guard.TokenIssuerConfig
		ver    guard.VerifierConfig
		want   string // "" means accepted
		err    error
	}{
		{"matching", guard.TokenIssuerConfig{}, guard.VerifierConfig{}, "", nil},
		{"matching, audience", guard.TokenIssuerConfig{Audience: []string{"api"}}, guard.VerifierConfig{Audiences: []string{"api", "other"}}, "", nil},
		{"revocation store down: no verdict, accepted", guard.TokenIssuerConfig{}, guard.VerifierConfig{Revocations: tokFailingRevocations{}}, "", nil},
		{"issuer", guard.TokenIssuerConfig{}, guard.VerifierConfig{Issuers: []string{"https://other.example"}}, "(issuer:", guard.ErrInvalidIssuer},
		{"audience", guard.TokenIssuerConfig{Audience: []string{"api"}}, guard.VerifierConfig{Audiences: []string{"web"}}, "(audience:", guard.ErrInvalidAudience},
		{"no audience", guard.TokenIssuerConfig{}, guard.VerifierConfig{Audiences: []string{"web"}}, "(audience:", guard.ErrInvalidAudience},
		{"kid", guard.TokenIssuerConfig{}, guard.VerifierConfig{Keys: []*guard.Key{hmac(tokHMACKey, "k2")}}, "(key: the verifier has no key", guard.ErrUnknownKey},
		{"secret", guard.TokenIssuerConfig{}, guard.VerifierConfig{Keys: []*guard.Key{hmac("another-secret-0123456789abcdefghij", "k1")}}, "(key: the verifier's key does not verify", guard.ErrInvalidSignature},
		{"algorithm", guard.TokenIssuerConfig{Key: es}, guard.VerifierConfig{}, "(algorithm:", guard.ErrAlgorithm},
		{"clock", guard.TokenIssuerConfig{}, guard.VerifierConfig{Now: func() time.Time { return tokNow.Add(time.Hour) }}, "(clock:", guard.ErrTokenExpired},
		{"lifetime", guard.TokenIssuerConfig{TTL: 2 * time.Hour}, guard.VerifierConfig{MaxTokenLifetime: time.Hour}, "(lifetime:", guard.ErrTokenLifetime},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ic := c.issuer
			if ic.Key == nil {
				ic.Key = hmac(tokHMACKey, "k1")
			}
			ic.Issuer, ic.Now = "https://auth.example", now
			issuer, err := guard.NewTokenIssuer(ic)
			if err != nil {
				t.Fatal(err)
			}
			vc := c.ver
			if vc.Keys == nil {
				vc.Keys = []*guard.Key{hmac(tokHMACKey, "k1")}
			}
			if vc.Now == nil {
				vc.Now = now
			}
			v, err := guard.NewVerifier(vc)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := guard.NewPasswordHasher(guard.PasswordHasherConfig{Argon2: tokArgon2, BcryptCost: 10})
			_, err = NewTokenEndpoint(TokenEndpointConfig{Issuer: issuer, Hasher: h, Revocations: revs, AccessTokenVerifier: v})
			if c.err == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "AccessTokenVerifier refuses the tokens Issuer mints") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error naming %q", err, c.want)
			}
			if !errors.Is(err, c.err) {
				t.Errorf("got %v, want errors.Is %v", err, c.err)
			}
		})
	}
}

// TestRevocationLogsUnverifiedAccessToken: /revoke answers 200 for an access
// token that does not verify, as RFC 7009 asks, and logs a warning without
// the token, except for the routine cases (expired, already revoked).
func TestRevocationLogsUnverifiedAccessToken(t *testing.T) {
	t.Parallel()
	f := newRevFixture(t, nil)
	other := jwtMustHMAC(t, guard.HS256, []byte("another-secret-0123456789abcdefghij"), "k1")
	foreignIssuer, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: other, Issuer: "https://auth.example", Now: func() time.Time { return tokNow }})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := foreignIssuer.Issue(context.Background(), guard.Claims{Subject: "user-1", ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := f.e.cfg.Issuer.Issue(context.Background(), guard.Claims{Subject: "user-1", ClientID: "app",
		IssuedAt: tokNow.Add(-time.Hour), ExpiresAt: tokNow.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := f.accessToken(t, "app")
	checkTokResponse(t, f.doRevoke(revRequest(form("token", revoked, "client_id", "app"))), 200, revOK, "")
	for _, c := range []struct {
		name, token string
		logged      bool
	}{
		{"signed by another key", foreign, true},
		{"forged", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", true},
		{"expired", expired, false},
		{"already revoked", revoked, false},
		{"not a JWS", "not-a-token", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &tokLockedBuffer{}
			f.e.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			checkTokResponse(t, f.doRevoke(revRequest(form("token", c.token, "client_id", "app"))), 200, revOK, "")
			got := logs.String()
			if logged := strings.Contains(got, `"level":"WARN","msg":"revocation: access token does not verify; nothing revoked"`); logged != c.logged {
				t.Errorf("logged: got %v, want %v (%s)", logged, c.logged, got)
			}
			if c.logged && !strings.Contains(got, `"client_id":"app"`) {
				t.Errorf("log line without the client: %s", got)
			}
			if strings.Contains(got, c.token) || strings.Contains(got, strings.Split(c.token, ".")[len(strings.Split(c.token, "."))-1]) {
				t.Errorf("the log holds the token: %s", got)
			}
		})
	}
}
