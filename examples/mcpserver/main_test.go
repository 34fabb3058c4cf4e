package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/guardkit/guard/guardtest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testIssuer is an authorization server made of guard's parts: an ES256
// key, its JWK Set and discovery document, and tokens it mints.
type testIssuer struct {
	url string
	key *guard.Key
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := guard.NewPrivateKey(guard.ES256, p, "k1")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jwks, err := guard.JWKSHandler(time.Minute, key)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := authserver.DiscoveryHandler(authserver.DiscoveryConfig{
		Issuer: srv.URL, JWKSURI: srv.URL + "/jwks", SigningAlgorithms: []guard.Algorithm{guard.ES256},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /jwks", jwks)
	mux.Handle("GET /.well-known/openid-configuration", disc)
	return &testIssuer{url: srv.URL, key: key}
}

// token mints an access token for sub with the audience and scopes given.
func (ti *testIssuer) token(t *testing.T, sub, audience string, scopes ...string) string {
	t.Helper()
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: ti.key, Issuer: ti.url, Audience: []string{audience}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(context.Background(), guard.Claims{Subject: sub, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startServer serves the app on a loopback port, RESOURCE_URL being its
// /mcp, and returns that URL.
func startServer(t *testing.T, issuer string) (resource string) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	resource = srv.URL + "/mcp"
	a, err := newApp(config{issuer: issuer, resource: resource, log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.keys.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	h = a.handler
	return resource
}

// bearer adds an Authorization header to every request.
type bearer struct {
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// The Go SDK's client calls whoami with a token for this resource and gets
// the token's subject and scopes.
func TestWhoami(t *testing.T) {
	ti := newTestIssuer(t)
	resource := startServer(t, ti.url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   resource,
		HTTPClient: &http.Client{Transport: bearer{ti.token(t, "alice", resource, "read")}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var got whoami
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if res.IsError || got.Subject != "alice" || !slices.Equal(got.Scopes, []string{"read"}) {
		t.Errorf("whoami: got %s (error %v), want alice with scope read", raw, res.IsError)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; text != "alice (scopes: read)" {
		t.Errorf("whoami text: got %q", text)
	}

	// Alice's session answers alice only: bob's valid token with her
	// session id is refused.
	req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", session.ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	req.Header.Set("Authorization", "Bearer "+ti.token(t, "bob", resource, "read"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob in alice's session: got %d %s, want 403", resp.StatusCode, body)
	}
}

// dpopClient sends a DPoP-bound token with a fresh proof of its key on
// every request.
type dpopClient struct {
	t     *testing.T
	key   *guardtest.DPoPKey
	token string
}

func (d dpopClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "DPoP "+d.token)
	r.Header.Set("DPoP", d.key.Proof(d.t, r.Method, r.URL.String(), guardtest.DPoPProofOptions{AccessToken: d.token}))
	return http.DefaultTransport.RoundTrip(r)
}

// A DPoP-bound token works with proofs of its key, and is refused as a
// plain bearer token.
func TestWhoamiDPoP(t *testing.T) {
	ti := newTestIssuer(t)
	resource := startServer(t, ti.url)
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: ti.key, Issuer: ti.url, Audience: []string{resource}})
	if err != nil {
		t.Fatal(err)
	}
	key := guardtest.NewDPoPKey(t)
	token := key.BoundToken(t, iss, guard.Claims{Subject: "bob"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: resource, HTTPClient: &http.Client{Transport: dpopClient{t, key, token}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; res.IsError || text != "bob" {
		t.Errorf("whoami with DPoP: got %q (error %v), want bob", text, res.IsError)
	}
	_, err = client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: resource, HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1,
	}, nil)
	if err == nil {
		t.Error("a DPoP-bound token sent as a bearer token connected")
	}
}

// What a client finds before it has a token: 401 naming the metadata, and
// the metadata at both well-known URLs. A token for another audience, or
// of another issuer, is refused.
func TestProtectedResource(t *testing.T) {
	ti := newTestIssuer(t)
	resource := startServer(t, ti.url)
	origin := strings.TrimSuffix(resource, "/mcp")
	metadataURL := origin + "/.well-known/oauth-protected-resource/mcp"
	post := func(authorization string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	other := newTestIssuer(t)
	for _, tt := range []struct {
		name, authorization string
	}{
		{"no token", ""},
		{"a token for another resource", "Bearer " + ti.token(t, "alice", "http://localhost:9001")},
		{"a token of another issuer", "Bearer " + other.token(t, "alice", resource)},
		{"not a token", "Bearer nope"},
	} {
		resp := post(tt.authorization)
		www := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(www, "Bearer") || !strings.Contains(www, `resource_metadata="`+metadataURL+`"`) {
			t.Errorf("%s: got %d %q, want 401 with resource_metadata=%q", tt.name, resp.StatusCode, www, metadataURL)
		}
	}
	for _, u := range []string{metadataURL, origin + "/.well-known/oauth-protected-resource"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			DPoPAlgs             []string `json:"dpop_signing_alg_values_supported"`
		}
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || m.Resource != resource || !slices.Equal(m.AuthorizationServers, []string{ti.url}) || len(m.DPoPAlgs) == 0 {
			t.Errorf("GET %s: %d %+v %v", u, resp.StatusCode, m, err)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	for _, tt := range []struct {
		resource string
		ok       bool
	}{
		{"", true}, {"https://mcp.example.com/mcp", true}, {"mcp", false}, {"ftp://h/mcp", false}, {"https://h/mcp?x=1", false}, {"https://h/mcp#f", false},
	} {
		t.Setenv("RESOURCE_URL", tt.resource)
		cfg, err := configFromEnv(nil)
		if (err == nil) != tt.ok {
			t.Errorf("RESOURCE_URL=%q: got %v", tt.resource, err)
		}
		if tt.resource == "" && (cfg.resource != "http://localhost:9002/mcp" || cfg.addr != ":9002" || cfg.issuer != "http://localhost:9000") {
			t.Errorf("defaults: got %+v", cfg)
		}
	}
}
