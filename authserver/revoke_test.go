package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// revFixture adds the revocation endpoint, and a verifier that consults the
// revocation store, to the refresh fixture.
type revFixture struct {
	*refFixture
	revoke   http.Handler
	checking *guard.Verifier // verifies and checks revocations
}

func newRevFixture(t testing.TB, mod func(*TokenEndpointConfig)) *revFixture {
	t.Helper()
	var checking *guard.Verifier
	f := newRefFixture(t, func(c *TokenEndpointConfig) {
		key, err := guard.NewHMACKey(guard.HS256, []byte(tokHMACKey), "k1")
		if err != nil {
			t.Fatal(err)
		}
		checking, err = guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Issuers: []string{"https://auth.example"},
			Now: func() time.Time { return tokNow }, Revocations: c.Revocations})
		if err != nil {
			t.Fatal(err)
		}
		c.AccessTokenVerifier = checking
		if mod != nil {
			mod(c)
		}
	})
	return &revFixture{refFixture: f, revoke: f.e.RevocationEndpoint(), checking: checking}
}

func revRequest(body string, mods ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/revoke", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, m := range mods {
		m(r)
	}
	return r
}

func (f *revFixture) doRevoke(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.revoke.ServeHTTP(rec, r)
	return rec
}

// accessToken starts a session for alice through client as a password
// login would (without the slow hash) and returns both tokens.
func (f *revFixture) accessToken(t testing.TB, client string) (access, refresh string) {
	t.Helper()
	at, err := f.e.cfg.Issuer.Issue(context.Background(), guard.Claims{Subject: "user-1", ClientID: client, Roles: []string{"admin"}, Scopes: []string{"read", "write"}})
	if err != nil {
		t.Fatal(err)
	}
	return at, f.login(t, client)
}

var revOK = http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}

func TestRevocationEndpoint(t *testing.T) {
	t.Parallel()
	f := newRevFixture(t, nil)
	ctx := context.Background()
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		hdr    http.Header
		body   string
		after  func(t *testing.T) // checks the effect
	}{
		{"refresh token: family revoked", func() *http.Request {
			_, rt := f.accessToken(t, "app")
			f.pending = rt
			return revRequest(form("token", rt, "token_type_hint", "refresh_token", "client_id", "app"))
		}, 200, revOK, "", func(t *testing.T) {
			checkTokResponse(t, f.refresh(f.pending, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
		}},
		{"access token by jti", func() *http.Request {
			at, _ := f.accessToken(t, "app")
			f.pending = at
			return revRequest(form("token", at, "token_type_hint", "access_token", "client_id", "app"))
		}, 200, revOK, "", func(t *testing.T) {
			if _, err := f.checking.Verify(ctx, f.pending); !errors.Is(err, guard.ErrTokenRevoked) || !errors.Is(err, guard.ErrInvalidToken) {
				t.Errorf("revoked access token: got %v, want ErrTokenRevoked", err)
			}
		}},
		{"empty token_type_hint: as if absent (RFC 6749 §3.2)", func() *http.Request {
			_, rt := f.accessToken(t, "app")
			f.pending = rt
			return revRequest("token=" + rt + "&token_type_hint=&client_id=app")
		}, 200, revOK, "", func(t *testing.T) {
			checkTokResponse(t, f.refresh(f.pending, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
		}},
		{"wrong hint is only a hint", func() *http.Request {
			_, rt := f.accessToken(t, "app")
			f.pending = rt
			return revRequest(form("token", rt, "token_type_hint", "access_token", "client_id", "app"))
		}, 200, revOK, "", func(t *testing.T) {
			checkTokResponse(t, f.refresh(f.pending, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
		}},
		{"unknown refresh token: 200", func() *http.Request {
			return revRequest(form("token", newRefreshToken(nil).raw, "client_id", "app"))
		}, 200, revOK, "", nil},
		{"garbage token: 200", func() *http.Request { return revRequest(form("token", "not-a-token", "client_id", "app")) }, 200, revOK, "", nil},
		{"forged access token: 200", func() *http.Request {
			return revRequest(form("token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "client_id", "app"))
		}, 200, revOK, "", nil},
		{"already revoked access token: 200", func() *http.Request {
			at, _ := f.accessToken(t, "app")
			for range 2 {
				f.doRevoke(revRequest(form("token", at, "client_id", "app")))
			}
			return revRequest(form("token", at, "client_id", "app"))
		}, 200, revOK, "", nil},
		{"another client's refresh token", func() *http.Request {
			_, rt := f.accessToken(t, "app")
			f.pending = rt
			return revRequest(form("token", rt, "client_id", "other"))
		}, 400, tokErrorHeaders(), tokErrBody("unauthorized_client", "token was issued to another client"), func(t *testing.T) {
			f.checkRefreshSuccess(t, f.refresh(f.pending, "app"), "read write") // still good
		}},
		{"another client's access token", func() *http.Request {
			at, _ := f.accessToken(t, "app")
			return revRequest(form("token", at, "client_id", "other"))
		}, 400, tokErrorHeaders(), tokErrBody("unauthorized_client", "token was issued to another client"), nil},
		{"no token", func() *http.Request { return revRequest(form("client_id", "app")) },
			400, tokErrorHeaders(), tokErrBody("invalid_request", "token required"), nil},
		{"empty token", func() *http.Request { return revRequest("token=&client_id=app") },
			400, tokErrorHeaders(), tokErrBody("invalid_request", "empty parameter"), nil},
		{"token in the query", func() *http.Request {
			return revRequest(form("client_id", "app"), func(r *http.Request) { r.URL.RawQuery = "token=x" })
		}, 400, tokErrorHeaders(), tokErrBody("invalid_request", "token in the query string"), nil},
		{"GET", func() *http.Request { return httptest.NewRequest(http.MethodGet, "https://auth.example/revoke", nil) },
			405, tokErrorHeaders("Allow", "POST"), tokErrBody("invalid_request", "POST required"), nil},
		{"JSON body", func() *http.Request {
			return revRequest(`{"token":"x"}`, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") })
		}, 400, tokErrorHeaders(), tokErrBody("invalid_request", "body must be application/x-www-form-urlencoded"), nil},
		{"1 MiB token", func() *http.Request { return revRequest(form("token", strings.Repeat("a", 1<<20), "client_id", "app")) },
			413, tokErrorHeaders(), tokErrBody("invalid_request", "request body too large"), nil},
		{"confidential client with a wrong secret", func() *http.Request {
			return revRequest(form("token", "x"), withBasic(tokWebID, "wrong"))
		}, 401, tokErrorHeaders("Www-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), nil},
		{"confidential client, any grants", func() *http.Request {
			return revRequest(form("token", newRefreshToken(nil).raw), withBasic(tokWebID, tokWebPW))
		}, 200, revOK, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := f.doRevoke(c.req())
			checkTokResponse(t, rec, c.status, c.hdr, c.body)
			if c.after != nil {
				c.after(t)
			}
		})
	}
}

func TestRevocationNeedsClientAuth(t *testing.T) {
	t.Parallel()
	// The fixture allows client-less logins; without that, Clients makes
	// client authentication mandatory.
	f := newRevFixture(t, func(c *TokenEndpointConfig) { c.DangerouslyAllowPasswordGrantWithoutClient = false })
	_, rt := f.accessToken(t, "app")
	rec := f.doRevoke(revRequest(form("token", rt)))
	checkTokResponse(t, rec, 401, tokErrorHeaders("Www-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"))
	f.checkRefreshSuccess(t, f.refresh(rt, "app"), "read write")
}

func TestRevocationWithoutClients(t *testing.T) {
	t.Parallel()
	// As in the example server: no ClientStore, the holder revokes with the token alone.
	f := newRevFixture(t, func(c *TokenEndpointConfig) { c.Clients = nil })
	b := decodeTok(t, f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW))))
	at, rt := b.AccessToken, b.RefreshToken
	checkTokResponse(t, f.doRevoke(revRequest(form("token", rt))), 200, revOK, "")
	checkTokResponse(t, f.refresh(rt, ""), 400, tokErrorHeaders(), errInvalidRefresh)
	checkTokResponse(t, f.doRevoke(revRequest(form("token", at))), 200, revOK, "")
	if _, err := f.checking.Verify(context.Background(), at); !errors.Is(err, guard.ErrTokenRevoked) {
		t.Errorf("got %v, want ErrTokenRevoked", err)
	}
}

func TestRevocationAccessTokensUnsupported(t *testing.T) {
	t.Parallel()
	f := newRevFixture(t, func(c *TokenEndpointConfig) { c.AccessTokenVerifier = nil })
	at, _ := f.accessToken(t, "app")
	checkTokResponse(t, f.doRevoke(revRequest(form("token", at, "client_id", "app"))), 400, tokErrorHeaders(),
		tokErrBody("unsupported_token_type", "access tokens cannot be revoked here"))
}

func TestRevocationStoreDown(t *testing.T) {
	t.Parallel()
	f := newRevFixture(t, func(c *TokenEndpointConfig) { c.Revocations = tokFailingRevocations{} })
	at, _ := f.accessToken(t, "app")
	want := tokErrBody("temporarily_unavailable", "service unavailable; retry later")
	checkTokResponse(t, f.doRevoke(revRequest(form("token", at, "client_id", "app"))), 503, tokErrorHeaders("Retry-After", "5"), want)
}

// tokFailingRevocations is a revocation store whose backend is down.
type tokFailingRevocations struct{}

func (tokFailingRevocations) Revoked(context.Context, *guard.Claims) (bool, error) {
	return false, errTokStoreDown
}
func (tokFailingRevocations) RevokeToken(context.Context, string, time.Time) error {
	return errTokStoreDown
}
func (tokFailingRevocations) RevokeSubject(context.Context, string, time.Time) error {
	return errTokStoreDown
}

func TestRevocationZeroValue(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	new(TokenEndpoint).RevocationEndpoint().ServeHTTP(rec, revRequest(form("token", "x")))
	if rec.Code != 500 {
		t.Errorf("status: got %d, want 500", rec.Code)
	}
}
