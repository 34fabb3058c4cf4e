package authserver

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

const regURL = "https://auth.example/register"

// regHasher is a cheap hasher for the secrets of confidential clients.
func regHasher(t testing.TB) *guard.PasswordHasher {
	t.Helper()
	h, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{Argon2: tokArgon2, BcryptCost: 10, QueueTimeout: testQueueTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newReg is a registration endpoint for public clients with scopes read
// and write and the resource resMCP; mod may change the config.
func newReg(t testing.TB, mod func(*RegistrationConfig)) (*RegistrationEndpoint, *MemoryClients) {
	t.Helper()
	clients := &MemoryClients{}
	cfg := RegistrationConfig{Clients: clients, Scopes: []string{"read", "write"}, Resources: []string{resMCP}, Now: func() time.Time { return tokNow }}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewRegistrationEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, clients
}

func regRequest(body string, mods ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, regURL, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for _, m := range mods {
		m(r)
	}
	return r
}

func regDo(e http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	return rec
}

// regSuccess checks a 201 (status, every header, the body but for the
// random client_id and client_secret, which it returns) against want, the
// body's other members as JSON.
func regSuccess(t *testing.T, rec *httptest.ResponseRecorder, want string) (id, secret string) {
	t.Helper()
	if rec.Code != http.StatusCreated {
		t.Fatalf("status: got %d, want 201 (body %q)", rec.Code, rec.Body)
	}
	wantHdr := http.Header{"Content-Type": {"application/json;charset=UTF-8"}, "Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}
	if got := rec.Header(); !maps.EqualFunc(got, wantHdr, slices.Equal) {
		t.Errorf("headers:\n got %v\nwant %v", got, wantHdr)
	}
	var got, exp map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	id, _ = got["client_id"].(string)
	secret, _ = got["client_secret"].(string)
	if len(id) != 26 {
		t.Errorf("client_id %q: want 26 characters of rand.Text (130 bits)", id)
	}
	if _, ok := got["client_secret"]; ok && len(secret) != 43 {
		t.Errorf("client_secret %q: want 43 characters (256 bits)", secret)
	}
	delete(got, "client_id")
	delete(got, "client_secret")
	g, _ := json.Marshal(got, json.Deterministic(true))
	w, _ := json.Marshal(exp, json.Deterministic(true))
	if string(g) != string(w) {
		t.Errorf("body:\n got %s\nwant %s", g, w)
	}
	return id, secret
}

// regIssued is client_id_issued_at of the fixture's clock.
const regIssued = `"client_id_issued_at":1700000000`

func TestRegistration(t *testing.T) {
	t.Parallel()
	mcp := `{"redirect_uris":["http://localhost:6274/oauth/callback"],"token_endpoint_auth_method":"none",` +
		`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector",` +
		`"client_uri":"https://github.com/modelcontextprotocol/inspector","software_statement":"x.y.z","jwks":{"keys":[]}}`
	meta := func(desc string) string { return tokErrBody("invalid_client_metadata", desc) }
	redir := func(desc string) string { return tokErrBody("invalid_redirect_uri", desc) }
	withRedirect := func(uri string) string { return `{"redirect_uris":["` + uri + `"]}` }
	pub := func(extra string) string {
		return `{` + regIssued + `,"token_endpoint_auth_method":"none","grant_types":["authorization_code"],"response_types":["code"],"scope":"read write"` + extra + `}`
	}
	cases := []struct {
		name   string
		mod    func(*RegistrationConfig)
		body   string
		mods   []func(*http.Request)
		status int
		hdr    http.Header
		want   string // the error body, or the success body's members but client_id and client_secret
		client Client // what is stored, on success (SecretHash checked separately)
	}{
		{name: "an MCP client", body: mcp, status: 201,
			want:   `{` + regIssued + `,"client_name":"MCP Inspector","redirect_uris":["http://localhost:6274/oauth/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"read write"}`,
			client: Client{Public: true, Name: "MCP Inspector", Grants: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"http://localhost:6274/oauth/callback"}, Scopes: []string{"read", "write"}, Resources: []string{resMCP}}},
		{name: "defaults: a public client with authorization_code", body: withRedirect("https://app.example/cb"), status: 201,
			want:   pub(`,"redirect_uris":["https://app.example/cb"]`),
			client: Client{Public: true, Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"read", "write"}, Resources: []string{resMCP}}},
		{name: "loopback IPv4 and IPv6, any port, repeated", body: `{"redirect_uris":["http://127.0.0.1:51004/cb","http://[::1]/cb","http://127.0.0.1:51004/cb"],"scope":"read"}`, status: 201,
			want:   `{` + regIssued + `,"token_endpoint_auth_method":"none","grant_types":["authorization_code"],"response_types":["code"],"scope":"read","redirect_uris":["http://127.0.0.1:51004/cb","http://[::1]/cb"]}`,
			client: Client{Public: true, Grants: []string{"authorization_code"}, RedirectURIs: []string{"http://127.0.0.1:51004/cb", "http://[::1]/cb"}, Scopes: []string{"read"}, Resources: []string{resMCP}}},
		{name: "a custom scheme, when allowed", mod: func(c *RegistrationConfig) { c.DangerouslyAllowCustomSchemeRedirectURIs = true },
			body: withRedirect("com.example.app:/oauth2redirect"), status: 201, want: pub(`,"redirect_uris":["com.example.app:/oauth2redirect"]`),
			client: Client{Public: true, Grants: []string{"authorization_code"}, RedirectURIs: []string{"com.example.app:/oauth2redirect"}, Scopes: []string{"read", "write"}, Resources: []string{resMCP}}},
		{name: "a confidential client, when allowed", mod: func(c *RegistrationConfig) { c.AllowConfidentialClients = true; c.Hasher = regHasher(t) },
			body: withRedirect("https://app.example/cb"), status: 201,
			want:   `{` + regIssued + `,"client_secret_expires_at":0,"token_endpoint_auth_method":"client_secret_basic","grant_types":["authorization_code"],"response_types":["code"],"scope":"read write","redirect_uris":["https://app.example/cb"]}`,
			client: Client{Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"read", "write"}, Resources: []string{resMCP}}},
		{name: "client_credentials", mod: func(c *RegistrationConfig) {
			c.AllowConfidentialClients, c.Hasher, c.GrantTypes = true, regHasher(t), []string{"client_credentials"}
		},
			body: `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"write"}`, status: 201,
			want:   `{` + regIssued + `,"client_secret_expires_at":0,"token_endpoint_auth_method":"client_secret_post","grant_types":["client_credentials"],"response_types":[],"redirect_uris":[],"scope":"write"}`,
			client: Client{Grants: []string{"client_credentials"}, Scopes: []string{"write"}, Resources: []string{resMCP}}},

		{name: "confidential, public only", body: `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, status: 400, hdr: tokErrorHeaders(), want: meta("only public clients (token_endpoint_auth_method none) may register")},
		{name: "private_key_jwt", body: `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, status: 400, hdr: tokErrorHeaders(), want: meta("unsupported token_endpoint_auth_method")},
		{name: "implicit", body: `{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}`, status: 400, hdr: tokErrorHeaders(), want: meta("grant type not allowed")},
		{name: "password", body: `{"redirect_uris":["https://a.example/cb"],"grant_types":["password"]}`, status: 400, hdr: tokErrorHeaders(), want: meta("grant type not allowed")},
		{name: "client_credentials, not allowed", body: `{"grant_types":["client_credentials"]}`, status: 400, hdr: tokErrorHeaders(), want: meta("grant type not allowed")},
		{name: "client_credentials, public", mod: func(c *RegistrationConfig) {
			c.AllowConfidentialClients, c.Hasher, c.GrantTypes = true, regHasher(t), []string{"client_credentials"}
		}, body: `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, status: 400, hdr: tokErrorHeaders(), want: meta("client_credentials needs a confidential client")},
		{name: "refresh_token alone", body: `{"grant_types":["refresh_token"]}`, status: 400, hdr: tokErrorHeaders(), want: meta("refresh_token needs authorization_code")},
		{name: "no grant types", body: `{"grant_types":[]}`, status: 400, hdr: tokErrorHeaders(), want: meta("grant_types is empty")},
		{name: "response type token", body: `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, status: 400, hdr: tokErrorHeaders(), want: meta("only response_type code is supported")},
		{name: "response types disagree", body: `{"redirect_uris":["https://a.example/cb"],"response_types":[]}`, status: 400, hdr: tokErrorHeaders(), want: meta("response_types and grant_types do not agree")},
		{name: "scope not allowed", body: `{"redirect_uris":["https://a.example/cb"],"scope":"read admin"}`, status: 400, hdr: tokErrorHeaders(), want: meta("scope not allowed")},
		{name: "scope malformed", body: `{"redirect_uris":["https://a.example/cb"],"scope":"read  write"}`, status: 400, hdr: tokErrorHeaders(), want: meta("malformed scope")},
		{name: "client_name too long", body: `{"redirect_uris":["https://a.example/cb"],"client_name":"` + strings.Repeat("n", MaxClientNameBytes+1) + `"}`, status: 400, hdr: tokErrorHeaders(), want: meta("client_name too long or with control characters")},
		{name: "client_name with a newline", body: `{"redirect_uris":["https://a.example/cb"],"client_name":"a\nb"}`, status: 400, hdr: tokErrorHeaders(), want: meta("client_name too long or with control characters")},

		{name: "no redirect_uris", body: `{}`, status: 400, hdr: tokErrorHeaders(), want: redir("redirect_uris required for the authorization_code grant")},
		{name: "http to another host", body: withRedirect("http://app.example/cb"), status: 400, hdr: tokErrorHeaders(), want: redir("http redirect URI to a host other than loopback")},
		{name: "http to 127.0.0.2", body: withRedirect("http://127.0.0.2/cb"), status: 400, hdr: tokErrorHeaders(), want: redir("http redirect URI to a host other than loopback")},
		{name: "fragment", body: withRedirect("https://app.example/cb#x"), status: 400, hdr: tokErrorHeaders(), want: redir("redirect URI with a fragment")},
		{name: "relative", body: withRedirect("/cb"), status: 400, hdr: tokErrorHeaders(), want: redir("redirect URI must be an absolute URI")},
		{name: "javascript", body: withRedirect("javascript:alert(1)"), status: 400, hdr: tokErrorHeaders(), want: redir("redirect URI scheme not allowed")},
		{name: "javascript, custom schemes allowed", mod: func(c *RegistrationConfig) { c.DangerouslyAllowCustomSchemeRedirectURIs = true },
			body: withRedirect("JavaScript:alert(1)"), status: 400, hdr: tokErrorHeaders(), want: redir("redirect URI scheme not allowed")},
		{name: "data", body: withRedirect("data:text/html,x"), status: 400, hdr: tokErrorHeaders(), want: redir("redirect URI scheme not allowed")},
		{name: "custom scheme", body: withRedirect("com.example.app:/cb"), status: 400, hdr: tokErrorHeaders(), want: redir("redirect URI must be https, or http to loopback")},
		{name: "user info", body: withRedirect("https://user@app.example/cb"), status: 400, hdr: tokErrorHeaders(), want: redir("redirect URI with user info")},
		{name: "https without host", body: withRedirect("https:///cb"), status: 400, hdr: tokErrorHeaders(), want: redir("https redirect URI without a host")},
		{name: "space", body: withRedirect("https://app.example/a b"), status: 400, hdr: tokErrorHeaders(), want: redir("malformed redirect URI")},
		{name: "too many", body: `{"redirect_uris":[` + strings.TrimSuffix(strings.Repeat(`"https://a.example/cb",`, MaxRedirectURIs+1), ",") + `]}`, status: 400, hdr: tokErrorHeaders(), want: redir("too many redirect_uris")},

		{name: "not JSON", body: `redirect_uris=x`, status: 400, hdr: tokErrorHeaders(), want: meta("body must be a JSON object of client metadata")},
		{name: "an array", body: `[]`, status: 400, hdr: tokErrorHeaders(), want: meta("body must be a JSON object of client metadata")},
		{name: "duplicate member", body: `{"redirect_uris":["https://a.example/cb"],"redirect_uris":["https://evil.example/cb"]}`, status: 400, hdr: tokErrorHeaders(), want: meta("body must be a JSON object of client metadata")},
		{name: "trailing data", body: withRedirect("https://a.example/cb") + `{}`, status: 400, hdr: tokErrorHeaders(), want: meta("body must be a JSON object of client metadata")},
		{name: "wrong type", body: `{"redirect_uris":"https://a.example/cb"}`, status: 400, hdr: tokErrorHeaders(), want: meta("body must be a JSON object of client metadata")},
		{name: "invalid UTF-8", body: "{\"client_name\":\"\xff\",\"redirect_uris\":[\"https://a.example/cb\"]}", status: 400, hdr: tokErrorHeaders(), want: meta("body must be a JSON object of client metadata")},
		{name: "empty body", body: ``, status: 400, hdr: tokErrorHeaders(), want: meta("body must be a JSON object of client metadata")},
		{name: "form content type", body: mcp, mods: []func(*http.Request){func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }}, status: 400, hdr: tokErrorHeaders(), want: meta("body must be application/json")},
		{name: "two content types", body: mcp, mods: []func(*http.Request){withHeader("Content-Type", "application/json")}, status: 400, hdr: tokErrorHeaders(), want: meta("body must be application/json")},
		{name: "JSON in latin-1", body: mcp, mods: []func(*http.Request){func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=iso-8859-1") }}, status: 400, hdr: tokErrorHeaders(), want: meta("body must be application/json")},
		{name: "too large", body: `{"client_uri":"` + strings.Repeat("a", DefaultMaxRegistrationBytes) + `"}`, status: 413, hdr: tokErrorHeaders(), want: meta("request body too large")},
		{name: "GET", body: "", mods: []func(*http.Request){func(r *http.Request) { r.Method = http.MethodGet }}, status: 405,
			hdr: tokErrorHeaders("Allow", "POST"), want: tokErrBody("invalid_request", "POST required")},
		{name: "plain HTTP", body: mcp, mods: []func(*http.Request){plainHTTP}, status: 400, hdr: tokErrorHeaders(), want: tokErrBody("invalid_request", "TLS required")},

		{name: "initial access token missing", mod: func(c *RegistrationConfig) { c.InitialAccessToken = "iat-secret" }, body: mcp, status: 401,
			hdr: tokErrorHeaders("Www-Authenticate", `Bearer realm="api"`), want: tokErrBody("unauthorized", "initial access token required")},
		{name: "initial access token of another scheme", mod: func(c *RegistrationConfig) { c.InitialAccessToken = "iat-secret" }, body: mcp,
			mods: []func(*http.Request){withBasic("a", "b")}, status: 401,
			hdr: tokErrorHeaders("Www-Authenticate", `Bearer realm="api"`), want: tokErrBody("unauthorized", "initial access token required")},
		{name: "initial access token wrong", mod: func(c *RegistrationConfig) { c.InitialAccessToken = "iat-secret" }, body: mcp,
			mods: []func(*http.Request){withHeader("Authorization", "Bearer iat-secreT")}, status: 401,
			hdr:  tokErrorHeaders("Www-Authenticate", `Bearer realm="api", error="invalid_token", error_description="invalid initial access token"`),
			want: tokErrBody("invalid_token", "invalid initial access token")},
		{name: "initial access token right", mod: func(c *RegistrationConfig) { c.InitialAccessToken = "iat-secret" }, body: withRedirect("https://app.example/cb"),
			mods: []func(*http.Request){withHeader("Authorization", "Bearer iat-secret")}, status: 201, want: pub(`,"redirect_uris":["https://app.example/cb"]`),
			client: Client{Public: true, Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"read", "write"}, Resources: []string{resMCP}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, clients := newReg(t, c.mod)
			rec := regDo(e, regRequest(c.body, c.mods...))
			if c.status != http.StatusCreated {
				checkTokResponse(t, rec, c.status, c.hdr, c.want)
				if len(clients.m) != 0 {
					t.Errorf("a refused request registered %d clients", len(clients.m))
				}
				return
			}
			id, secret := regSuccess(t, rec, c.want)
			got, err := clients.LookupClient(context.Background(), id)
			if err != nil {
				t.Fatalf("the registered client: %v", err)
			}
			hash := got.SecretHash
			got.SecretHash = ""
			if !clientsEqual(got, c.client) {
				t.Errorf("stored client:\n got %+v\nwant %+v", got, c.client)
			}
			switch {
			case got.Public && (secret != "" || hash != ""):
				t.Error("a public client got a secret")
			case !got.Public:
				if hash == "" || string(hash) == secret {
					t.Fatalf("secret hash %q", hash)
				}
				if _, err := regHasher(t).Verify(context.Background(), secret, hash); err != nil {
					t.Errorf("the stored hash does not verify the secret: %v", err)
				}
			}
		})
	}
}

func clientsEqual(a, b Client) bool {
	return a.SecretHash == b.SecretHash && a.Public == b.Public && slices.Equal(a.Grants, b.Grants) && slices.Equal(a.RedirectURIs, b.RedirectURIs) &&
		slices.Equal(a.Roles, b.Roles) && slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Resources, b.Resources) && a.Name == b.Name && a.Disabled == b.Disabled
}

// regFailingClients is a registry that is down.
type regFailingClients struct{ MemoryClients }

func (*regFailingClients) RegisterClient(context.Context, string, Client) error {
	return errors.New("connection refused")
}

type regFailingLimiter struct{ tokNopLimiter }

func (regFailingLimiter) Reserve(context.Context, string) (Reservation, error) {
	return Reservation{}, errors.New("limiter down")
}

// TestRegistrationFailures: a store or limiter that fails is 503 with
// Retry-After; too many registrations from one address are 429.
func TestRegistrationFailures(t *testing.T) {
	t.Parallel()
	body := `{"redirect_uris":["https://app.example/cb"]}`
	unavailable := tokErrorHeaders("Retry-After", "5")
	down := tokErrBody("temporarily_unavailable", "service unavailable; retry later")
	t.Run("registry down", func(t *testing.T) {
		t.Parallel()
		e, _ := newReg(t, func(c *RegistrationConfig) { c.Clients = &regFailingClients{} })
		checkTokResponse(t, regDo(e, regRequest(body)), 503, unavailable, down)
	})
	t.Run("limiter down", func(t *testing.T) {
		t.Parallel()
		e, _ := newReg(t, func(c *RegistrationConfig) { c.Limiter = regFailingLimiter{} })
		checkTokResponse(t, regDo(e, regRequest(body)), 503, unavailable, down)
	})
	t.Run("throttled per address", func(t *testing.T) {
		t.Parallel()
		clock := &tokClock{t: tokNow}
		e, clients := newReg(t, func(c *RegistrationConfig) { c.Now = clock.Now })
		for i := range DefaultRegistrationThreshold {
			if rec := regDo(e, regRequest(body)); rec.Code != http.StatusCreated {
				t.Fatalf("registration %d: got %d %s", i, rec.Code, rec.Body)
			}
		}
		checkTokResponse(t, regDo(e, regRequest(body)), 429, tokErrorHeaders("Retry-After", "1"), tokErrBody("invalid_request", "too many registrations; retry later"))
		// Bad requests count too, and another address is not throttled.
		if rec := regDo(e, regRequest(body, withRemote("192.0.2.99:1234"))); rec.Code != http.StatusCreated {
			t.Errorf("another address: got %d %s", rec.Code, rec.Body)
		}
		clock.Add(time.Second)
		if rec := regDo(e, regRequest(body)); rec.Code != http.StatusCreated {
			t.Errorf("after the wait: got %d %s", rec.Code, rec.Body)
		}
		if n := len(clients.m); n != DefaultRegistrationThreshold+2 {
			t.Errorf("clients: got %d, want %d", n, DefaultRegistrationThreshold+2)
		}
	})
	t.Run("zero value", func(t *testing.T) {
		t.Parallel()
		var e RegistrationEndpoint
		checkTokResponse(t, regDo(&e, regRequest(body)), 500, tokErrorHeaders(), tokErrBody("server_error", ""))
	})
}

func TestNewRegistrationEndpointConfig(t *testing.T) {
	t.Parallel()
	_, err := NewRegistrationEndpoint(RegistrationConfig{AllowConfidentialClients: true, GrantTypes: []string{"implicit", "client_credentials"},
		Scopes: []string{"a b"}, Resources: []string{"/rel"}, MaxBodyBytes: -1})
	for _, want := range []string{"Clients is nil", "needs Hasher", `"implicit" cannot be registered`, `"a b" is not a scope token`, `"/rel" is not an absolute URI`, "MaxBodyBytes is negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want it to say %q", err, want)
		}
	}
	_, err = NewRegistrationEndpoint(RegistrationConfig{Clients: &MemoryClients{}, GrantTypes: []string{"client_credentials"}})
	if err == nil || !strings.Contains(err.Error(), "client_credentials needs AllowConfidentialClients") {
		t.Errorf("client_credentials without confidential clients: %v", err)
	}
	if !errors.Is(metadataError("x"), ErrInvalidClientMetadata) || !errors.Is(redirectURIError("x"), ErrInvalidRedirectURI) {
		t.Error("registration errors do not match their sentinels")
	}
}

// TestRegisteredClientLogsIn: a client registered here runs the code flow
// with its resource: the stores are shared, nothing else is configured.
func TestRegisteredClientLogsIn(t *testing.T) {
	t.Parallel()
	cf := newCodeFlow(t)
	reg, err := NewRegistrationEndpoint(RegistrationConfig{Clients: registryOf(cf.f.e.cfg.Clients.(tokClients)), Scopes: []string{"read"},
		Resources: []string{resMCP}})
	if err != nil {
		t.Fatal(err)
	}
	rec := regDo(reg, regRequest(`{"redirect_uris":["`+azRedirect+`"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}`))
	var resp struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); rec.Code != 201 || err != nil {
		t.Fatalf("registration: %d %s", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(cf.resAuthorize(t, resp.ClientID, resMCP).Header().Get("Location"))
	code := loc.Query().Get("code")
	tok := cf.f.do(tokRequest(codeForm(code, "client_id", resp.ClientID, "resource", resMCP)))
	claims, rt := resSuccess(t, tok, cf.check, true, "")
	if claims.ClientID != resp.ClientID || !slices.Equal(claims.Audience, []string{resMCP}) || rt == "" {
		t.Errorf("token of the registered client: %+v", claims)
	}
}

// registryOf makes the fixture's client map a ClientRegistry.
type tokRegistry struct{ tokClients }

func registryOf(c tokClients) tokRegistry { return tokRegistry{c} }

func (r tokRegistry) RegisterClient(_ context.Context, id string, c Client) error {
	if _, ok := r.tokClients[id]; ok {
		return ErrClientExists
	}
	r.tokClients[id] = c
	return nil
}

// TestDiscoveryRegistrationEndpoint: registration_endpoint is published
// when set, and checked like the other URLs.
func TestDiscoveryRegistrationEndpoint(t *testing.T) {
	t.Parallel()
	cfg := Discovery("https://auth.example", nil, nil, nil)
	cfg.RegistrationEndpoint = "https://auth.example" + PathRegister
	h, err := DiscoveryHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://auth.example"+PathOAuthMetadata, nil))
	want := `{"issuer":"https://auth.example","jwks_uri":"https://auth.example/.well-known/jwks.json","registration_endpoint":"https://auth.example/register","response_types_supported":[],"subject_types_supported":["public"]}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("got %d %s\nwant %s", rec.Code, rec.Body, want)
	}
	cfg.RegistrationEndpoint = PathRegister
	if _, err := DiscoveryHandler(cfg); err == nil || !strings.Contains(err.Error(), "RegistrationEndpoint") {
		t.Errorf("a relative registration_endpoint: %v", err)
	}
}
