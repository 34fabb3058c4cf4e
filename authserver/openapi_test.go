package authserver

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/guardkit/guard"
)

func TestTokenEndpointSecurityScheme(t *testing.T) {
	codes := new(MemoryAuthCodes)
	refresh := &RefreshConfig{Store: MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{})}
	tests := []struct {
		name string
		mod  func(*TokenEndpointConfig)
		cfg  OAuth2SchemeConfig
		want string // the scheme as JSON; "" when an error is wanted
		errs []string
	}{
		{name: "password and client credentials",
			cfg:  OAuth2SchemeConfig{TokenURL: "/token", Scopes: map[string]string{"read": "Read items"}},
			want: `{"type":"oauth2","flows":{"password":{"tokenUrl":"/token","scopes":{"read":"Read items"}},"clientCredentials":{"tokenUrl":"/token","scopes":{"read":"Read items"}}}}`},
		{name: "password only, refresh, no scopes",
			mod:  func(c *TokenEndpointConfig) { c.Clients = nil; c.Refresh = refresh },
			cfg:  OAuth2SchemeConfig{Name: "login", TokenURL: "https://as.example/token", Description: "Log in"},
			want: `{"type":"oauth2","description":"Log in","flows":{"password":{"tokenUrl":"https://as.example/token","refreshUrl":"https://as.example/token","scopes":{}}}}`},
		{name: "authorization code",
			mod: func(c *TokenEndpointConfig) {
				c.EnablePasswordGrant = false
				c.InferPasswordGrant = false
				c.AuthCodes = codes
			},
			cfg:  OAuth2SchemeConfig{TokenURL: "/token", AuthorizationURL: "/authorize"},
			want: `{"type":"oauth2","flows":{"clientCredentials":{"tokenUrl":"/token","scopes":{}},"authorizationCode":{"authorizationUrl":"/authorize","tokenUrl":"/token","scopes":{}}}}`},
		{name: "every mistake",
			mod:  func(c *TokenEndpointConfig) { c.AuthCodes = codes },
			cfg:  OAuth2SchemeConfig{Name: "a b", Scopes: map[string]string{"bad scope": ""}},
			errs: []string{"TokenURL is required", `"bad scope" is not a scope token`, "AuthorizationURL is required", `scheme name "a b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTokFixture(t, guard.PasswordHasherConfig{}, tt.mod)
			s, err := f.e.SecurityScheme(tt.cfg)
			if tt.want == "" {
				if err == nil {
					t.Fatal("got no error")
				}
				for _, e := range tt.errs {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error %q does not say %q", err, e)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantName := tt.cfg.Name
			if wantName == "" {
				wantName = DefaultOAuth2SchemeName
			}
			if s.Name != wantName {
				t.Errorf("name: got %q, want %q", s.Name, wantName)
			}
			got, _ := json.Marshal(s.Scheme)
			if string(got) != tt.want {
				t.Errorf("scheme:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
