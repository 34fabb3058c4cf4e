// Command mcpserver is an MCP server (the Model Context Protocol, on the
// official Go SDK github.com/modelcontextprotocol/go-sdk) whose one tool
// answers only callers that bring an access token of an authorization server
// it knows by issuer URL (see examples/authservice), the way the MCP
// authorization specification asks: the server is an OAuth 2.0 protected
// resource that publishes its RFC 9728 metadata, and a client that gets a 401
// finds the authorization server there, registers itself (RFC 7591), signs
// the user in with the authorization code flow and PKCE, and asks for a token
// for this resource (RFC 8707).
//
//	cd examples/mcpserver && go run .
//
// It is a module of its own, so that guard's root module does not depend on
// the MCP SDK.
//
// Endpoints: /mcp, the streamable HTTP transport (POST, GET and DELETE), and
// the protected-resource metadata at the well-known URL of RESOURCE_URL
// (RFC 9728 §3.1: /.well-known/oauth-protected-resource/mcp for a resource
// ending in /mcp) and at /.well-known/oauth-protected-resource, which clients
// also try. The tool whoami answers the caller's subject and scopes.
//
// A request to /mcp without a valid token gets 401 with
// WWW-Authenticate: Bearer resource_metadata="…". Tokens must name
// RESOURCE_URL as their audience (the authorization server's RFC 8707
// resource); DPoP-bound tokens (RFC 9449) are accepted with their proofs, and
// refused when presented as plain bearer tokens. The server listens at once;
// until the issuer's keys have loaded, requests with a token get 503
// temporarily_unavailable with Retry-After.
//
// Environment: ADDR (default :9002), ISSUER_URL (the authorization server's
// issuer; default http://localhost:9000; its keys are read through its
// discovery document and JWK Set), RESOURCE_URL (this server's resource
// identifier, the URL clients reach /mcp at; default
// http://localhost:9002/mcp).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("mcpserver stopped", "error", err)
		os.Exit(1)
	}
}

// config is the server's environment, parsed.
type config struct {
	addr     string
	issuer   string
	resource string
	log      *slog.Logger
}

func configFromEnv(log *slog.Logger) (config, error) {
	cfg := config{
		addr:     envOr("ADDR", ":9002"),
		issuer:   envOr("ISSUER_URL", "http://localhost:9000"),
		resource: envOr("RESOURCE_URL", "http://localhost:9002/mcp"),
		log:      log,
	}
	u, err := url.Parse(cfg.resource)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return cfg, fmt.Errorf("RESOURCE_URL: want an absolute http(s) URL with no query or fragment, got %q", cfg.resource)
	}
	return cfg, nil
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := configFromEnv(log)
	if err != nil {
		return err
	}
	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.close()
	// The server listens at once; until the issuer's keys load, requests
	// with a token get 503 temporarily_unavailable with Retry-After.
	go func() {
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.keys.Ready(wait); err != nil && ctx.Err() == nil {
			log.Warn("the issuer's keys have not loaded yet; answering 503 until they do", "issuer", cfg.issuer, "error", err)
		}
	}()
	srv := &http.Server{Addr: cfg.addr, Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("mcpserver listening", "addr", cfg.addr, "issuer", cfg.issuer, "resource", cfg.resource,
		"resource_metadata", a.metadataURL)
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
