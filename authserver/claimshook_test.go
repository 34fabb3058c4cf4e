package authserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/guardkit/guard"
)

func TestExtraClaims(t *testing.T) {
	t.Parallel()
	var seen []ClaimsRequest
	hook := func(_ context.Context, req ClaimsRequest) (map[string]any, error) {
		seen = append(seen, req)
		switch req.Subject {
		case "user-1", tokSvcID:
			return map[string]any{"tenant": "acme", "plan": 3}, nil
		case "carol":
			return map[string]any{"sub": "admin"}, nil
		}
		return nil, errors.New("tenant db down")
	}
	f := newRefFixture(t, func(c *TokenEndpointConfig) { c.ExtraClaims = hook })
	type tenant struct {
		Tenant string `json:"tenant"`
		Plan   int    `json:"plan"`
	}
	// password, refresh_token and client_credentials all carry the claim.
	rt := f.loginPassword(t, "app")
	rec := f.refresh(rt, "app")
	c := f.checkRefreshSuccess(t, rec, "read write")
	var got tenant
	if err := c.DecodeExtra(&got); err != nil || got != (tenant{"acme", 3}) {
		t.Errorf("refresh: extra %s, %v", c.Extra, err)
	}
	rec = f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW)))
	c = f.checkTokSuccess(t, rec, "read write")
	if err := c.DecodeExtra(&got); err != nil || got != (tenant{"acme", 3}) || string(c.Extra) != `{"plan":3,"tenant":"acme"}` {
		t.Errorf("client_credentials: extra %s, %v", c.Extra, err)
	}
	want := []ClaimsRequest{
		{Grant: "password", Username: "alice", Subject: "user-1", ClientID: "app", Roles: []string{"admin"}, Scopes: []string{"read", "write"}},
		{Grant: "refresh_token", Username: "alice", Subject: "user-1", ClientID: "app", Roles: []string{"admin"}, Scopes: []string{"read", "write"}},
		{Grant: "client_credentials", Subject: tokSvcID, ClientID: tokSvcID, Roles: []string{"service"}, Scopes: []string{"read", "write"}},
	}
	if len(seen) != len(want) {
		t.Fatalf("hook calls: got %d, want %d", len(seen), len(want))
	}
	for i := range want {
		g, w := seen[i], want[i]
		if g.Grant != w.Grant || g.Username != w.Username || g.Subject != w.Subject || g.ClientID != w.ClientID ||
			strings.Join(g.Roles, " ") != strings.Join(w.Roles, " ") || strings.Join(g.Scopes, " ") != strings.Join(w.Scopes, " ") {
			t.Errorf("hook call %d: got %+v, want %+v", i, g, w)
		}
	}

	// A registered claim: 500, cause logged, no token.
	var gotErr error
	f.e.writeError = func(w http.ResponseWriter, r *http.Request, err error) { gotErr = err; guard.WriteError(w, r, err) }
	rec = f.do(tokRequest(form("grant_type", "password", "username", "carol", "password", tokCarolPW)))
	checkTokResponse(t, rec, 500, tokErrorHeaders(), tokErrBody("server_error", ""))
	if gotErr == nil || !strings.Contains(gotErr.Error(), `registered claim "sub"`) || !strings.Contains(f.logs.String(), `registered claim`) {
		t.Errorf("error %v; log %s", gotErr, f.logs)
	}
	// A failing hook: 503, fail closed.
	f.users.mu.Lock()
	u := f.users.users["alice"]
	u.Subject = "user-2"
	f.users.users["alice"] = u
	f.users.mu.Unlock()
	rec = f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW)))
	checkTokResponse(t, rec, 503, tokErrorHeaders("Retry-After", "5"), tokErrBody("temporarily_unavailable", "service unavailable; retry later"))
}

// TestExtraClaimsRegisteredAnyCase: a registered claim name in any letter
// case, or in a spelling a case-insensitive decoder folds onto it, is
// refused like the name itself (500, no token), since golang-jwt's
// RegisteredClaims and encoding/json would read it as the real claim.
func TestExtraClaimsRegisteredAnyCase(t *testing.T) {
	t.Parallel()
	var name string
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		c.ExtraClaims = func(context.Context, ClaimsRequest) (map[string]any, error) { return map[string]any{name: "x"}, nil }
	})
	for _, tt := range []struct {
		name   string
		status int
	}{
		{"Sub", 500}, {"EXP", 500}, {"ſub", 500}, {"clientId", 500}, {"Client-ID", 500}, {"ROLES", 500},
		{"tenant", 200}, {"subject", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name = tt.name
			rec := f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW)))
			if rec.Code != tt.status {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if tt.status == 500 {
				checkTokResponse(t, rec, 500, tokErrorHeaders(), tokErrBody("server_error", ""))
			}
		})
	}
}
