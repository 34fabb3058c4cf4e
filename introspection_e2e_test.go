package guard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/guardkit/guard/guardtest"
)

// The resource server that knows only its issuer's URL, against the real
// authorization server: the issuer's introspection endpoint, found through
// its discovery document, tells the resource server about revocations.

type e2eClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *e2eClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *e2eClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// e2eIssuer is an authorization server on an httptest server: token
// issuer, revocation and introspection endpoints, discovery document.
type e2eIssuer struct {
	te     *authserver.TokenEndpoint
	url    string
	issuer *guard.TokenIssuer
	public *guard.Key
}

func newE2EIssuer(t *testing.T) *e2eIssuer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := guard.NewPrivateKey(guard.ES256, priv, "k1")
	if err != nil {
		t.Fatal(err)
	}
	public, err := guard.NewPublicKey(guard.ES256, &priv.PublicKey, "k1")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuer, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, Issuer: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	revs := guard.MustNewMemoryRevocations(guard.MemoryRevocationsConfig{})
	verifier, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Issuers: []string{srv.URL}, Revocations: revs})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{Argon2: guard.Argon2Params{Memory: 7168, Time: 5}, BcryptCost: 10, QueueTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	hash := func(pw string) guard.Secret {
		h, err := hasher.Hash(context.Background(), pw)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	te, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer: issuer, Hasher: hasher,
		Clients: authserver.NewMemoryClients(map[string]authserver.Client{
			"resource-api": {SecretHash: hash("resource-secret"), Grants: []string{authserver.GrantIntrospection}},
			"svc":          {SecretHash: hash("svc-secret"), Scopes: []string{"read"}},
		}),
		Revocations:         revs,
		AccessTokenVerifier: verifier,
	})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := authserver.DiscoveryHandler(authserver.DiscoveryConfig{
		Issuer: srv.URL, JWKSURI: srv.URL + "/jwks", TokenEndpoint: srv.URL + "/token",
		IntrospectionEndpoint:                     srv.URL + "/introspect",
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST /token", te)
	mux.Handle("POST /revoke", te.RevocationEndpoint())
	mux.Handle("POST /introspect", te.IntrospectionEndpoint())
	mux.Handle("GET /.well-known/openid-configuration", meta)
	return &e2eIssuer{te: te, url: srv.URL, issuer: issuer, public: public}
}

// token gets a client_credentials token for svc from the token endpoint.
func (iss *e2eIssuer) token(t *testing.T) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"svc-secret"}}
	return guardtest.PostToken(t, iss.te, form).AccessToken
}

func (iss *e2eIssuer) revoke(t *testing.T, tok string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, iss.url+"/revoke", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "svc-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: got %d", resp.StatusCode)
	}
}

// protected is a resource server's route guarded by a verifier that asks
// the issuer through checker.
func protected(t *testing.T, iss *e2eIssuer, checker guard.RevocationChecker) http.Handler {
	t.Helper()
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{iss.public}, Issuers: []string{iss.url}, Revocations: checker})
	if err != nil {
		t.Fatal(err)
	}
	return v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
}

func getData(h http.Handler, tok string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/data", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func expect(t *testing.T, rec *httptest.ResponseRecorder, status int, hdr http.Header, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status: got %d, want %d (body %q)", rec.Code, status, rec.Body.String())
	}
	if got := rec.Header(); !maps.EqualFunc(got, hdr, slices.Equal) {
		t.Errorf("headers:\n got %v\nwant %v", got, hdr)
	}
	if got := rec.Body.String(); got != body {
		t.Errorf("body: got %q, want %q", got, body)
	}
}

var (
	e2eOK      = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	e2eRevoked = http.Header{"Www-Authenticate": {`Bearer realm="api", error="invalid_token", error_description="token revoked"`},
		"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}}
	e2eDown = http.Header{"Retry-After": {"5"}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}}
)

const (
	e2eRevokedBody = `{"error":"invalid_token","error_description":"token revoked"}` + "\n"
	e2eDownBody    = `{"error":"temporarily_unavailable","error_description":"service unavailable; retry later"}` + "\n"
)

func TestIntrospectionCheckerAgainstAuthserver(t *testing.T) {
	t.Parallel()
	iss := newE2EIssuer(t)
	clock := &e2eClock{t: time.Now()}
	checker, err := guard.NewIntrospectionChecker(guard.IntrospectionCheckerConfig{
		Issuer: iss.url, ClientID: "resource-api", ClientSecret: "resource-secret", Now: clock.Now,
		// The issuer checks the client secret with bcrypt, which under the race
		// detector on a loaded machine can take longer than the default 5s.
		Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := protected(t, iss, checker)
	tok := iss.token(t)
	expect(t, getData(h, tok), 200, e2eOK, "ok")

	iss.revoke(t, tok)
	// Within CacheFor (5s) the cached "active" answer stands: the documented bound.
	clock.Add(guard.DefaultIntrospectionCacheFor - time.Millisecond)
	expect(t, getData(h, tok), 200, e2eOK, "ok")
	clock.Add(time.Millisecond)
	expect(t, getData(h, tok), 401, e2eRevoked, e2eRevokedBody)

	// Another token of the same client is not affected.
	expect(t, getData(h, iss.token(t)), 200, e2eOK, "ok")
}

func TestIntrospectionCheckerRefusedByAuthserver(t *testing.T) {
	t.Parallel()
	iss := newE2EIssuer(t)
	for _, tc := range []struct {
		name   string
		id     string
		secret guard.Secret
	}{
		{"wrong secret", "resource-api", "wrong"},   // 401 invalid_client at the issuer
		{"client not allowed", "svc", "svc-secret"}, // 400 unauthorized_client at the issuer
	} {
		t.Run(tc.name, func(t *testing.T) {
			checker := guard.MustNewIntrospectionChecker(guard.IntrospectionCheckerConfig{
				Endpoint: iss.url + "/introspect", ClientID: tc.id, ClientSecret: tc.secret, Timeout: time.Minute})
			var got error
			v, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{iss.public}, Issuers: []string{iss.url}, Revocations: checker,
				ErrorWriter: func(w http.ResponseWriter, r *http.Request, err error) { got = err; guard.WriteError(w, r, err) }})
			if err != nil {
				t.Fatal(err)
			}
			h := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("next ran") }))
			expect(t, getData(h, iss.token(t)), 503, e2eDown, e2eDownBody)
			if got == nil || errors.Is(got, guard.ErrInvalidToken) {
				t.Errorf("error: got %v, want an unavailable one", got)
			}
		})
	}
}
