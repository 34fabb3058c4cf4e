// Command resourceservice is an API that accepts the tokens of an
// authorization server it knows only by issuer URL (see
// examples/authservice): it reads the issuer's discovery document, fetches
// the JWK Set it names, keeps it fresh in the background, and picks up a new
// signing key on its first token, without restarting.
//
//	go run ./examples/resourceservice
//
// Endpoints: GET /hello (any valid token) and GET /admin (role admin), each
// answering JSON with the token's subject. Until the issuer's keys have
// loaded, requests get 503 temporarily_unavailable with Retry-After.
//
// The service is an RFC 9728 protected resource named RESOURCE_URL: its
// metadata (the resource, its authorization server, the DPoP algorithms it
// takes) is at GET /.well-known/oauth-protected-resource (for a
// RESOURCE_URL with a path, at that path appended, as RFC 9728 §3.1 says),
// and every 401 names it in WWW-Authenticate (resource_metadata="…"). It
// takes tokens whose audience is AUDIENCE or RESOURCE_URL (a token the
// issuer minted for this resource with RFC 8707's resource parameter), as
// bearer tokens or, when they are bound to a key (cnf.jkt), only as DPoP
// tokens (RFC 9449: "Authorization: DPoP …" with a proof of that key in the
// DPoP header, each proof good once; a bound token sent as Bearer gets 401).
//
// Environment: ADDR (default :9001), ISSUER_URL (default
// http://localhost:9000), AUDIENCE (default api), RESOURCE_URL (default
// http://localhost:9001), and, to follow a fast
// demo rotation, MIN_REFRESH (default 1m: the shortest time the key set is
// held before a refresh) and REFETCH_INTERVAL (default 30s: at most one
// fetch per interval for tokens with an unknown kid).
//
// Logouts: with INTROSPECT=true, every token is also checked at the
// issuer's introspection endpoint (RFC 7662, found by discovery) as the
// client resource-api with secret resource-secret (INTROSPECT_CLIENT_ID and
// INTROSPECT_CLIENT_SECRET override them), and refused once the issuer says
// it is no longer active. Answers are cached per token for INTROSPECT_CACHE
// (a Go duration, default 5s, at most 30s): the longest a revocation at the
// issuer goes unnoticed here. When the issuer cannot answer, requests get
// 503 temporarily_unavailable with Retry-After, never a 200.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/guardkit/guard"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("resourceservice stopped", "error", err)
		os.Exit(1)
	}
}

// config is the service's environment, parsed.
type config struct {
	issuer, audience string
	resource         string // RESOURCE_URL, the RFC 9728 resource identifier
	minRefresh       time.Duration
	refetchInterval  time.Duration
	introspect       bool
	introspectCache  time.Duration
	clientID         string
	clientSecret     guard.Secret
	log              *slog.Logger
}

func configFromEnv(log *slog.Logger) (config, error) {
	cfg := config{issuer: envOr("ISSUER_URL", "http://localhost:9000"), audience: envOr("AUDIENCE", "api"),
		resource: envOr("RESOURCE_URL", "http://localhost:9001"), log: log}
	var errs []error
	dur := func(name string, def time.Duration) time.Duration {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive Go duration such as 30s, got %q", name, v))
		}
		return d
	}
	cfg.minRefresh = dur("MIN_REFRESH", guard.DefaultMinRefresh)
	cfg.refetchInterval = dur("REFETCH_INTERVAL", guard.DefaultRefetchInterval)
	switch v := os.Getenv("INTROSPECT"); v {
	case "", "false", "0":
	case "true", "1":
		cfg.introspect = true
	default:
		errs = append(errs, fmt.Errorf("INTROSPECT: want true or false, got %q", v))
	}
	cfg.introspectCache = dur("INTROSPECT_CACHE", guard.DefaultIntrospectionCacheFor)
	cfg.clientID = envOr("INTROSPECT_CLIENT_ID", "resource-api")
	cfg.clientSecret = guard.Secret(envOr("INTROSPECT_CLIENT_SECRET", "resource-secret"))
	return cfg, errors.Join(errs...)
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := configFromEnv(log)
	if err != nil {
		return err
	}
	addr := envOr("ADDR", ":9001")
	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.keys.Close()
	// Wait a little for the issuer's keys; without them the service still
	// starts and answers 503 until they load.
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := a.keys.Ready(wait); err != nil {
		log.Warn("the issuer's keys have not loaded yet; answering 503 until they do", "issuer", cfg.issuer, "error", err)
	}
	cancel()
	srv := &http.Server{Addr: addr, Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("resourceservice listening", "addr", addr, "issuer", cfg.issuer, "audience", cfg.audience, "resource", cfg.resource,
		"introspect", cfg.introspect, "introspect_cache", cfg.introspectCache)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// app is the service: its handler and the remote key set it reads, started.
type app struct {
	handler http.Handler
	keys    *guard.RemoteKeySet
}

func newApp(cfg config) (*app, error) {
	keys, err := guard.NewRemoteKeySet(guard.RemoteKeySetConfig{
		Issuer:          cfg.issuer,
		MinRefresh:      cfg.minRefresh,
		MaxRefresh:      max(cfg.minRefresh, guard.DefaultMaxRefresh),
		RefetchInterval: cfg.refetchInterval,
		Logger:          cfg.log,
	})
	if err != nil {
		return nil, err
	}
	metadataURL, err := guard.ProtectedResourceMetadataURL(cfg.resource)
	if err != nil {
		return nil, fmt.Errorf("RESOURCE_URL: %w", err)
	}
	// DPoP proofs: each accepted once; this process is the only instance,
	// so its replay cache is in memory.
	dpop, err := guard.NewDPoP(guard.DPoPConfig{Replay: guard.NewMemoryReplayCache(replayEntries)})
	if err != nil {
		return nil, err
	}
	metadata, err := guard.ProtectedResourceMetadata(guard.ProtectedResourceConfig{
		Resource:                      cfg.resource,
		AuthorizationServers:          []string{cfg.issuer},
		DPoPSigningAlgValuesSupported: dpop.AlgorithmNames(),
		ResourceName:                  "guard example resource service",
	})
	if err != nil {
		return nil, fmt.Errorf("RESOURCE_URL: %w", err)
	}
	vcfg := guard.VerifierConfig{
		KeySource:        keys,
		Issuers:          []string{cfg.issuer},
		Audiences:        []string{cfg.audience, cfg.resource},
		DPoP:             dpop,
		ResourceMetadata: metadataURL,
	}
	if cfg.introspect {
		checker, err := guard.NewIntrospectionChecker(guard.IntrospectionCheckerConfig{
			Issuer: cfg.issuer, ClientID: cfg.clientID, ClientSecret: cfg.clientSecret, CacheFor: cfg.introspectCache,
		})
		if err != nil {
			return nil, err
		}
		vcfg.Revocations = checker
	}
	v, err := guard.NewVerifier(vcfg)
	if err != nil {
		return nil, err
	}
	keys.Start()
	mux := http.NewServeMux()
	mu, _ := url.Parse(metadataURL) // built by guard from a valid URL
	mux.Handle("GET "+mu.Path, metadata)
	mux.Handle("GET /hello", v.RequireBearer(http.HandlerFunc(hello("hello"))))
	mux.Handle("GET /admin", v.RequireBearer(guard.RequireRole("admin")(http.HandlerFunc(hello("welcome to the admin area")))))
	return &app{handler: mux, keys: keys}, nil
}

// replayEntries bounds the DPoP proofs remembered against replay.
const replayEntries = 100_000

// hello answers JSON with the caller's subject and roles.
func hello(message string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"message": message, "subject": p.Subject, "roles": p.Roles})
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
