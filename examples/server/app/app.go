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

	"github.com/guardkit/guard"
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
	Limiter, IPLimiter, AccountLimiter guard.LoginLimiter
	// Refresh keeps refresh-token families; nil: in memory.
	Refresh guard.RefreshStore
	// Revocations is the revocation list; nil: in memory.
	Revocations guard.RevocationStore
	// Log receives the token endpoint's lines.
	Log *slog.Logger
}

// demoUsers is the app's user table: the passwords are hashed at start-up,
// as a real app would store them.
var demoUsers = map[string]struct{ password, role string }{
	"alice": {"wonderland", "admin"},
	"bob":   {"builder", "user"},
}

// users is a UserStore over an in-memory map.
type users map[string]guard.User

func (u users) LookupUser(_ context.Context, name string) (guard.User, error) {
	if user, ok := u[name]; ok {
		return user, nil
	}
	return guard.User{}, guard.ErrNotFound
}

// New wires the routes: POST /token (password and refresh_token grants),
// POST /revoke (RFC 7009), GET /protected, GET /admin, GET /secure,
// GET /secure-query, all behind CORS.
func New(ctx context.Context, cfg Config) (http.Handler, error) {
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
		revs = guard.NewMemoryRevocations(guard.MemoryRevocationsConfig{})
	}
	verifier, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Revocations: revs})
	if err != nil {
		return nil, err
	}
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{})
	if err != nil {
		return nil, err
	}
	store := users{}
	for name, u := range demoUsers {
		hash, err := hasher.Hash(ctx, u.password)
		if err != nil {
			return nil, err
		}
		store[name] = guard.User{PasswordHash: hash, Roles: []string{u.role}}
	}
	refresh := cfg.Refresh
	if refresh == nil {
		refresh = guard.NewMemoryRefreshStore(guard.MemoryRefreshStoreConfig{})
	}
	login, err := guard.NewTokenEndpoint(guard.TokenEndpointConfig{
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
		// No ClientStore: the demo users log in without a registered
		// client, so a token's holder may refresh or revoke it alone.
		Refresh:             &guard.RefreshConfig{Store: refresh},
		Revocations:         revs,
		AccessTokenVerifier: verifier,
		Logger:              cfg.Log,
	})
	if err != nil {
		return nil, err
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

	mux := http.NewServeMux()
	mux.Handle("POST /token", login)
	mux.Handle("POST /revoke", login.RevocationEndpoint())
	mux.Handle("GET /protected", verifier.RequireBearer(http.HandlerFunc(hello("a protected route"))))
	mux.Handle("GET /admin", verifier.RequireBearer(guard.RequireRole("admin")(http.HandlerFunc(hello("the admin area")))))
	mux.Handle("GET /secure", headerKeys.RequireAPIKey(http.HandlerFunc(hello("an API-key route"))))
	mux.Handle("GET /secure-query", queryKeys.RequireAPIKey(http.HandlerFunc(hello("an API-key route (query)"))))
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
