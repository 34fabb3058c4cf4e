package authserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// failingRevocations is a RevocationStore whose writes fail.
type failingRevocations struct{ guard.RevocationStore }

func (failingRevocations) RevokeSubject(context.Context, string, time.Time) error {
	return errors.New("revocation db 10.0.0.7:6379: connection refused")
}

func TestLogoutEverywhere(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	newStore := func() *guard.MemoryRevocations {
		return guard.MustNewMemoryRevocations(guard.MemoryRevocationsConfig{Now: func() time.Time { return now }})
	}
	alice := &guard.Principal{Subject: "alice", Roles: []string{"user"}, Method: guard.MethodBearer}
	admin := &guard.Principal{Subject: "root", Roles: []string{"admin"}, Method: guard.MethodBearer}
	jsonHdr := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}}
		for i := 0; i < len(extra); i += 2 {
			h[extra[i]] = []string{extra[i+1]}
		}
		return h
	}
	tests := []struct {
		name    string
		method  string
		p       *guard.Principal
		body    string
		store   guard.RevocationStore // nil: a fresh MemoryRevocations
		status  int
		hdr     http.Header
		resp    string
		revoked []string // subjects revoked after the call
	}{
		{name: "own sessions", p: alice, status: 204, hdr: http.Header{"Cache-Control": {"no-store"}}, revoked: []string{"alice"}},
		{name: "own subject named", p: alice, body: "subject=alice", status: 204, hdr: http.Header{"Cache-Control": {"no-store"}}, revoked: []string{"alice"}},
		{name: "admin names another", p: admin, body: "subject=alice", status: 204, hdr: http.Header{"Cache-Control": {"no-store"}}, revoked: []string{"alice"}},
		{name: "user names another", p: alice, body: "subject=bob", status: 403,
			hdr:  jsonHdr("Www-Authenticate", `Bearer realm="api", error="insufficient_scope", error_description="only an administrator may end another subject's sessions", scope="admin"`),
			resp: `{"error":"insufficient_scope","error_description":"only an administrator may end another subject's sessions","scope":"admin"}` + "\n"},
		{name: "no principal", status: 401, hdr: jsonHdr("Www-Authenticate", `Bearer realm="api"`),
			resp: `{"error":"unauthorized","error_description":"authentication required"}` + "\n"},
		{name: "GET", method: http.MethodGet, p: alice, status: 405, hdr: jsonHdr("Allow", "POST"),
			resp: `{"error":"invalid_request","error_description":"POST required"}` + "\n"},
		{name: "empty subject", p: admin, body: "subject=", status: 400, hdr: jsonHdr(),
			resp: `{"error":"invalid_request","error_description":"empty subject"}` + "\n"},
		{name: "two subjects", p: admin, body: "subject=a&subject=b", status: 400, hdr: jsonHdr(),
			resp: `{"error":"invalid_request","error_description":"empty subject"}` + "\n"},
		{name: "oversized form", p: alice, body: "x=" + strings.Repeat("a", maxLogoutBody), status: 400, hdr: jsonHdr(),
			resp: `{"error":"invalid_request","error_description":"malformed form"}` + "\n"},
		{name: "store down", p: alice, store: failingRevocations{}, status: 503, hdr: jsonHdr("Retry-After", "5"),
			resp: `{"error":"temporarily_unavailable","error_description":"service unavailable; retry later"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := tt.store
			mem := newStore()
			if store == nil {
				store = mem
			}
			f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) { c.Revocations = store; c.Now = func() time.Time { return now } })
			h, err := NewLogoutEverywhere(LogoutEverywhereConfig{Tokens: f.e, AdminRoles: []string{"admin"}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/logout-everywhere", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.p != nil {
				r = r.WithContext(guard.NewContext(r.Context(), tt.p))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			checkTokResponse(t, rec, tt.status, tt.hdr, tt.resp)
			for _, sub := range []string{"alice", "bob", "root"} {
				revoked, _ := mem.Revoked(context.Background(), &guard.Claims{Subject: sub, IssuedAt: now.Add(-time.Minute)})
				if want := slices.Contains(tt.revoked, sub); revoked != want {
					t.Errorf("%s revoked: got %v, want %v", sub, revoked, want)
				}
			}
		})
	}
	if _, err := NewLogoutEverywhere(LogoutEverywhereConfig{}); err == nil {
		t.Error("no Tokens: got nil, want an error")
	}
	if _, err := NewLogoutEverywhere(LogoutEverywhereConfig{Tokens: newTokFixture(t, guard.PasswordHasherConfig{}, nil).e}); err == nil {
		t.Error("Tokens without Revocations: got nil, want an error")
	}
}
