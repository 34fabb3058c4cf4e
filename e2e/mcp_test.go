package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// mcpRun is what node/mcp-client.mjs prints.
type mcpRun struct {
	Requests []struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Status int    `json:"status"`
	} `json:"requests"`
	ClientID             string            `json:"client_id"`
	AuthorizationRequest map[string]string `json:"authorization_request"`
	LoginPage            int               `json:"login_page"`
	LoginPost            int               `json:"login_post"`
	Callback             struct {
		State   string `json:"state"`
		Iss     string `json:"iss"`
		HasCode bool   `json:"has_code"`
	} `json:"callback"`
	Token struct {
		TokenType       string `json:"token_type"`
		Scope           string `json:"scope"`
		HasRefreshToken bool   `json:"has_refresh_token"`
	} `json:"token"`
	Tools  []string `json:"tools"`
	Whoami struct {
		Structured struct {
			Subject string   `json:"subject"`
			Scopes  []string `json:"scopes"`
		} `json:"structured"`
		Text    string `json:"text"`
		IsError bool   `json:"is_error"`
	} `json:"whoami"`
}

// startMCP runs examples/authservice and examples/mcpserver (its own
// module) and returns the issuer and the MCP endpoint, which is also the
// server's resource identifier. The authorization server allows that
// resource and one other.
func startMCP(t *testing.T, other string) (issuer, mcpURL string) {
	t.Helper()
	authAddr, mcpAddr := freeAddr(t), freeAddr(t)
	issuer, mcpURL = "http://"+authAddr, "http://"+mcpAddr+"/mcp"
	startProgram(t, "authservice", "ADDR="+authAddr, "ISSUER_URL="+issuer, "BCRYPT_COST=10", "RESOURCES="+mcpURL+","+other)
	eventually(t, 30*time.Second, "the authorization server serves its JWKS", func() bool { return get(issuer+"/.well-known/jwks.json") == http.StatusOK })
	startProgram(t, "mcpserver", "ADDR="+mcpAddr, "ISSUER_URL="+issuer, "RESOURCE_URL="+mcpURL)
	eventually(t, 2*time.Minute, "the MCP server answers", func() bool { return mcpPost(t, mcpURL, "", "").StatusCode == http.StatusUnauthorized })
	// It listens at once and answers 503 to tokens until the issuer's keys load.
	tok := postToken(t, issuer, url.Values{"grant_type": {"client_credentials"}, "resource": {mcpURL}}, "demo-client", "demo-secret")
	eventually(t, 30*time.Second, "the MCP server has the issuer's keys", func() bool {
		return mcpPost(t, mcpURL, "Bearer "+tok, "").StatusCode != http.StatusServiceUnavailable
	})
	return issuer, mcpURL
}

// mcpInitialize is an MCP initialize request.
const mcpInitialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`

// mcpPost posts body to the MCP endpoint with an optional Authorization
// header; the response's body is read and closed.
func mcpPost(t *testing.T, mcpURL, authorization, body string) *http.Response {
	t.Helper()
	if body == "" {
		body = mcpInitialize
	}
	req, err := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &http.Response{StatusCode: 0}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestMCPServerContract: what an MCP client finds before it signs in. A
// request without a token gets 401 naming the protected-resource metadata;
// the metadata is served at the RFC 9728 §3.1 URL of the resource and at the
// root well-known URL, and names the authorization server, whose metadata
// names its authorization, token and registration endpoints. A token
// minted for another resource is refused; one minted for this resource is
// taken.
func TestMCPServerContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two programs")
	}
	other := "http://127.0.0.1:9/other-api"
	issuer, mcpURL := startMCP(t, other)
	u, _ := url.Parse(mcpURL)
	origin := u.Scheme + "://" + u.Host
	metadataURL := origin + "/.well-known/oauth-protected-resource/mcp"

	resp := mcpPost(t, mcpURL, "", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /mcp without a token: %d, want 401", resp.StatusCode)
	}
	www := resp.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(www, "Bearer") || !strings.Contains(www, `resource_metadata="`+metadataURL+`"`) {
		t.Errorf("WWW-Authenticate: got %q, want Bearer with resource_metadata=%q", www, metadataURL)
	}
	for _, at := range []string{metadataURL, origin + "/.well-known/oauth-protected-resource"} {
		var prm struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			BearerMethods        []string `json:"bearer_methods_supported"`
			DPoPAlgs             []string `json:"dpop_signing_alg_values_supported"`
		}
		getJSON(t, at, &prm)
		if prm.Resource != mcpURL || !slices.Equal(prm.AuthorizationServers, []string{issuer}) || len(prm.DPoPAlgs) == 0 {
			t.Errorf("%s: got %+v, want resource %s, authorization_servers [%s] and DPoP algorithms", at, prm, mcpURL, issuer)
		}
	}
	var as struct {
		Issuer                string   `json:"issuer"`
		AuthorizationEndpoint string   `json:"authorization_endpoint"`
		TokenEndpoint         string   `json:"token_endpoint"`
		RegistrationEndpoint  string   `json:"registration_endpoint"`
		CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
		DPoPAlgs              []string `json:"dpop_signing_alg_values_supported"`
	}
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		getJSON(t, issuer+path, &as)
		if as.Issuer != issuer || as.AuthorizationEndpoint != issuer+"/authorize" || as.TokenEndpoint != issuer+"/token" ||
			as.RegistrationEndpoint != issuer+"/register" || !slices.Equal(as.CodeChallengeMethods, []string{"S256"}) || len(as.DPoPAlgs) == 0 {
			t.Errorf("%s: got %+v", path, as)
		}
	}

	for _, tt := range []struct {
		resource string
		want     int
	}{{other, http.StatusUnauthorized}, {mcpURL, http.StatusOK}} {
		tok := postToken(t, issuer, url.Values{"grant_type": {"client_credentials"}, "resource": {tt.resource}}, "demo-client", "demo-secret")
		if got := mcpPost(t, mcpURL, "Bearer "+tok, "").StatusCode; got != tt.want {
			t.Errorf("initialize with a token for %s: got %d, want %d", tt.resource, got, tt.want)
		}
	}
}

// TestMCPClientSDK: the MCP TypeScript SDK's client signs in to
// examples/mcpserver on its own: 401, protected-resource metadata,
// authorization-server metadata, dynamic client registration, the
// authorization code flow with PKCE and the resource indicator (the script
// posts the login form as alice), the token, and then the tool whoami
// answers alice.
func TestMCPClientSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two programs and node")
	}
	node := nodeWith(t, "@modelcontextprotocol/sdk")
	issuer, mcpURL := startMCP(t, "http://127.0.0.1:9/other-api")
	out := runDriver(t, "", node, "node/mcp-client.mjs", mcpURL, "alice", "wonderland")
	t.Logf("MCP client: %s", out)
	var run mcpRun
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("driver output: %v", err)
	}

	// The requests the SDK made, in order: each of these, the first one
	// first and the last one last.
	u, _ := url.Parse(mcpURL)
	want := []struct {
		method, url string
		status      int
	}{
		{"POST", mcpURL, 401},
		{"GET", u.Scheme + "://" + u.Host + "/.well-known/oauth-protected-resource/mcp", 200},
		{"GET", issuer + "/.well-known/oauth-authorization-server", 200},
		{"POST", issuer + "/register", 201},
		{"POST", issuer + "/token", 200},
		{"POST", mcpURL, 200},
	}
	i := 0
	for _, r := range run.Requests {
		if i < len(want) && r.Method == want[i].method && r.URL == want[i].url && r.Status == want[i].status {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("the SDK's requests lack %s %s → %d (in order) in %+v", want[i].method, want[i].url, want[i].status, run.Requests)
	}
	if first := run.Requests[0]; first.URL != mcpURL || first.Status != 401 {
		t.Errorf("first request: %+v, want the MCP endpoint answering 401", first)
	}

	ar := run.AuthorizationRequest
	if ar["resource"] != mcpURL || ar["code_challenge_method"] != "S256" || ar["code_challenge"] == "" ||
		ar["client_id"] != run.ClientID || run.ClientID == "" || ar["response_type"] != "code" {
		t.Errorf("authorization request %v (client %q): want response_type code, the registered client, S256 and resource %s", ar, run.ClientID, mcpURL)
	}
	if run.LoginPage != 200 || (run.LoginPost != 302 && run.LoginPost != 303) {
		t.Errorf("login page %d, form post %d; want 200 and a redirect", run.LoginPage, run.LoginPost)
	}
	if !run.Callback.HasCode || run.Callback.State != "mcp-e2e-state" || run.Callback.Iss != issuer {
		t.Errorf("callback %+v: want a code, the state and iss %s", run.Callback, issuer)
	}
	if !strings.EqualFold(run.Token.TokenType, "Bearer") || !run.Token.HasRefreshToken {
		t.Errorf("token response %+v: want a bearer token and a refresh token", run.Token)
	}
	if !slices.Contains(run.Tools, "whoami") {
		t.Errorf("tools %v: want whoami", run.Tools)
	}
	if run.Whoami.IsError || run.Whoami.Structured.Subject != "alice" || !slices.Equal(run.Whoami.Structured.Scopes, []string{"read"}) ||
		run.Whoami.Text != "alice (scopes: read)" {
		t.Errorf("whoami: got %+v, want alice with the scope read", run.Whoami)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, body)
	}
}
