package guardtest

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

// JWKSServer is a fake identity provider for tests of a service that
// verifies another party's tokens: an httptest server on loopback http that
// publishes a JWK Set and an OpenID Connect discovery document naming it,
// with its own URL as issuer, and mints tokens with its current key. A
// [guard.RemoteKeySet] reaches it with Issuer or URL and no further
// settings, as plain http to a loopback host is allowed.
//
// Its keys live in a [guard.KeySet] it owns: [JWKSServer.Rotate] adds and
// promotes a new key while the old one stays published, and
// [JWKSServer.Retire] stops publishing a key at once. It is safe for
// concurrent use; the server closes when the test ends.
type JWKSServer struct {
	srv    *httptest.Server
	keys   *guard.KeySet
	issuer *guard.TokenIssuer
	// ahead is how far the clocks of the remote key sets made by
	// RemoteKeySet run ahead of the test's clock: Rotate moves it past
	// their refetch interval, so they fetch the new key at once.
	ahead atomic.Int64
}

// jwksPath is where the server publishes its JWK Set.
const jwksPath = "/jwks.json"

// NewJWKSServer starts a JWKSServer with one ES256 signing key and closes
// it through t.Cleanup.
func NewJWKSServer(t testing.TB) *JWKSServer {
	t.Helper()
	ks, err := guard.NewKeySet(guard.KeySetConfig{Keys: []*guard.Key{ES256Key(t, rand.Text())}})
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	mux := http.NewServeMux()
	s := &JWKSServer{srv: httptest.NewServer(mux), keys: ks}
	t.Cleanup(s.srv.Close)
	// A remote set holds keys at least a minute whatever max-age says; the
	// shortest max-age makes no cache on the way hold them longer.
	jwks, err := ks.JWKSHandler(time.Second)
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	disco, err := authserver.DiscoveryHandler(authserver.DiscoveryConfig{Issuer: s.Issuer(), JWKSURI: s.URL(), Keys: ks, MaxAge: time.Second})
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	mux.Handle("GET "+jwksPath, jwks)
	mux.Handle("GET /.well-known/openid-configuration", disco)
	mux.Handle("GET /.well-known/oauth-authorization-server", disco)
	s.issuer = Issuer(t, guard.TokenIssuerConfig{Keys: ks, Issuer: s.Issuer()})
	return s
}

// Issuer returns the server's issuer identifier, its base URL (such as
// http://127.0.0.1:41234): the "iss" of its tokens and what
// RemoteKeySetConfig.Issuer discovers from.
func (s *JWKSServer) Issuer() string { return s.srv.URL }

// URL returns the address of the server's JWK Set, for
// RemoteKeySetConfig.URL.
func (s *JWKSServer) URL() string { return s.srv.URL + jwksPath }

// SigningKID returns the kid of the key that signs now.
func (s *JWKSServer) SigningKID() string { return s.keys.SigningKey().KeyID() }

// Token mints a token for c signed with the current key, with "iss" set to
// [JWKSServer.Issuer] unless c.Issuer says otherwise. c.Subject is required.
func (s *JWKSServer) Token(t testing.TB, c guard.Claims) string {
	t.Helper()
	return Token(t, s.issuer, c)
}

// Rotate makes a new ES256 key the signing key and returns its kid. The
// previous key stays published, so its tokens keep verifying, until
// [JWKSServer.Retire]. Remote key sets made by [JWKSServer.RemoteKeySet]
// fetch the new key on the first token that names it.
func (s *JWKSServer) Rotate(t testing.TB) string {
	t.Helper()
	k := ES256Key(t, rand.Text())
	if err := s.keys.Add(k); err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	if err := s.keys.Promote(k.KeyID()); err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	s.ahead.Add(int64(guard.DefaultRefetchInterval))
	return k.KeyID()
}

// RemoteKeySet returns a started [guard.RemoteKeySet] that reads the server
// by its issuer (OpenID Connect discovery), with clock as its time, loaded
// before it returns and closed when the test ends. Set it as a verifier's
// KeySource. A token of a key that [JWKSServer.Rotate] just made verifies
// at once, with no clock moved by the test: the set's own time runs one
// refetch interval ahead of clock after each Rotate, so the new kid is
// fetched on the first token that names it. A nil clock is time.Now.
func (s *JWKSServer) RemoteKeySet(t testing.TB, clock *Clock) *guard.RemoteKeySet {
	t.Helper()
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	rs, err := guard.NewRemoteKeySet(guard.RemoteKeySetConfig{
		Issuer: s.Issuer(),
		Now:    func() time.Time { return now().Add(time.Duration(s.ahead.Load())) },
	})
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	rs.Start()
	t.Cleanup(func() { _ = rs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rs.Ready(ctx); err != nil {
		t.Fatalf("guardtest: the remote key set did not load: %v", err)
	}
	return rs
}

// Retire stops publishing the key with kid at once. Verifiers that fetched
// it keep it until they fetch the set again. The signing key cannot be
// retired (Rotate first); an unknown kid fails the test.
func (s *JWKSServer) Retire(t testing.TB, kid string) {
	t.Helper()
	if err := s.keys.Remove(kid); err != nil {
		t.Fatalf("guardtest: %v", err)
	}
}
