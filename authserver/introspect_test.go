package authserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// Clients of the introspection tests, besides the fixtures': resource-api may
// introspect and nothing else; conf is a confidential client that logs users
// in, refreshes and introspects its own tokens.
const (
	introRS   = "resource-api"
	introConf = "conf"
)

// introFixture is the revocation fixture with the introspection endpoint.
type introFixture struct {
	*revFixture
	introspect http.Handler
}

func newIntroFixture(t testing.TB, mod func(*TokenEndpointConfig)) *introFixture {
	t.Helper()
	f := newRevFixture(t, func(c *TokenEndpointConfig) {
		hs := tokHashes()
		clients := c.Clients.(tokClients)
		clients[introRS] = Client{SecretHash: guard.Secret(hs[tokWebPW]), Grants: []string{GrantIntrospection}}
		clients[introConf] = Client{SecretHash: guard.Secret(hs[tokSvcPW]), Grants: []string{"password", "refresh_token", GrantIntrospection},
			Scopes: []string{"read", "write"}}
		if mod != nil {
			mod(c)
		}
	})
	return &introFixture{revFixture: f, introspect: f.e.IntrospectionEndpoint()}
}

func introRequest(body string, mods ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/introspect", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, m := range mods {
		m(r)
	}
	return r
}

func (f *introFixture) doIntrospect(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.introspect.ServeHTTP(rec, r)
	return rec
}

// asRS authenticates as resource-api with HTTP Basic.
var asRS = withBasic(introRS, tokWebPW)

var introOK = http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}

const introInactive = `{"active":false}` + "\n"

// issue mints an access token for user-1 with c's fields over the defaults.
func (f *introFixture) issue(t testing.TB, c guard.Claims) string {
	t.Helper()
	if c.Subject == "" {
		c.Subject = "user-1"
	}
	tok, err := f.e.cfg.Issuer.Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// activeAccess is the answer for an access token issued at tokNow, with the
// jti read from the token and the members given in extra (JSON, after iss).
func (f *introFixture) activeAccess(t testing.TB, tok, head, extra string) string {
	t.Helper()
	c, err := f.verifier.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return `{"active":true,` + head + `"sub":"user-1","exp":` + strconv.FormatInt(tokNow.Add(10*time.Minute).Unix(), 10) +
		`,"iat":` + strconv.FormatInt(tokNow.Unix(), 10) + `,"iss":"https://auth.example",` + extra + `"token_type":"Bearer","jti":"` + c.ID + `"}` + "\n"
}

func TestIntrospectionEndpoint(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	ctx := context.Background()
	invalidClient := tokErrBody("invalid_client", "client authentication failed")
	challenge := tokErrorHeaders("Www-Authenticate", tokBasicChallenge)
	// The refresh family's token lapses at its idle deadline (1h), before its end (24h).
	refreshExp := strconv.FormatInt(tokNow.Add(time.Hour).Unix(), 10)
	var want string // set by a row's req when the answer depends on the token
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		hdr    http.Header
		body   string // "" means want
	}{
		{"access token, Basic", func() *http.Request {
			tok := f.issue(t, guard.Claims{ClientID: "app", Scopes: []string{"read", "write"}})
			want = f.activeAccess(t, tok, `"scope":"read write","client_id":"app",`, "")
			return introRequest(form("token", tok, "token_type_hint", "access_token"), asRS)
		}, 200, introOK, ""},
		{"access token, client_secret_post", func() *http.Request {
			tok := f.issue(t, guard.Claims{})
			want = f.activeAccess(t, tok, "", "")
			return introRequest(form("token", tok, "client_id", introRS, "client_secret", tokWebPW))
		}, 200, introOK, ""},
		{"access token with one audience", func() *http.Request {
			tok := f.issue(t, guard.Claims{Audience: []string{"https://api.example"}})
			want = f.activeAccess(t, tok, "", `"aud":"https://api.example",`)
			return introRequest(form("token", tok), asRS)
		}, 200, introOK, ""},
		{"empty token_type_hint: as if absent (RFC 6749 §3.2)", func() *http.Request {
			tok := f.issue(t, guard.Claims{})
			want = f.activeAccess(t, tok, "", "")
			return introRequest("token="+tok+"&token_type_hint=", asRS)
		}, 200, introOK, ""},
		{"access token with two audiences, wrong hint", func() *http.Request {
			tok := f.issue(t, guard.Claims{Audience: []string{"a", "b"}})
			want = f.activeAccess(t, tok, "", `"aud":["a","b"],`)
			return introRequest(form("token", tok, "token_type_hint", "refresh_token"), asRS)
		}, 200, introOK, ""},
		{"revoked access token", func() *http.Request {
			tok := f.issue(t, guard.Claims{})
			c, _ := f.verifier.Verify(ctx, tok)
			if err := f.revs.RevokeToken(ctx, c.ID, c.ExpiresAt); err != nil {
				t.Fatal(err)
			}
			return introRequest(form("token", tok), asRS)
		}, 200, introOK, introInactive},
		{"expired access token", func() *http.Request {
			return introRequest(form("token", f.issue(t, guard.Claims{IssuedAt: tokNow.Add(-time.Hour), ExpiresAt: tokNow.Add(-time.Minute)})), asRS)
		}, 200, introOK, introInactive},
		{"forged access token", func() *http.Request {
			return introRequest(form("token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"), asRS)
		}, 200, introOK, introInactive},
		{"garbage", func() *http.Request { return introRequest(form("token", "not-a-token"), asRS) }, 200, introOK, introInactive},
		{"own refresh token", func() *http.Request {
			return introRequest(form("token", f.login(t, introConf)), withBasic(introConf, tokSvcPW))
		}, 200, introOK, `{"active":true,"scope":"read write","client_id":"conf","sub":"user-1","exp":` + refreshExp + "}\n"},
		{"own refresh token, narrowed scope", func() *http.Request {
			return introRequest(form("token", f.login(t, introConf, "scope", "read"), "client_id", introConf, "client_secret", tokSvcPW))
		}, 200, introOK, `{"active":true,"scope":"read","client_id":"conf","sub":"user-1","exp":` + refreshExp + "}\n"},
		{"another client's refresh token", func() *http.Request {
			return introRequest(form("token", f.login(t, introConf)), asRS)
		}, 200, introOK, introInactive},
		{"refresh token issued to no client", func() *http.Request {
			return introRequest(form("token", f.login(t, "")), withBasic(introConf, tokSvcPW))
		}, 200, introOK, introInactive},
		{"rotated refresh token", func() *http.Request {
			rt := f.login(t, introConf)
			if rec := f.do(tokRequest(form("grant_type", "refresh_token", "refresh_token", rt), withBasic(introConf, tokSvcPW))); rec.Code != 200 {
				t.Fatalf("refresh: got %d %s", rec.Code, rec.Body.String())
			}
			return introRequest(form("token", rt), withBasic(introConf, tokSvcPW))
		}, 200, introOK, introInactive},
		{"unknown refresh token", func() *http.Request {
			return introRequest(form("token", newRefreshToken(nil).raw), withBasic(introConf, tokSvcPW))
		}, 200, introOK, introInactive},
		{"no token", func() *http.Request { return introRequest(form("token_type_hint", "access_token"), asRS) },
			400, tokErrorHeaders(), tokErrBody("invalid_request", "token required")},
		{"empty token", func() *http.Request { return introRequest("token=", asRS) },
			400, tokErrorHeaders(), tokErrBody("invalid_request", "empty parameter")},
		{"repeated token", func() *http.Request { return introRequest("token=a&token=b", asRS) },
			400, tokErrorHeaders(), tokErrBody("invalid_request", "repeated parameter")},
		{"token over the cap", func() *http.Request {
			return introRequest(form("token", strings.Repeat("a", MaxIntrospectedTokenBytes+1)), asRS)
		}, 400, tokErrorHeaders(), tokErrBody("invalid_request", "token too large")},
		{"body over the cap", func() *http.Request { return introRequest(form("token", strings.Repeat("a", 1<<20)), asRS) },
			413, tokErrorHeaders(), tokErrBody("invalid_request", "request body too large")},
		{"token in the query", func() *http.Request {
			return introRequest("", asRS, func(r *http.Request) { r.URL.RawQuery = "token=x" })
		}, 400, tokErrorHeaders(), tokErrBody("invalid_request", "token in the query string")},
		{"GET", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "https://auth.example/introspect?token=x", nil)
		},
			405, tokErrorHeaders("Allow", "POST"), tokErrBody("invalid_request", "POST required")},
		{"JSON body", func() *http.Request {
			return introRequest(`{"token":"x"}`, asRS, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") })
		}, 400, tokErrorHeaders(), tokErrBody("invalid_request", "body must be application/x-www-form-urlencoded")},
		{"plain HTTP from afar", func() *http.Request { return introRequest(form("token", "x"), asRS, plainHTTP) },
			400, tokErrorHeaders(), tokErrBody("invalid_request", "TLS required")},
		{"two client authentications", func() *http.Request { return introRequest(form("token", "x", "client_id", introRS), asRS) },
			400, tokErrorHeaders(), tokErrBody("invalid_request", "more than one client authentication method")},
		{"no client authentication", func() *http.Request { return introRequest(form("token", "x")) }, 401, challenge, invalidClient},
		{"wrong secret, Basic", func() *http.Request { return introRequest(form("token", "x"), withBasic(introRS, "wrong")) },
			401, challenge, invalidClient},
		{"wrong secret, form", func() *http.Request {
			return introRequest(form("token", "x", "client_id", introRS, "client_secret", "wrong"))
		}, 401, challenge, invalidClient},
		{"unknown client", func() *http.Request { return introRequest(form("token", "x"), withBasic("nobody", tokWebPW)) },
			401, challenge, invalidClient},
		{"client_id without a secret", func() *http.Request { return introRequest(form("token", "x", "client_id", introRS)) },
			401, challenge, invalidClient},
		{"public client", func() *http.Request { return introRequest(form("token", "x", "client_id", "app")) },
			401, challenge, invalidClient},
		{"disabled client", func() *http.Request { return introRequest(form("token", "x"), withBasic("off", tokWebPW)) },
			401, challenge, invalidClient},
		{"client without the permission", func() *http.Request { return introRequest(form("token", "x"), withBasic(tokWebID, tokWebPW)) },
			400, tokErrorHeaders(), tokErrBody("unauthorized_client", "client not allowed to introspect")},
		{"client with the default grants", func() *http.Request { return introRequest(form("token", "x"), withBasic(tokSvcID, tokSvcPW)) },
			400, tokErrorHeaders(), tokErrBody("unauthorized_client", "client not allowed to introspect")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want = ""
			rec := f.doIntrospect(c.req())
			body := c.body
			if body == "" {
				body = want
			}
			checkTokResponse(t, rec, c.status, c.hdr, body)
		})
	}
}

func TestIntrospectionRevokedSubject(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	at := f.issue(t, guard.Claims{})
	rt := f.login(t, introConf)
	if err := f.revs.RevokeSubject(context.Background(), "user-1", tokNow); err != nil {
		t.Fatal(err)
	}
	checkTokResponse(t, f.doIntrospect(introRequest(form("token", at), asRS)), 200, introOK, introInactive)
	checkTokResponse(t, f.doIntrospect(introRequest(form("token", rt), withBasic(introConf, tokSvcPW))), 200, introOK, introInactive)
}

func TestIntrospectionUserGone(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	rt := f.login(t, introConf)
	u := f.users.get("alice")
	u.Disabled = true
	f.users.mu.Lock()
	f.users.users["alice"] = u
	f.users.mu.Unlock()
	checkTokResponse(t, f.doIntrospect(introRequest(form("token", rt), withBasic(introConf, tokSvcPW))), 200, introOK, introInactive)
	f.users.mu.Lock()
	delete(f.users.users, "alice")
	f.users.mu.Unlock()
	checkTokResponse(t, f.doIntrospect(introRequest(form("token", rt), withBasic(introConf, tokSvcPW))), 200, introOK, introInactive)
	// Introspection changes nothing: the family is still there.
	if _, _, err := f.store.LookupRefreshToken(context.Background(), mustParseRefresh(t, rt).family, mustParseRefresh(t, rt).digest, tokNow); err != nil {
		t.Errorf("family after introspection: %v", err)
	}
}

func mustParseRefresh(t testing.TB, s string) refreshToken {
	t.Helper()
	rt, ok := parseRefreshToken(s)
	if !ok {
		t.Fatalf("not a refresh token: %q", s)
	}
	return rt
}

func TestIntrospectionIdleAndExpired(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	rt := f.login(t, introConf)
	f.clock.Add(time.Hour) // the idle deadline
	checkTokResponse(t, f.doIntrospect(introRequest(form("token", rt), withBasic(introConf, tokSvcPW))), 200, introOK, introInactive)
}

func TestIntrospectionStoreDown(t *testing.T) {
	t.Parallel()
	unavailable := tokErrBody("temporarily_unavailable", "service unavailable; retry later")
	hdr := tokErrorHeaders("Retry-After", "5")
	t.Run("refresh store", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, func(c *TokenEndpointConfig) { c.Refresh.Store = tokFailingRefresh{} })
		rec := f.doIntrospect(introRequest(form("token", newRefreshToken(nil).raw), withBasic(introConf, tokSvcPW)))
		checkTokResponse(t, rec, 503, hdr, unavailable)
	})
	t.Run("revocation store", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, func(c *TokenEndpointConfig) { c.Revocations = tokFailingRevocations{} })
		at := f.issue(t, guard.Claims{})
		checkTokResponse(t, f.doIntrospect(introRequest(form("token", at), asRS)), 503, hdr, unavailable)
	})
	t.Run("revocation store, verifier without it", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, func(c *TokenEndpointConfig) {
			c.Revocations = tokFailingRevocations{}
			c.AccessTokenVerifier = mustVerifier(t, guard.VerifierConfig{})
		})
		at := f.issue(t, guard.Claims{})
		checkTokResponse(t, f.doIntrospect(introRequest(form("token", at), asRS)), 503, hdr, unavailable)
	})
	t.Run("user store", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, nil)
		rt := f.login(t, introConf)
		f.users.mu.Lock()
		f.users.err = errTokStoreDown
		f.users.mu.Unlock()
		checkTokResponse(t, f.doIntrospect(introRequest(form("token", rt), withBasic(introConf, tokSvcPW))), 503, hdr, unavailable)
	})
	t.Run("client store", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, nil)
		f.e.cfg.Clients = tokFailingClients{}
		checkTokResponse(t, f.doIntrospect(introRequest(form("token", "x"), asRS)), 503, hdr, unavailable)
	})
}

// mustVerifier is a verifier of the fixture's tokens with cfg's other fields.
func mustVerifier(t testing.TB, cfg guard.VerifierConfig) *guard.Verifier {
	t.Helper()
	key, err := guard.NewHMACKey(guard.HS256, []byte(tokHMACKey), "k1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = []*guard.Key{key}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return tokNow }
	}
	v, err := guard.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntrospectionWithoutClients(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, func(c *TokenEndpointConfig) { c.Clients = nil })
	checkTokResponse(t, f.doIntrospect(introRequest(form("token", "x"), asRS)), 401,
		tokErrorHeaders("Www-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"))
}

func TestIntrospectionWithoutAccessTokenVerifier(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, func(c *TokenEndpointConfig) { c.AccessTokenVerifier = nil })
	checkTokResponse(t, f.doIntrospect(introRequest(form("token", f.issue(t, guard.Claims{})), asRS)), 200, introOK, introInactive)
}

func TestIntrospectionNotAGrant(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	checkTokResponse(t, f.do(tokRequest(form("grant_type", GrantIntrospection), withBasic(introRS, tokWebPW))), 400,
		tokErrorHeaders(), tokErrBody("unsupported_grant_type", "grant type not supported"))
}

func TestIntrospectionZeroValue(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	new(TokenEndpoint).IntrospectionEndpoint().ServeHTTP(rec, introRequest(form("token", "x")))
	if rec.Code != 500 {
		t.Errorf("status: got %d, want 500", rec.Code)
	}
}

func TestMemoryRefreshStoreLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{})
	first, next := [32]byte{1}, [32]byte{2}
	fam := RefreshFamily{ID: "f", ClientID: "c", Username: "u", Subject: "s", Scopes: []string{"read"}, AuthTime: tokNow, ExpiresAt: tokNow.Add(time.Hour)}
	if err := s.CreateRefreshFamily(ctx, fam, first, tokNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, idle, err := s.LookupRefreshToken(ctx, "f", first, tokNow)
	if err != nil || got.Subject != "s" || !idle.Equal(tokNow.Add(time.Minute)) {
		t.Fatalf("lookup: got %+v %v %v", got, idle, err)
	}
	got.Scopes[0] = "changed"
	for _, c := range []struct {
		name   string
		family string
		digest [32]byte
		now    time.Time
	}{
		{"unknown family", "g", first, tokNow},
		{"not the current token", "f", next, tokNow},
		{"idle", "f", first, tokNow.Add(time.Minute)},
		{"expired", "f", first, tokNow.Add(time.Hour)},
	} {
		if _, _, err := s.LookupRefreshToken(ctx, c.family, c.digest, c.now); err != guard.ErrNotFound {
			t.Errorf("%s: got %v, want ErrNotFound", c.name, err)
		}
	}
	// A lookup is not a use: the token still rotates, and its copy was its own.
	rot, _, err := s.RotateRefreshToken(ctx, RefreshRotation{Family: "f", ClientID: "c", Presented: first, Next: next, Now: tokNow, IdleUntil: tokNow.Add(time.Minute)})
	if err != nil || rot.Scopes[0] != "read" {
		t.Fatalf("rotate after lookup: %+v %v", rot, err)
	}
	if _, _, err := s.LookupRefreshToken(ctx, "f", first, tokNow); err != guard.ErrNotFound {
		t.Errorf("rotated token: got %v, want ErrNotFound", err)
	}
	if _, _, err := new(MemoryRefreshStore).LookupRefreshToken(ctx, "f", first, tokNow); err == nil {
		t.Error("zero store: got nil error")
	}
}
