package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const spaCallback = "http://localhost:3000/callback"

// TestOAuth2AuthorizationCode runs the authorization code flow with PKCE
// against the example server with golang.org/x/oauth2: AuthCodeURL, a login
// through the example's form, Exchange with the verifier, the API, a refresh.
func TestOAuth2AuthorizationCode(t *testing.T) {
	api := startExample(t, "http://localhost:3000")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	conf := &oauth2.Config{
		ClientID:    "demo-spa",
		RedirectURL: spaCallback,
		Scopes:      []string{"read"},
		Endpoint:    oauth2.Endpoint{AuthURL: api + "/authorize", TokenURL: api + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	state := "st-" + verifier[:8]
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))

	// A browser stand-in: keeps cookies, stops at the redirect to the client.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), spaCallback) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<form method="post" action="">`) {
		t.Fatalf("GET %s: got %d %s, want 200 and the login form", authURL, resp.StatusCode, page)
	}
	// The form's empty action posts to the page's own URL.
	post := func(password string) *http.Response {
		t.Helper()
		resp, err := browser.PostForm(authURL, url.Values{"username": {"alice"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if bad := post("not-" + alicePW); bad.StatusCode != 401 || bad.Header.Get("Location") != "" {
		t.Fatalf("wrong password: got %d Location %q, want 401 and no redirect", bad.StatusCode, bad.Header.Get("Location"))
	}
	resp = post(alicePW)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: got %d, want 303", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if q.Get("state") != state || q.Get("iss") != api || q.Get("code") == "" {
		t.Fatalf("redirect %s: want code, state %q and iss %q", loc, state, api)
	}

	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token: got type %q, refresh %t, expiry %v", tok.TokenType, tok.RefreshToken != "", tok.Expiry)
	}
	callAPI := func(ts oauth2.TokenSource) string {
		t.Helper()
		resp, err := oauth2.NewClient(ctx, ts).Get(api + "/protected")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Subject string `json:"subject"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/protected: got %d %v, want 200", resp.StatusCode, err)
		}
		return body.Subject
	}
	if got := callAPI(oauth2.StaticTokenSource(tok)); got != "alice" {
		t.Errorf("subject: got %q, want alice", got)
	}

	// Forced expiry: the TokenSource refreshes with the refresh token.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	ts := conf.TokenSource(ctx, &expired)
	if got := callAPI(ts); got != "alice" {
		t.Errorf("subject after refresh: got %q, want alice", got)
	}
	fresh, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || fresh.RefreshToken == "" {
		t.Errorf("refresh: want a new access token and a rotated refresh token")
	}

	// A code is good once: x/oauth2 sees invalid_grant, and the session
	// the code started is revoked (RFC 6749 §4.1.2).
	_, err = conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("second Exchange: got %v, want invalid_grant", err)
	}
	fresh.Expiry = time.Now().Add(-time.Minute)
	_, err = conf.TokenSource(ctx, fresh).Token()
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("refresh after the code's reuse: got %v, want invalid_grant", err)
	}
}
