package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's Chromium. Without it the browser test skips,
// unless CI is set: then it must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium not found and CI is set: install the chromium package (.ci/run does)")
	}
	t.Skip("Chromium not found (apt-get install chromium); skipping the browser test")
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startExample builds and starts examples/server, the FastAPI tutorial app, on a loopback
// port and returns its base URL. env adds NAME=value settings.
func startExample(t *testing.T, corsOrigin string, env ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	build := exec.Command("go", "build", "-o", bin, "github.com/guardkit/guard/examples/server")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/server: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"ADDR="+addr,
		"JWT_SECRET=browser-test-secret-browser-test-secret",
		"API_KEY=browser-test-key",
		"CORS_ORIGINS="+corsOrigin,
	)
	cmd.Env = append(cmd.Env, env...)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("example server output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/protected")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("example server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pageServer serves an empty HTML page: the origin the browser scripts run in.
func pageServer(t *testing.T, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>guard e2e</title><p>page</p>")
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return "http://" + host + ":" + port
}

func TestBrowserCORS(t *testing.T) {
	chromium := chromiumPath(t)

	allowed := pageServer(t, "localhost") // the app's front end
	blocked := pageServer(t, "127.0.0.1") // some other origin
	api := startExample(t, allowed)       // the API on a third origin
	if strings.HasPrefix(api, allowed) || strings.HasPrefix(api, blocked) {
		t.Fatalf("origins overlap: api %s, pages %s %s", api, allowed, blocked)
	}

	opts := chromiumOptions(t, chromium)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	// From the allowed origin: log in, call the API with the token, read a 401's challenge.
	if err := chromedp.Do(ctx, chromedp.Navigate(allowed+"/")); err != nil {
		t.Fatalf("navigating to %s: %v", allowed, err)
	}
	type pageResult struct {
		LoginStatus     int    `json:"loginStatus"`
		TokenType       string `json:"tokenType"`
		ProtectedStatus int    `json:"protectedStatus"`
		Subject         string `json:"subject"`
		AdminStatus     int    `json:"adminStatus"`
		NoTokenStatus   int    `json:"noTokenStatus"`
		Challenge       string `json:"challenge"`
		BadTokenStatus  int    `json:"badTokenStatus"`
		BadChallenge    string `json:"badChallenge"`
	}
	script := fmt.Sprintf(`(async () => {
		const api = %q;
		const out = {};
		const login = await fetch(api + "/token", {
			method: "POST",
			body: new URLSearchParams({grant_type: "password", username: "alice", password: "wonderland"}),
		});
		out.loginStatus = login.status;
		const tok = await login.json();
		out.tokenType = tok.token_type;
		const prot = await fetch(api + "/protected", {headers: {Authorization: "Bearer " + tok.access_token}});
		out.protectedStatus = prot.status;
		out.subject = (await prot.json()).subject;
		const admin = await fetch(api + "/admin", {headers: {Authorization: "Bearer " + tok.access_token}, credentials: "include"});
		out.adminStatus = admin.status;
		const none = await fetch(api + "/protected");
		out.noTokenStatus = none.status;
		out.challenge = none.headers.get("WWW-Authenticate");
		const bad = await fetch(api + "/protected", {headers: {Authorization: "Bearer " + tok.access_token + "x"}});
		out.badTokenStatus = bad.status;
		out.badChallenge = bad.headers.get("WWW-Authenticate");
		return out;
	})()`, api)
	result, err := chromedp.Run(ctx, chromedp.Evaluate[pageResult](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("script on the allowed origin: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"login status", result.LoginStatus, 200},
		{"token_type", result.TokenType, "Bearer"},
		{"/protected with token", result.ProtectedStatus, 200},
		{"subject", result.Subject, "alice"},
		{"/admin as alice", result.AdminStatus, 200},
		{"/protected without token", result.NoTokenStatus, 401},
		{"challenge readable from script", result.Challenge, `Bearer realm="api"`},
		{"/protected with a bad token", result.BadTokenStatus, 401},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if !strings.Contains(result.BadChallenge, `error="invalid_token"`) {
		t.Errorf("bad-token challenge: got %q, want it to carry error=\"invalid_token\"", result.BadChallenge)
	}

	// From an origin that is not allowed, the browser itself blocks the call.
	if err := chromedp.Do(ctx, chromedp.Navigate(blocked+"/")); err != nil {
		t.Fatalf("navigating to %s: %v", blocked, err)
	}
	blockedScript := fmt.Sprintf(`(async () => {
		try {
			const r = await fetch(%q + "/protected", {headers: {Authorization: "Bearer x"}});
			return "not blocked: " + r.status;
		} catch (e) {
			return "blocked: " + e.name;
		}
	})()`, api)
	outcome, err := chromedp.Run(ctx, chromedp.Evaluate[string](blockedScript, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("script on the blocked origin: %v", err)
	}
	if outcome != "blocked: TypeError" {
		t.Errorf("request from a non-allowed origin: got %q, want the browser to block it (TypeError)", outcome)
	}
}

// chromiumOptions starts Debian's Chromium headless, as root, with the
// background networking a closed network refuses turned off, and a fresh
// profile of the test's own.
func chromiumOptions(t *testing.T, chromium string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
}
