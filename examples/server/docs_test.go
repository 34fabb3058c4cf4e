package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/guardkit/guard/examples/server/app"
)

// The fixed contract of /openapi.json: every route with the security it
// enforces, the oauth2 scheme with the token endpoint's flows and scopes,
// and no secret.
func TestOpenAPIDocument(t *testing.T) {
	h := testApp(t, nil)
	w := serve(h, "GET", "/openapi.json", nil, nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: got %d %q, want 200 application/json", w.Code, w.Header().Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
			Roles    []string              `json:"x-guard-roles"`
		}
		Components struct {
			SecuritySchemes map[string]struct {
				Type  string
				In    string
				Name  string
				Flows map[string]struct {
					AuthorizationURL string            `json:"authorizationUrl"`
					TokenURL         string            `json:"tokenUrl"`
					Scopes           map[string]string `json:"scopes"`
				}
			} `json:"securitySchemes"`
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Errorf("openapi %q, info %+v: want 3.1.0 with a title and a version", doc.OpenAPI, doc.Info)
	}
	tests := []struct {
		path, method string
		security     []map[string][]string
		roles        []string
	}{
		{"/token", "post", []map[string][]string{}, nil},
		{"/revoke", "post", []map[string][]string{}, nil},
		{"/authorize", "get", []map[string][]string{}, nil},
		{"/authorize", "post", []map[string][]string{}, nil},
		{"/protected", "get", []map[string][]string{{"OAuth2": {}}}, nil},
		{"/admin", "get", []map[string][]string{{"OAuth2": {}}}, []string{"admin"}},
		{"/secure", "get", []map[string][]string{{"APIKeyHeader": {}}}, nil},
		{"/secure-query", "get", []map[string][]string{{"APIKeyHeader": {}}, {"APIKeyQuery": {}}}, nil},
	}
	for _, tt := range tests {
		op, ok := doc.Paths[tt.path][tt.method]
		if !ok {
			t.Errorf("%s %s: not in the document", tt.method, tt.path)
			continue
		}
		if !reflect.DeepEqual(op.Security, tt.security) || !reflect.DeepEqual(op.Roles, tt.roles) {
			t.Errorf("%s %s: got security %v roles %v, want %v %v", tt.method, tt.path, op.Security, op.Roles, tt.security, tt.roles)
		}
	}
	schemes := doc.Components.SecuritySchemes
	if s := schemes["APIKeyHeader"]; s.Type != "apiKey" || s.In != "header" || s.Name != "X-API-Key" {
		t.Errorf("APIKeyHeader: got %+v, want apiKey in header X-API-Key", s)
	}
	if s := schemes["APIKeyQuery"]; s.Type != "apiKey" || s.In != "query" || s.Name != "api_key" {
		t.Errorf("APIKeyQuery: got %+v, want apiKey in query api_key", s)
	}
	oauth2 := schemes["OAuth2"]
	if oauth2.Type != "oauth2" {
		t.Fatalf("OAuth2: got type %q, want oauth2", oauth2.Type)
	}
	for _, flow := range []string{"password", "authorizationCode", "clientCredentials"} {
		f := oauth2.Flows[flow]
		if f.TokenURL != "/token" || !reflect.DeepEqual(f.Scopes, app.Scopes) {
			t.Errorf("flow %s: got %+v, want tokenUrl /token and scopes %v", flow, f, app.Scopes)
		}
	}
	if got := oauth2.Flows["authorizationCode"].AuthorizationURL; got != "/authorize" {
		t.Errorf("authorizationUrl: got %q, want /authorize", got)
	}
	for _, secret := range []string{"demo-key", "example-test-secret", "wonderland\"", "$argon2", "$2"} {
		if strings.Contains(w.Body.String(), secret) {
			t.Errorf("the document contains %q", secret)
		}
	}
}

func TestDocsPage(t *testing.T) {
	tests := []struct {
		name, assets, want string
	}{
		{"CDN by default", "", app.DefaultDocsAssetsURL},
		{"DOCS_ASSETS_URL", "http://127.0.0.1:9/swagger-ui-dist/", "http://127.0.0.1:9/swagger-ui-dist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testApp(t, func(c *app.Config) { c.DocsAssetsURL = tt.assets })
			w := serve(h, "GET", "/docs", nil, nil)
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("GET /docs: got %d %q", w.Code, w.Header().Get("Content-Type"))
			}
			body := w.Body.String()
			for _, s := range []string{
				`href="` + tt.want + `/swagger-ui.css"`,
				`src="` + tt.want + `/swagger-ui-bundle.js"`,
				`url: "/openapi.json"`,
				`persistAuthorization: true`,
				`"/docs/oauth2-redirect.html"`,
				`usePkceWithAuthorizationCodeGrant: true`,
			} {
				if !strings.Contains(body, s) {
					t.Errorf("the page lacks %s", s)
				}
			}
		})
	}
	w := serve(testApp(t, nil), "GET", "/docs/oauth2-redirect.html", nil, nil)
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Referrer-Policy") != "no-referrer" ||
		!strings.Contains(w.Body.String(), "swaggerUIRedirectOauth2") {
		t.Errorf("GET /docs/oauth2-redirect.html: got %d %v", w.Code, w.Header())
	}
}

// The docs client of Swagger UI may start the authorization code flow with
// the server's own redirect page, and no other.
func TestDocsClient(t *testing.T) {
	h := testApp(t, func(c *app.Config) { c.Issuer = "http://127.0.0.1:8000" })
	q := url.Values{"response_type": {"code"}, "client_id": {app.DocsClientID}, "state": {"s"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	for _, tt := range []struct {
		redirect string
		status   int
	}{
		{"http://127.0.0.1:8000/docs/oauth2-redirect.html", http.StatusOK},
		{"http://127.0.0.1:3000/docs/oauth2-redirect.html", http.StatusBadRequest},
	} {
		q.Set("redirect_uri", tt.redirect)
		if w := serve(h, "GET", "/authorize?"+q.Encode(), nil, nil); w.Code != tt.status {
			t.Errorf("authorize with redirect_uri %s: got %d, want %d", tt.redirect, w.Code, tt.status)
		}
	}
}
