package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard/authserver"
	"github.com/guardkit/guard/examples/server/app"
)

const (
	spaRedirect = "http://localhost:3000/callback"
	testIssuer  = "http://localhost:8000"
	// RFC 7636 Appendix B.
	testVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	testChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// The authorization code flow with PKCE of the public client demo-spa
// (RFC 6749 §4.1, RFC 7636, RFC 9207), through the handler main serves.
func TestAuthorizationCodeFlow(t *testing.T) {
	if sum := sha256.Sum256([]byte(testVerifier)); base64.RawURLEncoding.EncodeToString(sum[:]) != testChallenge {
		t.Fatal("test vector: challenge is not S256(verifier)")
	}
	h := testApp(t, func(c *app.Config) { c.Issuer = testIssuer })
	do := func(method, target string, body url.Values, header map[string]string) *httptest.ResponseRecorder {
		return serve(h, method, target, body, header)
	}
	authorizeURL := func(mod func(url.Values)) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"demo-spa"}, "redirect_uri": {spaRedirect},
			"scope": {"read"}, "state": {"xyz"}, "code_challenge": {testChallenge}, "code_challenge_method": {"S256"}}
		if mod != nil {
			mod(q)
		}
		return "/authorize?" + q.Encode()
	}

	t.Run("login page", func(t *testing.T) {
		tests := []struct {
			name       string
			method     string
			form       url.Values
			header     map[string]string
			wantStatus int
			wantBody   []string
		}{
			{name: "GET shows the form", method: "GET", wantStatus: 200,
				wantBody: []string{`<form method="post" action="">`, `name="username"`, `name="password" type="password"`, "Sign in to demo-spa", "<code>read</code>"}},
			{name: "wrong password", method: "POST", form: url.Values{"username": {"alice"}, "password": {"nope"}}, wantStatus: 401,
				wantBody: []string{"Wrong username or password.", `<form method="post" action="">`}},
			{name: "unknown user", method: "POST", form: url.Values{"username": {"mallory"}, "password": {"wonderland"}}, wantStatus: 401,
				wantBody: []string{"Wrong username or password."}},
			{name: "empty form", method: "POST", form: url.Values{}, wantStatus: 401,
				wantBody: []string{"Wrong username or password."}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := do(tt.method, authorizeURL(nil), tt.form, tt.header)
				if w.Code != tt.wantStatus {
					t.Fatalf("status: got %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
				}
				for k, v := range map[string]string{
					"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Frame-Options": "DENY",
					"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'", "Location": "",
				} {
					if got := w.Header().Get(k); got != v {
						t.Errorf("%s: got %q, want %q", k, got, v)
					}
				}
				for _, b := range tt.wantBody {
					if !strings.Contains(w.Body.String(), b) {
						t.Errorf("body: got %s, want it to contain %s", w.Body, b)
					}
				}
			})
		}
	})

	t.Run("refused requests", func(t *testing.T) {
		tests := []struct {
			name         string
			method       string
			target       string
			header       map[string]string
			wantStatus   int
			wantLocation string // prefix; "" for none
			wantBody     string
		}{
			{name: "unregistered redirect URI: error page, no redirect", method: "GET",
				target: authorizeURL(func(q url.Values) { q.Set("redirect_uri", spaRedirect+"/") }), wantStatus: 400, wantBody: "redirect_uri"},
			{name: "client without registered redirect URIs: error page", method: "GET",
				target: authorizeURL(func(q url.Values) { q.Set("client_id", "demo-app") }), wantStatus: 400, wantBody: "not registered"},
			{name: "implicit grant refused", method: "GET",
				target: authorizeURL(func(q url.Values) { q.Set("response_type", "token") }), wantStatus: 302,
				wantLocation: spaRedirect + "?error=unsupported_response_type"},
			{name: "plain PKCE refused", method: "GET",
				target: authorizeURL(func(q url.Values) { q.Set("code_challenge_method", "plain") }), wantStatus: 302,
				wantLocation: spaRedirect + "?error=invalid_request"},
			{name: "scope beyond the client's", method: "GET",
				target: authorizeURL(func(q url.Values) { q.Set("scope", "read admin") }), wantStatus: 302,
				wantLocation: spaRedirect + "?error=invalid_scope"},
			{name: "cross-origin form post", method: "POST", target: authorizeURL(nil),
				header: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantStatus: 403, wantBody: "cross-origin"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var form url.Values
				if tt.method == "POST" {
					form = url.Values{"username": {"alice"}, "password": {"wonderland"}}
				}
				w := do(tt.method, tt.target, form, tt.header)
				if w.Code != tt.wantStatus {
					t.Fatalf("status: got %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
				}
				loc := w.Header().Get("Location")
				if tt.wantLocation == "" && loc != "" || !strings.HasPrefix(loc, tt.wantLocation) {
					t.Errorf("Location: got %q, want prefix %q", loc, tt.wantLocation)
				}
				if tt.wantLocation != "" {
					if q, _ := url.Parse(loc); q.Query().Get("state") != "xyz" || q.Query().Get("iss") != testIssuer {
						t.Errorf("Location %q: want state=xyz and iss=%s", loc, testIssuer)
					}
				}
				if !strings.Contains(w.Body.String(), tt.wantBody) {
					t.Errorf("body: got %s, want it to contain %s", w.Body, tt.wantBody)
				}
			})
		}
	})

	// Log in through the form; the code comes back in the Location.
	login := func(t *testing.T) string {
		t.Helper()
		w := do("POST", authorizeURL(nil), url.Values{"username": {"alice"}, "password": {"wonderland"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
		if w.Code != http.StatusSeeOther {
			t.Fatalf("login: got %d %s, want 303", w.Code, w.Body)
		}
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != spaRedirect {
			t.Errorf("redirected to %s, want %s", got, spaRedirect)
		}
		if q.Get("state") != "xyz" || q.Get("iss") != testIssuer || len(q.Get("code")) < 43 || len(q) != 3 {
			t.Errorf("redirect query: got %v, want code, state=xyz and iss=%s", q, testIssuer)
		}
		if got := w.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", got)
		}
		return q.Get("code")
	}
	exchange := func(code, verifier string) *httptest.ResponseRecorder {
		return do("POST", "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect},
			"client_id": {"demo-spa"}, "code_verifier": {verifier}}, map[string]string{"Origin": "http://localhost:3000"})
	}

	t.Run("code exchanged once, with the verifier", func(t *testing.T) {
		code := login(t)
		w := exchange(code, testVerifier)
		if w.Code != 200 {
			t.Fatalf("exchange: got %d %s, want 200", w.Code, w.Body)
		}
		for k, v := range map[string]string{"Cache-Control": "no-store", "Access-Control-Allow-Origin": "http://localhost:3000", "Content-Type": "application/json"} {
			if got := w.Header().Get(k); !strings.HasPrefix(got, v) {
				t.Errorf("%s: got %q, want %q", k, got, v)
			}
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			TokenType    string `json:"token_type"`
			ExpiresIn    int    `json:"expires_in"`
			RefreshToken string `json:"refresh_token"`
			Scope        string `json:"scope"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.AccessToken == "" || tok.RefreshToken == "" || tok.Scope != "" {
			t.Fatalf("token: got %s, want Bearer, 900 s, access and refresh tokens, the scope asked for", w.Body)
		}
		p := do("GET", "/protected", nil, map[string]string{"Authorization": "Bearer " + tok.AccessToken})
		if p.Code != 200 || !strings.Contains(p.Body.String(), `"subject":"alice"`) {
			t.Fatalf("/protected: got %d %s, want 200 as alice", p.Code, p.Body)
		}
		r := do("POST", "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"demo-spa"}}, nil)
		if r.Code != 200 || !strings.Contains(r.Body.String(), `"refresh_token":"`) {
			t.Fatalf("refresh: got %d %s, want 200 with a new refresh token", r.Code, r.Body)
		}
		again := exchange(code, testVerifier)
		if again.Code != 400 || !strings.Contains(again.Body.String(), `"error":"invalid_grant"`) {
			t.Fatalf("second exchange: got %d %s, want 400 invalid_grant", again.Code, again.Body)
		}
	})

	t.Run("wrong or missing verifier", func(t *testing.T) {
		for _, v := range []string{strings.Repeat("a", 43), strings.Repeat("a", 42)} {
			w := exchange(login(t), v)
			if w.Code != 400 || (!strings.Contains(w.Body.String(), `"error":"invalid_grant"`) && !strings.Contains(w.Body.String(), `"error":"invalid_request"`)) {
				t.Errorf("verifier %d chars: got %d %s, want 400 invalid_grant or invalid_request", len(v), w.Code, w.Body)
			}
		}
	})

	t.Run("token endpoint preflight from the SPA's origin", func(t *testing.T) {
		w := do("OPTIONS", "/token", nil, map[string]string{
			"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
		})
		if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") {
			t.Fatalf("preflight: got %d %v", w.Code, w.Header())
		}
	})

	t.Run("metadata", func(t *testing.T) {
		w := do("GET", "/.well-known/oauth-authorization-server", nil, nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("got %d %v", w.Code, w.Header())
		}
		var doc struct {
			Issuer        string   `json:"issuer"`
			Authorization string   `json:"authorization_endpoint"`
			Token         string   `json:"token_endpoint"`
			Methods       []string `json:"code_challenge_methods_supported"`
			ResponseTypes []string `json:"response_types_supported"`
			Iss           bool     `json:"authorization_response_iss_parameter_supported"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Issuer != testIssuer || doc.Authorization != testIssuer+"/authorize" || doc.Token != testIssuer+"/token" ||
			strings.Join(doc.Methods, ",") != "S256" || strings.Join(doc.ResponseTypes, ",") != "code" || !doc.Iss {
			t.Fatalf("got %s", w.Body)
		}
		if j := do("GET", "/.well-known/jwks.json", nil, nil); j.Code != 200 || strings.TrimSpace(j.Body.String()) != `{"keys":[]}` {
			t.Errorf("jwks: got %d %s, want 200 and an empty set", j.Code, j.Body)
		}
	})
}

// The login page and POST /token share one throttling budget: a guess on
// the page leaves the password grant throttled for that user and address,
// and the page answers 429 with Retry-After. The limiter allows one failure
// and then waits an hour, so the test does not depend on how long a hash
// takes (seconds under -race).
func TestLoginPageThrottling(t *testing.T) {
	h := testApp(t, func(c *app.Config) {
		c.Issuer = testIssuer
		c.Limiter = authserver.MustNewMemoryLimiter(authserver.MemoryLimiterConfig{Threshold: 1, BaseDelay: time.Hour, MaxDelay: time.Hour})
	})
	post := func(target string, form url.Values) *httptest.ResponseRecorder {
		return serve(h, http.MethodPost, target, form, nil)
	}
	page := "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"demo-spa"}, "redirect_uri": {spaRedirect},
		"scope": {"read"}, "state": {"xyz"}, "code_challenge": {testChallenge}, "code_challenge_method": {"S256"}}.Encode()
	if w := post(page, url.Values{"username": {"bob"}, "password": {"guess"}}); w.Code != http.StatusUnauthorized {
		t.Fatalf("guess: got %d, want 401", w.Code)
	}
	w := post(page, url.Values{"username": {"bob"}, "password": {"builder"}})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" ||
		!strings.Contains(w.Body.String(), "Too many attempts") {
		t.Errorf("page after a guess: got %d, Retry-After %q, body %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	w = post("/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"builder"}})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("POST /token after a guess on the page: got %d %s, want 429", w.Code, w.Body)
	}
}
