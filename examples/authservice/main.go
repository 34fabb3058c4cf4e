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
// Sign-in for apps: GET and POST /authorize, the authorization code flow
// with PKCE (S256) and a login form for the demo users; POST /register,
// open dynamic client registration (RFC 7591) of public clients whose
// redirect URIs are https or loopback (http://127.0.0.1:PORT/…, any port),
// as MCP clients register themselves. Resource indicators (RFC 8707): a
// request may name with "resource" one of RESOURCES, and the token's
// audience is then that resource alone (without one, AUDIENCE). DPoP (RFC
// 9449): a token request with a DPoP proof gets a token bound to the
// proof's key (token_type DPoP, cnf.jkt), a code asked for with dpop_jkt
// only for that key, and a public client's refresh token stays bound to it.
// The metadata is served at /.well-known/openid-configuration and at RFC
// 8414's /.well-known/oauth-authorization-server.
//
// Also POST /revoke (RFC 7009: a refresh token ends its login, an access
// token is refused by jti until it expires; the public client demo-app
// revokes with its client_id and the token alone) and POST /introspect (RFC
// 7662, for the confidential client resource-api with secret
// resource-secret, which may introspect and do nothing else) and POST
// /logout-everywhere (with a bearer token: ends every session of its
// subject; an admin may name another in the form field subject).
//
// Environment: ADDR (default :9000), ISSUER_URL (default
// http://localhost:9000), AUDIENCE (default api), ROTATE_EVERY (a Go
// duration of at least 2s, default 5m: a new signing key every
// ROTATE_EVERY, published ROTATE_EVERY/2 before it signs), TOKEN_TTL
// (default 15m) and RETIRE_AFTER (how long a retired key keeps verifying;
// default TOKEN_TTL plus 5m), BCRYPT_COST (default guard's, 12; tests use
// 10), RESOURCES (the resource indicators clients may ask tokens for,
// comma-separated absolute http(s) URLs; default
// http://localhost:9001,http://localhost:9002/mcp: examples/resourceservice
// and examples/mcpserver at their default addresses).
//
// Several replicas: with REDIS_URL set (redis://… or rediss://…), the key
// ring, refresh-token families, revocations, login limiters, authorization
// codes, registered clients and the DPoP replay cache live in
// Redis under REDIS_PREFIX (default "guard:"), and the service refuses to
// start without KEY_ENCRYPTION_KEY, the base64 of 32 random bytes that
// seals the key ring (head -c 32 /dev/urandom | base64). Processes on
// different ADDRs with the same REDIS_URL, ISSUER_URL and
// KEY_ENCRYPTION_KEY are one issuer: one signing key, one JWKS, one
// rotation per period, sessions and revocations shared. Without REDIS_URL
// everything is in memory.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
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
	redisURL         string
	redisPrefix      string
	kek              []byte   // KEY_ENCRYPTION_KEY, decoded; required with redisURL
	resources        []string // RESOURCES: the resource indicators clients may ask tokens for
	log              *slog.Logger
}

// minRotateEvery is the shortest ROTATE_EVERY, for demos: a key is then
// published one second before it signs.
const minRotateEvery = 2 * time.Second

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
	if cfg.rotateEvery > 0 && cfg.rotateEvery < minRotateEvery {
		errs = append(errs, fmt.Errorf("ROTATE_EVERY: want at least %v, got %v", minRotateEvery, cfg.rotateEvery))
	}
	cfg.tokenTTL = dur("TOKEN_TTL", "15m")
	cfg.retireAfter = dur("RETIRE_AFTER", (cfg.tokenTTL + 5*time.Minute).String())
	if v := os.Getenv("BCRYPT_COST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BCRYPT_COST: want a number, got %q", v))
		}
		cfg.bcryptCost = n
	}
	cfg.resources = splitList(envOr("RESOURCES", defaultResources))
	for _, r := range cfg.resources {
		if u, err := url.Parse(r); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || strings.Contains(r, "#") {
			errs = append(errs, fmt.Errorf("RESOURCES: want absolute http(s) URLs without a fragment, separated by commas; got %q", r))
		}
	}
	cfg.redisURL = os.Getenv("REDIS_URL")
	cfg.redisPrefix = envOr("REDIS_PREFIX", "guard:")
	if cfg.redisURL != "" {
		kek, err := decodeKEK(os.Getenv("KEY_ENCRYPTION_KEY"))
		switch {
		case os.Getenv("KEY_ENCRYPTION_KEY") == "":
			errs = append(errs, errors.New("KEY_ENCRYPTION_KEY: required with REDIS_URL, the base64 of 32 random bytes (head -c 32 /dev/urandom | base64), the same on every replica"))
		case err != nil || len(kek) != 32:
			errs = append(errs, fmt.Errorf("KEY_ENCRYPTION_KEY: want the base64 of exactly 32 bytes, got %d bytes", len(kek)))
		default:
			cfg.kek = kek
		}
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
	st, err := openStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.close()
	app, err := newApp(ctx, cfg, st)
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
		"rotate_every", cfg.rotateEvery, "signing_kid", app.keys.SigningKey().KeyID(), "stores", st.kind)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// decodeKEK reads base64, standard or URL-safe, padded or not.
func decodeKEK(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(strings.TrimSpace(s)); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// defaultResources are examples/resourceservice and examples/mcpserver at
// their default addresses.
const defaultResources = "http://localhost:9001,http://localhost:9002/mcp"

// splitList splits a comma-separated list, dropping spaces and empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
