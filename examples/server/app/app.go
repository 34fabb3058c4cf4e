// Package app is the example server's wiring: routes, demo users, token,
// refresh and revocation endpoints, API keys and CORS, over stores the caller
// chooses. examples/server runs it in memory; the redisstore module's
// examples/server runs it on Redis, so that the root module never imports a
// Redis client.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

// Config is what [New] needs. Nil stores are in memory.
type Config struct {
	// Secret is the HS256 secret (at least 32 bytes).
	Secret []byte
	// APIKeys holds the demo API key; the caller adds it. Nil: an in-memory
	// store holding APIKey.
	APIKeys guard.APIKeyStore
	// APIKey is the demo key added to the in-memory store when APIKeys is nil.
	APIKey string
	// Origins are the CORS origins allowed with credentials.
	Origins []string
	// Limiter, IPLimiter and AccountLimiter throttle logins; nil: the token
	// endpoint's in-memory defaults.
	Limiter, IPLimiter, AccountLimiter authserver.LoginLimiter
	// Refresh keeps refresh-token families; nil: in memory.
	Refresh authserver.RefreshStore
	// AuthCodes keeps authorization codes; nil: in memory.
	AuthCodes authserver.AuthCodeStore
	// Revocations is the revocation list; nil: in memory.
	Revocations guard.RevocationStore
	// Log receives the token endpoint's lines.
	Log *slog.Logger
	// Issuer is the server's base URL, the issuer identifier of the
	// authorization code flow (RFC 9207) and of the discovery document.
	// Default http://localhost:8000.
	Issuer string
	// SPARedirectURIs are the registered redirect URIs of the public client
	// demo-spa. Default http://localhost:3000/callback.
	SPARedirectURIs []string
	// HashCPUBudget is the share of the CPU password hashing may use, a
	// fraction of GOMAXPROCS (guard.PasswordHasherConfig.CPUBudget). Default
	// 0: guard's default, 0.35.
	HashCPUBudget float64
	// DocsAssetsURL is the base URL /docs loads swagger-ui.css and
	// swagger-ui-bundle.js from (npm swagger-ui-dist 5). Default
	// [DefaultDocsAssetsURL], a CDN.
	DocsAssetsURL string
}

// Scopes are the scopes of the demo, with the descriptions /docs shows.
var Scopes = map[string]string{"read": "Read the demo API's resources"}

// demoUsers is the app's user table: the passwords are hashed at start-up,
// as a real app would store them.
// Both hold the scope "read", which the single-page app demo-spa asks for.
var demoUsers = map[string]struct{ password, role string }{
	"alice": {"wonderland", "admin"},
	"bob":   {"builder", "user"},
}

// users is a UserStore over an in-memory map.
type users map[string]authserver.User

// clients is a ClientStore over an in-memory map.
type clients map[string]authserver.Client

func (c clients) LookupClient(_ context.Context, id string) (authserver.Client, error) {
	if client, ok := c[id]; ok {
		return client, nil
	}
	return authserver.Client{}, guard.ErrNotFound
}

func (u users) LookupUser(_ context.Context, name string) (authserver.User, error) {
	if user, ok := u[name]; ok {
		return user, nil
	}
	return authserver.User{}, guard.ErrNotFound
}

// New wires the routes: POST /token (password, authorization_code and
// refresh_token grants), GET and POST /authorize (the authorization code flow
// with PKCE and its login page), GET /.well-known/oauth-authorization-server
// (RFC 8414), POST /revoke (RFC 7009), GET /protected, GET /admin,
// GET /secure, GET /secure-query, and the OpenAPI document of all of them at
// GET /openapi.json with Swagger UI at GET /docs, all behind CORS. Each
// guarded route is mounted through a guard.Registrar with its guard.Policy,
// so the document's security is what the middleware enforces.
func New(ctx context.Context, cfg Config) (http.Handler, error) {
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.Issuer == "" {
		cfg.Issuer = "http://localhost:8000"
	}
	if cfg.SPARedirectURIs == nil {
		cfg.SPARedirectURIs = []string{"http://localhost:3000/callback"}
	}
	key, err := guard.NewHMACKey(guard.HS256, cfg.Secret, "")
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET: %w", err)
	}
	issuer, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key})
	if err != nil {
		return nil, err
	}
	revs := cfg.Revocations
	if revs == nil {
		// Subject revocations are kept as long as a refresh family lives.
		revs = guard.MustNewMemoryRevocations(guard.MemoryRevocationsConfig{MaxTokenLifetime: authserver.DefaultRefreshLifetime})
	}
	verifier, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Revocations: revs})
	if err != nil {
		return nil, err
	}
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{CPUBudget: cfg.HashCPUBudget})
	if err != nil {
		return nil, fmt.Errorf("HASH_CPU_BUDGET: %w", err)
	}
	store := users{}
	for name, u := range demoUsers {
		hash, err := hasher.Hash(ctx, u.password)
		if err != nil {
			return nil, err
		}
		store[name] = authserver.User{PasswordHash: hash, Roles: []string{u.role}, Scopes: []string{"read"}}
	}
	refresh := cfg.Refresh
	if refresh == nil {
		refresh = authserver.MustNewMemoryRefreshStore(authserver.MemoryRefreshStoreConfig{})
	}
	registered := clients{
		// The single-page app of the authorization code flow: a public
		// client (no secret in a browser) with PKCE.
		"demo-spa": {Public: true, Grants: []string{"authorization_code", "refresh_token"},
			RedirectURIs: cfg.SPARedirectURIs, Scopes: []string{"read"}},
		// What requests-oauthlib's LegacyApplicationClient names itself in
		// HTTP Basic with no secret.
		"demo-app": {Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"read"}},
		// Swagger UI at /docs: the authorization code flow with PKCE,
		// returning to the server's own oauth2-redirect.html.
		DocsClientID: {Public: true, Grants: []string{"authorization_code"},
			RedirectURIs: []string{cfg.Issuer + "/docs/oauth2-redirect.html"}, Scopes: []string{"read"}},
	}
	codes := cfg.AuthCodes
	if codes == nil {
		codes = new(authserver.MemoryAuthCodes)
	}
	login, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer:              issuer,
		Hasher:              hasher,
		Users:               store,
		EnablePasswordGrant: true,
		// Clients written for the FastAPI app send username and password
		// without grant_type, as OAuth2PasswordRequestForm allows.
		InferPasswordGrant: true,
		Limiter:            cfg.Limiter,
		IPLimiter:          cfg.IPLimiter,
		AccountLimiter:     cfg.AccountLimiter,
		Clients:            registered,
		AuthCodes:          codes,
		// The FastAPI tutorial's clients log in with the password grant and
		// send no client_id: with a ClientStore set (for the code flow), they
		// would get 401 invalid_client. This keeps them working, bounded by
		// the user's scopes, and lets a token's holder refresh or revoke it
		// alone. A new service would leave it false.
		DangerouslyAllowPasswordGrantWithoutClient: true,
		Refresh:             &authserver.RefreshConfig{Store: refresh},
		Revocations:         revs,
		AccessTokenVerifier: verifier,
		Logger:              cfg.Log,
	})
	if err != nil {
		return nil, err
	}

	page, err := authserver.NewLoginPage(authserver.LoginPageConfig{Tokens: login, Logger: cfg.Log})
	if err != nil {
		return nil, err
	}
	authorize, err := authserver.NewAuthorizeEndpoint(authserver.AuthorizeEndpointConfig{
		Clients: registered,
		Codes:   codes,
		Login:   page,
		Issuer:  cfg.Issuer,
	})
	if err != nil {
		return nil, fmt.Errorf("ISSUER: %w", err)
	}
	// The tokens are HS256, verified by this service alone: the key set
	// publishes no key, but RFC 8414 metadata needs a jwks_uri.
	jwks, err := guard.JWKSHandler(0)
	if err != nil {
		return nil, err
	}
	metadata, err := authserver.DiscoveryHandler(authserver.DiscoveryConfig{
		Issuer:                            cfg.Issuer,
		JWKSURI:                           cfg.Issuer + "/.well-known/jwks.json",
		AuthorizationEndpoint:             cfg.Issuer + "/authorize",
		TokenEndpoint:                     cfg.Issuer + "/token",
		GrantTypesSupported:               []string{"authorization_code", "password", "refresh_token"},
		TokenEndpointAuthMethodsSupported: []string{"none"},
		ScopesSupported:                   []string{"read"},
		ResponseTypesSupported:            []string{"code"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
	})
	if err != nil {
		return nil, fmt.Errorf("ISSUER: %w", err)
	}

	keys := cfg.APIKeys
	if keys == nil {
		mem := new(guard.MemoryAPIKeys)
		mem.Add(guard.APIKeyDigest(cfg.APIKey), guard.APIKeyRecord{Subject: "demo-client", Roles: []string{"user"}})
		keys = mem
	}
	headerKeys, err := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: keys})
	if err != nil {
		return nil, err
	}
	queryKeys, err := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: keys, Header: "X-API-Key", DangerouslyAllowQuery: true})
	if err != nil {
		return nil, err
	}

	cors, err := guard.NewCORS(guard.CORSConfig{
		AllowedOrigins:   cfg.Origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowCredentials: true,
	})
	if err != nil {
		return nil, fmt.Errorf("CORS_ORIGINS: %w", err)
	}

	// The oauth2 scheme of /docs: the flows this token endpoint serves.
	// Relative URLs, so the document works at whatever address it is read.
	oauth2, err := login.SecurityScheme(authserver.OAuth2SchemeConfig{
		TokenURL: "/token", AuthorizationURL: "/authorize", Scopes: Scopes,
		Description: "Log in as alice/wonderland (role admin) or bob/builder (role user); no client id for the password flow, client_id " + DocsClientID + " for the authorization code flow.",
	})
	if err != nil {
		return nil, err
	}
	// The verifier accepts the endpoint's tokens: describe it as its scheme.
	bearer := guard.Described(verifier, oauth2)

	mux := http.NewServeMux()
	routes, err := guard.NewRegistrar(guard.RegistrarConfig{Mux: mux, Title: "guard example server", Version: "1.0.0"})
	if err != nil {
		return nil, err
	}
	routes.Handle("POST /token", nil, login)
	routes.Handle("POST /revoke", nil, login.RevocationEndpoint())
	routes.Handle("GET /authorize", nil, authorize) // the login page
	routes.Handle("POST /authorize", nil, authorize)
	routes.Handle("GET /.well-known/oauth-authorization-server", nil, metadata)
	routes.Handle("GET /.well-known/jwks.json", nil, jwks)
	routes.Handle("GET /protected", &guard.Policy{Authenticators: []guard.Authenticator{bearer}}, hello("a protected route"))
	routes.Handle("GET /admin", &guard.Policy{Authenticators: []guard.Authenticator{bearer}, Roles: []string{"admin"}}, hello("the admin area"))
	routes.Handle("GET /secure", &guard.Policy{Authenticators: []guard.Authenticator{headerKeys}}, hello("an API-key route"))
	routes.Handle("GET /secure-query", &guard.Policy{Authenticators: []guard.Authenticator{queryKeys}}, hello("an API-key route (query)"))
	openapi, err := routes.OpenAPIHandler()
	if err != nil {
		return nil, err
	}
	// Not in the document, as in FastAPI.
	mux.Handle("GET /openapi.json", openapi)
	mux.Handle("GET /docs", docsHandler(cfg.DocsAssetsURL))
	mux.HandleFunc("GET /docs/oauth2-redirect.html", oauth2Redirect)
	return cors.Handler(mux), nil
}

// hello answers with the caller's identity, read from the request context.
func hello(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"message": "Hello " + p.Subject + ", welcome to " + what,
			"subject": p.Subject,
			"roles":   p.Roles,
			"method":  p.Method.String(),
		})
	}
}
