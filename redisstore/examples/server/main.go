// Command server is examples/server with every store on Redis: run several
// copies on different ADDRs against one REDIS_URL and they throttle logins,
// refresh and revoke tokens, and check API keys together.
//
//	cd redisstore && REDIS_URL=redis://127.0.0.1:6379/0 JWT_SECRET=… go run ./examples/server
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379/0), REDIS_PREFIX
// (default guard:), and examples/server's ADDR, JWT_SECRET (required here:
// instances must share it), API_KEY (required: stored in Redis by digest),
// CORS_ORIGINS.
package main

import (
	"context"
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
	"github.com/guardkit/guard/authserver"
	"github.com/guardkit/guard/examples/server/app"
	"github.com/guardkit/guard/redisstore"
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
	secret, apiKey := os.Getenv("JWT_SECRET"), os.Getenv("API_KEY")
	if secret == "" || apiKey == "" {
		return errors.New("JWT_SECRET and API_KEY are required: every instance must share them")
	}
	rdb, err := redisstore.NewClient(envOr("REDIS_URL", "redis://127.0.0.1:6379/0"))
	if err != nil {
		return err
	}
	defer rdb.Close()
	st, err := redisstore.New(rdb, redisstore.Config{Prefix: envOr("REDIS_PREFIX", "guard:")})
	if err != nil {
		return err
	}
	cfg := app.Config{Secret: []byte(secret), Origins: strings.Split(envOr("CORS_ORIGINS", "http://localhost:3000"), ","),
		Refresh: st.RefreshTokens(), AuthCodes: st.AuthCodes(), Log: log, Issuer: os.Getenv("ISSUER")}
	revs, err := st.Revocations(redisstore.RevocationsConfig{})
	if err != nil {
		return err
	}
	// This service revokes tokens: it marks its revocation namespace, so
	// that a service verifying its tokens on the same Redis can check with
	// CheckMark that it reads the same prefix.
	if err := revs.Mark(ctx); err != nil {
		return fmt.Errorf("marking the revocation namespace: %w", err)
	}
	cfg.Revocations = revs
	// The token endpoint's three limiters with its default thresholds.
	for _, l := range []struct {
		dst       *authserver.LoginLimiter
		name      string
		threshold int
	}{{&cfg.Limiter, "pair", 5}, {&cfg.IPLimiter, "ip", 20}, {&cfg.AccountLimiter, "account", 50}} {
		if *l.dst, err = st.Limiter(redisstore.LimiterConfig{Name: l.name, Threshold: l.threshold}); err != nil {
			return err
		}
	}
	keys := st.APIKeys()
	if err := keys.Add(ctx, guard.APIKeyDigest(apiKey), guard.APIKeyRecord{Subject: "demo-client", Roles: []string{"user"}}); err != nil {
		return fmt.Errorf("storing the demo API key: %w", err)
	}
	cfg.APIKeys = keys
	handler, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: envOr("ADDR", ":8000"), Handler: handler, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("guard example server on Redis", "addr", srv.Addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
