package authserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

func serveDiscovery(t *testing.T, h http.Handler, method string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/.well-known/openid-configuration", nil))
	return rec
}

func TestDiscoveryHandler(t *testing.T) {
	k1 := jwtMustPriv(t, guard.ES256, jwtP256(), "k1")
	ks := mustKeySet(t, guard.KeySetConfig{Keys: []*guard.Key{k1, jwtMustHMAC(t, guard.HS256, jwtSecret32, "legacy")}})
	h, err := DiscoveryHandler(DiscoveryConfig{
		Issuer:                            "https://auth.example",
		JWKSURI:                           "https://auth.example/.well-known/jwks.json",
		TokenEndpoint:                     "https://auth.example/token",
		GrantTypesSupported:               []string{"password", "client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic"},
		ScopesSupported:                   []string{"read"},
		Keys:                              ks,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := serveDiscovery(t, h, http.MethodGet)
	want := `{"issuer":"https://auth.example","jwks_uri":"https://auth.example/.well-known/jwks.json",` +
		`"token_endpoint":"https://auth.example/token","grant_types_supported":["password","client_credentials"],` +
		`"token_endpoint_auth_methods_supported":["client_secret_basic"],"scopes_supported":["read"],` +
		`"response_types_supported":[],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["ES256"]}`
	if rec.Code != http.StatusOK || rec.Body.String() != want {
		t.Fatalf("got %d %s\nwant 200 %s", rec.Code, rec.Body, want)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300"} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	// The algorithms follow the key set.
	if err := ks.Add(jwtMustPriv(t, guard.EdDSA, jwtEd(), "k2")); err != nil {
		t.Fatal(err)
	}
	if body := serveDiscovery(t, h, http.MethodGet).Body.String(); !strings.Contains(body, `"id_token_signing_alg_values_supported":["ES256","EdDSA"]`) {
		t.Errorf("after Add: got %s, want ES256 and EdDSA listed", body)
	}
	if rec := serveDiscovery(t, h, http.MethodHead); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: got %d with %d bytes, want 200 and none", rec.Code, rec.Body.Len())
	}
	if rec := serveDiscovery(t, h, http.MethodPost); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: got %d Allow %q, want 405 GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestDiscoveryHandlerStatic(t *testing.T) {
	h, err := DiscoveryHandler(DiscoveryConfig{Issuer: "http://localhost:9000", JWKSURI: "http://localhost:9000/jwks", SigningAlgorithms: []guard.Algorithm{guard.RS256}, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec := serveDiscovery(t, h, http.MethodGet)
	want := `{"issuer":"http://localhost:9000","jwks_uri":"http://localhost:9000/jwks","response_types_supported":[],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}`
	if rec.Body.String() != want || rec.Header().Get("Cache-Control") != "public, max-age=3600" {
		t.Errorf("got %s (%q), want %s", rec.Body, rec.Header().Get("Cache-Control"), want)
	}
}

func TestDiscoveryHandlerRefuses(t *testing.T) {
	ks := mustKeySet(t, guard.KeySetConfig{})
	ok := DiscoveryConfig{Issuer: "https://a.example", JWKSURI: "https://a.example/jwks"}
	for _, tc := range []struct {
		name string
		mod  func(*DiscoveryConfig)
	}{
		{"no issuer", func(c *DiscoveryConfig) { c.Issuer = "" }},
		{"relative issuer", func(c *DiscoveryConfig) { c.Issuer = "/auth" }},
		{"issuer with query", func(c *DiscoveryConfig) { c.Issuer = "https://a.example?x=1" }},
		{"issuer with fragment", func(c *DiscoveryConfig) { c.Issuer = "https://a.example#f" }},
		{"ftp issuer", func(c *DiscoveryConfig) { c.Issuer = "ftp://a.example" }},
		{"no jwks_uri", func(c *DiscoveryConfig) { c.JWKSURI = "" }},
		{"relative token endpoint", func(c *DiscoveryConfig) { c.TokenEndpoint = "/token" }},
		{"empty grant type", func(c *DiscoveryConfig) { c.GrantTypesSupported = []string{""} }},
		{"bad algorithm", func(c *DiscoveryConfig) { c.SigningAlgorithms = []guard.Algorithm{"none"} }},
		{"Keys and SigningAlgorithms", func(c *DiscoveryConfig) { c.Keys, c.SigningAlgorithms = ks, []guard.Algorithm{guard.ES256} }},
		{"fractional max-age", func(c *DiscoveryConfig) { c.MaxAge = 1500 * time.Millisecond }},
		{"relative authorization endpoint", func(c *DiscoveryConfig) { c.AuthorizationEndpoint = "/authorize" }},
		{"plain PKCE", func(c *DiscoveryConfig) { c.CodeChallengeMethodsSupported = []string{"S256", "plain"} }},
		{"empty PKCE method", func(c *DiscoveryConfig) { c.CodeChallengeMethodsSupported = []string{""} }},
		{"iss parameter without authorization endpoint", func(c *DiscoveryConfig) { c.AuthorizationResponseIssParameterSupported = true }},
		{"relative introspection endpoint", func(c *DiscoveryConfig) { c.IntrospectionEndpoint = "/introspect" }},
		{"introspection auth methods without the endpoint", func(c *DiscoveryConfig) {
			c.IntrospectionEndpointAuthMethodsSupported = []string{"client_secret_basic"}
		}},
		{"introspection without client authentication", func(c *DiscoveryConfig) {
			c.IntrospectionEndpoint, c.IntrospectionEndpointAuthMethodsSupported = "https://a.example/introspect", []string{"none"}
		}},
		{"empty introspection auth method", func(c *DiscoveryConfig) {
			c.IntrospectionEndpoint, c.IntrospectionEndpointAuthMethodsSupported = "https://a.example/introspect", []string{""}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			if _, err := DiscoveryHandler(cfg); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
}

// The authorization code flow's metadata: RFC 8414 §2 (authorization_endpoint,
// code_challenge_methods_supported from RFC 7636 §6.2) and RFC 9207 §3.
func TestDiscoveryHandlerAuthorizationCode(t *testing.T) {
	tests := []struct {
		name string
		cfg  DiscoveryConfig
		want string
	}{
		{
			name: "code flow",
			cfg: DiscoveryConfig{
				Issuer: "https://auth.example", JWKSURI: "https://auth.example/jwks",
				AuthorizationEndpoint:                      "https://auth.example/authorize",
				TokenEndpoint:                              "https://auth.example/token",
				ResponseTypesSupported:                     []string{"code"},
				CodeChallengeMethodsSupported:              []string{"S256"},
				AuthorizationResponseIssParameterSupported: true,
			},
			want: `{"issuer":"https://auth.example","jwks_uri":"https://auth.example/jwks",` +
				`"authorization_endpoint":"https://auth.example/authorize","token_endpoint":"https://auth.example/token",` +
				`"response_types_supported":["code"],"subject_types_supported":["public"],` +
				`"code_challenge_methods_supported":["S256"],"authorization_response_iss_parameter_supported":true}`,
		},
		{
			name: "introspection",
			cfg: DiscoveryConfig{
				Issuer: "https://auth.example", JWKSURI: "https://auth.example/jwks",
				TokenEndpoint:                             "https://auth.example/token",
				IntrospectionEndpoint:                     "https://auth.example/introspect",
				IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
			},
			want: `{"issuer":"https://auth.example","jwks_uri":"https://auth.example/jwks","token_endpoint":"https://auth.example/token",` +
				`"introspection_endpoint":"https://auth.example/introspect",` +
				`"introspection_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
				`"response_types_supported":[],"subject_types_supported":["public"]}`,
		},
		{
			name: "token endpoint only: nothing of the code flow published",
			cfg:  DiscoveryConfig{Issuer: "https://auth.example", JWKSURI: "https://auth.example/jwks"},
			want: `{"issuer":"https://auth.example","jwks_uri":"https://auth.example/jwks","response_types_supported":[],"subject_types_supported":["public"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := DiscoveryHandler(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := serveDiscovery(t, h, http.MethodGet)
			if rec.Code != http.StatusOK || rec.Body.String() != tt.want {
				t.Errorf("got %d %s\nwant 200 %s", rec.Code, rec.Body, tt.want)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", got)
			}
		})
	}
}
