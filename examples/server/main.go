// Command server is the FastAPI tutorial app in Go: a FastAPI-style service with an OAuth2
// password login, bearer-protected routes, a role check, API keys and CORS,
// written against guard's public API only.
//
//	go run ./examples/server
//
// Environment: ADDR (default :8000), JWT_SECRET (HS256 secret of at least 32
// bytes; random, with a warning, when unset), API_KEY (the demo API key;
// generated and printed when unset), CORS_ORIGINS (comma-separated; default
// http://localhost:3000).
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/guardkit/guard"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("server stopped", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	addr := envOr("ADDR", ":8000")
	secret := []byte(os.Getenv("JWT_SECRET"))
	if len(secret) == 0 {
		secret = []byte(rand.Text() + rand.Text())
		log.Warn("JWT_SECRET is not set: using a random secret; tokens will not survive a restart")
	}
	apiKey, shown := os.Getenv("API_KEY"), "$API_KEY"
	if apiKey == "" {
		key, _, err := guard.GenerateAPIKey("demo")
		if err != nil {
			return err
		}
		// Generated for this run: shown once on the terminal, only its digest is stored.
		apiKey = string(key)
		shown = apiKey
	}
	origins := strings.Split(envOr("CORS_ORIGINS", "http://localhost:3000"), ",")

	handler, err := newApp(ctx, secret, apiKey, origins, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	printHelp(addr, shown)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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

// newApp wires the app's routes. It is separate from run so that tests (the
// e2e browser test among them) can serve the same handler.
func newApp(ctx context.Context, secret []byte, apiKey string, origins []string, log *slog.Logger) (http.Handler, error) {
	key, err := guard.NewHMACKey(guard.HS256, secret, "")
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET: %w", err)
	}
	issuer, err := guard.NewTokenIssuer(guard.IssuerConfig{Key: key})
	if err != nil {
		return nil, err
	}
	verifier, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}})
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
	login, err := guard.NewTokenEndpoint(guard.TokenEndpointConfig{
		Issuer:              issuer,
		Hasher:              hasher,
		Users:               store,
		EnablePasswordGrant: true,
		// Clients written for the FastAPI app send username and password
		// without grant_type, as OAuth2PasswordRequestForm allows.
		InferPasswordGrant: true,
		Logger:             log,
	})
	if err != nil {
		return nil, err
	}

	keys := new(guard.MemoryAPIKeys)
	keys.Add(guard.APIKeyDigest(apiKey), guard.APIKeyRecord{Subject: "demo-client", Roles: []string{"user"}})
	headerKeys, err := guard.NewAPIKeyAuth(guard.APIKeyConfig{Store: keys})
	if err != nil {
		return nil, err
	}
	queryKeys, err := guard.NewAPIKeyAuth(guard.APIKeyConfig{Store: keys, Header: "X-API-Key", DangerouslyAllowQuery: true})
	if err != nil {
		return nil, err
	}

	cors, err := guard.NewCORS(guard.CORSConfig{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowCredentials: true,
	})
	if err != nil {
		return nil, fmt.Errorf("CORS_ORIGINS: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /token", login)
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

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func printHelp(addr, apiKey string) {
	base := "http://localhost" + addr
	if !strings.HasPrefix(addr, ":") {
		base = "http://" + addr
	}
	fmt.Printf(`guard example server listening on %s

Try:
  curl -s -d 'grant_type=password&username=alice&password=wonderland' %[2]s/token
  TOKEN=$(curl -s -d 'grant_type=password&username=alice&password=wonderland' %[2]s/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  curl -s -H "Authorization: Bearer $TOKEN" %[2]s/protected
  curl -s -H "Authorization: Bearer $TOKEN" %[2]s/admin
  curl -s -H 'X-API-Key: %[3]s' %[2]s/secure
  curl -s '%[2]s/secure-query?api_key=%[3]s'
`, addr, base, apiKey)
}
