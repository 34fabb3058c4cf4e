package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/guardtest"
)

func testApp(t *testing.T) *app {
	t.Helper()
	cfg := config{
		issuer: "http://localhost:9000", audience: "api", rotateEvery: 5 * time.Minute,
		tokenTTL: 15 * time.Minute, retireAfter: 20 * time.Minute, bcryptCost: 10,
		resources: []string{"http://localhost:9001", "http://localhost:9002/mcp"},
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	st, err := openStores(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The service's contract, through the handler main serves.
func TestAuthService(t *testing.T) {
	a := testApp(t)
	v, err := guard.NewVerifier(guard.VerifierConfig{KeySource: a.keys, Issuers: []string{"http://localhost:9000"}, Audiences: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		method      string
		target      string
		form        url.Values
		basic       [2]string
		status      int
		header      map[string]string // each must equal
		body        []string          // each must appear
		subject     string            // the token's sub, for a 200 from /token
		roles       []string
		scope       string
		wwwAuthWant string
	}{
		{name: "discovery", method: "GET", target: "/.well-known/openid-configuration", status: 200,
			header: map[string]string{"Content-Type": "application/json"},
			body: []string{`"issuer":"http://localhost:9000"`, `"jwks_uri":"http://localhost:9000/.well-known/jwks.json"`,
				`"token_endpoint":"http://localhost:9000/token"`, `"id_token_signing_alg_values_supported":["ES256"]`}},
		{name: "jwks", method: "GET", target: "/.well-known/jwks.json", status: 200,
			header: map[string]string{"Content-Type": "application/jwk-set+json", "Cache-Control": "public, max-age=75"},
			body:   []string{`"kty":"EC"`, `"alg":"ES256"`, `"crv":"P-256"`}},
		{name: "alice logs in through demo-app", method: "POST", target: "/token",
			form:   url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "client_id": {"demo-app"}},
			status: 200, header: map[string]string{"Cache-Control": "no-store"}, subject: "alice", roles: []string{"admin"}},
		{name: "bob logs in", method: "POST", target: "/token",
			form:   url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"builder"}, "client_id": {"demo-app"}},
			status: 200, subject: "bob", roles: []string{"user"}},
		{name: "password grant without a client", method: "POST", target: "/token",
			form:   url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}},
			status: 401, body: []string{`"error":"invalid_client"`}, wwwAuthWant: "Basic"},
		{name: "wrong password", method: "POST", target: "/token",
			form:   url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"nope"}, "client_id": {"demo-app"}},
			status: 400, body: []string{`"error":"invalid_grant"`}},
		{name: "client credentials", method: "POST", target: "/token", basic: [2]string{"demo-client", "demo-secret"},
			form: url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, status: 200, subject: "demo-client", scope: "read"},
		{name: "client credentials, wrong secret", method: "POST", target: "/token", basic: [2]string{"demo-client", "wrong"},
			form: url.Values{"grant_type": {"client_credentials"}}, status: 401, body: []string{`"error":"invalid_client"`}, wwwAuthWant: "Basic"},
		{name: "demo-app may not use client credentials", method: "POST", target: "/token",
			form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"demo-app"}}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.form != nil {
				body = strings.NewReader(tt.form.Encode())
			}
			r := httptest.NewRequest(tt.method, tt.target, body)
			r.RemoteAddr = "127.0.0.1:5000"
			if tt.form != nil {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.basic[0] != "" {
				r.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			w := httptest.NewRecorder()
			a.handler.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			for k, want := range tt.header {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.wwwAuthWant) || tt.wwwAuthWant == "" && got != "" {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.wwwAuthWant)
			}
			for _, s := range tt.body {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("body: got %s, want it to contain %s", w.Body, s)
				}
			}
			if tt.subject == "" {
				return
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), tok.AccessToken)
			if err != nil {
				t.Fatalf("the token does not verify: %v", err)
			}
			if c.Subject != tt.subject || strings.Join(c.Audience, ",") != "api" || c.Issuer != "http://localhost:9000" {
				t.Errorf("claims: got sub %q aud %q iss %q", c.Subject, c.Audience, c.Issuer)
			}
			if strings.Join(c.Roles, ",") != strings.Join(tt.roles, ",") {
				t.Errorf("roles: got %q, want %q", c.Roles, tt.roles)
			}
			if tok.TokenType != "Bearer" || strings.Join(c.Scopes, " ") != tt.scope {
				t.Errorf("token type %q, scopes %q; want Bearer, %q", tok.TokenType, c.Scopes, tt.scope)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("ROTATE_EVERY", "soon")
	t.Setenv("TOKEN_TTL", "-1m")
	_, err := configFromEnv(nil)
	if err == nil || !strings.Contains(err.Error(), "ROTATE_EVERY") || !strings.Contains(err.Error(), "TOKEN_TTL") {
		t.Errorf("got %v, want errors for ROTATE_EVERY and TOKEN_TTL", err)
	}
	t.Setenv("ROTATE_EVERY", "")
	t.Setenv("TOKEN_TTL", "")
	cfg, err := configFromEnv(nil)
	if err != nil || cfg.rotateEvery != 5*time.Minute || cfg.tokenTTL != 15*time.Minute || cfg.retireAfter != 20*time.Minute ||
		cfg.issuer != "http://localhost:9000" || cfg.audience != "api" ||
		!slices.Equal(cfg.resources, []string{"http://localhost:9001", "http://localhost:9002/mcp"}) {
		t.Errorf("defaults: got %+v, %v", cfg, err)
	}
	t.Setenv("RESOURCES", " https://api.example.com , http://localhost:9002/mcp,")
	if cfg, err := configFromEnv(nil); err != nil || !slices.Equal(cfg.resources, []string{"https://api.example.com", "http://localhost:9002/mcp"}) {
		t.Errorf("RESOURCES: got %q, %v", cfg.resources, err)
	}
	t.Setenv("RESOURCES", "https://api.example.com,urn:x,https://h/p#f")
	if _, err := configFromEnv(nil); err == nil || !strings.Contains(err.Error(), `"urn:x"`) || !strings.Contains(err.Error(), `"https://h/p#f"`) {
		t.Errorf("bad RESOURCES: got %v", err)
	}
}

// The JWKS handler and the token endpoint are reachable only with their methods.
func TestAuthServiceMethods(t *testing.T) {
	a := testApp(t)
	for _, tt := range []struct {
		method, target string
		status         int
	}{{"GET", "/token", 405}, {"POST", "/.well-known/jwks.json", 405}, {"GET", "/nope", 404}} {
		w := httptest.NewRecorder()
		a.handler.ServeHTTP(w, httptest.NewRequest(tt.method, tt.target, nil))
		if w.Code != tt.status {
			t.Errorf("%s %s: got %d, want %d", tt.method, tt.target, w.Code, tt.status)
		}
	}
}

// TestConfigFromEnvReplicas: REDIS_URL needs the base64 of a 32-byte
// KEY_ENCRYPTION_KEY; ROTATE_EVERY goes down to 2s.
func TestConfigFromEnvReplicas(t *testing.T) {
	kek := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	for _, tt := range []struct {
		name              string
		redis, kek, every string
		want              string // "" for no error
	}{
		{"memory needs no key", "", "", "", ""},
		{"redis without a key", "redis://127.0.0.1:6379/0", "", "", "KEY_ENCRYPTION_KEY: required with REDIS_URL"},
		{"redis with a short key", "redis://127.0.0.1:6379/0", base64.StdEncoding.EncodeToString([]byte("short")), "", "exactly 32 bytes, got 5"},
		{"redis with a key that is not base64", "redis://127.0.0.1:6379/0", "not base64!", "", "exactly 32 bytes"},
		{"redis with a key", "redis://127.0.0.1:6379/0", kek, "2s", ""},
		{"redis with a URL-safe key without padding", "redis://127.0.0.1:6379/0", base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcde\xff")), "", ""},
		{"rotation under 2s", "", "", "1s", "ROTATE_EVERY: want at least 2s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REDIS_URL", tt.redis)
			t.Setenv("KEY_ENCRYPTION_KEY", tt.kek)
			t.Setenv("ROTATE_EVERY", tt.every)
			cfg, err := configFromEnv(nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if tt.redis != "" && (len(cfg.kek) != 32 || cfg.redisURL != tt.redis || cfg.redisPrefix != "guard:") {
					t.Errorf("got kek %d bytes, url %q, prefix %q", len(cfg.kek), cfg.redisURL, cfg.redisPrefix)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(fmt.Sprint(err), tt.kek) && tt.kek != "" {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

// TestRevokeAndIntrospect: the fixed contract of /revoke and /introspect:
// resource-api may introspect and nothing else; demo-app revokes with its
// client_id and the token alone.
func TestRevokeAndIntrospect(t *testing.T) {
	a := testApp(t)
	post := func(target string, form url.Values, user, pass string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "127.0.0.1:5000" // loopback: plain HTTP is accepted
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		w := httptest.NewRecorder()
		a.handler.ServeHTTP(w, r)
		return w
	}
	tok := guardtest.PostToken(t, a.handler, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "client_id": {"demo-app"}})
	if tok.RefreshToken == "" {
		t.Fatal("login: no refresh token")
	}
	active := func(token string) bool {
		t.Helper()
		w := post("/introspect", url.Values{"token": {token}}, "resource-api", "resource-secret")
		var ir struct {
			Active bool   `json:"active"`
			Sub    string `json:"sub"`
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &ir) != nil {
			t.Fatalf("introspect: %d %s", w.Code, w.Body)
		}
		return ir.Active
	}
	if !active(tok.AccessToken) {
		t.Fatal("a fresh access token is not active")
	}
	if w := post("/introspect", url.Values{"token": {tok.AccessToken}}, "resource-api", "wrong"); w.Code != 401 {
		t.Errorf("introspect with a wrong secret: got %d, want 401", w.Code)
	}
	if w := post("/introspect", url.Values{"token": {tok.AccessToken}}, "demo-client", "demo-secret"); w.Code != 400 || !strings.Contains(w.Body.String(), "unauthorized_client") {
		t.Errorf("introspect by a client without the permission: got %d %s", w.Code, w.Body)
	}
	if w := post("/token", url.Values{"grant_type": {"client_credentials"}}, "resource-api", "resource-secret"); w.Code != 400 || !strings.Contains(w.Body.String(), "unauthorized_client") {
		t.Errorf("resource-api asking for a token: got %d %s, want 400 unauthorized_client", w.Code, w.Body)
	}
	// A second login, ended by "log out everywhere" with its own token.
	second := guardtest.PostToken(t, a.handler, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "client_id": {"demo-app"}})
	r := httptest.NewRequest("POST", "/logout-everywhere", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("Authorization", "Bearer "+second.AccessToken)
	lw := httptest.NewRecorder()
	a.handler.ServeHTTP(lw, r)
	if lw.Code != 204 {
		t.Fatalf("logout everywhere: got %d %s", lw.Code, lw.Body)
	}
	if active(second.AccessToken) {
		t.Error("a token of a subject logged out everywhere is still active")
	}
	for _, token := range []string{tok.AccessToken, tok.RefreshToken} {
		if w := post("/revoke", url.Values{"token": {token}, "client_id": {"demo-app"}}, "", ""); w.Code != 200 {
			t.Fatalf("revoke by demo-app: got %d %s", w.Code, w.Body)
		}
	}
	if active(tok.AccessToken) {
		t.Error("a revoked access token is still active")
	}
	if w := post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"demo-app"}}, "", ""); w.Code != 400 {
		t.Errorf("refresh after revocation: got %d, want 400", w.Code)
	}
}

// TestCodeFlowWithResource: the fixed contract of /register, /authorize and
// the resource indicators. A client registers itself, alice signs in on the
// login form, and the code buys a token whose audience is the resource
// asked for; a resource not in RESOURCES is refused.
func TestCodeFlowWithResource(t *testing.T) {
	a := testApp(t)
	do := func(method, target, contentType, body string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:5000"
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		a.handler.ServeHTTP(w, r)
		return w
	}
	w := do("GET", "/.well-known/oauth-authorization-server", "", "")
	for _, want := range []string{`"authorization_endpoint":"http://localhost:9000/authorize"`, `"registration_endpoint":"http://localhost:9000/register"`,
		`"code_challenge_methods_supported":["S256"]`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metadata: %s lacks %s", w.Body, want)
		}
	}
	const redirect = "http://127.0.0.1:8080/callback"
	w = do("POST", "/register", "application/json", `{"client_name":"t","redirect_uris":["`+redirect+`"],"grant_types":["authorization_code","refresh_token"]}`)
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if w.Code != 201 || json.Unmarshal(w.Body.Bytes(), &reg) != nil || reg.ClientID == "" {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	if w := do("POST", "/register", "application/json", `{"redirect_uris":["http://evil.example/cb"]}`); w.Code != 400 || !strings.Contains(w.Body.String(), "invalid_redirect_uri") {
		t.Errorf("register with a plain-http non-loopback redirect URI: %d %s", w.Code, w.Body)
	}
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	authorize := func(resource string) string {
		return "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect}, "state": {"s"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "resource": {resource}}.Encode()
	}
	if w := do("GET", authorize("http://localhost:9001"), "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `name="password"`) ||
		!strings.Contains(w.Body.String(), "<h1>Sign in to "+reg.ClientID+"</h1>") || !strings.Contains(w.Body.String(), "The client calls itself “t”.") {
		t.Fatalf("login page: %d %s", w.Code, w.Body)
	}
	w = do("POST", authorize("http://localhost:9001"), "application/x-www-form-urlencoded", "username=alice&password=wonderland")
	loc, err := url.Parse(w.Header().Get("Location"))
	if w.Code != 303 || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("login: %d %q", w.Code, w.Header().Get("Location"))
	}
	tok := guardtest.PostToken(t, a.handler, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {reg.ClientID}, "code_verifier": {verifier}})
	v, err := guard.NewVerifier(guard.VerifierConfig{KeySource: a.keys, Issuers: []string{"http://localhost:9000"}, Audiences: []string{"http://localhost:9001"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok.AccessToken)
	if err != nil || c.Subject != "alice" || !slices.Equal(c.Audience, []string{"http://localhost:9001"}) || !slices.Equal(c.Scopes, []string{"read"}) {
		t.Errorf("the code's token: %+v, %v; want alice for http://localhost:9001 with scope read", c, err)
	}
	w = do("GET", authorize("http://localhost:9003"), "", "")
	if loc, _ := url.Parse(w.Header().Get("Location")); (w.Code != 302 && w.Code != 303) || loc == nil || loc.Query().Get("error") != "invalid_target" {
		t.Errorf("a resource not in RESOURCES: %d %q, want a redirect with invalid_target", w.Code, w.Header().Get("Location"))
	}
}
