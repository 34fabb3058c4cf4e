package guard

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProtectedResourceMetadata(t *testing.T) {
	h, err := ProtectedResourceMetadata(ProtectedResourceConfig{
		Resource:                      "https://api.example.com/mcp",
		AuthorizationServers:          []string{"https://as.example.com"},
		ScopesSupported:               []string{"orders:read", "orders:write"},
		DPoPSigningAlgValuesSupported: []string{"ES256", "EdDSA"},
		DPoPBoundAccessTokensRequired: true,
		ResourceName:                  "Orders",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resource":"https://api.example.com/mcp","authorization_servers":["https://as.example.com"],` +
		`"scopes_supported":["orders:read","orders:write"],"bearer_methods_supported":["header"],` +
		`"dpop_signing_alg_values_supported":["ES256","EdDSA"],"dpop_bound_access_tokens_required":true,"resource_name":"Orders"}`
	hdr := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"public, max-age=3600"},
		"Access-Control-Allow-Origin": {"*"}, "X-Content-Type-Options": {"nosniff"}, "Content-Length": {strconv.Itoa(len(want))}}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource/mcp", nil))
	checkResponse(t, rec, 200, hdr, want)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/.well-known/oauth-protected-resource/mcp", nil))
	checkResponse(t, rec, 200, hdr, "")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/.well-known/oauth-protected-resource/mcp", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: got %d %v", rec.Code, rec.Header())
	}

	h, err = ProtectedResourceMetadata(ProtectedResourceConfig{Resource: "http://localhost:8080", BearerMethodsSupported: []string{}, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Body.String(); got != `{"resource":"http://localhost:8080","bearer_methods_supported":[]}` || rec.Header().Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("got %q %v", got, rec.Header())
	}
}

func TestProtectedResourceMetadataRefuses(t *testing.T) {
	_, err := ProtectedResourceMetadata(ProtectedResourceConfig{
		AuthorizationServers:          []string{"http://as.example.com", "https://as.example.com?x=1", "https://as.example.com#f"},
		ScopesSupported:               []string{"a b"},
		BearerMethodsSupported:        []string{"cookie"},
		DPoPSigningAlgValuesSupported: []string{"HS256", ""},
		ResourceDocumentation:         "/docs",
		MaxAge:                        time.Millisecond,
	})
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"Resource is required", "plain http", "has a query", "fragment", `"a b"`, `"cookie"`, `"HS256"`, `""`, "ResourceDocumentation", "MaxAge"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for _, bad := range []string{"http://api.example.com", "https://api.example.com/#x", "ftp://x", "/relative", "https://u@api.example.com"} {
		if _, err := ProtectedResourceMetadata(ProtectedResourceConfig{Resource: bad}); err == nil {
			t.Errorf("Resource %q: got no error", bad)
		}
	}
}

func TestProtectedResourceMetadataURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example.com":            "https://api.example.com/.well-known/oauth-protected-resource",
		"https://api.example.com/":           "https://api.example.com/.well-known/oauth-protected-resource",
		"https://api.example.com/mcp":        "https://api.example.com/.well-known/oauth-protected-resource/mcp",
		"https://api.example.com/a/b/":       "https://api.example.com/.well-known/oauth-protected-resource/a/b",
		"https://api.example.com:8443/x?y=1": "https://api.example.com:8443/.well-known/oauth-protected-resource/x?y=1",
		"http://127.0.0.1:8080/a%2Fb":        "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a%2Fb",
	} {
		got, err := ProtectedResourceMetadataURL(in)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://example.com", "https://x/#f", "x", ""} {
		if _, err := ProtectedResourceMetadataURL(bad); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
}
