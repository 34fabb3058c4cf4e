package guardtest

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// AssertNoCredentials checks RFC 6750 §3.1's answer to a request without
// credentials: 401, a Bearer challenge without an error code, and
// Cache-Control: no-store.
func AssertNoCredentials(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	assertBearer(t, rec, 401, "", "")
}

// AssertInvalidToken checks the answer to a token that does not verify: 401
// with `error="invalid_token"` in the Bearer challenge and the body.
func AssertInvalidToken(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	assertBearer(t, rec, 401, "invalid_token", "")
}

// AssertInvalidRequest checks the answer to a malformed request: 400 with
// `error="invalid_request"`.
func AssertInvalidRequest(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	assertBearer(t, rec, 400, "invalid_request", "")
}

// AssertInsufficientScope checks the answer to an authenticated request that
// lacks a role or scope: 403 with `error="insufficient_scope"` and
// `scope="<scope>"` in the Bearer challenge.
func AssertInsufficientScope(t testing.TB, rec *httptest.ResponseRecorder, scope string) {
	t.Helper()
	assertBearer(t, rec, 403, "insufficient_scope", scope)
}

func assertBearer(t testing.TB, rec *httptest.ResponseRecorder, status int, code, scope string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status: got %d, want %d (body %q)", rec.Code, status, rec.Body.String())
	}
	var bearer string
	for _, c := range rec.Header().Values("WWW-Authenticate") {
		if len(c) >= 6 && strings.EqualFold(c[:6], "Bearer") {
			bearer = c
		}
	}
	if bearer == "" {
		t.Errorf("WWW-Authenticate: got %q, want a Bearer challenge", rec.Header().Values("WWW-Authenticate"))
		return
	}
	hasCode := strings.Contains(bearer, `error="`)
	switch {
	case code == "" && hasCode:
		t.Errorf("challenge %q: want no error code (RFC 6750 §3.1)", bearer)
	case code != "" && !strings.Contains(bearer, `error="`+code+`"`):
		t.Errorf("challenge %q: want error=%q", bearer, code)
	}
	if scope != "" && !strings.Contains(bearer, `scope="`+scope+`"`) {
		t.Errorf("challenge %q: want scope=%q", bearer, scope)
	}
	if code != "" && !strings.Contains(rec.Body.String(), `"error":"`+code+`"`) {
		t.Errorf("body %q: want error %q", rec.Body.String(), code)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
}
