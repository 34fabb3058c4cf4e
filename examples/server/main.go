// Command server is the FastAPI tutorial app in Go: a FastAPI-style service with an OAuth2
// password login, bearer-protected routes, a role check, API keys and CORS,
// written against guard's public API only.
//
//	go run ./examples/server
//
// Environment: ADDR (default :8000), JWT_SECRET (HS256 secret of at least 32
// bytes; random, with a warning, when unset), API_KEY (the demo API key;
// generated and printed when unset), CORS_ORIGINS (comma-separated; default
// http://localhost:3000), ISSUER (the base URL clients reach the server at,
// sent as "iss" by the authorization code flow; default http://localhost and
// the port of ADDR), SPA_REDIRECT_URIS (comma-separated redirect URIs of the
// public client demo-spa; default http://localhost:3000/callback),
// DOCS_ASSETS_URL (the base URL /docs loads swagger-ui.css and
// swagger-ui-bundle.js from, such as a served copy of npm swagger-ui-dist;
// default a CDN), HASH_CPU_BUDGET (the share of the CPU password hashing may
// use, a fraction of GOMAXPROCS in (0, 1]; default 0.35). GET /openapi.json is the OpenAPI 3.1 document, GET /docs
// Swagger UI. REDIS_URL is served by the Redis-backed build in the
// redisstore module (cd redisstore && go run ./examples/server); this one
// refuses to start with it rather than silently keep state in memory.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/examples/server/app"
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
	if os.Getenv("REDIS_URL") != "" {
		// The root module carries no Redis client; the Redis-backed build
		// of this app lives in the redisstore module.
		return errors.New("REDIS_URL is set: run the Redis-backed server instead: cd redisstore && go run ./examples/server")
	}

	cfg := app.Config{Secret: secret, APIKey: apiKey, Origins: origins, Log: log,
		Issuer: envOr("ISSUER", baseURL(addr)), DocsAssetsURL: os.Getenv("DOCS_ASSETS_URL")}
	if v := os.Getenv("HASH_CPU_BUDGET"); v != "" {
		b, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("HASH_CPU_BUDGET: %w", err)
		}
		cfg.HashCPUBudget = b
	}
	if v := os.Getenv("SPA_REDIRECT_URIS"); v != "" {
		cfg.SPARedirectURIs = strings.Split(v, ",")
	}
	handler, err := newApp(ctx, cfg)
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

// newApp serves the app with in-memory stores. It is separate from run so
// that tests can serve the same handler.
func newApp(ctx context.Context, cfg app.Config) (http.Handler, error) {
	return app.New(ctx, cfg)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// baseURL is the server's URL on this machine.
func baseURL(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "http://localhost" + addr
	}
	return "http://" + addr
}

func printHelp(addr, apiKey string) {
	fmt.Print(helpText(addr, apiKey))
}

// helpText is what the server prints at start: commands that work when
// pasted into a shell.
func helpText(addr, apiKey string) string {
	base := baseURL(addr)
	return fmt.Sprintf(`guard example server listening on %s

Try:
  curl -s -d 'grant_type=password&username=alice&password=wonderland' %[2]s/token
  TOKEN=$(curl -s -d 'grant_type=password&username=alice&password=wonderland' %[2]s/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  curl -s -H "Authorization: Bearer $TOKEN" %[2]s/protected
  curl -s -H "Authorization: Bearer $TOKEN" %[2]s/admin
  REFRESH=$(curl -s -d 'grant_type=password&username=alice&password=wonderland' %[2]s/token | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
  curl -s -d "grant_type=refresh_token&refresh_token=$REFRESH" %[2]s/token
  curl -s -i -d "token=$TOKEN" %[2]s/revoke
  curl -s -H 'X-API-Key: %[3]s' %[2]s/secure
  curl -s '%[2]s/secure-query?api_key=%[3]s'
  curl -s %[2]s/.well-known/oauth-authorization-server

GET %[2]s/.well-known/jwks.json answers {"keys":[]}: the tokens are HS256, verified by this
service alone, so there is no public key to publish; RFC 8414 metadata names a jwks_uri all the same.
Authorization code flow with PKCE (client demo-spa): see the README.
OpenAPI document: %[2]s/openapi.json   Swagger UI ("Authorize"): %[2]s/docs
`, addr, base, apiKey)
}
