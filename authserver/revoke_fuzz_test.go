package authserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRefreshRevocation sends arbitrary bodies to the refresh grant and the
// revocation endpoint. Properties: never a 500 or a panic; errors are JSON
// with no-store; a refresh succeeds only with a token the store issued (none
// here, so never); the revocation endpoint's 200 has an empty body. Seeds:
// the table cases here and testdata/fuzz/FuzzRefreshRevocation.
func FuzzRefreshRevocation(f *testing.F) {
	tok := newRefreshToken(nil).raw
	for _, s := range []struct {
		body, auth string
		revoke     bool
	}{
		{form("grant_type", "refresh_token", "refresh_token", tok, "client_id", "app"), "", false},
		{form("grant_type", "refresh_token", "refresh_token", tok, "scope", "read"), "", false},
		{form("grant_type", "refresh_token", "refresh_token", strings.Repeat("!", 43)), "", false},
		{"grant_type=refresh_token&refresh_token=", "", false},
		{"grant_type=refresh_token&refresh_token=a&refresh_token=b", "", false},
		{form("grant_type", "refresh_token", "refresh_token", tok), "Basic d2ViOndlYi1zZWNyZXQ=", false},
		{form("token", tok, "token_type_hint", "refresh_token"), "", true},
		{form("token", "a.b.c", "token_type_hint", "access_token", "client_id", "app"), "", true},
		{form("token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"), "", true},
		{"token=%zz", "", true},
		{"token=x&token_type_hint=weird", "Basic Og==", true},
	} {
		f.Add(s.body, s.auth, s.revoke)
	}
	fx := newRevFixture(f, func(c *TokenEndpointConfig) {
		c.Limiter, c.IPLimiter, c.AccountLimiter, c.Logger = tokNopLimiter{}, tokNopLimiter{}, tokNopLimiter{}, nil
	})
	fx.e.hasher = fx.hasher
	f.Fuzz(func(t *testing.T, body, auth string, revoke bool) {
		r := httptest.NewRequest(http.MethodPost, tokTestHost, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		if revoke {
			fx.revoke.ServeHTTP(rec, r)
		} else {
			fx.e.ServeHTTP(rec, r)
		}
		switch {
		case rec.Code == 200 && revoke:
			if rec.Body.Len() != 0 {
				t.Fatalf("revocation 200 with a body %q", rec.Body.String())
			}
		case rec.Code == 200 && strings.Contains(body, "refresh_token"):
			t.Fatalf("refresh succeeded without an issued token: %q", body)
		case rec.Code >= 500 && rec.Code != 503, rec.Code < 200, rec.Code > 200 && rec.Code < 400:
			t.Fatalf("status %d (body %q)", rec.Code, rec.Body.String())
		}
		if rec.Code != 200 && (rec.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json")) {
			t.Fatalf("headers %v", rec.Header())
		}
	})
}
