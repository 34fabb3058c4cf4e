package authserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/guardkit/guard"
)

// FuzzIntrospection sends arbitrary bodies and Authorization headers to the
// introspection endpoint. Properties: never a 500 or a panic; every answer
// is JSON with Cache-Control: no-store; a 200 is {"active":false} unless the
// form's one token is an access token that verifies; an error is never a
// 200. Seeds: the table cases here and testdata/fuzz/FuzzIntrospection.
func FuzzIntrospection(f *testing.F) {
	fx := newIntroFixture(f, func(c *TokenEndpointConfig) {
		c.Limiter, c.IPLimiter, c.AccountLimiter, c.Logger = tokNopLimiter{}, tokNopLimiter{}, tokNopLimiter{}, nil
	})
	fx.e.hasher = fx.hasher
	at := fx.issue(f, guard.Claims{ClientID: "app", Scopes: []string{"read"}})
	basicRS := "Basic " + basicCred(introRS, tokWebPW)
	for _, s := range []struct{ body, auth string }{
		{form("token", at), basicRS},
		{form("token", at, "token_type_hint", "access_token", "client_id", introRS, "client_secret", tokWebPW), ""},
		{form("token", newRefreshToken(nil).raw, "token_type_hint", "refresh_token"), basicRS},
		{form("token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"), basicRS},
		{form("token", "a.b.c"), "Basic " + basicCred(tokWebID, tokWebPW)},
		{"token=%zz", basicRS},
		{"token=a&token=b", basicRS},
		{"token=", basicRS},
		{"token=x", "Basic Og=="},
		{"token=x", "Bearer x"},
		{form("token", "x", "client_id", "app"), ""},
	} {
		f.Add(s.body, s.auth)
	}
	f.Fuzz(func(t *testing.T, body, auth string) {
		r := httptest.NewRequest(http.MethodPost, "https://auth.example/introspect", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		fx.introspect.ServeHTTP(rec, r)
		switch {
		case rec.Code >= 500 && rec.Code != 503, rec.Code < 200, rec.Code > 200 && rec.Code < 400:
			t.Fatalf("status %d (body %q)", rec.Code, rec.Body.String())
		}
		if rec.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("headers %v", rec.Header())
		}
		if rec.Code != 200 || rec.Body.String() == introInactive {
			return
		}
		if !strings.HasPrefix(rec.Body.String(), `{"active":true,`) {
			t.Fatalf("200 with body %q", rec.Body.String())
		}
		v, err := url.ParseQuery(body)
		if err != nil || len(v["token"]) != 1 {
			t.Fatalf("active answer for a malformed form %q", body)
		}
		if _, err := fx.verifier.Verify(context.Background(), v["token"][0]); err != nil {
			t.Fatalf("active answer for a token that does not verify (%v): %q", err, body)
		}
	})
}

func basicCred(id, secret string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
