// Command authservice is an OAuth2 authorization server built with guard: a
// token endpoint, an ES256 key set that rotates on a schedule, and the JWK
// Set and discovery document that let other services verify its tokens
// knowing only its issuer URL (see examples/resourceservice).
//
//	go run ./examples/authservice
//
// Endpoints: POST /token (grant_type=password for the demo users alice /
// wonderland, role admin, and bob / builder, role user, through the public
// client demo-app; grant_type=client_credentials for the client demo-client
// with secret demo-secret, scope read), GET /.well-known/openid-configuration
// and GET /.well-known/jwks.json.
//
// The password grant names a registered client: with a ClientStore set,
// guard's token endpoint refuses a password grant from no client, and this
// example keeps that rule rather than turning on
// DangerouslyAllowPasswordGrantWithoutClient. demo-app is a public client
// (no secret), so a request adds client_id=demo-app to its form.
//
// Environment: ADDR (default :9000), ISSUER_URL (default
// http://localhost:9000), AUDIENCE (default api), ROTATE_EVERY (a Go
// duration, default 5m: a new signing key every ROTATE_EVERY, published
// ROTATE_EVERY/2 before it signs), TOKEN_TTL (default 15m) and
// RETIRE_AFTER (how long a retired key keeps verifying; default TOKEN_TTL
// plus 5m), BCRYPT_COST (default guard's, 12; tests use 10).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("authservice stopped", "error", err)
		os.Exit(1)
	}
}

// config is the service's environment, parsed.
type config struct {
	issuer, audience string
	rotateEvery      time.Duration
	tokenTTL         time.Duration
	retireAfter      time.Duration
	bcryptCost       int // 0: guard's default
	log              *slog.Logger
}

func configFromEnv(log *slog.Logger) (config, error) {
	cfg := config{
		issuer:   envOr("ISSUER_URL", "http://localhost:9000"),
		audience: envOr("AUDIENCE", "api"),
		log:      log,
	}
	var errs []error
	dur := func(name, def string) time.Duration {
		d, err := time.ParseDuration(envOr(name, def))
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive Go duration such as 5m, got %q", name, os.Getenv(name)))
		}
		return d
	}
	cfg.rotateEvery = dur("ROTATE_EVERY", "5m")
	cfg.tokenTTL = dur("TOKEN_TTL", "15m")
	cfg.retireAfter = dur("RETIRE_AFTER", (cfg.tokenTTL + 5*time.Minute).String())
	if v := os.Getenv("BCRYPT_COST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BCRYPT_COST: want a number, got %q", v))
		}
		cfg.bcryptCost = n
	}
	return cfg, errors.Join(errs...)
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := configFromEnv(log)
	if err != nil {
		return err
	}
	addr := envOr("ADDR", ":9000")
	app, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	go func() {
		_ = app.keys.Run(ctx) // scheduled rotation until shutdown
	}()
	srv := &http.Server{Addr: addr, Handler: app.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("authservice listening", "addr", addr, "issuer", cfg.issuer, "audience", cfg.audience,
		"rotate_every", cfg.rotateEvery, "signing_kid", app.keys.SigningKey().KeyID())
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

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
	publicClientID = "demo-app"    // password grant, no secret
	serviceClient  = "demo-client" // client_credentials
	serviceSecret  = "demo-secret"
)

type users map[string]authserver.User

func (u users) LookupUser(_ context.Context, name string) (authserver.User, error) {
	if v, ok := u[name]; ok {
		return v, nil
	}
	return authserver.User{}, guard.ErrNotFound
}

type clients map[string]authserver.Client

func (c clients) LookupClient(_ context.Context, id string) (authserver.Client, error) {
	if v, ok := c[id]; ok {
		return v, nil
	}
	return authserver.Client{}, guard.ErrNotFound
}

func newApp(ctx context.Context, cfg config) (*app, error) {
	publishFor := cfg.rotateEvery / 2
	keys, err := guard.NewKeySet(guard.KeySetConfig{
		RotateEvery: cfg.rotateEvery,
		PublishFor:  publishFor,
		RetireAfter: cfg.retireAfter,
		Logger:      cfg.log,
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
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{BcryptCost: cfg.bcryptCost})
	if err != nil {
		return nil, err
	}
	hash := func(pw string) (guard.Secret, error) {
		h, err := hasher.Hash(ctx, pw)
		return guard.Secret(h), err
	}
	store := users{}
	for name, u := range demoUsers {
		h, err := hash(u.password)
		if err != nil {
			return nil, err
		}
		store[name] = authserver.User{PasswordHash: h, Roles: []string{u.role}}
	}
	secret, err := hash(serviceSecret)
	if err != nil {
		return nil, err
	}
	reg := clients{
		publicClientID: {Public: true, Grants: []string{"password"}},
		serviceClient:  {SecretHash: secret, Grants: []string{"client_credentials"}, Scopes: []string{"read"}},
	}
	token, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer:              issuer,
		Hasher:              hasher,
		Users:               store,
		EnablePasswordGrant: true,
		Clients:             reg,
		Logger:              cfg.log,
	})
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
	discovery, err := authserver.DiscoveryHandler(authserver.DiscoveryConfig{
		Issuer:                            cfg.issuer,
		JWKSURI:                           cfg.issuer + "/.well-known/jwks.json",
		TokenEndpoint:                     cfg.issuer + "/token",
		GrantTypesSupported:               []string{"password", "client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "none"},
		ScopesSupported:                   []string{"read"},
		Keys:                              keys,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /token", token)
	mux.Handle("GET /.well-known/jwks.json", jwks)
	mux.Handle("GET /.well-known/openid-configuration", discovery)
	return &app{handler: mux, keys: keys}, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
