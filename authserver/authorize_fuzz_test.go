package authserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAuthorize: any query string, body and method. The endpoint never
// panics, never answers 500, redirects only to a registered redirect URI
// (with iss), and hands the login page only fully valid requests.
func FuzzAuthorize(f *testing.F) {
	for _, s := range []string{
		azQuery(), azQuery("scope", "read"), azQuery("response_type", "token"), azQuery("redirect_uri", azRedirect+"/"),
		azQuery("code_challenge_method", "plain"), azQuery("state", strings.Repeat("s", 2000)), azQuery() + "&client_id=x",
		"client_id=spa&redirect_uri=" + url.QueryEscape(azRedirect), "%zz", "",
	} {
		f.Add(s, "", false)
		f.Add(s, "client_id=spa", true)
	}
	f.Fuzz(func(t *testing.T, query, body string, post bool) {
		az, login, _ := newAZ(t)
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, "https://auth.example/authorize", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		rec := httptest.NewRecorder()
		az.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("status %d", rec.Code)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("Location %q: %v", loc, err)
			}
			q := u.Query()
			u.RawQuery = ""
			base := u.String()
			registered := false
			for _, c := range azClients {
				for _, ru := range c.RedirectURIs {
					ru, _, _ = strings.Cut(ru, "?")
					registered = registered || ru == base
				}
			}
			if !registered || q.Get("iss") != azIssuer {
				t.Fatalf("redirect to %q (iss %q)", loc, q.Get("iss"))
			}
		}
		if login.seen != nil {
			ar := login.seen
			if !validCodeChallenge(ar.CodeChallenge) || ar.ClientID != "spa" {
				t.Fatalf("login page got %+v", ar)
			}
		}
	})
}
