package main

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The FastAPI tutorial app's contract, through the same handler main serves.
func TestFastAPITutorialApp(t *testing.T) {
	h := testApp(t, nil)
	do := func(method, target string, body url.Values, header map[string]string) *httptest.ResponseRecorder {
		return serve(h, method, target, body, header)
	}
	login := func(user, password string) string {
		w := do("POST", "/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}}, nil)
		if w.Code != 200 {
			t.Fatalf("login %s: got %d %s, want 200", user, w.Code, w.Body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.AccessToken == "" {
			t.Fatalf("login %s: got %+v", user, tok)
		}
		return tok.AccessToken
	}
	alice, bob := login("alice", "wonderland"), login("bob", "builder")

	// Clients written for the FastAPI app: a form without grant_type
	// (OAuth2PasswordRequestForm), and requests-oauthlib's
	// LegacyApplicationClient, which names itself in Basic with no secret.
	if w := do("POST", "/token", url.Values{"username": {"alice"}, "password": {"wonderland"}}, nil); w.Code != 200 {
		t.Errorf("login without grant_type: got %d %s, want 200", w.Code, w.Body)
	}
	if w := do("POST", "/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}},
		map[string]string{"Authorization": "Basic ZGVtby1hcHA6"}); w.Code != 200 { // "demo-app:"
		t.Errorf("login as a public client in Basic: got %d %s, want 200", w.Code, w.Body)
	}

	tests := []struct {
		name, method, target string
		header               map[string]string
		wantStatus           int
		wantChallenge        string
		wantBody             string
	}{
		{"protected without token", "GET", "/protected", nil, 401, `Bearer realm="api"`, `"error":"unauthorized"`},
		{"protected as bob", "GET", "/protected", map[string]string{"Authorization": "Bearer " + bob}, 200, "", `"subject":"bob"`},
		{"admin as alice", "GET", "/admin", map[string]string{"Authorization": "Bearer " + alice}, 200, "", `"roles":["admin"]`},
		{"admin as bob", "GET", "/admin", map[string]string{"Authorization": "Bearer " + bob}, 403,
			`Bearer realm="api", error="insufficient_scope", error_description="insufficient privileges", scope="admin"`, `"error":"insufficient_scope"`},
		{"admin with a bad token", "GET", "/admin", map[string]string{"Authorization": "Bearer " + alice + "x"}, 401,
			`Bearer realm="api", error="invalid_token", error_description="invalid signature"`, `"error":"invalid_token"`},
		{"secure with key", "GET", "/secure", map[string]string{"X-API-Key": "demo-key"}, 200, "", `"method":"api_key"`},
		{"secure with wrong key", "GET", "/secure", map[string]string{"X-API-Key": "nope"}, 401, "", `"error":"invalid_token"`},
		{"secure ignores the query", "GET", "/secure?api_key=demo-key", nil, 401, "", `"error":"unauthorized"`},
		{"secure-query", "GET", "/secure-query?api_key=demo-key", nil, 200, "", `"subject":"demo-client"`},
		{"token is POST only", "GET", "/token", nil, 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(tt.method, tt.target, nil, tt.header)
			if w.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantChallenge != "" {
				if got := w.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
					t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.wantChallenge)
				}
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body: got %s, want it to contain %s", w.Body, tt.wantBody)
			}
			if got := w.Header().Get("Vary"); !strings.Contains(got, "Origin") {
				t.Errorf("Vary: got %q, want Origin", got)
			}
		})
	}

	t.Run("preflight answered by CORS", func(t *testing.T) {
		w := do("OPTIONS", "/admin", nil, map[string]string{
			"Origin":                         "http://localhost:3000",
			"Access-Control-Request-Method":  "GET",
			"Access-Control-Request-Headers": "authorization",
		})
		if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			w.Header().Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("preflight: got %d %v", w.Code, w.Header())
		}
	})
	t.Run("401 for an allowed origin carries CORS headers", func(t *testing.T) {
		w := do("GET", "/protected", nil, map[string]string{"Origin": "http://localhost:3000"})
		if w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			!strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "Www-Authenticate") {
			t.Fatalf("got %d %v", w.Code, w.Header())
		}
	})
	t.Run("other origins get no CORS headers", func(t *testing.T) {
		w := do("GET", "/protected", nil, map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer " + alice})
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("Access-Control-Allow-Origin: got %q, want none", got)
		}
	})
}
