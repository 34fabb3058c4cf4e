package guardhuma_test

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

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/guardkit/guard"
	guardhuma "github.com/guardkit/guard/openapi/huma"
)

var secret = []byte("guardhuma-test-secret-0123456789abcdef")

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

type whoOutput struct {
	Body struct {
		Subject string `json:"subject"`
	}
}

// newAPI serves a small huma API: GET /public, GET /me (bearer or API
// key), GET /items (bearer with scope read), GET /admin (bearer, role
// admin), GET /feed (optional bearer).
func newAPI(t testing.TB, f *fixture) (http.Handler, *guardhuma.Guard) {
	t.Helper()
	mux := http.NewServeMux()
	api := humago.New(mux, huma.DefaultConfig("guardhuma test", "1.0.0"))
	g, err := guardhuma.New(api, f.verifier, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	who := func(ctx context.Context, _ *struct{}) (*whoOutput, error) {
		out := &whoOutput{}
		if p, ok := guard.PrincipalFrom(ctx); ok {
			out.Body.Subject = p.Subject
		}
		return out, nil
	}
	bearer := guard.SchemeHTTPBearer
	huma.Register(api, huma.Operation{OperationID: "public", Method: http.MethodGet, Path: "/public", Security: []map[string][]string{}}, who)
	huma.Register(api, huma.Operation{OperationID: "me", Method: http.MethodGet, Path: "/me",
		Security: []map[string][]string{{bearer: {}}, {guard.SchemeAPIKeyHeader: {}}}}, who)
	huma.Register(api, huma.Operation{OperationID: "items", Method: http.MethodGet, Path: "/items",
		Security: []map[string][]string{{bearer: {"read"}}}}, who)
	admin := huma.Operation{OperationID: "admin", Method: http.MethodGet, Path: "/admin"}
	if err := guardhuma.Secure(&admin, &guard.Policy{Authenticators: []guard.Authenticator{f.verifier}, Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	huma.Register(api, admin, who)
	huma.Register(api, huma.Operation{OperationID: "feed", Method: http.MethodGet, Path: "/feed",
		Security: []map[string][]string{{bearer: {}}, {}}}, who)
	return mux, g
}

func TestHumaEnforcement(t *testing.T) {
	f := newFixture(t)
	h, _ := newAPI(t, f)
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
				var problem struct {
					Status int    `json:"status"`
					Title  string `json:"title"`
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(body, &problem) != nil || problem.Status != tt.status {
					t.Errorf("error body: got %q %s, want huma's application/problem+json with status %d", ct, body, tt.status)
				}
				return
			}
			var out struct {
				Subject string `json:"subject"`
			}
			if err := json.Unmarshal(body, &out); err != nil || out.Subject != tt.subject {
				t.Errorf("handler saw subject %q (%v), want %q", out.Subject, err, tt.subject)
			}
		})
	}
}

// TestHumaDocument: the served document holds guard's schemes, and every
// operation is enforced as it declares (401 without credentials exactly
// where security is required).
func TestHumaDocument(t *testing.T) {
	f := newFixture(t)
	h, _ := newAPI(t, f)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string
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
	want := map[string]map[string]any{
		"HTTPBearer":   {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
		"APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
	}
	for name, s := range want {
		got, _ := json.Marshal(doc.Components.SecuritySchemes[name])
		w, _ := json.Marshal(s)
		if string(got) != string(w) {
			t.Errorf("scheme %s: got %s, want %s", name, got, w)
		}
	}
	if len(doc.Paths) != 5 {
		t.Errorf("got %d paths, want 5", len(doc.Paths))
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

// customAuth cannot describe itself.
type customAuth struct{}

func (customAuth) Authenticate(*http.Request) (*guard.Principal, error) {
	return nil, guard.ErrNoCredentials
}
func (customAuth) Challenge() string { return "Custom" }

func TestHumaNewRefuses(t *testing.T) {
	api := humago.New(http.NewServeMux(), huma.DefaultConfig("t", "1"))
	api.OpenAPI().Components.SecuritySchemes = map[string]*huma.SecurityScheme{"HTTPBearer": {Type: "http", Scheme: "basic"}}
	_, err := guardhuma.New(api, customAuth{}, newFixture(t).verifier)
	if !errors.Is(err, guard.ErrUndescribed) || !errors.Is(err, guard.ErrSchemeConflict) {
		t.Errorf("got %v, want ErrUndescribed and ErrSchemeConflict", err)
	}
}

// The adapter's enforcement against the same guard middleware on plain
// net/http: RequireBearer around a handler that does nothing, and the huma
// middleware called with a humago context around a next that does nothing.
func BenchmarkEnforcement(b *testing.B) {
	f := newFixture(b)
	tok := f.token(b, "alice", []string{"admin"}, []string{"read"})
	req := httptest.NewRequest("GET", "/items", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.Run("net/http RequireBearer+RequireScope", func(b *testing.B) {
		h := f.verifier.RequireBearer(guard.RequireScope("read")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
	b.Run("huma middleware", func(b *testing.B) {
		_, g := newAPI(b, f)
		op := &huma.Operation{Method: http.MethodGet, Path: "/items", Security: []map[string][]string{{guard.SchemeHTTPBearer: {"read"}}}}
		ctx := humago.NewContext(op, req, httptest.NewRecorder()) // huma makes one per request anyway
		next := func(huma.Context) {}
		b.ReportAllocs()
		for b.Loop() {
			g.Middleware(ctx, next)
		}
	})
}
