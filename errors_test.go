package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWriteErrorSentinels(t *testing.T) {
	const bearer = `Bearer realm="api"`
	tests := []struct {
		err        error
		status     int
		challenge  string
		body       string
		retryAfter string
	}{
		{ErrNoCredentials, 401, bearer, `{"error":"unauthorized","error_description":"authentication required"}`, ""},
		{ErrInvalidRequest, 400, bearer + `, error="invalid_request", error_description="malformed request"`, `{"error":"invalid_request","error_description":"malformed request"}`, ""},
		{ErrInvalidToken, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrInsufficientScope, 403, bearer + `, error="insufficient_scope", error_description="insufficient privileges"`, `{"error":"insufficient_scope","error_description":"insufficient privileges"}`, ""},
		{ErrMalformedToken, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrTokenTooLarge, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrInvalidSignature, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrAlgorithm, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrUnknownKey, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrTokenExpired, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrTokenNotYetValid, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrInvalidIssuer, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrInvalidAudience, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrMissingClaim, 401, bearer + `, error="invalid_token", error_description="invalid token"`, `{"error":"invalid_token","error_description":"invalid token"}`, ""},
		{ErrInvalidAPIKey, 401, `ApiKey realm="api"`, `{"error":"invalid_token","error_description":"invalid API key"}`, ""},
		{ErrPasswordMismatch, 400, "", `{"error":"invalid_grant","error_description":"invalid grant"}`, ""},
		{ErrInvalidGrant, 400, "", `{"error":"invalid_grant","error_description":"invalid grant"}`, ""},
		{ErrInvalidClient, 401, `Basic realm="api"`, `{"error":"invalid_client","error_description":"client authentication failed"}`, ""},
		{ErrInvalidScope, 400, "", `{"error":"invalid_scope","error_description":"invalid scope"}`, ""},
		{ErrUnauthorizedClient, 400, "", `{"error":"unauthorized_client","error_description":"unauthorized client"}`, ""},
		{ErrUnsupportedGrantType, 400, "", `{"error":"unsupported_grant_type","error_description":"unsupported grant type"}`, ""},
		{ErrBusy, 503, "", `{"error":"temporarily_unavailable","error_description":"server busy"}`, "1"},
		{ErrThrottled, 429, "", `{"error":"invalid_request","error_description":"too many failed attempts; retry later"}`, "1"},
		{fmt.Errorf("lookup: %w", ErrInvalidGrant), 400, "", `{"error":"invalid_grant","error_description":"invalid grant"}`, ""},
		{errors.New("db: connection refused at 10.0.0.1"), 500, "", `{"error":"server_error"}`, ""},
		{nil, 500, "", `{"error":"server_error"}`, ""},
	}
	for _, tt := range tests {
		name := "nil"
		if tt.err != nil {
			name = tt.err.Error()
		}
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
			checkError(t, rec, tt.status, tt.challenge, tt.body+"\n")
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After: got %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

func TestWriteErrorError(t *testing.T) {
	ch := []string{`Bearer realm="api"`}
	tests := []struct {
		name      string
		err       error
		status    int
		challenge string
		body      string
	}{
		{
			name:      "no credentials",
			err:       &Error{Status: 401, Description: "authentication required", Challenges: ch, Err: errors.New("secret detail")},
			status:    401,
			challenge: `Bearer realm="api"`,
			body:      `{"error":"unauthorized","error_description":"authentication required"}`,
		},
		{
			name:      "wrapped *Error",
			err:       fmt.Errorf("handler: %w", &Error{Status: 401, Code: "invalid_token", Description: "token expired", Challenges: ch, Err: ErrTokenExpired}),
			status:    401,
			challenge: `Bearer realm="api", error="invalid_token", error_description="token expired"`,
			body:      `{"error":"invalid_token","error_description":"token expired"}`,
		},
		{
			name:      "scope",
			err:       &Error{Status: 403, Code: "insufficient_scope", Scope: "admin", Challenges: ch},
			status:    403,
			challenge: `Bearer realm="api", error="insufficient_scope", scope="admin"`,
			body:      `{"error":"insufficient_scope","scope":"admin"}`,
		},
		{
			name:      "bare scheme",
			err:       &Error{Status: 401, Code: "invalid_token", Challenges: []string{"Bearer"}},
			status:    401,
			challenge: `Bearer error="invalid_token"`,
			body:      `{"error":"invalid_token"}`,
		},
		{
			name:      "other schemes are written as configured",
			err:       &Error{Status: 401, Code: "invalid_client", Description: "bad client", Challenges: []string{`Basic realm="token"`}},
			status:    401,
			challenge: `Basic realm="token"`,
			body:      `{"error":"invalid_client","error_description":"bad client"}`,
		},
		{
			name:      "Bearerish scheme is not Bearer",
			err:       &Error{Status: 401, Code: "invalid_token", Challenges: []string{`Bearerx realm="a"`}},
			status:    401,
			challenge: `Bearerx realm="a"`,
			body:      `{"error":"invalid_token"}`,
		},
		{
			name:   "status 0 becomes 500",
			err:    &Error{Code: "server_error"},
			status: 500,
			body:   `{"error":"server_error"}`,
		},
		{
			name:   "status 302 becomes 500",
			err:    &Error{Status: 302, Code: "server_error"},
			status: 500,
			body:   `{"error":"server_error"}`,
		},
		{
			name:      "header injection",
			err:       &Error{Status: 401, Code: "invalid_token", Description: "bad\r\nSet-Cookie: a=\"1\"\\ é\x00\x7f", Scope: "ad\"min\r\nX: y", Challenges: ch},
			status:    401,
			challenge: `Bearer realm="api", error="invalid_token", error_description="bad??Set-Cookie: a=?1?? ????", scope="ad?min??X: y"`,
			body:      `{"error":"invalid_token","error_description":"bad??Set-Cookie: a=?1?? ????","scope":"ad?min??X: y"}`,
		},
		{
			name:      "injection in the code",
			err:       &Error{Status: 400, Code: "x\"\r\ny", Challenges: ch},
			status:    400,
			challenge: `Bearer realm="api", error="x???y"`,
			body:      `{"error":"x???y"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
			checkError(t, rec, tt.status, tt.challenge, tt.body+"\n")
			for _, v := range rec.Header().Values("WWW-Authenticate") {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Errorf("WWW-Authenticate %q contains a control character", v)
				}
			}
			var m map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Errorf("body %q is not a JSON object of strings: %v", rec.Body, err)
			}
			if strings.Contains(rec.Body.String(), "detail") {
				t.Errorf("body %q leaks the cause", rec.Body)
			}
		})
	}
}

func TestWriteErrorRetryAfter(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Second, ""},
		{time.Nanosecond, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{2 * time.Second, "2"},
		{time.Minute + time.Millisecond, "61"},
		{math.MaxInt64, "9223372037"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, httptest.NewRequest(http.MethodPost, "/token", nil), &Error{Status: 503, Code: "temporarily_unavailable", RetryAfter: tt.d})
			if got := rec.Header().Values("Retry-After"); strings.Join(got, ",") != tt.want || len(got) > 1 {
				t.Errorf("Retry-After: got %q, want %q", got, tt.want)
			}
			if rec.Code != 503 {
				t.Errorf("status: got %d, want 503", rec.Code)
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	all := []error{ErrNoCredentials, ErrInvalidRequest, ErrInvalidToken, ErrInsufficientScope, ErrMalformedToken,
		ErrTokenTooLarge, ErrInvalidSignature, ErrAlgorithm, ErrUnknownKey, ErrTokenExpired, ErrTokenNotYetValid,
		ErrInvalidIssuer, ErrInvalidAudience, ErrMissingClaim, ErrInvalidAPIKey, ErrPasswordMismatch, ErrBusy,
		ErrInvalidGrant, ErrInvalidClient, ErrInvalidScope, ErrUnauthorizedClient, ErrUnsupportedGrantType, ErrThrottled}
	tests := []struct {
		name string
		err  error
		is   []error // exactly these of all match
	}{
		{"invalid_token", &Error{Status: 401, Code: "invalid_token"}, []error{ErrInvalidToken}},
		{"invalid_token expired", &Error{Status: 401, Code: "invalid_token", Err: ErrTokenExpired}, []error{ErrInvalidToken, ErrTokenExpired}},
		{"invalid_token wrapped detail", &Error{Status: 401, Code: "invalid_token", Err: fmt.Errorf("seg 2: %w", ErrMalformedToken)}, []error{ErrInvalidToken, ErrMalformedToken}},
		{"invalid_request", &Error{Status: 400, Code: "invalid_request"}, []error{ErrInvalidRequest}},
		{"insufficient_scope", &Error{Status: 403, Code: "insufficient_scope"}, []error{ErrInsufficientScope}},
		{"invalid_grant", &Error{Status: 400, Code: "invalid_grant", Err: ErrPasswordMismatch}, []error{ErrInvalidGrant, ErrPasswordMismatch}},
		{"invalid_client", &Error{Status: 401, Code: "invalid_client"}, []error{ErrInvalidClient}},
		{"invalid_scope", &Error{Status: 400, Code: "invalid_scope"}, []error{ErrInvalidScope}},
		{"unauthorized_client", &Error{Status: 400, Code: "unauthorized_client"}, []error{ErrUnauthorizedClient}},
		{"unsupported_grant_type", &Error{Status: 400, Code: "unsupported_grant_type"}, []error{ErrUnsupportedGrantType}},
		{"no code, 401", &Error{Status: 401}, []error{ErrNoCredentials}},
		{"no code, 403", &Error{Status: 403}, nil},
		{"unknown code", &Error{Status: 500, Code: "server_error"}, nil},
		{"API key", &Error{Status: 401, Code: "invalid_token", Err: fmt.Errorf("%w: revoked", ErrInvalidAPIKey)}, []error{ErrInvalidToken, ErrInvalidAPIKey}},
		{"wrapped *Error", fmt.Errorf("mw: %w", &Error{Status: 401, Code: "invalid_token", Err: ErrUnknownKey}), []error{ErrInvalidToken, ErrUnknownKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, target := range all {
				want := false
				for _, w := range tt.is {
					want = want || w == target
				}
				if got := errors.Is(tt.err, target); got != want {
					t.Errorf("errors.Is(%v, %v): got %v, want %v", tt.err, target, got, want)
				}
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Status: 401, Code: "invalid_token", Description: "token expired", Err: ErrTokenExpired}, "guard: invalid_token: token expired (guard: token expired)"},
		{&Error{Status: 401, Description: "authentication required"}, "guard: Unauthorized: authentication required"},
		{&Error{Status: 403, Code: "insufficient_scope"}, "guard: insufficient_scope"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error(): got %q, want %q", got, tt.want)
		}
	}
}

// TestVerifierErrorsAreSafe checks every *Error the verifier can write: the
// header and body it produces stay within the RFC 6750 character set.
func TestVerifierErrorsAreSafe(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	e := v.errs
	for _, err := range []*Error{e.noCredentials, e.invalidRequest, e.twoCredentials, e.malformed, e.tooLarge,
		e.signature, e.alg, e.kid, e.crit, e.typ, e.expired, e.notYet, e.issued, e.issuer, e.audience,
		e.missingExp, e.missingSub, e.claims} {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), err)
		if rec.Code != err.Status || rec.Code >= 500 {
			t.Errorf("%v: status %d", err, rec.Code)
		}
		if len(rec.Header().Values("WWW-Authenticate")) != 1 {
			t.Errorf("%v: got challenges %q, want one", err, rec.Header().Values("WWW-Authenticate"))
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%v: body %q is not JSON", err, rec.Body)
		}
		want := err.Code != "" && !errors.Is(err, ErrNoCredentials)
		if got := errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrInvalidRequest); got != want {
			t.Errorf("%v: errors.Is invalid_token/invalid_request: got %v, want %v", err, got, want)
		}
	}
}
