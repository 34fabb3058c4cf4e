package guardtest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BearerRequest is httptest.NewRequest with "Authorization: Bearer token"
// (none when token is empty).
func BearerRequest(method, target, token string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// TokenRequest is a POST of form to target (such as "/token") that a
// [authserver.TokenEndpoint] accepts: form-encoded, and over TLS as far as the
// endpoint can tell (httptest's default peer, 192.0.2.1, is not loopback, so
// a plain request would get 400 "TLS required"). The client IP stays
// 192.0.2.1; set RemoteAddr to test throttling per address.
func TokenRequest(target string, form url.Values) *http.Request {
	var body io.Reader = strings.NewReader(form.Encode())
	r := httptest.NewRequest(http.MethodPost, target, body)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r.TLS == nil {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	}
	return r
}

// PasswordForm is the form of a password grant (RFC 6749 §4.3.2).
func PasswordForm(username, password string, scopes ...string) url.Values {
	v := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	if len(scopes) > 0 {
		v.Set("scope", strings.Join(scopes, " "))
	}
	return v
}

// TokenResponse is a token endpoint's success body (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// PostToken posts form to h (a token endpoint, or a handler that mounts one
// at /token) as [TokenRequest] does, and returns the decoded response. Any
// status but 200, or a body that is not a token response, fails the test
// with the status and body. A client authenticates with client_id and
// client_secret in form (client_secret_post).
func PostToken(t testing.TB, h http.Handler, form url.Values) TokenResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, TokenRequest("/token", form))
	if rec.Code != http.StatusOK {
		t.Fatalf("guardtest: POST /token: got %d %s, want 200", rec.Code, rec.Body)
	}
	var tr TokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.AccessToken == "" || tr.TokenType == "" {
		t.Fatalf("guardtest: POST /token: not a token response: %s (%v)", rec.Body, err)
	}
	return tr
}
