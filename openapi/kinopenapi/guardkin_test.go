package guardkin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/guardkit/guard"
	guardkin "github.com/guardkit/guard/openapi/kinopenapi"
)

var secret = []byte("guardkin-test-secret-0123456789abcdefgh")

type fixture struct {
	verifier *guard.Verifier
	keys     *guard.APIKeyAuth
	issuer   *guard.TokenIssuer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	key, err := guard.NewHMACKey(guard.HS256, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	store := new(guard.MemoryAPIKeys)
	store.Add(guard.APIKeyDigest("the-key"), guard.APIKeyRecord{Subject: "svc", Roles: []string{"service"}})
	keys, err := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{verifier: v, keys: keys, issuer: iss}
}

func (f *fixture) token(t testing.TB, sub string, roles, scopes []string) string {
	t.Helper()
	tok, err := f.issuer.Issue(context.Background(), guard.Claims{Subject: sub, Roles: roles, Scopes: scopes, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The app's own document: its operations name guard's schemes.
const spec = `{
  "openapi": "3.0.3",
  "info": {"title": "guardkin test", "version": "1.0.0"},
  "paths": {
    "/public": {"get": {"security": [], "responses": {"200": {"description": "ok"}}}},
    "/me": {"get": {"security": [{"HTTPBearer": []}, {"APIKeyHeader": []}], "responses": {"200": {"description": "ok"}}}},
    "/items": {"get": {"security": [{"HTTPBearer": ["read"]}], "responses": {"200": {"description": "ok"}}}},
    "/admin": {"get": {"security": [{"HTTPBearer": []}], "x-guard-roles": ["admin"], "responses": {"200": {"description": "ok"}}}},
    "/feed": {"get": {"security": [{"HTTPBearer": []}, {}], "responses": {"200": {"description": "ok"}}}}
  }
}`

// newAPI serves the document at /openapi.json and its operations behind
// guardkin's middleware; each handler answers with the principal's subject.
func newAPI(t testing.TB, f *fixture) (http.Handler, *guardkin.Guard, func(http.Handler) http.Handler) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	g, err := guardkin.New(doc, f.verifier, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document with guard's schemes is invalid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		subject := ""
		if p != nil {
			subject = p.Subject
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"subject": subject})
	})
	mw := g.Middleware(router)
	mux := http.NewServeMux()
	raw, _ := doc.MarshalJSON()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	})
	for _, p := range []string{"/public", "/me", "/items", "/admin", "/feed"} {
		mux.Handle("GET "+p, mw(who))
	}
	return mux, g, mw
}

func TestKinEnforcement(t *testing.T) {
	f := newFixture(t)
	h, _, _ := newAPI(t, f)
	srv := httptest.NewServer(h)
	defer srv.Close()
	alice := f.token(t, "alice", []string{"admin"}, []string{"read"})
	bob := f.token(t, "bob", []string{"user"}, nil)
	tests := []struct {
		name, path, auth, apiKey string
		status                   int
		subject, challenge       string
	}{
		{name: "public", path: "/public", status: 200},
		{name: "no credentials", path: "/me", status: 401, challenge: `Bearer realm="api", ApiKey realm="api", header="X-API-Key"`},
		{name: "bearer", path: "/me", auth: "Bearer " + bob, status: 200, subject: "bob"},
		{name: "API key", path: "/me", apiKey: "the-key", status: 200, subject: "svc"},
		{name: "both", path: "/me", auth: "Bearer " + bob, apiKey: "the-key", status: 400},
		{name: "bad token", path: "/me", auth: "Bearer " + bob + "x", status: 401, challenge: `Bearer realm="api", error="invalid_token", error_description="invalid signature"`},
		{name: "bad key", path: "/me", apiKey: "nope", status: 401},
		{name: "scope held", path: "/items", auth: "Bearer " + alice, status: 200, subject: "alice"},
		{name: "scope missing", path: "/items", auth: "Bearer " + bob, status: 403, challenge: `Bearer realm="api", error="insufficient_scope", error_description="insufficient privileges", scope="read"`},
		{name: "API key not accepted here", path: "/items", apiKey: "the-key", status: 401},
		{name: "role held", path: "/admin", auth: "Bearer " + alice, status: 200, subject: "alice"},
		{name: "role missing", path: "/admin", auth: "Bearer " + bob, status: 403},
		{name: "optional, anonymous", path: "/feed", status: 200},
		{name: "optional, bearer", path: "/feed", auth: "Bearer " + bob, status: 200, subject: "bob"},
		{name: "optional, bad token", path: "/feed", auth: "Bearer x", status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.apiKey != "" {
				req.Header.Set("X-API-Key", tt.apiKey)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status: got %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if tt.challenge != "" {
				if got := strings.Join(resp.Header.Values("WWW-Authenticate"), ", "); got != tt.challenge {
					t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.challenge)
				}
			}
			if tt.status >= 400 {
				return
			}
			var out struct{ Subject string }
			if err := json.Unmarshal(body, &out); err != nil || out.Subject != tt.subject {
				t.Errorf("handler saw subject %q (%v), want %q", out.Subject, err, tt.subject)
			}
		})
	}
}

// TestKinDocument: the served document holds guard's schemes, and every
// operation answers a request without credentials as it declares.
func TestKinDocument(t *testing.T) {
	f := newFixture(t)
	h, _, _ := newAPI(t, f)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			SecuritySchemes map[string]map[string]any `json:"securitySchemes"`
		}
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := map[string]string{
		"HTTPBearer":   `{"bearerFormat":"JWT","scheme":"bearer","type":"http"}`,
		"APIKeyHeader": `{"in":"header","name":"X-API-Key","type":"apiKey"}`,
	}
	for name, w := range want {
		if got, _ := json.Marshal(doc.Components.SecuritySchemes[name]); string(got) != w {
			t.Errorf("scheme %s: got %s, want %s", name, got, w)
		}
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			open := len(op.Security) == 0
			for _, r := range op.Security {
				open = open || len(r) == 0
			}
			req, _ := http.NewRequest(strings.ToUpper(method), srv.URL+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if (resp.StatusCode == http.StatusUnauthorized) == open {
				t.Errorf("%s %s without credentials: got %d, document says open=%v", method, path, resp.StatusCode, open)
			}
		}
	}
}

// With kin-openapi's own validation (as oapi-codegen's middleware runs
// it): AuthenticationFunc decides, and Slot hands the principal over.
func TestKinAuthenticationFuncWithSlot(t *testing.T) {
	f := newFixture(t)
	doc, err := openapi3.NewLoader().LoadFromData([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	g, err := guardkin.New(doc, f.verifier, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	validator := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			route, params, err := router.FindRoute(r)
			if err != nil {
				t.Fatal(err)
			}
			err = openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: g.AuthenticationFunc}})
			if err != nil {
				guard.WriteError(w, r, guardkin.ErrorFor(err))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	h := g.Slot(validator(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := guardkin.PrincipalFrom(r.Context())
		if ok {
			seen = p.Subject
		}
	})))
	r := httptest.NewRequest("GET", "/items", nil)
	r.Header.Set("Authorization", "Bearer "+f.token(t, "alice", nil, []string{"read"}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || seen != "alice" {
		t.Errorf("got %d, principal %q; want 200 and alice", w.Code, seen)
	}
	r = httptest.NewRequest("GET", "/items", nil)
	r.Header.Set("Authorization", "Bearer "+f.token(t, "bob", nil, nil))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("without scope read: got %d, want 403", w.Code)
	}
}

// customAuth cannot describe itself.
type customAuth struct{}

func (customAuth) Authenticate(*http.Request) (*guard.Principal, error) {
	return nil, guard.ErrNoCredentials
}
func (customAuth) Challenge() string { return "Custom" }

func TestKinNewRefuses(t *testing.T) {
	doc := &openapi3.T{Components: &openapi3.Components{SecuritySchemes: openapi3.SecuritySchemes{
		"HTTPBearer": {Value: &openapi3.SecurityScheme{Type: "http", Scheme: "basic"}}}}}
	_, err := guardkin.New(doc, customAuth{}, newFixture(t).verifier)
	if !errors.Is(err, guard.ErrUndescribed) || !errors.Is(err, guard.ErrSchemeConflict) {
		t.Errorf("got %v, want ErrUndescribed and ErrSchemeConflict", err)
	}
}

// The adapter's enforcement (route lookup included) against the same guard
// middleware on plain net/http.
func BenchmarkEnforcement(b *testing.B) {
	f := newFixture(b)
	tok := f.token(b, "alice", []string{"admin"}, []string{"read"})
	req := httptest.NewRequest("GET", "/items", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	b.Run("net/http RequireBearer+RequireScope", func(b *testing.B) {
		h := f.verifier.RequireBearer(guard.RequireScope("read")(noop))
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
	b.Run("kin-openapi Require", func(b *testing.B) {
		doc, err := openapi3.NewLoader().LoadFromData([]byte(spec))
		if err != nil {
			b.Fatal(err)
		}
		g, err := guardkin.New(doc, f.verifier, f.keys)
		if err != nil {
			b.Fatal(err)
		}
		mw, err := g.Require(doc.Paths.Find("/items").Get)
		if err != nil {
			b.Fatal(err)
		}
		h := mw(noop)
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
	b.Run("kin-openapi Middleware (gorillamux route lookup included)", func(b *testing.B) {
		_, _, mw := newAPI(b, f)
		h := mw(noop)
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
}
