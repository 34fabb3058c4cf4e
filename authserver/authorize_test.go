package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

const (
	azIssuer    = "https://auth.example"
	azRedirect  = "https://app.example/callback"
	azVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	azChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

var azClients = tokClients{
	"spa":     {Public: true, Grants: []string{"authorization_code"}, Scopes: []string{"read", "write"}, RedirectURIs: []string{azRedirect, "http://localhost:3000/callback?x=1"}},
	"nocode":  {Public: true, Grants: []string{"password"}, Scopes: []string{"read"}, RedirectURIs: []string{azRedirect}},
	"off":     {Public: true, Grants: []string{"authorization_code"}, Disabled: true, RedirectURIs: []string{azRedirect}},
	"confapp": {SecretHash: "", Grants: []string{"authorization_code"}, Scopes: []string{"read"}, RedirectURIs: []string{azRedirect}},
}

// azLogin is the app's login page of the tests: it approves as alice, or
// denies when the form says so.
type azLogin struct {
	az   *AuthorizeEndpoint
	seen *AuthorizationRequest
	user string // who logs in; default alice
}

func (l *azLogin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.seen, _ = AuthorizationRequestFrom(r.Context())
	if r.Method == http.MethodGet {
		w.Write([]byte("login form"))
		return
	}
	if r.PostFormValue("deny") != "" {
		_ = l.az.Deny(w, r)
		return
	}
	user := l.user
	if user == "" {
		user = "alice"
	}
	_ = l.az.Approve(w, r, user)
}

func newAZ(t *testing.T) (*AuthorizeEndpoint, *azLogin, *MemoryAuthCodes) {
	t.Helper()
	codes := &MemoryAuthCodes{Now: func() time.Time { return tokNow }}
	login := &azLogin{}
	az, err := NewAuthorizeEndpoint(AuthorizeEndpointConfig{Clients: azClients, Codes: codes, Login: login, Issuer: azIssuer,
		Now: func() time.Time { return tokNow }})
	if err != nil {
		t.Fatal(err)
	}
	login.az = az
	return az, login, codes
}

func azQuery(kv ...string) string {
	v := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {azRedirect},
		"code_challenge": {azChallenge}, "code_challenge_method": {"S256"}, "state": {"xyz"}}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "\x00" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v.Encode()
}

func TestAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	tenK := strings.Repeat("s", 10<<10)
	cases := []struct {
		name  string
		query string
		// page: refused without a redirect (status); else redirected with error
		page  int
		error string
		state string // the state sent back with the error
	}{
		{"unknown client", azQuery("client_id", "ghost"), 400, "", ""},
		{"disabled client", azQuery("client_id", "off"), 400, "", ""},
		{"no client_id", azQuery("client_id", "\x00"), 400, "", ""},
		{"repeated client_id", azQuery() + "&client_id=spa", 400, "", ""},
		{"no redirect_uri", azQuery("redirect_uri", "\x00"), 400, "", ""},
		{"redirect_uri with a trailing slash", azQuery("redirect_uri", azRedirect+"/"), 400, "", ""},
		{"redirect_uri in another case", azQuery("redirect_uri", "https://APP.example/callback"), 400, "", ""},
		{"redirect_uri with a port", azQuery("redirect_uri", "https://app.example:443/callback"), 400, "", ""},
		{"redirect_uri with a path suffix", azQuery("redirect_uri", azRedirect+"/evil"), 400, "", ""},
		{"redirect_uri with a fragment", azQuery("redirect_uri", azRedirect+"#x"), 400, "", ""},
		{"redirect_uri with userinfo", azQuery("redirect_uri", "https://evil@app.example/callback"), 400, "", ""},
		{"redirect_uri of another client's kind", azQuery("redirect_uri", "https://evil.example/callback"), 400, "", ""},
		{"repeated redirect_uri", azQuery() + "&redirect_uri=" + url.QueryEscape(azRedirect), 400, "", ""},
		{"malformed query", azQuery() + "&%zz", 400, "", ""},
		{"response_type=token", azQuery("response_type", "token"), 0, "unsupported_response_type", "xyz"},
		{"response_type=id_token", azQuery("response_type", "id_token"), 0, "unsupported_response_type", "xyz"},
		{"response_type=code token", azQuery("response_type", "code token"), 0, "unsupported_response_type", "xyz"},
		{"no response_type", azQuery("response_type", "\x00"), 0, "invalid_request", "xyz"},
		{"no PKCE", azQuery("code_challenge", "\x00", "code_challenge_method", "\x00"), 0, "invalid_request", "xyz"},
		{"PKCE without method", azQuery("code_challenge_method", "\x00"), 0, "invalid_request", "xyz"},
		{"PKCE plain", azQuery("code_challenge_method", "plain", "code_challenge", azVerifier), 0, "invalid_request", "xyz"},
		{"malformed challenge", azQuery("code_challenge", "short"), 0, "invalid_request", "xyz"},
		{"state of 10 KiB", azQuery("state", tenK), 0, "invalid_request", ""},
		{"scope wider than the client's", azQuery("scope", "read admin"), 0, "invalid_scope", "xyz"},
		{"malformed scope", azQuery("scope", "read  write"), 0, "invalid_scope", "xyz"},
		{"client without the grant", azQuery("client_id", "nocode"), 0, "unauthorized_client", "xyz"},
		{"repeated state", azQuery() + "&state=abc", 0, "invalid_request", "xyz"},
		{"repeated response_type", azQuery() + "&response_type=code", 0, "invalid_request", "xyz"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			az, login, _ := newAZ(t)
			rec := httptest.NewRecorder()
			az.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://auth.example/authorize?"+c.query, nil))
			if login.seen != nil {
				t.Fatal("the login page ran")
			}
			if c.page != 0 {
				if rec.Code != c.page || rec.Header().Get("Location") != "" {
					t.Fatalf("got %d Location %q, want %d and no redirect", rec.Code, rec.Header().Get("Location"), c.page)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type: got %q", ct)
				}
				return
			}
			if rec.Code != http.StatusFound {
				t.Fatalf("got %d %s, want 302", rec.Code, rec.Body)
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != azRedirect {
				t.Fatalf("Location %q, want the registered redirect URI", rec.Header().Get("Location"))
			}
			q := loc.Query()
			if q.Get("error") != c.error || q.Get("state") != c.state || q.Get("iss") != azIssuer || q.Has("code") {
				t.Errorf("redirect query: got %v, want error %q, state %q, iss", q, c.error, c.state)
			}
		})
	}
}

func TestAuthorizeApproveAndDeny(t *testing.T) {
	t.Parallel()
	az, login, codes := newAZ(t)
	target := "https://auth.example/authorize?" + azQuery("scope", "read")
	// GET: the login page gets the validated request.
	rec := httptest.NewRecorder()
	az.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != 200 || rec.Body.String() != "login form" || login.seen == nil {
		t.Fatalf("GET: got %d %q", rec.Code, rec.Body)
	}
	if ar := login.seen; ar.ClientID != "spa" || ar.RedirectURI != azRedirect || ar.State != "xyz" || ar.CodeChallenge != azChallenge || strings.Join(ar.Scopes, " ") != "read" {
		t.Errorf("request: got %+v", ar)
	}
	// POST from the same origin: a code for alice.
	post := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		rec := httptest.NewRecorder()
		az.ServeHTTP(rec, r)
		return rec
	}
	rec = post("username=alice&password=wonderland")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST: got %d %s, want 303", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	q := loc.Query()
	code := q.Get("code")
	if len(code) != 43 || q.Get("state") != "xyz" || q.Get("iss") != azIssuer || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("redirect: %v (headers %v)", q, rec.Header())
	}
	got, err := codes.LookupAuthCode(context.Background(), sha256.Sum256([]byte(code)))
	if err != nil || got.Username != "alice" || got.ClientID != "spa" || got.RedirectURI != azRedirect || got.CodeChallenge != azChallenge ||
		!got.ExpiresAt.Equal(tokNow.Add(time.Minute)) {
		t.Errorf("stored code: got %+v, %v", got, err)
	}
	// Deny.
	rec = post("deny=1")
	loc, _ = url.Parse(rec.Header().Get("Location"))
	if q := loc.Query(); rec.Code != http.StatusSeeOther || q.Get("error") != "access_denied" || q.Get("state") != "xyz" || q.Has("code") {
		t.Errorf("deny: got %d %v", rec.Code, q)
	}
	// Authorization parameters in the body as well: refused.
	rec = post("client_id=spa&username=alice")
	loc, _ = url.Parse(rec.Header().Get("Location"))
	if q := loc.Query(); q.Get("error") != "invalid_request" {
		t.Errorf("parameters in the body: got %d %v", rec.Code, q)
	}
	// A cross-origin form post: refused with a page, no redirect.
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader("username=alice"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	rec = httptest.NewRecorder()
	az.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden || rec.Header().Get("Location") != "" {
		t.Errorf("cross-site POST: got %d Location %q, want 403 and no redirect", rec.Code, rec.Header().Get("Location"))
	}
	// No state: none sent back. A registered URI with a query keeps it.
	rec = httptest.NewRecorder()
	az.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://auth.example/authorize?"+azQuery("state", "\x00", "response_type", "token", "redirect_uri", "http://localhost:3000/callback?x=1"), nil))
	loc, _ = url.Parse(rec.Header().Get("Location"))
	if q := loc.Query(); q.Has("state") || q.Get("x") != "1" || q.Get("error") != "unsupported_response_type" {
		t.Errorf("no state: got %v", q)
	}
}

func TestNewAuthorizeEndpointConfig(t *testing.T) {
	t.Parallel()
	_, err := NewAuthorizeEndpoint(AuthorizeEndpointConfig{Issuer: "auth.example", CodeTTL: 2 * time.Minute, MaxStateBytes: -1,
		TrustedProxies: []netip.Prefix{{}}})
	for _, want := range []string{"Clients is nil", "Codes is nil", "Login is nil", "Issuer \"auth.example\"", "CodeTTL 2m0s", "MaxStateBytes is negative",
		"AuthorizeEndpointConfig.TrustedProxies: invalid trusted proxy prefix"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error mentioning %q", err, want)
		}
	}
}

func TestMemoryAuthCodesSingleUse(t *testing.T) {
	t.Parallel()
	now := tokNow
	s := &MemoryAuthCodes{Now: func() time.Time { return now }}
	ctx := context.Background()
	d := sha256.Sum256([]byte("code"))
	if err := s.SaveAuthCode(ctx, d, AuthCode{ClientID: "spa", ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 50)
	for range 50 {
		go func() { _, _, err := s.RedeemAuthCode(ctx, d, AuthRedemption{Now: now}); results <- err }()
	}
	wins := 0
	for range 50 {
		switch err := <-results; err {
		case nil:
			wins++
		case ErrCodeReused:
		default:
			t.Errorf("redeem: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("concurrent redemptions won: %d, want 1", wins)
	}
	now = now.Add(time.Minute)
	if _, _, err := s.RedeemAuthCode(ctx, d, AuthRedemption{Now: now}); err != guard.ErrNotFound {
		t.Errorf("expired: got %v, want ErrNotFound", err)
	}
}

// TestAuthorizeTransport: the endpoint needs TLS (RFC 6749 §3.1) by the
// token endpoint's rule; a plain-HTTP request from another host gets the
// error page, is never redirected and never reaches the login page.
func TestAuthorizeTransport(t *testing.T) {
	t.Parallel()
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name       string
		cfg        func(*AuthorizeEndpointConfig)
		remote     string
		tls        bool
		proto      string // X-Forwarded-Proto
		wantStatus int
	}{
		{"TLS", nil, "192.0.2.1:4000", true, "", 200},
		{"plain HTTP from loopback", nil, "127.0.0.1:4000", false, "", 200},
		{"plain HTTP from another host", nil, "192.0.2.1:4000", false, "", 400},
		{"untrusted peer claiming https", nil, "192.0.2.1:4000", false, "https", 400},
		{"trusted proxy saying https", func(c *AuthorizeEndpointConfig) { c.TrustedProxies = proxy }, "10.0.0.2:80", false, "https", 200},
		{"trusted proxy saying http", func(c *AuthorizeEndpointConfig) { c.TrustedProxies = proxy }, "10.0.0.2:80", false, "http", 400},
		{"dangerous option", func(c *AuthorizeEndpointConfig) { c.DangerouslyAllowInsecureHTTP = true }, "192.0.2.1:4000", false, "", 200},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				t.Parallel()
				login := &azLogin{}
				cfg := AuthorizeEndpointConfig{Clients: azClients, Codes: &MemoryAuthCodes{Now: func() time.Time { return tokNow }},
					Login: login, Issuer: azIssuer, Now: func() time.Time { return tokNow }}
				if tt.cfg != nil {
					tt.cfg(&cfg)
				}
				az, err := NewAuthorizeEndpoint(cfg)
				if err != nil {
					t.Fatal(err)
				}
				login.az = az
				var body io.Reader
				if method == http.MethodPost {
					body = strings.NewReader("username=alice&password=wonderland")
				}
				r := httptest.NewRequest(method, "http://auth.example/authorize?"+azQuery(), body)
				if method == http.MethodPost {
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if tt.tls {
					r.TLS = &tls.ConnectionState{}
				}
				r.RemoteAddr = tt.remote
				if tt.proto != "" {
					r.Header.Set("X-Forwarded-Proto", tt.proto)
				}
				rec := httptest.NewRecorder()
				az.ServeHTTP(rec, r)
				want := tt.wantStatus
				if want == 200 && method == http.MethodPost {
					want = http.StatusSeeOther // approved and redirected
				}
				if rec.Code != want {
					t.Fatalf("status: got %d, want %d (%s)", rec.Code, want, rec.Body)
				}
				if tt.wantStatus == 400 {
					if loc := rec.Header().Get("Location"); loc != "" || login.seen != nil {
						t.Errorf("refused request: Location %q, login page reached %v", loc, login.seen != nil)
					}
					if !strings.Contains(rec.Body.String(), "TLS required") {
						t.Errorf("body: got %q, want it to say TLS required", rec.Body)
					}
				}
			})
		}
	}
}
