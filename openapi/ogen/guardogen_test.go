package guardogen_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
	guardogen "github.com/guardkit/guard/openapi/ogen"
	"github.com/guardkit/guard/openapi/ogen/internal/testapi"
)

var secret = []byte("guardogen-test-secret-0123456789abcdefg")

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

// security is the generated SecurityHandler, one line per scheme.
type security struct{ *guardogen.Guard }

func (s security) HandleHTTPBearer(ctx context.Context, op testapi.OperationName, t testapi.HTTPBearer) (context.Context, error) {
	return s.Bearer(ctx, op, guard.SchemeHTTPBearer, t.Token, t.Roles)
}

func (s security) HandleAPIKeyHeader(ctx context.Context, op testapi.OperationName, t testapi.APIKeyHeader) (context.Context, error) {
	return s.APIKey(ctx, op, guard.SchemeAPIKeyHeader, t.APIKey, t.Roles)
}

// handler answers every operation with the principal's subject.
type handler struct{}

func who(ctx context.Context) (*testapi.Who, error) {
	p, _ := guard.PrincipalFrom(ctx)
	if p == nil {
		return &testapi.Who{}, nil
	}
	return &testapi.Who{Subject: p.Subject}, nil
}

func (handler) GetAdmin(ctx context.Context) (*testapi.Who, error)  { return who(ctx) }
func (handler) GetItems(ctx context.Context) (*testapi.Who, error)  { return who(ctx) }
func (handler) GetMe(ctx context.Context) (*testapi.Who, error)     { return who(ctx) }
func (handler) GetPublic(ctx context.Context) (*testapi.Who, error) { return who(ctx) }

// rolesOf reads x-guard-roles from the spec, by ogen's operation name.
func rolesOf(t testing.TB) map[string][]string {
	raw, err := os.ReadFile("testdata/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string   `json:"operationId"`
			Roles       []string `json:"x-guard-roles"`
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	roles := map[string][]string{}
	for _, ops := range doc.Paths {
		for _, op := range ops {
			if len(op.Roles) > 0 {
				roles[strings.ToUpper(op.OperationID[:1])+op.OperationID[1:]] = op.Roles
			}
		}
	}
	return roles
}

func newServer(t testing.TB, f *fixture) http.Handler {
	t.Helper()
	g, err := guardogen.New(guardogen.Config{Authenticators: []guard.Authenticator{f.verifier, f.keys}, Roles: rolesOf(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := testapi.NewServer(handler{}, security{g}, testapi.WithErrorHandler(g.ErrorHandler))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestOgenEnforcement(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(newServer(t, f))
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

// TestOgenDocument: guard's own descriptions equal the document's schemes,
// and every operation answers a request without credentials as declared.
func TestOgenDocument(t *testing.T) {
	f := newFixture(t)
	raw, err := os.ReadFile("testdata/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
		}
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, a := range []guard.SecurityDescriber{f.verifier, f.keys} {
		for _, s := range a.SecuritySchemes() {
			mine, _ := json.Marshal(s.Scheme)
			var x, y any
			_ = json.Unmarshal(mine, &x)
			_ = json.Unmarshal(doc.Components.SecuritySchemes[s.Name], &y)
			if b1, _ := json.Marshal(x); string(b1) != func() string { b2, _ := json.Marshal(y); return string(b2) }() {
				t.Errorf("scheme %s: guard describes %s, the document has %s", s.Name, mine, doc.Components.SecuritySchemes[s.Name])
			}
		}
	}
	srv := httptest.NewServer(newServer(t, f))
	defer srv.Close()
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

func TestOgenNewRefuses(t *testing.T) {
	_, err := guardogen.New(guardogen.Config{Authenticators: []guard.Authenticator{customAuth{}}})
	if !errors.Is(err, guard.ErrUndescribed) {
		t.Errorf("got %v, want ErrUndescribed", err)
	}
}

// The adapter's enforcement against the same guard middleware on plain
// net/http: the generated SecurityHandler called as ogen calls it.
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
	b.Run("ogen SecurityHandler", func(b *testing.B) {
		g, err := guardogen.New(guardogen.Config{Authenticators: []guard.Authenticator{f.verifier, f.keys}})
		if err != nil {
			b.Fatal(err)
		}
		sec := security{g}
		ctx := context.Background()
		t := testapi.HTTPBearer{Token: tok, Roles: []string{"read"}}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sec.HandleHTTPBearer(ctx, testapi.GetItemsOperation, t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
