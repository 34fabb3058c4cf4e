package authserver

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guardkit/guard"
)

// TestDiscovery: the metadata comes from the endpoints' configuration, and
// DiscoveryHandler serves it as it is.
func TestDiscovery(t *testing.T) {
	ks := mustKeySet(t, guard.KeySetConfig{Keys: []*guard.Key{jwtMustPriv(t, guard.ES256, jwtP256(), "k1")}})
	az, _, codes := newAZ(t)
	tests := []struct {
		name      string
		mod       func(*TokenEndpointConfig)
		authorize *AuthorizeEndpoint
		want      string
	}{
		{"password, clients and refresh", func(c *TokenEndpointConfig) {
			c.Refresh = &RefreshConfig{Store: MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{})}
		}, nil,
			`{"issuer":"https://auth.example","jwks_uri":"https://auth.example/.well-known/jwks.json","token_endpoint":"https://auth.example/token",` +
				`"revocation_endpoint":"https://auth.example/revoke","introspection_endpoint":"https://auth.example/introspect",` +
				`"introspection_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
				`"grant_types_supported":["password","client_credentials","refresh_token"],` +
				`"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"],` +
				`"response_types_supported":[],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["ES256"]}`},
		{"clients only: no public clients", func(c *TokenEndpointConfig) { c.EnablePasswordGrant = false; c.Users = nil }, nil,
			`{"issuer":"https://auth.example","jwks_uri":"https://auth.example/.well-known/jwks.json","token_endpoint":"https://auth.example/token",` +
				`"revocation_endpoint":"https://auth.example/revoke","introspection_endpoint":"https://auth.example/introspect",` +
				`"introspection_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
				`"grant_types_supported":["client_credentials"],"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
				`"response_types_supported":[],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["ES256"]}`},
		{"no clients: password only, no introspection", func(c *TokenEndpointConfig) { c.Clients = nil }, nil,
			`{"issuer":"https://auth.example","jwks_uri":"https://auth.example/.well-known/jwks.json","token_endpoint":"https://auth.example/token",` +
				`"revocation_endpoint":"https://auth.example/revoke","grant_types_supported":["password"],"token_endpoint_auth_methods_supported":["none"],` +
				`"response_types_supported":[],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["ES256"]}`},
		{"code flow", func(c *TokenEndpointConfig) { c.AuthCodes = codes }, az,
			`{"issuer":"https://auth.example","jwks_uri":"https://auth.example/.well-known/jwks.json","authorization_endpoint":"https://auth.example/authorize",` +
				`"token_endpoint":"https://auth.example/token","revocation_endpoint":"https://auth.example/revoke","introspection_endpoint":"https://auth.example/introspect",` +
				`"introspection_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
				`"grant_types_supported":["authorization_code","password","client_credentials"],` +
				`"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"],"response_types_supported":["code"],` +
				`"subject_types_supported":["public"],"code_challenge_methods_supported":["S256"],"authorization_response_iss_parameter_supported":true,` +
				`"id_token_signing_alg_values_supported":["ES256"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTokFixture(t, guard.PasswordHasherConfig{}, tt.mod)
			h, err := DiscoveryHandler(Discovery("https://auth.example/", f.e, tt.authorize, ks))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathOpenIDConfig, nil))
			if rec.Code != 200 || rec.Body.String() != tt.want {
				t.Errorf("got %d\n%s\nwant\n%s", rec.Code, rec.Body, tt.want)
			}
		})
	}
	// Nothing but a base URL: the issuer and the JWK Set.
	cfg := Discovery("https://auth.example", nil, nil, nil)
	if cfg.Issuer != "https://auth.example" || cfg.JWKSURI != "https://auth.example/.well-known/jwks.json" || cfg.TokenEndpoint != "" {
		t.Errorf("got %+v", cfg)
	}
}
