package guard

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestPrincipalContext(t *testing.T) {
	claims := &Claims{Subject: "alice"}
	bearer := &Principal{Subject: "alice", Method: MethodBearer, Claims: claims}
	apiKey := &Principal{Subject: "key-1", Method: MethodAPIKey}
	type otherKey struct{}
	tests := []struct {
		name       string
		ctx        context.Context
		want       *Principal
		wantClaims *Claims
	}{
		{name: "empty context", ctx: context.Background()},
		{name: "nil principal", ctx: NewContext(context.Background(), nil)},
		{name: "another key", ctx: context.WithValue(context.Background(), otherKey{}, bearer)},
		{name: "a value of another type under our key", ctx: context.WithValue(context.Background(), principalKey{}, "alice")},
		{name: "bearer", ctx: NewContext(context.Background(), bearer), want: bearer, wantClaims: claims},
		{name: "API key has no claims", ctx: NewContext(context.Background(), apiKey), want: apiKey},
		{name: "innermost wins", ctx: NewContext(NewContext(context.Background(), apiKey), bearer), want: bearer, wantClaims: claims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := PrincipalFrom(tt.ctx)
			if p != tt.want || ok != (tt.want != nil) {
				t.Errorf("PrincipalFrom: got %p, %v, want %p, %v", p, ok, tt.want, tt.want != nil)
			}
			c, ok := ClaimsFrom(tt.ctx)
			if c != tt.wantClaims || ok != (tt.wantClaims != nil) {
				t.Errorf("ClaimsFrom: got %p, %v, want %p, %v", c, ok, tt.wantClaims, tt.wantClaims != nil)
			}
		})
	}
}

func TestPrincipalKeyIsZeroSize(t *testing.T) {
	// A zero-size key type: comparing it costs nothing and boxing it allocates nothing.
	if n := measureAllocs(t, 10, func() { _ = any(principalKey{}) }); n != 0 {
		t.Errorf("boxing principalKey allocates %v times, want 0", n)
	}
}

func TestPrincipalHasRoleScope(t *testing.T) {
	p := &Principal{Roles: []string{"admin"}, Scopes: []string{"read"}}
	var nilP *Principal
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"HasRole admin", p.HasRole("admin"), true},
		{"HasRole user", p.HasRole("user"), false},
		{"HasRole on nil", nilP.HasRole("admin"), false},
		{"HasScope read", p.HasScope("read"), true},
		{"HasScope admin", p.HasScope("admin"), false},
		{"HasScope on nil", nilP.HasScope("read"), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestMethodString(t *testing.T) {
	for m, want := range map[Method]string{MethodNone: "none", MethodBearer: "bearer", MethodAPIKey: "api_key",
		MethodClient: "client", MethodPassword: "password", Method(200): "none"} {
		if got := m.String(); got != want {
			t.Errorf("Method(%d).String(): got %q, want %q", m, got, want)
		}
	}
}

func TestPrincipalLogValue(t *testing.T) {
	tok := issueToken(t, nil, Claims{Subject: "alice", Roles: []string{"admin"}, Scopes: []string{"read"}})
	v := newTestVerifier(t, VerifierConfig{})
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	p := &Principal{Subject: c.Subject, Roles: c.Roles, Scopes: c.Scopes, Method: MethodBearer, Claims: c}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("req", "principal", p, "nil", (*Principal)(nil))
	got := buf.String()
	for _, want := range []string{"principal.subject=alice", "principal.method=bearer", "principal.roles=[admin]", "principal.scopes=[read]", "nil=<nil>"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(got, part) {
			t.Errorf("log %q contains a token segment", got)
		}
	}
}

func TestRequireAuth(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	keys := new(MemoryAPIKeys)
	keys.Add(APIKeyDigest("good-key"), APIKeyRecord{Subject: "svc", Roles: []string{"user"}})
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: keys, DangerouslyAllowQuery: true})
	if err != nil {
		t.Fatal(err)
	}
	good := issueToken(t, nil, Claims{Subject: "alice", Roles: []string{"admin"}})

	bearerChallenge := `Bearer realm="api"`
	apiKeyChallenge := `ApiKey realm="api", header="X-API-Key"`
	tests := []struct {
		name           string
		bearer, apiKey string
		query          string
		wantStatus     int
		wantChallenges []string
		wantBody       string
		wantSubject    string
		wantMethod     Method
		wantNoStore    bool
	}{
		{name: "none: every challenge", wantStatus: 401, wantChallenges: []string{bearerChallenge, apiKeyChallenge},
			wantBody: `{"error":"unauthorized","error_description":"authentication required"}` + "\n"},
		{name: "bearer decides", bearer: good, wantStatus: 200, wantSubject: "alice", wantMethod: MethodBearer},
		{name: "api key decides", apiKey: "good-key", wantStatus: 200, wantSubject: "svc", wantMethod: MethodAPIKey},
		{name: "bad bearer alone", bearer: good + "x", wantStatus: 401,
			wantChallenges: []string{bearerChallenge + `, error="invalid_token", error_description="invalid signature"`},
			wantBody:       `{"error":"invalid_token","error_description":"invalid signature"}` + "\n"},
		{name: "bad api key alone", apiKey: "nope", wantStatus: 401,
			wantChallenges: []string{apiKeyChallenge + `, error="invalid_token"`},
			wantBody:       `{"error":"invalid_token","error_description":"invalid API key"}` + "\n"},
		{name: "both valid: ambiguous", bearer: good, apiKey: "good-key", wantStatus: 400,
			wantChallenges: []string{bearerChallenge + `, error="invalid_request", error_description="more than one credential"`, apiKeyChallenge},
			wantBody:       `{"error":"invalid_request","error_description":"more than one credential"}` + "\n"},
		{name: "bearer and bad key", bearer: good, apiKey: "nope", wantStatus: 400,
			wantChallenges: []string{bearerChallenge + `, error="invalid_request", error_description="more than one credential"`, apiKeyChallenge},
			wantBody:       `{"error":"invalid_request","error_description":"more than one credential"}` + "\n"},
		{name: "query key", query: "api_key=good-key", wantStatus: 200, wantSubject: "svc", wantMethod: MethodAPIKey, wantNoStore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *Principal
			h := RequireAuth(v, a)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, _ = PrincipalFrom(r.Context())
			}))
			target := "/"
			if tt.query != "" {
				target += "?" + tt.query
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			if tt.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			if tt.apiKey != "" {
				r.Header.Set("X-API-Key", tt.apiKey)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == 200 {
				if got == nil || got.Subject != tt.wantSubject || got.Method != tt.wantMethod {
					t.Fatalf("principal: got %+v, want subject %q method %v", got, tt.wantSubject, tt.wantMethod)
				}
			} else if got != nil {
				t.Fatal("next ran on a failure")
			}
			if tt.wantChallenges != nil {
				gotCh := w.Header().Values("WWW-Authenticate")
				if len(gotCh) != len(tt.wantChallenges) {
					t.Fatalf("challenges: got %q, want %q", gotCh, tt.wantChallenges)
				}
				for i := range gotCh {
					if gotCh[i] != tt.wantChallenges[i] {
						t.Errorf("challenge %d: got %q, want %q", i, gotCh[i], tt.wantChallenges[i])
					}
				}
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("body: got %q, want %q", w.Body, tt.wantBody)
			}
			if gotNoStore := w.Header().Get("Cache-Control") == "no-store"; tt.wantNoStore && !gotNoStore {
				t.Errorf("Cache-Control: got %q, want no-store", w.Header().Get("Cache-Control"))
			}
		})
	}
}

// headerAuth is an app's own scheme: "X-Token: <subject>"; it answers bare
// sentinels, as the Authenticator contract allows.
type headerAuth struct{ challenge string }

func (h headerAuth) Authenticate(r *http.Request) (*Principal, error) {
	switch v := r.Header.Get("X-Token"); v {
	case "":
		return nil, ErrNoCredentials
	case "bad":
		return nil, ErrInvalidToken
	case "nil":
		return nil, nil
	default:
		return &Principal{Subject: v, Method: MethodAPIKey}, nil
	}
}

func (h headerAuth) Challenge() string { return h.challenge }

func TestRequireAuthCustomAuthenticator(t *testing.T) {
	t.Parallel()
	custom := headerAuth{challenge: `Token realm="api"`}
	tests := []struct {
		name      string
		optional  bool
		token     string
		status    int
		challenge []string
		body      string
		subject   string // "" with 200: anonymous
	}{
		{"bare ErrNoCredentials: 401 with the declared challenge", false, "", 401, []string{`Token realm="api"`},
			`{"error":"unauthorized","error_description":"authentication required"}` + "\n", ""},
		{"bare ErrInvalidToken: 401 with the declared challenge", false, "bad", 401, []string{`Token realm="api"`},
			`{"error":"invalid_token","error_description":"invalid token"}` + "\n", ""},
		{"no principal and no error: refused", false, "nil", 500, nil, `{"error":"server_error"}` + "\n", ""},
		{"valid", false, "bob", 200, nil, "", "bob"},
		{"optional: anonymous passes without a principal", true, "", 200, nil, "", ""},
		{"optional: bad credentials still refused", true, "bad", 401, []string{`Token realm="api"`},
			`{"error":"invalid_token","error_description":"invalid token"}` + "\n", ""},
		{"optional: valid", true, "bob", 200, nil, "", "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw := RequireAuth(custom)
			if tt.optional {
				mw = OptionalAuth(custom)
			}
			ran, subject := false, ""
			h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran = true
				if p, ok := PrincipalFrom(r.Context()); ok {
					subject = p.Subject
				}
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.token != "" {
				r.Header.Set("X-Token", tt.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status || ran != (tt.status == 200) || subject != tt.subject {
				t.Fatalf("got %d (next ran %v, subject %q), want %d (subject %q); body %s", w.Code, ran, subject, tt.status, tt.subject, w.Body)
			}
			if got := w.Header().Values("WWW-Authenticate"); !slices.Equal(got, tt.challenge) {
				t.Errorf("challenges: got %q, want %q", got, tt.challenge)
			}
			if tt.body != "" && w.Body.String() != tt.body {
				t.Errorf("body: got %q, want %q", w.Body, tt.body)
			}
		})
	}
}

func TestRequireAuthWiringMistakesPanic(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"no authenticators":     func() { RequireAuth() },
		"nil authenticator":     func() { OptionalAuth(nil) },
		"no declared challenge": func() { RequireAuth(headerAuth{}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

// TestOptionalAuthBothCredentials: OptionalAuth over a bearer token or an API
// key on one route.
func TestOptionalAuthBothCredentials(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, VerifierConfig{})
	keys := new(MemoryAPIKeys)
	keys.Add(APIKeyDigest("good-key"), APIKeyRecord{Subject: "svc"})
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: keys})
	if err != nil {
		t.Fatal(err)
	}
	good := issueToken(t, nil, Claims{Subject: "alice"})
	for _, tt := range []struct {
		name, bearer, key string
		status            int
		subject           string
	}{
		{"anonymous", "", "", 200, ""},
		{"bearer", good, "", 200, "alice"},
		{"api key", "", "good-key", 200, "svc"},
		{"bad bearer", good + "x", "", 401, ""},
		{"bad key", "", "nope", 401, ""},
		{"both", good, "good-key", 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			subject := ""
			h := OptionalAuth(v, a)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if p, ok := PrincipalFrom(r.Context()); ok {
					subject = p.Subject
				}
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			if tt.key != "" {
				r.Header.Set("X-API-Key", tt.key)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status || subject != tt.subject {
				t.Errorf("got %d subject %q, want %d %q", w.Code, subject, tt.status, tt.subject)
			}
			if w.Code == 401 && len(w.Header().Values("WWW-Authenticate")) == 0 {
				t.Error("401 without a challenge")
			}
		})
	}
}
