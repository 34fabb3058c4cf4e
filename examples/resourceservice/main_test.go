package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/guardtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeIssuer is guardtest's fake identity provider: discovery, a JWK Set,
// and tokens minted with its current key (mint for the usual claims, token
// for any).
func fakeIssuer(t *testing.T) (url string, mint func(aud, sub string, roles ...string) string, token func(guard.Claims) string) {
	t.Helper()
	srv := guardtest.NewJWKSServer(t)
	token = func(c guard.Claims) string { return srv.Token(t, c) }
	return srv.Issuer(), func(aud, sub string, roles ...string) string {
		return token(guard.Claims{Subject: sub, Audience: []string{aud}, Roles: roles})
	}, token
}

func startApp(t *testing.T, issuer string) *app {
	t.Helper()
	a, err := newApp(config{issuer: issuer, audience: "api", resource: "http://localhost:9001", minRefresh: time.Minute, refetchInterval: time.Second, log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.keys.Close() })
	return a
}

func TestResourceService(t *testing.T) {
	issuer, mint, srvToken := fakeIssuer(t)
	a := startApp(t, issuer)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.keys.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	alice := mint("api", "alice", "admin")
	bob := mint("api", "bob", "user")
	const metadata = `resource_metadata="http://localhost:9001/.well-known/oauth-protected-resource"`
	bound := srvToken(guard.Claims{Subject: "alice", Audience: []string{"api"}, Confirmation: &guard.Confirmation{JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})
	tests := []struct {
		name, target, token string
		status              int
		challenge           string // WWW-Authenticate must contain it; "" means absent
		body                string
	}{
		{name: "no token", target: "/hello", status: 401, challenge: metadata, body: `"error":"unauthorized"`},
		{name: "a token for this resource (RFC 8707)", target: "/hello", token: mint("http://localhost:9001", "alice"), status: 200, body: `"subject":"alice"`},
		{name: "a token for another resource", target: "/hello", token: mint("http://localhost:9002/mcp", "alice"), status: 401, challenge: metadata},
		{name: "a DPoP-bound token as a bearer token", target: "/hello", token: bound, status: 401, challenge: `error="invalid_token"`},
		{name: "alice hello", target: "/hello", token: alice, status: 200, body: `"subject":"alice"`},
		{name: "alice admin", target: "/admin", token: alice, status: 200, body: `"subject":"alice"`},
		{name: "bob hello", target: "/hello", token: bob, status: 200, body: `"subject":"bob"`},
		{name: "bob admin", target: "/admin", token: bob, status: 403, challenge: `error="insufficient_scope"`, body: `"error":"insufficient_scope"`},
		{name: "other audience", target: "/hello", token: mint("billing", "alice", "admin"), status: 401, challenge: `error="invalid_token"`, body: "audience"},
		{name: "garbage", target: "/hello", token: "x.y.z", status: 401, challenge: `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			a.handler.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Errorf("status: got %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); tt.challenge == "" && got != "" || !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.challenge)
			}
			if !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("body: got %s, want it to contain %s", w.Body, tt.body)
			}
			if tt.status == 200 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type: got %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

// The RFC 9728 metadata: the resource, its issuer, DPoP.
func TestResourceMetadata(t *testing.T) {
	issuer, _, _ := fakeIssuer(t)
	a := startApp(t, issuer)
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource", nil))
	for _, want := range []string{`"resource":"http://localhost:9001"`, `"authorization_servers":["` + issuer + `"]`, `"dpop_signing_alg_values_supported":[`} {
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("got %d %s, want 200 with %s", w.Code, w.Body, want)
		}
	}
}

// Until the issuer's keys load, the service answers 503 with Retry-After.
func TestResourceServiceBeforeKeys(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	_, mint, _ := fakeIssuer(t)
	a := startApp(t, down.URL)
	r := httptest.NewRequest("GET", "/hello", nil)
	r.Header.Set("Authorization", "Bearer "+mint("api", "alice"))
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "temporarily_unavailable") {
		t.Errorf("got %d, Retry-After %q, %s; want 503 temporarily_unavailable with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("MIN_REFRESH", "often")
	if _, err := configFromEnv(quiet); err == nil || !strings.Contains(err.Error(), "MIN_REFRESH") {
		t.Errorf("got %v, want a MIN_REFRESH error", err)
	}
	t.Setenv("MIN_REFRESH", "")
	cfg, err := configFromEnv(quiet)
	if err != nil || cfg.issuer != "http://localhost:9000" || cfg.audience != "api" ||
		cfg.minRefresh != guard.DefaultMinRefresh || cfg.refetchInterval != guard.DefaultRefetchInterval {
		t.Errorf("defaults: got %+v, %v", cfg, err)
	}
}
