package guardtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/guardkit/guard"
)

// HMACKey returns an HS256 key with a fresh random secret and no kid.
func HMACKey(t testing.TB) *guard.Key {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	k, err := guard.NewHMACKey(guard.HS256, secret, "")
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	return k
}

// ES256Key returns a fresh ES256 signing key with the given kid; its
// Public() half is what a verifier of another service holds.
func ES256Key(t testing.TB, kid string) *guard.Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	k, err := guard.NewPrivateKey(guard.ES256, priv, kid)
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	return k
}

// Issuer returns a TokenIssuer for cfg, failing the test on a config error.
func Issuer(t testing.TB, cfg guard.TokenIssuerConfig) *guard.TokenIssuer {
	t.Helper()
	iss, err := guard.NewTokenIssuer(cfg)
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	return iss
}

// Verifier returns a Verifier for cfg, failing the test on a config error.
func Verifier(t testing.TB, cfg guard.VerifierConfig) *guard.Verifier {
	t.Helper()
	v, err := guard.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	return v
}

// Token mints an access token for c through iss: the app's own issuer, so the
// token is exactly what production would issue, or a test one from [Issuer].
func Token(t testing.TB, iss *guard.TokenIssuer, c guard.Claims) string {
	t.Helper()
	tok, err := iss.Issue(t.Context(), c)
	if err != nil {
		t.Fatalf("guardtest: issue: %v", err)
	}
	return tok
}
