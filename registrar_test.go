package guard

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// customAuth is an app's own authenticator that cannot describe itself.
type customAuth struct{}

func (customAuth) Authenticate(*http.Request) (*Principal, error) { return nil, ErrNoCredentials }
func (customAuth) Challenge() string                              { return `Custom realm="api"` }

func testAPIKeys(t *testing.T, cfg APIKeyAuthConfig) *APIKeyAuth {
	t.Helper()
	keys := new(MemoryAPIKeys)
	keys.Add(APIKeyDigest("the-api-key"), APIKeyRecord{Subject: "svc", Roles: []string{"user"}, Scopes: []string{"read"}})
	cfg.Store = keys
	a, err := NewAPIKeyAuth(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSecuritySchemes(t *testing.T) {
	remote, err := NewRemoteKeySet(RemoteKeySetConfig{Issuer: "https://idp.example/tenant"})
	if err != nil {
		t.Fatal(err)
	}
	oidc, err := NewVerifier(VerifierConfig{KeySource: remote})
	if err != nil {
		t.Fatal(err)
	}
	jwksOnly, err := NewRemoteKeySet(RemoteKeySetConfig{URL: "https://idp.example/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	jwksVerifier, err := NewVerifier(VerifierConfig{KeySource: jwksOnly})
	if err != nil {
		t.Fatal(err)
	}
	bearer := NamedScheme{SchemeHTTPBearer, SecurityScheme{Type: "http", Scheme: "bearer", BearerFormat: "JWT"}}
	tests := []struct {
		name string
		d    SecurityDescriber
		want []NamedScheme
	}{
		{"static keys", newTestVerifier(t, VerifierConfig{}), []NamedScheme{bearer}},
		{"remote JWKS URL", jwksVerifier, []NamedScheme{bearer}},
		{"remote issuer", oidc, []NamedScheme{{SchemeOpenIDConnect, SecurityScheme{Type: "openIdConnect",
			OpenIDConnectURL: "https://idp.example/tenant/.well-known/openid-configuration"}}}},
		{"API key header", testAPIKeys(t, APIKeyAuthConfig{Header: "x-token"}),
			[]NamedScheme{{SchemeAPIKeyHeader, SecurityScheme{Type: "apiKey", In: "header", Name: "x-token"}}}},
		{"API key everywhere", testAPIKeys(t, APIKeyAuthConfig{DangerouslyAllowQuery: true, DangerouslyAllowCookie: true, CookieName: "k"}),
			[]NamedScheme{
				{SchemeAPIKeyHeader, SecurityScheme{Type: "apiKey", In: "header", Name: "X-API-Key"}},
				{SchemeAPIKeyQuery, SecurityScheme{Type: "apiKey", In: "query", Name: "api_key"}},
				{SchemeAPIKeyCookie, SecurityScheme{Type: "apiKey", In: "cookie", Name: "k"}},
			}},
		{"described", Described(customAuth{}).(SecurityDescriber), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.SecuritySchemes(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// jsonEqual compares two JSON documents as values.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("document is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("document:\n got %s\nwant %s", got, want)
	}
}

// testRoutes registers one route of each kind on a new mux.
func testRoutes(t *testing.T, base []byte) (*http.ServeMux, *Registrar) {
	t.Helper()
	mux := http.NewServeMux()
	reg, err := NewRegistrar(RegistrarConfig{Mux: mux, Base: base, Title: "test", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, VerifierConfig{})
	keys := testAPIKeys(t, APIKeyAuthConfig{DangerouslyAllowQuery: true})
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	reg.HandleFunc("POST /login", nil, ok)
	reg.HandleFunc("GET /me", &Policy{Authenticators: []Authenticator{v}}, ok)
	reg.HandleFunc("GET /items/{id}", &Policy{Authenticators: []Authenticator{v, keys}, Scopes: []string{"read"}}, ok)
	reg.HandleFunc("GET /feed", &Policy{Authenticators: []Authenticator{v}, Optional: true}, ok)
	reg.HandleFunc("DELETE /items/{id...}", &Policy{Authenticators: []Authenticator{v}, Roles: []string{"admin"}}, ok)
	return mux, reg
}

const testRoutesDoc = `{
  "openapi": "3.1.0",
  "info": {"title": "test", "version": "1"},
  "paths": {
    "/login": {"post": {"security": [], "responses": {"200": {"description": "OK"}}}},
    "/me": {"get": {"security": [{"HTTPBearer": []}], "responses": {"200": {"description": "OK"},
      "401": {"description": "Missing or invalid credentials; WWW-Authenticate names the scheme."}}}},
    "/items/{id}": {
      "get": {"security": [{"HTTPBearer": ["read"]}, {"APIKeyHeader": ["read"]}, {"APIKeyQuery": ["read"]}],
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "OK"},
          "401": {"description": "Missing or invalid credentials; WWW-Authenticate names the scheme."},
          "403": {"description": "Authenticated without the required role or scope (insufficient_scope)."}}},
      "delete": {"security": [{"HTTPBearer": []}], "x-guard-roles": ["admin"],
        "description": "Requires one of the roles: admin.",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "OK"},
          "401": {"description": "Missing or invalid credentials; WWW-Authenticate names the scheme."},
          "403": {"description": "Authenticated without the required role or scope (insufficient_scope)."}}}},
    "/feed": {"get": {"security": [{"HTTPBearer": []}, {}], "responses": {"200": {"description": "OK"},
      "401": {"description": "Missing or invalid credentials; WWW-Authenticate names the scheme."}}}}
  },
  "components": {"securitySchemes": {
    "HTTPBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "APIKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"}
  }}
}`

func TestRegistrarOpenAPI(t *testing.T) {
	_, reg := testRoutes(t, nil)
	doc, err := reg.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, doc, testRoutesDoc)
	for _, secret := range []string{"the-api-key", string(testSecret)} {
		if strings.Contains(string(doc), secret) {
			t.Errorf("the document contains a secret %q", secret)
		}
	}
}

// TestRegistrarEnforcesItsDocument: each route answers a request without
// credentials as its document says: 401 where security is declared and has
// no empty requirement, not 401 elsewhere; 403 where roles or scopes are
// declared and the token lacks them.
func TestRegistrarEnforcesItsDocument(t *testing.T) {
	mux, reg := testRoutes(t, nil)
	raw, err := reg.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
			Roles    []string              `json:"x-guard-roles"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	plain := issueToken(t, nil, Claims{Subject: "u", ExpiresAt: testNow.Add(time.Minute)})
	for path, ops := range doc.Paths {
		for method, op := range ops {
			target := strings.ReplaceAll(path, "{id}", "7")
			t.Run(method+" "+path, func(t *testing.T) {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest(strings.ToUpper(method), target, nil))
				open := len(op.Security) == 0
				for _, req := range op.Security {
					open = open || len(req) == 0
				}
				if got := rec.Code == http.StatusUnauthorized; got == open {
					t.Errorf("without credentials: got %d, document says open=%v", rec.Code, open)
				}
				needs := len(op.Roles) > 0
				for _, req := range op.Security {
					for _, scopes := range req {
						needs = needs || len(scopes) > 0
					}
				}
				r := httptest.NewRequest(strings.ToUpper(method), target, nil)
				r.Header.Set("Authorization", "Bearer "+plain)
				rec = httptest.NewRecorder()
				mux.ServeHTTP(rec, r)
				if got := rec.Code == http.StatusForbidden; got != needs {
					t.Errorf("with a token lacking roles and scopes: got %d, document says roles or scopes needed=%v", rec.Code, needs)
				}
			})
		}
	}
}

func TestRegistrarMergesBase(t *testing.T) {
	base := `{"openapi": "3.1.1", "info": {"title": "mine", "version": "9"},
	  "paths": {"/me": {"get": {"summary": "who am I", "security": [{"wrong": []}],
	    "responses": {"200": {"description": "the caller"}}}},
	    "/other": {"get": {"responses": {"204": {"description": "none"}}}}},
	  "components": {"schemas": {"Me": {"type": "object"}},
	    "securitySchemes": {"HTTPBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}}}`
	mux := http.NewServeMux()
	reg, err := NewRegistrar(RegistrarConfig{Mux: mux, Base: []byte(base)})
	if err != nil {
		t.Fatal(err)
	}
	reg.HandleFunc("GET /me", &Policy{Authenticators: []Authenticator{newTestVerifier(t, VerifierConfig{})}}, func(http.ResponseWriter, *http.Request) {})
	doc, err := reg.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, doc, `{"openapi": "3.1.0", "info": {"title": "mine", "version": "9"},
	  "paths": {"/me": {"get": {"summary": "who am I", "security": [{"HTTPBearer": []}],
	    "responses": {"200": {"description": "the caller"},
	      "401": {"description": "Missing or invalid credentials; WWW-Authenticate names the scheme."}}}},
	    "/other": {"get": {"responses": {"204": {"description": "none"}}}}},
	  "components": {"schemas": {"Me": {"type": "object"}},
	    "securitySchemes": {"HTTPBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}}}`)
}

func TestRegistrarErrors(t *testing.T) {
	v := func(t *testing.T) Authenticator { return newTestVerifier(t, VerifierConfig{}) }
	tests := []struct {
		name     string
		base     string
		register func(t *testing.T, reg *Registrar)
		err      error
		contains []string
	}{
		{name: "custom authenticator", register: func(t *testing.T, reg *Registrar) {
			reg.Handle("GET /custom", &Policy{Authenticators: []Authenticator{v(t), customAuth{}}}, http.NotFoundHandler())
		}, err: ErrUndescribed, contains: []string{`"GET /custom"`, "authenticator 1 (guard.customAuth)"}},
		{name: "custom authenticator described", register: func(t *testing.T, reg *Registrar) {
			reg.Handle("GET /custom", &Policy{Authenticators: []Authenticator{Described(customAuth{},
				NamedScheme{"custom", SecurityScheme{Type: "http", Scheme: "custom"}})}}, http.NotFoundHandler())
		}},
		{name: "described with nothing", register: func(t *testing.T, reg *Registrar) {
			reg.Handle("GET /custom", &Policy{Authenticators: []Authenticator{Described(customAuth{})}}, http.NotFoundHandler())
		}, err: ErrUndescribed, contains: []string{`"GET /custom"`}},
		{name: "invalid scheme", register: func(t *testing.T, reg *Registrar) {
			reg.Handle("GET /custom", &Policy{Authenticators: []Authenticator{Described(customAuth{},
				NamedScheme{"bad name", SecurityScheme{Type: "apiKey"}})}}, http.NotFoundHandler())
		}, contains: []string{`"GET /custom"`, `scheme name "bad name"`, `apiKey scheme "bad name" needs a name`}},
		{name: "two header keys share a name", register: func(t *testing.T, reg *Registrar) {
			reg.Handle("GET /a", &Policy{Authenticators: []Authenticator{testAPIKeys(t, APIKeyAuthConfig{Header: "X-A"})}}, http.NotFoundHandler())
			reg.Handle("GET /b", &Policy{Authenticators: []Authenticator{testAPIKeys(t, APIKeyAuthConfig{Header: "X-B"})}}, http.NotFoundHandler())
		}, err: ErrSchemeConflict, contains: []string{`"APIKeyHeader"`, `"GET /a"`, `"GET /b"`, "X-A", "X-B"}},
		{name: "renamed, no conflict", register: func(t *testing.T, reg *Registrar) {
			reg.Handle("GET /a", &Policy{Authenticators: []Authenticator{testAPIKeys(t, APIKeyAuthConfig{Header: "X-A"})}}, http.NotFoundHandler())
			reg.Handle("GET /b", &Policy{Authenticators: []Authenticator{Described(testAPIKeys(t, APIKeyAuthConfig{Header: "X-B"}),
				NamedScheme{"KeyB", SecurityScheme{Type: "apiKey", In: "header", Name: "X-B"}})}}, http.NotFoundHandler())
		}},
		{name: "conflict with the base", base: `{"components": {"securitySchemes": {"HTTPBearer": {"type": "http", "scheme": "basic"}}}}`,
			register: func(t *testing.T, reg *Registrar) {
				reg.Handle("GET /a", &Policy{Authenticators: []Authenticator{v(t)}}, http.NotFoundHandler())
			}, err: ErrSchemeConflict, contains: []string{"RegistrarConfig.Base"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := NewRegistrar(RegistrarConfig{Mux: http.NewServeMux(), Base: []byte(tt.base)})
			if err != nil {
				t.Fatal(err)
			}
			tt.register(t, reg)
			_, err = reg.OpenAPI()
			if (err != nil) != (tt.err != nil || tt.contains != nil) {
				t.Fatalf("got error %v, want %v %q", err, tt.err, tt.contains)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("got %v, want errors.Is %v", err, tt.err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}

// With a role hierarchy, x-guard-roles lists every role that is admitted.
func TestRegistrarRoleHierarchy(t *testing.T) {
	authz, err := NewAuthorizer(AuthorizerConfig{Implies: map[string][]string{"owner": {"admin"}, "admin": {"editor"}}})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistrar(RegistrarConfig{Mux: http.NewServeMux()})
	if err != nil {
		t.Fatal(err)
	}
	reg.Handle("GET /edit", &Policy{Authenticators: []Authenticator{newTestVerifier(t, VerifierConfig{})}, Roles: []string{"editor"}, Authorizer: authz}, http.NotFoundHandler())
	raw, err := reg.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Roles       []string `json:"x-guard-roles"`
			Description string
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	op := doc.Paths["/edit"]["get"]
	if want := []string{"editor", "admin", "owner"}; !reflect.DeepEqual(op.Roles, want) || op.Description != "Requires one of the roles: editor, admin, owner." {
		t.Errorf("got roles %v, description %q; want %v", op.Roles, op.Description, want)
	}
}

func TestNewRegistrarRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  RegistrarConfig
		want []string
	}{
		{"everything wrong", RegistrarConfig{Base: []byte(`[1]`)}, []string{"Mux is required", "not a JSON object"}},
		{"OpenAPI 3.0", RegistrarConfig{Mux: http.NewServeMux(), Base: []byte(`{"openapi": "3.0.3"}`)}, []string{"want 3.1.x"}},
		{"paths not an object", RegistrarConfig{Mux: http.NewServeMux(), Base: []byte(`{"paths": []}`)}, []string{`"paths" is not an object`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRegistrar(tt.cfg)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestPolicyMiddlewarePanics(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	for name, p := range map[string]*Policy{
		"roles without authenticator": {Roles: []string{"admin"}},
		"optional with scopes":        {Authenticators: []Authenticator{v}, Optional: true, Scopes: []string{"read"}},
		"nil authenticator":           {Authenticators: []Authenticator{nil}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Middleware did not panic")
				}
			}()
			p.Middleware()
		})
	}
}

func TestSplitPattern(t *testing.T) {
	tests := []struct{ pattern, method, path string }{
		{"GET /items/{id}", "GET", "/items/{id}"},
		{"/files/{path...}", "", "/files/{path}"},
		{"POST example.com/x", "POST", "/x"},
		{"GET /{$}", "GET", "/"},
		{"GET /users/{id:[0-9]+}/posts", "GET", "/users/{id}/posts"},
	}
	for _, tt := range tests {
		if m, p := splitPattern(tt.pattern); m != tt.method || p != tt.path {
			t.Errorf("splitPattern(%q): got %q %q, want %q %q", tt.pattern, m, p, tt.method, tt.path)
		}
	}
}
