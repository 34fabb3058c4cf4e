package authserver

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// FuzzRegistration sends arbitrary bodies to the registration endpoint.
// Properties: never a panic, a 500 or a status outside 201, 400 and 413;
// every refusal is invalid_client_metadata or invalid_redirect_uri and
// stores nothing; every 201 stored exactly one client, public, with
// redirect URIs that are https or http to loopback without a fragment,
// grants and scopes within the policy. Seeds: the table cases here and
// testdata/fuzz/FuzzRegistration.
func FuzzRegistration(f *testing.F) {
	for _, s := range []string{
		`{"redirect_uris":["http://localhost:6274/oauth/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector"}`,
		`{"redirect_uris":["https://app.example/cb"],"scope":"read"}`,
		`{"redirect_uris":["http://[::1]:8080/cb","http://127.0.0.1/cb"]}`,
		`{"redirect_uris":["javascript:alert(1)//"]}`,
		`{"redirect_uris":["https://app.example/cb#frag"]}`,
		`{"redirect_uris":["http://localhost.evil.example/cb"]}`,
		`{"redirect_uris":["http://127.0.0.1@evil.example/cb"]}`,
		`{"redirect_uris":["https://a.example/cb"],"redirect_uris":["https://b.example/cb"]}`,
		`{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`,
		`{"redirect_uris":null,"grant_types":null,"scope":null}`,
		`{"client_name":"\u0000"}`,
		`[]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add(s)
	}
	e, clients := newReg(f, nil)
	e.limiter = tokNopLimiter{}
	f.Fuzz(func(t *testing.T, body string) {
		before := len(clients.m)
		rec := regDo(e, regRequest(body))
		after := len(clients.m)
		switch rec.Code {
		case 201:
			var resp struct {
				ClientID string `json:"client_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("201 body %q: %v", rec.Body, err)
			}
			c, err := clients.LookupClient(context.Background(), resp.ClientID)
			if err != nil || after != before+1 {
				t.Fatalf("201 for %q, but the client was not stored once (%v)", body, err)
			}
			if !c.Public || c.SecretHash != "" {
				t.Fatalf("public-only policy registered %+v", c)
			}
			for _, g := range c.Grants {
				if !slices.Contains([]string{"authorization_code", "refresh_token"}, g) {
					t.Fatalf("grant %q registered", g)
				}
			}
			for _, s := range c.Scopes {
				if s != "read" && s != "write" {
					t.Fatalf("scope %q registered", s)
				}
			}
			for _, uri := range c.RedirectURIs {
				u, err := url.Parse(uri)
				if err != nil || strings.Contains(uri, "#") || u.User != nil ||
					!(strings.EqualFold(u.Scheme, "https") && u.Hostname() != "" || strings.EqualFold(u.Scheme, "http") && isLoopbackHost(u.Hostname())) {
					t.Fatalf("redirect URI %q registered", uri)
				}
			}
		case 400, 413:
			if after != before {
				t.Fatalf("%d for %q stored a client", rec.Code, body)
			}
			b := rec.Body.String()
			if !strings.HasPrefix(b, `{"error":"invalid_client_metadata"`) && !strings.HasPrefix(b, `{"error":"invalid_redirect_uri"`) {
				t.Fatalf("%d with body %q", rec.Code, b)
			}
		default:
			t.Fatalf("status %d for %q (body %q)", rec.Code, body, rec.Body)
		}
	})
}
