package main

import (
	"context"
	"net/http"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

// app is the service: its handler and the key set whose schedule run drives.
type app struct {
	handler http.Handler
	keys    *guard.KeySet
}

// demoUsers are hashed at start-up, as a real service would store them.
var demoUsers = map[string]struct{ password, role string }{
	"alice": {"wonderland", "admin"},
	"bob":   {"builder", "user"},
}

const (
	publicClientID     = "demo-app"    // password and refresh_token grants, no secret
	serviceClient      = "demo-client" // client_credentials
	serviceSecret      = "demo-secret"
	introspector       = "resource-api" // may introspect, and nothing else
	introspectorSecret = "resource-secret"
)

func newApp(ctx context.Context, cfg config, st *stores) (*app, error) {
	publishFor := cfg.rotateEvery / 2
	keys, err := guard.NewKeySet(guard.KeySetConfig{
		RotateEvery:      cfg.rotateEvery,
		PublishFor:       publishFor,
		RetireAfter:      cfg.retireAfter,
		Logger:           cfg.log,
		Store:            st.ring,
		KeyEncryptionKey: cfg.kek,
	})
	if err != nil {
		return nil, err
	}
	issuer, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{
		Keys: keys, Issuer: cfg.issuer, Audience: []string{cfg.audience}, TTL: cfg.tokenTTL,
	})
	if err != nil {
		return nil, err
	}
	// DPoP (RFC 9449): a token request with a proof gets a token bound to
	// the proof's key; each proof is accepted once, by any replica.
	dpop, err := guard.NewDPoP(guard.DPoPConfig{Replay: st.replay})
	if err != nil {
		return nil, err
	}
	tcfg := authserver.TokenEndpointConfig{
		Issuer:              issuer,
		DPoP:                dpop,
		EnablePasswordGrant: true,
		Refresh:             &authserver.RefreshConfig{Lifetime: refreshLifetime},
		Logger:              cfg.log,
	}
	if err := st.configure(ctx, &tcfg); err != nil {
		return nil, err
	}
	tcfg.AuthCodes = st.codes
	// The verifier of this service's own access tokens, for revocation and
	// introspection.
	verifier, err := guard.NewVerifier(guard.VerifierConfig{
		KeySource: keys, Issuers: []string{cfg.issuer}, Audiences: []string{cfg.audience}, Revocations: tcfg.Revocations,
	})
	if err != nil {
		return nil, err
	}
	tcfg.AccessTokenVerifier = verifier
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{BcryptCost: cfg.bcryptCost})
	if err != nil {
		return nil, err
	}
	hash := func(pw string) (guard.Secret, error) {
		h, err := hasher.Hash(ctx, pw)
		return guard.Secret(h), err
	}
	store := map[string]authserver.User{}
	for name, u := range demoUsers {
		h, err := hash(u.password)
		if err != nil {
			return nil, err
		}
		store[name] = authserver.User{PasswordHash: h, Roles: []string{u.role}, Scopes: []string{"read"}}
	}
	secret, err := hash(serviceSecret)
	if err != nil {
		return nil, err
	}
	introspectSecret, err := hash(introspectorSecret)
	if err != nil {
		return nil, err
	}
	// The fixed clients may ask for tokens for any of RESOURCES (RFC 8707),
	// and so may every client that registers at POST /register.
	clients := &clientDirectory{registry: st.registry, fixed: map[string]authserver.Client{
		publicClientID: {Public: true, Grants: []string{"password", "refresh_token"}, Resources: cfg.resources},
		serviceClient:  {SecretHash: secret, Grants: []string{"client_credentials"}, Scopes: []string{"read"}, Resources: cfg.resources},
		introspector:   {SecretHash: introspectSecret, Grants: []string{authserver.GrantIntrospection}},
	}}
	tcfg.Hasher = hasher
	tcfg.Users = authserver.NewMemoryUsers(store)
	tcfg.Clients = clients
	token, err := authserver.NewTokenEndpoint(tcfg)
	if err != nil {
		return nil, err
	}
	// Caches must see a new key before it signs: max-age is at most half of
	// the time a key is published ahead.
	maxAge := min(max((publishFor/2).Truncate(time.Second), time.Second), 5*time.Minute)
	jwks, err := keys.JWKSHandler(maxAge)
	if err != nil {
		return nil, err
	}
	page, err := authserver.NewLoginPage(authserver.LoginPageConfig{Tokens: token, Logger: cfg.log})
	if err != nil {
		return nil, err
	}
	authorize, err := authserver.NewAuthorizeEndpoint(authserver.AuthorizeEndpointConfig{
		Clients: tcfg.Clients, Codes: st.codes, Login: page, Issuer: cfg.issuer,
	})
	if err != nil {
		return nil, err
	}
	// Open registration (RFC 7591) of public clients with https or
	// loopback redirect URIs, as MCP clients register themselves.
	rcfg := authserver.RegistrationConfig{Clients: clients, Scopes: []string{"read"}, Resources: cfg.resources, Logger: cfg.log}
	if err := st.configureRegistration(&rcfg); err != nil {
		return nil, err
	}
	register, err := authserver.NewRegistrationEndpoint(rcfg)
	if err != nil {
		return nil, err
	}
	meta := authserver.Discovery(cfg.issuer, token, authorize, keys) // the endpoints at their usual paths
	meta.RegistrationEndpoint = meta.Issuer + authserver.PathRegister
	meta.ScopesSupported = []string{"read"}
	discovery, err := authserver.DiscoveryHandler(meta)
	if err != nil {
		return nil, err
	}
	logout, err := authserver.NewLogoutEverywhere(authserver.LogoutEverywhereConfig{
		Tokens: token, AdminRoles: []string{"admin"}, Logger: cfg.log,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+authserver.PathToken, token)
	mux.Handle("POST "+authserver.PathRevoke, token.RevocationEndpoint())
	mux.Handle("POST "+authserver.PathIntrospect, token.IntrospectionEndpoint())
	mux.Handle("GET "+authserver.PathJWKS, jwks)
	mux.Handle("GET "+authserver.PathOpenIDConfig, discovery)
	mux.Handle("GET "+authserver.PathOAuthMetadata, discovery) // RFC 8414's name for the same document
	mux.Handle("GET "+authserver.PathAuthorize, authorize)     // the login page
	mux.Handle("POST "+authserver.PathAuthorize, authorize)
	mux.Handle("POST "+authserver.PathRegister, register)
	mux.Handle("POST /logout-everywhere", verifier.RequireBearer(logout))
	return &app{handler: mux, keys: keys}, nil
}
