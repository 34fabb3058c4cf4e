package e2e

import (
	"context"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// spaStart is the single-page app's sign-in page: it makes a PKCE verifier
// and an S256 challenge with Web Crypto, keeps them (and a state) in
// sessionStorage, and sends the browser to the authorization endpoint.
var spaStart = template.Must(template.New("start").Parse(`<!doctype html>
<title>demo SPA</title>
<p id=status>starting</p>
<script>
const api = {{.API}};
const redirectURI = {{.RedirectURI}};
function b64url(bytes) {
	let s = "";
	for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
	return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
(async () => {
	const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
	const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
	const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
	sessionStorage.setItem("pkce_verifier", verifier);
	sessionStorage.setItem("oauth_state", state);
	const q = new URLSearchParams({
		response_type: "code", client_id: "demo-spa", redirect_uri: redirectURI, scope: "read",
		state: state, code_challenge: challenge, code_challenge_method: "S256",
	});
	location.assign(api + "/authorize?" + q);
})().catch(e => { document.getElementById("status").textContent = "error: " + e; });
</script>
`))

// spaCallback is the redirect URI's page: it checks state and iss, trades the
// code for tokens with fetch (a CORS request to the API's origin), calls the
// API, replays the code once, and writes what it saw into #result as JSON.
var spaCallbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<title>demo SPA callback</title>
<pre id=result></pre>
<script>
const api = {{.API}};
const redirectURI = {{.RedirectURI}};
const out = {};
function done() {
	const el = document.getElementById("result");
	el.textContent = JSON.stringify(out);
	el.dataset.done = "1";
}
function exchange(code, verifier) {
	return fetch(api + "/token", {
		method: "POST",
		body: new URLSearchParams({
			grant_type: "authorization_code", code: code, redirect_uri: redirectURI,
			client_id: "demo-spa", code_verifier: verifier,
		}),
	});
}
(async () => {
	const q = new URLSearchParams(location.search);
	const verifier = sessionStorage.getItem("pkce_verifier");
	const state = sessionStorage.getItem("oauth_state");
	sessionStorage.removeItem("pkce_verifier");
	sessionStorage.removeItem("oauth_state");
	if (q.get("error")) throw new Error("authorization error: " + q.get("error") + " " + (q.get("error_description") || ""));
	if (!state || q.get("state") !== state) throw new Error("state mismatch: got " + q.get("state") + ", stored " + state);
	if (q.get("iss") !== api) throw new Error("iss mismatch: got " + q.get("iss") + ", want " + api);
	const code = q.get("code");
	if (!code) throw new Error("no code in the callback");
	out.codeLength = code.length;

	const tokResp = await exchange(code, verifier);
	out.tokenStatus = tokResp.status;
	const tok = await tokResp.json();
	if (!tokResp.ok) throw new Error("token exchange: " + tokResp.status + " " + JSON.stringify(tok));
	out.tokenType = tok.token_type;
	out.scope = tok.scope;
	out.hasRefreshToken = !!tok.refresh_token;

	const prot = await fetch(api + "/protected", {headers: {Authorization: "Bearer " + tok.access_token}});
	out.protectedStatus = prot.status;
	const body = await prot.json();
	out.subject = body.subject;
	out.method = body.method;

	// A code is good once.
	const replay = await exchange(code, verifier);
	out.replayStatus = replay.status;
	out.replayError = (await replay.json()).error;

	// ... and its second use revokes what the first one issued (RFC 6749 §4.1.2).
	const refresh = await fetch(api + "/token", {
		method: "POST",
		body: new URLSearchParams({grant_type: "refresh_token", refresh_token: tok.refresh_token, client_id: "demo-spa"}),
	});
	out.refreshAfterReplayStatus = refresh.status;
	out.refreshAfterReplayError = (await refresh.json()).error;
})().catch(e => { out.error = String(e); }).finally(done);
</script>
`))

// TestBrowserAuthorizationCodePKCE runs the authorization code flow with PKCE
// in headless Chromium: a single-page app on its own origin sends the browser
// to the example's /authorize, the user signs in through the example's form,
// and the callback page exchanges the code from the page with fetch (CORS)
// and calls the API with the access token.
func TestBrowserAuthorizationCodePKCE(t *testing.T) {
	chromium := chromiumPath(t)
	start := time.Now()

	// The SPA's origin must be known before the example starts (CORS and the
	// redirect URI), and the example's URL before the SPA serves a page.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	spa := "http://" + l.Addr().String()
	redirectURI := spa + "/callback"
	api := startExample(t, spa, "SPA_REDIRECT_URIS="+redirectURI)
	if spa == api {
		t.Fatalf("SPA and API share the origin %s", spa)
	}
	t.Logf("example server up after %v", time.Since(start).Round(time.Millisecond))

	data := struct{ API, RedirectURI string }{api, redirectURI}
	mux := http.NewServeMux()
	page := func(tmpl *template.Template) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if err := tmpl.Execute(w, data); err != nil {
				t.Errorf("rendering %s: %v", tmpl.Name(), err)
			}
		}
	}
	mux.HandleFunc("GET /{$}", page(spaStart))
	mux.HandleFunc("GET /callback", page(spaCallbackPage))
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)

	opts := chromiumOptions(t, chromium)
	// One deadline bounds everything, the browser's start included; the
	// steps below get shorter ones derived from the running browser.
	rootCtx, cancelRoot := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancelRoot()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(rootCtx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	defer func() {
		// Closes the browser gracefully and waits for Chromium to exit.
		if err := chromedp.Cancel(browserCtx); err != nil {
			t.Logf("closing Chromium: %v", err)
		}
	}()
	if err := chromedp.Do(browserCtx); err != nil { // starts Chromium
		t.Fatalf("starting Chromium: %v", err)
	}
	t.Logf("Chromium up after %v", time.Since(start).Round(time.Millisecond))
	step := func(d time.Duration) (context.Context, context.CancelFunc) {
		return context.WithTimeout(browserCtx, d)
	}
	location := func() string {
		ctx, cancel := step(5 * time.Second)
		defer cancel()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			return "(unknown: " + err.Error() + ")"
		}
		return loc
	}

	// The SPA sends the browser to the example's login form.
	ctx, cancel := step(15 * time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(spa+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
	); err != nil {
		t.Fatalf("waiting for the login form (page %s): %v", location(), err)
	}
	loginURL := location()
	u, err := url.Parse(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasPrefix(loginURL, api+"/authorize?") || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || q.Get("client_id") != "demo-spa" || q.Get("redirect_uri") != redirectURI {
		t.Fatalf("login page URL %s: want the example's /authorize with demo-spa, the redirect URI and an S256 challenge", loginURL)
	}
	t.Logf("login form shown after %v", time.Since(start).Round(time.Millisecond))

	// Sign in; the example redirects back to the SPA, whose callback page
	// finishes the flow and writes its findings into #result.
	ctx, cancel = step(15 * time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), alicePW),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#result[data-done]`)),
	); err != nil {
		t.Fatalf("signing in and waiting for the callback's result (page %s): %v", location(), err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#result`)))
	if err != nil {
		t.Fatalf("reading #result: %v", err)
	}
	if callbackURL := location(); !strings.HasPrefix(callbackURL, redirectURI+"?") {
		t.Errorf("callback page at %s: want the redirect URI %s", callbackURL, redirectURI)
	}
	t.Logf("callback result after %v: %s", time.Since(start).Round(time.Millisecond), raw)

	var got struct {
		Error           string `json:"error"`
		CodeLength      int    `json:"codeLength"`
		TokenStatus     int    `json:"tokenStatus"`
		TokenType       string `json:"tokenType"`
		Scope           string `json:"scope"`
		HasRefreshToken bool   `json:"hasRefreshToken"`
		ProtectedStatus int    `json:"protectedStatus"`
		Subject         string `json:"subject"`
		Method          string `json:"method"`
		ReplayStatus    int    `json:"replayStatus"`
		ReplayError     string `json:"replayError"`
		RefreshStatus   int    `json:"refreshAfterReplayStatus"`
		RefreshError    string `json:"refreshAfterReplayError"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("#result %q: %v", raw, err)
	}
	if got.Error != "" {
		t.Fatalf("the callback page failed: %s", got.Error)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"token status", got.TokenStatus, 200},
		{"token_type", got.TokenType, "Bearer"},
		{"refresh token issued", got.HasRefreshToken, true},
		{"/protected status", got.ProtectedStatus, 200},
		{"subject", got.Subject, "alice"},
		{"method", got.Method, "bearer"},
		{"replayed code status", got.ReplayStatus, 400},
		{"replayed code error", got.ReplayError, "invalid_grant"},
		{"refresh after the replay: status", got.RefreshStatus, 400},
		{"refresh after the replay: error", got.RefreshError, "invalid_grant"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// RFC 6749 §5.1: scope may be left out when it is the one requested.
	if got.Scope != "" && got.Scope != "read" {
		t.Errorf("scope: got %q, want read (or absent)", got.Scope)
	}
	if got.CodeLength < 22 {
		t.Errorf("code length %d: want at least 128 bits", got.CodeLength)
	}
}
