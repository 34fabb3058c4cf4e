// Package e2e drives the guard token endpoint with real OAuth2 clients.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	alicePW = "wonderland"
	svcID   = "svc:reports"
	svcPW   = "s3:cr%t+é ü/=" // ':' '%' '+', non-ASCII and a space: x/oauth2 form-encodes it in Basic
	webID   = "web"
	spaID   = "spa" // a public client: no secret
	webPW   = "web-secret"
)

// seen records how each token request authenticated its client.
type seen struct {
	mu   sync.Mutex
	reqs []string // "basic" or "params"
}

func (s *seen) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

type server struct {
	srv  *httptest.Server
	seen *seen
}

func newServer(t *testing.T) *server {
	t.Helper()
	h, hash := testHasher(t)
	key := testKey(t)
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	te, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer:              iss,
		Hasher:              h,
		EnablePasswordGrant: true,
		Users: authserver.NewMemoryUsers(map[string]authserver.User{
			"alice": {PasswordHash: hash(alicePW), Roles: []string{"admin"}, Scopes: []string{"read", "write"}},
		}),
		Clients: authserver.NewMemoryClients(map[string]authserver.Client{
			svcID: {SecretHash: hash(svcPW), Roles: []string{"service"}, Scopes: []string{"read", "write"}},
			webID: {SecretHash: hash(webPW), Grants: []string{"password"}, Scopes: []string{"read", "write"}},
			spaID: {Public: true, Grants: []string{"password"}, Scopes: []string{"read", "write"}},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &seen{}
	mux := http.NewServeMux()
	mux.Handle("/token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		style := "params"
		if r.Header.Get("Authorization") != "" {
			style = "basic"
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, style)
		s.mu.Unlock()
		te.ServeHTTP(w, r)
	}))
	mux.Handle("/me", ver.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := guard.PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, "no principal", 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(principal{Subject: p.Subject, Roles: p.Roles, Scopes: p.Scopes, ClientID: p.Claims.ClientID, Method: p.Method.String()})
	})))
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return &server{srv: srv, seen: s}
}

type principal struct {
	Subject  string   `json:"sub"`
	Roles    []string `json:"roles"`
	Scopes   []string `json:"scopes"`
	ClientID string   `json:"client_id"`
	Method   string   `json:"method"`
}

// ctx makes x/oauth2 use the test server's TLS client.
func (s *server) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, s.srv.Client())
}

// me calls the protected route with tok and returns the principal it saw.
func (s *server) me(t *testing.T, tok *oauth2.Token) principal {
	t.Helper()
	resp, err := oauth2.NewClient(s.ctx(), oauth2.StaticTokenSource(tok)).Get(s.srv.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /me: got %d %s, want 200", resp.StatusCode, body)
	}
	var p principal
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("GET /me body %q: %v", body, err)
	}
	return p
}

func checkToken(t *testing.T, tok *oauth2.Token, scope string) {
	t.Helper()
	if tok.AccessToken == "" || tok.TokenType != "Bearer" {
		t.Errorf("token: got type %q, access token %q", tok.TokenType, tok.AccessToken)
	}
	if d := time.Until(tok.Expiry); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("expiry in %v, want about 15m", d)
	}
	if got, _ := tok.Extra("scope").(string); got != scope {
		t.Errorf("scope: got %q, want %q", got, scope)
	}
}

func TestPasswordCredentialsToken(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		name     string
		clientID string
		secret   string
		style    oauth2.AuthStyle
		scopes   []string
		wantReqs []string // how x/oauth2 sent the client
		scope    string   // the response's scope member
		client   string   // client_id claim
		pScopes  []string
	}{
		{"public client, params", spaID, "", oauth2.AuthStyleInParams, nil, []string{"params"}, "read write", spaID, []string{"read", "write"}},
		{"public client, header", spaID, "", oauth2.AuthStyleInHeader, []string{"read"}, []string{"basic"}, "", spaID, []string{"read"}},
		{"public client, auto-detect", spaID, "", oauth2.AuthStyleAutoDetect, []string{"write"}, []string{"basic"}, "", spaID, []string{"write"}},
		{"confidential client, header", webID, webPW, oauth2.AuthStyleInHeader, []string{"read"}, []string{"basic"}, "", webID, []string{"read"}},
		{"confidential client, params", webID, webPW, oauth2.AuthStyleInParams, nil, []string{"params"}, "read write", webID, []string{"read", "write"}},
		{"confidential client, auto-detect", webID, webPW, oauth2.AuthStyleAutoDetect, []string{"read", "write"}, []string{"basic"}, "", webID, []string{"read", "write"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := oauth2.Config{
				ClientID:     c.clientID,
				ClientSecret: c.secret,
				Endpoint:     oauth2.Endpoint{TokenURL: s.srv.URL + "/token", AuthStyle: c.style},
				Scopes:       c.scopes,
			}
			s.seen.take()
			tok, err := cfg.PasswordCredentialsToken(s.ctx(), "alice", alicePW)
			if err != nil {
				t.Fatalf("PasswordCredentialsToken: %v", err)
			}
			if got := s.seen.take(); !slices.Equal(got, c.wantReqs) {
				t.Errorf("requests: got %v, want %v", got, c.wantReqs)
			}
			checkToken(t, tok, c.scope)
			p := s.me(t, tok)
			want := principal{Subject: "alice", Roles: []string{"admin"}, Scopes: c.pScopes, ClientID: c.client, Method: "bearer"}
			if p.Subject != want.Subject || !slices.Equal(p.Roles, want.Roles) || !slices.Equal(p.Scopes, want.Scopes) || p.ClientID != want.ClientID || p.Method != want.Method {
				t.Errorf("principal: got %+v, want %+v", p, want)
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	s := newServer(t)
	for _, c := range []struct {
		name     string
		style    oauth2.AuthStyle
		scopes   []string
		wantReqs []string
		scope    string
		pScopes  []string
	}{
		{"header", oauth2.AuthStyleInHeader, nil, []string{"basic"}, "read write", []string{"read", "write"}},
		{"params", oauth2.AuthStyleInParams, []string{"read"}, []string{"params"}, "", []string{"read"}},
		{"auto-detect", oauth2.AuthStyleAutoDetect, []string{"write"}, []string{"basic"}, "", []string{"write"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := clientcredentials.Config{ClientID: svcID, ClientSecret: svcPW, TokenURL: s.srv.URL + "/token", AuthStyle: c.style, Scopes: c.scopes}
			s.seen.take()
			tok, err := cfg.Token(s.ctx())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if got := s.seen.take(); !slices.Equal(got, c.wantReqs) {
				t.Errorf("requests: got %v, want %v", got, c.wantReqs)
			}
			checkToken(t, tok, c.scope)
			// The client from the config refreshes its token by itself.
			resp, err := cfg.Client(s.ctx()).Get(s.srv.URL + "/me")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("cfg.Client GET /me: got %d, want 200", resp.StatusCode)
			}
			p := s.me(t, tok)
			if p.Subject != svcID || p.ClientID != svcID || !slices.Equal(p.Roles, []string{"service"}) || !slices.Equal(p.Scopes, c.pScopes) {
				t.Errorf("principal: got %+v", p)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	s := newServer(t)
	tokenURL := s.srv.URL + "/token"
	retrieveError := func(t *testing.T, err error, status int, code string) {
		t.Helper()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("got %v, want *oauth2.RetrieveError", err)
		}
		if re.ErrorCode != code || re.Response.StatusCode != status {
			t.Errorf("got %d %q, want %d %q", re.Response.StatusCode, re.ErrorCode, status, code)
		}
		if cc := re.Response.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", cc)
		}
	}

	t.Run("no client", func(t *testing.T) {
		// With clients registered, the password grant must name one.
		cfg := oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
		_, err := cfg.PasswordCredentialsToken(s.ctx(), "alice", alicePW)
		retrieveError(t, err, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("wrong password", func(t *testing.T) {
		cfg := oauth2.Config{ClientID: spaID, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
		_, err := cfg.PasswordCredentialsToken(s.ctx(), "alice", "not-the-password")
		retrieveError(t, err, http.StatusBadRequest, "invalid_grant")
	})
	t.Run("unknown user", func(t *testing.T) {
		cfg := oauth2.Config{ClientID: spaID, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
		_, err := cfg.PasswordCredentialsToken(s.ctx(), "mallory", alicePW)
		retrieveError(t, err, http.StatusBadRequest, "invalid_grant")
	})
	t.Run("wrong password, auto-detect tries twice", func(t *testing.T) {
		// x/oauth2 retries any failed auto-detected request with the client
		// in the body, so each typo counts twice against the login limiter:
		// apps should set Endpoint.AuthStyle.
		cfg := oauth2.Config{ClientID: webID, ClientSecret: webPW, Endpoint: oauth2.Endpoint{TokenURL: tokenURL}}
		s.seen.take()
		_, err := cfg.PasswordCredentialsToken(s.ctx(), "alice", "typo")
		retrieveError(t, err, http.StatusBadRequest, "invalid_grant")
		if got := s.seen.take(); !slices.Equal(got, []string{"basic", "params"}) {
			t.Errorf("requests: got %v, want [basic params]", got)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		cfg := clientcredentials.Config{ClientID: svcID, ClientSecret: "nope", TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
		_, err := cfg.Token(s.ctx())
		retrieveError(t, err, http.StatusUnauthorized, "invalid_client")
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 after Basic without a challenge")
		}
	})
	t.Run("scope not allowed", func(t *testing.T) {
		cfg := clientcredentials.Config{ClientID: svcID, ClientSecret: svcPW, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams, Scopes: []string{"admin"}}
		_, err := cfg.Token(s.ctx())
		retrieveError(t, err, http.StatusBadRequest, "invalid_scope")
	})
	t.Run("password client wants client_credentials", func(t *testing.T) {
		cfg := clientcredentials.Config{ClientID: webID, ClientSecret: webPW, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
		_, err := cfg.Token(s.ctx())
		retrieveError(t, err, http.StatusBadRequest, "unauthorized_client")
	})
	t.Run("protected route without a token", func(t *testing.T) {
		resp, err := s.srv.Client().Get(s.srv.URL + "/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("got %d %q, want 401 with a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("protected route with a forged token", func(t *testing.T) {
		tok := &oauth2.Token{AccessToken: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.AAAA", TokenType: "Bearer"}
		resp, err := oauth2.NewClient(s.ctx(), oauth2.StaticTokenSource(tok)).Get(s.srv.URL + "/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("got %d, want 401", resp.StatusCode)
		}
	})
}
