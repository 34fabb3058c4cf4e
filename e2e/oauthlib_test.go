package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// pythonWithOAuthlib finds a Python 3 that can import requests-oauthlib.
// Debian's python3-requests-oauthlib installs for /usr/bin/python3, which a
// python3 earlier in PATH (pyenv, a virtualenv) may not see, so that one is
// tried first. Without one the test skips, unless CI is set: then it fails.
func pythonWithOAuthlib(t *testing.T) string {
	t.Helper()
	var candidates []string
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		candidates = append(candidates, "/usr/bin/python3")
	}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import oauthlib, requests_oauthlib").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no python3 with requests-oauthlib among %q and CI is set: install python3-requests-oauthlib (.ci/run does)", candidates)
	}
	t.Skip("no python3 with requests-oauthlib (apt-get install python3-requests-oauthlib); skipping")
	return ""
}

// legacyClientScript logs in as the usual Python client of a password grant
// does: OAuth2Session over LegacyApplicationClient, which sends the client
// id in HTTP Basic with an empty secret. It prints the token as JSON, or
// {"oauth2_error": code} and exits 3 when the server answers an OAuth2 error.
const legacyClientScript = `
import json, sys
from oauthlib.oauth2 import LegacyApplicationClient, OAuth2Error
from requests_oauthlib import OAuth2Session

token_url, username, password = sys.argv[1:4]
session = OAuth2Session(client=LegacyApplicationClient(client_id="demo-app"))
try:
    token = session.fetch_token(token_url=token_url, username=username, password=password, client_id="demo-app")
except OAuth2Error as e:
    print(json.dumps({"oauth2_error": e.error}))
    sys.exit(3)
print(json.dumps(token))
`

// tokenRequest is what the example server received on /token.
type tokenRequest struct {
	method, authorization, contentType string
	form                               url.Values
}

// recordingProxy forwards to target and keeps the last /token request.
type recordingProxy struct {
	mu   sync.Mutex
	last *tokenRequest
}

func (p *recordingProxy) take() *tokenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.last
	p.last = nil
	return r
}

func startRecordingProxy(t *testing.T, target string) (*recordingProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &recordingProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			p.mu.Lock()
			p.last = &tokenRequest{method: r.Method, authorization: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), form: form}
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// TestOAuthlibLegacyApplicationClient logs in to the example server with
// requests-oauthlib's LegacyApplicationClient, a public client that sends
// "Basic base64(client_id:)" with the password grant, then uses the token.
func TestOAuthlibLegacyApplicationClient(t *testing.T) {
	python := pythonWithOAuthlib(t)
	api := startExample(t, "http://localhost:3000")
	proxy, base := startRecordingProxy(t, api)
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("demo-app:"))

	tests := []struct {
		name      string
		password  string
		wantError string // the OAuth2 error the client raises; "" for a token
	}{
		{name: "right password", password: alicePW},
		{name: "wrong password", password: "not-" + alicePW, wantError: "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, "-c", legacyClientScript, base+"/token", "alice", tt.password)
			// oauthlib refuses http:// token URLs without this; the
			// server is on loopback.
			cmd.Env = append(os.Environ(), "OAUTHLIB_INSECURE_TRANSPORT=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			var exit *exec.ExitError
			if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
				t.Fatalf("python: %v\n%s", err, stderr.String())
			}

			req := proxy.take()
			if req == nil {
				t.Fatalf("the client sent no token request; output %q, stderr:\n%s", out, stderr.String())
			}
			// What LegacyApplicationClient sends: the client id in Basic
			// with an empty secret, the credentials in the form, and no
			// client_id or client_secret there.
			if req.method != http.MethodPost {
				t.Errorf("method: got %s, want POST", req.method)
			}
			if req.authorization != wantAuth {
				t.Errorf("Authorization: got %q, want %q", req.authorization, wantAuth)
			}
			if !strings.HasPrefix(req.contentType, "application/x-www-form-urlencoded") {
				t.Errorf("Content-Type: got %q, want application/x-www-form-urlencoded", req.contentType)
			}
			wantForm := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {tt.password}}
			if got, want := req.form.Encode(), wantForm.Encode(); got != want {
				t.Errorf("form: got %q, want %q", got, want)
			}

			var res struct {
				OAuth2Error string `json:"oauth2_error"`
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("client output %q: %v\nstderr:\n%s", out, err, stderr.String())
			}
			if res.OAuth2Error != tt.wantError {
				t.Fatalf("client error: got %q, want %q (output %s)", res.OAuth2Error, tt.wantError, out)
			}
			if tt.wantError != "" {
				if res.AccessToken != "" {
					t.Errorf("got an access token with error %q", res.OAuth2Error)
				}
				return
			}
			if res.AccessToken == "" || !strings.EqualFold(res.TokenType, "bearer") || res.ExpiresIn <= 0 {
				t.Fatalf("token: got %s, want a bearer access token with expires_in", out)
			}

			// The token opens the protected routes; alice is an admin.
			for _, path := range []string{"/protected", "/admin"} {
				r, err := http.NewRequestWithContext(ctx, http.MethodGet, api+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				r.Header.Set("Authorization", "Bearer "+res.AccessToken)
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var who struct {
					Subject string   `json:"subject"`
					Roles   []string `json:"roles"`
				}
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &who) != nil {
					t.Fatalf("GET %s with the token: got %d %s, want 200", path, resp.StatusCode, body)
				}
				if who.Subject != "alice" || strings.Join(who.Roles, ",") != "admin" {
					t.Errorf("GET %s: got subject %q roles %q, want alice [admin]", path, who.Subject, who.Roles)
				}
			}
		})
	}
}
