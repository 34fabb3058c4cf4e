package authserver

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

var testLoginTemplate = template.Must(template.New("login").Parse(
	`<h1>Sign in to {{.ClientID}}</h1>{{with .Message}}<p role="alert">{{.}}</p>{{end}}<input name="username" value="{{.Username}}">`))

// failingCodes is an AuthCodeStore whose writes fail.
type failingCodes struct{ *MemoryAuthCodes }

func (failingCodes) SaveAuthCode(context.Context, [32]byte, AuthCode) error {
	return errors.New("code db down")
}

// TestLoginPage: the library's login page through a real AuthorizeEndpoint
// and TokenEndpoint: every answer's status, headers and page.
func TestLoginPage(t *testing.T) {
	pageHdr := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Cache-Control": {"no-store"},
			"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"}, "X-Frame-Options": {"DENY"}, "Referrer-Policy": {"no-referrer"}}
		for i := 0; i < len(extra); i += 2 {
			h[extra[i]] = []string{extra[i+1]}
		}
		return h
	}
	setup := func(t *testing.T, codes AuthCodeStore, mod func(*TokenEndpointConfig)) *AuthorizeEndpoint {
		t.Helper()
		f := newTokFixture(t, guard.PasswordHasherConfig{}, mod)
		page, err := NewLoginPage(LoginPageConfig{Tokens: f.e, Template: testLoginTemplate, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		az, err := NewAuthorizeEndpoint(AuthorizeEndpointConfig{Clients: azClients, Codes: codes, Login: page, Issuer: azIssuer,
			Now: func() time.Time { return tokNow }})
		if err != nil {
			t.Fatal(err)
		}
		return az
	}
	target := "https://auth.example/authorize?" + azQuery("scope", "read")
	do := func(az *AuthorizeEndpoint, body string) *httptest.ResponseRecorder {
		method := http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		rec := httptest.NewRecorder()
		az.ServeHTTP(rec, r)
		return rec
	}
	form := func(user, pw string) string { return url.Values{"username": {user}, "password": {pw}}.Encode() }
	codes := &MemoryAuthCodes{Now: func() time.Time { return tokNow }}
	az := setup(t, codes, nil)

	checkTokResponse(t, do(az, ""), 200, pageHdr(), `<h1>Sign in to spa</h1><input name="username" value="">`)
	checkTokResponse(t, do(az, form("alice", "nope")), 401, pageHdr(),
		`<h1>Sign in to spa</h1><p role="alert">Wrong username or password.</p><input name="username" value="alice">`)
	checkTokResponse(t, do(az, form(`<script>"x`, "nope")), 401, pageHdr(),
		`<h1>Sign in to spa</h1><p role="alert">Wrong username or password.</p><input name="username" value="&lt;script&gt;&#34;x">`)
	rec := do(az, form("alice", tokAlicePW))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusSeeOther || len(loc.Query().Get("code")) != 43 || loc.Query().Get("state") != "xyz" {
		t.Fatalf("right password: got %d %v, want 303 with a code", rec.Code, rec.Header())
	}
	// Three failures (the fixture's pair threshold) throttle the next
	// attempt: 429 with Retry-After, and the form again.
	for range 3 {
		if rec := do(az, form("alice", "nope")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("a failure before the threshold: got %d, want 401", rec.Code)
		}
	}
	checkTokResponse(t, do(az, form("alice", tokAlicePW)), 429, pageHdr("Retry-After", "1"),
		`<h1>Sign in to spa</h1><p role="alert">Too many attempts; try again later.</p><input name="username" value="alice">`)

	// The user store down: 503 with Retry-After.
	down := setup(t, codes, func(c *TokenEndpointConfig) { c.Users = tokFailingUsers{} })
	checkTokResponse(t, do(down, form("alice", tokAlicePW)), 503, pageHdr("Retry-After", "5"),
		`<h1>Sign in to spa</h1><p role="alert">Sign-in is unavailable; try again later.</p><input name="username" value="alice">`)
	// The code store down after a right password: 503, no redirect.
	noCodes := setup(t, failingCodes{codes}, nil)
	checkTokResponse(t, do(noCodes, form("alice", tokAlicePW)), 503, pageHdr("Retry-After", "5"),
		`<h1>Sign in to spa</h1><p role="alert">Sign-in is unavailable; try again later.</p><input name="username" value="alice">`)

	// Outside an AuthorizeEndpoint, and a config without its parts.
	page, _ := NewLoginPage(LoginPageConfig{Tokens: newTokFixture(t, guard.PasswordHasherConfig{}, nil).e, Template: testLoginTemplate})
	rec = httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("outside an AuthorizeEndpoint: got %d, want 400", rec.Code)
	}
	if _, err := NewLoginPage(LoginPageConfig{}); err == nil || !strings.Contains(err.Error(), "Tokens") {
		t.Errorf("empty config: got %v, want Tokens named", err)
	}
	// Without a Template, the page is DefaultLoginTemplate.
	if p, err := NewLoginPage(LoginPageConfig{Tokens: newTokFixture(t, guard.PasswordHasherConfig{}, nil).e}); err != nil || p.cfg.Template != DefaultLoginTemplate {
		t.Errorf("no Template: got %v, %v; want DefaultLoginTemplate", p, err)
	}
}
