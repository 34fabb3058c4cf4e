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
// and tokens minted with its current key.
func fakeIssuer(t *testing.T) (url string, mint func(aud, sub string, roles ...string) string) {
	t.Helper()
	srv := guardtest.NewJWKSServer(t)
	return srv.Issuer(), func(aud, sub string, roles ...string) string {
		return srv.Token(t, guard.Claims{Subject: sub, Audience: []string{aud}, Roles: roles})
	}
}

func startApp(t *testing.T, issuer string) *app {
	t.Helper()
	a, err := newApp(config{issuer: issuer, audience: "api", minRefresh: time.Minute, refetchInterval: time.Second, log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.keys.Close() })
	return a
}

func TestResourceService(t *testing.T) {
	issuer, mint := fakeIssuer(t)
	a := startApp(t, issuer)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.keys.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	alice := mint("api", "alice", "admin")
	bob := mint("api", "bob", "user")
	tests := []struct {
		name, target, token string
		status              int
		challenge           string // WWW-Authenticate must contain it; "" means absent
		body                string
	}{
		{name: "no token", target: "/hello", status: 401, challenge: `Bearer realm="api"`, body: `"error":"unauthorized"`},
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

// Until the issuer's keys load, the service answers 503 with Retry-After.
func TestResourceServiceBeforeKeys(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	_, mint := fakeIssuer(t)
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
