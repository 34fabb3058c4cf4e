package guard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// jsonErrors is an app's own error shape, built on ErrorOf and
// WWWAuthenticate so it never re-implements the challenge.
func jsonErrors(w http.ResponseWriter, r *http.Request, err error) {
	e := ErrorOf(err)
	for _, v := range e.WWWAuthenticate() {
		w.Header().Add("WWW-Authenticate", v)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(`{"title":"` + e.Code + `"}`))
}

// TestHooksErrorWriterSetOnce: one writer installed with Hooks.Use shapes the
// failures of every middleware, the package-level RequireRole included; a
// component's own writer still wins.
func TestHooksErrorWriterSetOnce(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, VerifierConfig{})
	keys := new(MemoryAPIKeys)
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: keys})
	if err != nil {
		t.Fatal(err)
	}
	own, err := NewAuthorizer(AuthorizerConfig{ErrorWriter: func(w http.ResponseWriter, r *http.Request, err error) {
		w.WriteHeader(http.StatusTeapot)
	}})
	if err != nil {
		t.Fatal(err)
	}
	user := issueToken(t, nil, Claims{Subject: "bob", Roles: []string{"user"}})
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	tests := []struct {
		name      string
		h         http.Handler
		bearer    string
		status    int
		challenge string
	}{
		{"RequireBearer, no token", v.RequireBearer(ok), "", 401, `Bearer realm="api"`},
		{"RequireBearer, bad token", v.RequireBearer(ok), user + "x", 401, `Bearer realm="api", error="invalid_token", error_description="invalid signature"`},
		{"RequireAPIKey", a.RequireAPIKey(ok), "", 401, `ApiKey realm="api", header="X-API-Key"`},
		{"RequireAuth", RequireAuth(v, a)(ok), "", 401, `Bearer realm="api"`},
		{"package RequireRole", v.RequireBearer(RequireRole("admin")(ok)), user, 403, `Bearer realm="api", error="insufficient_scope", error_description="insufficient privileges", scope="admin"`},
		{"package RequireScope", v.RequireBearer(RequireScope("write")(ok)), user, 403, `Bearer realm="api", error="insufficient_scope", error_description="insufficient privileges", scope="write"`},
		{"component writer wins", v.RequireBearer(own.RequireRole("admin")(ok)), user, http.StatusTeapot, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Hooks{ErrorWriter: jsonErrors}.Use(tt.h)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d", w.Code, tt.status)
			}
			if tt.status == http.StatusTeapot {
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type: got %q, want the app's", ct)
			}
			if got := w.Header().Values("WWW-Authenticate"); len(got) == 0 || got[0] != tt.challenge {
				t.Errorf("challenge: got %q, want %q first", got, tt.challenge)
			}
		})
	}
}

// TestHooksAuditAndTrackPrincipal: successes and failures of the middleware
// reach Audit, and an outer access log sees the principal an inner
// middleware established.
func TestHooksAuditAndTrackPrincipal(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, VerifierConfig{})
	keys := new(MemoryAPIKeys)
	keys.Add(APIKeyDigest("good-key"), APIKeyRecord{Subject: "svc"})
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: keys})
	if err != nil {
		t.Fatal(err)
	}
	good := issueToken(t, nil, Claims{Subject: "alice"})
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, tt := range []struct {
		name        string
		h           http.Handler
		bearer, key string
		method      Method
		subject     string
		failed      bool
		wantTracked string
		wantNoCreds bool
	}{
		{"bearer", v.RequireBearer(ok), good, "", MethodBearer, "alice", false, "alice", false},
		{"bearer, bad", v.RequireBearer(ok), good + "x", "", MethodBearer, "", true, "", false},
		{"bearer, none", v.RequireBearer(ok), "", "", MethodBearer, "", true, "", true},
		{"api key", a.RequireAPIKey(ok), "", "good-key", MethodAPIKey, "svc", false, "svc", false},
		{"RequireAuth, api key", RequireAuth(v, a)(ok), "", "good-key", MethodAPIKey, "svc", false, "svc", false},
		{"OptionalAuth, bearer", OptionalAuth(v, a)(ok), good, "", MethodBearer, "alice", false, "alice", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var events []AuthEvent
			inner := Hooks{Audit: func(_ context.Context, ev AuthEvent) { events = append(events, ev) }}.Use(tt.h)
			var tracked *Principal
			accessLog := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r, principal := TrackPrincipal(r)
				inner.ServeHTTP(w, r)
				tracked, _ = principal()
			})
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			if tt.key != "" {
				r.Header.Set("X-API-Key", tt.key)
			}
			accessLog.ServeHTTP(httptest.NewRecorder(), r)
			if len(events) != 1 {
				t.Fatalf("events: got %+v, want one", events)
			}
			ev := events[0]
			if ev.Method != tt.method || ev.Subject != tt.subject || (ev.Err != nil) != tt.failed || errors.Is(ev.Err, ErrNoCredentials) != tt.wantNoCreds {
				t.Errorf("event: got %+v", ev)
			}
			if !tt.failed && (ev.Principal == nil || ev.Principal.Subject != tt.subject) {
				t.Errorf("event principal: got %+v", ev.Principal)
			}
			got := ""
			if tracked != nil {
				got = tracked.Subject
			}
			if got != tt.wantTracked {
				t.Errorf("tracked principal: got %q, want %q", got, tt.wantTracked)
			}
		})
	}
}

// TestErrorOfMatchesWriteError: a custom writer built on ErrorOf and
// WWWAuthenticate sends the challenges WriteError sends.
func TestErrorOfMatchesWriteError(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		ErrNoCredentials, ErrInvalidToken, ErrInsufficientScope, errors.New("internal"),
		&Error{Status: 403, Code: "insufficient_scope", Description: `say "hi"`, Scope: "a b", Challenges: []string{`Bearer realm="x"`}},
	} {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest(http.MethodGet, "/", nil), err)
		e := ErrorOf(err)
		if got, want := e.WWWAuthenticate(), w.Header().Values("WWW-Authenticate"); !slices.Equal(got, want) {
			t.Errorf("%v: got %q, want %q", err, got, want)
		}
		if e.Status != w.Code {
			t.Errorf("%v: status %d, WriteError wrote %d", err, e.Status, w.Code)
		}
	}
}
