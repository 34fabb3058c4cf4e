package guardtest

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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
