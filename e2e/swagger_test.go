package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// swaggerUIDist serves npm swagger-ui-dist (installed by npm ci in
// e2e/node) on a loopback port and returns its base URL, the example's
// DOCS_ASSETS_URL. Without it the test skips, unless CI is set.
func swaggerUIDist(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("node", "node_modules", "swagger-ui-dist")
	if _, err := os.Stat(filepath.Join(dir, "swagger-ui-bundle.js")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("npm swagger-ui-dist is not installed (run npm ci in e2e/node): %v", err)
		}
		t.Skipf("npm swagger-ui-dist is not installed (run npm ci in e2e/node): %v", err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// swaggerBrowser opens the example's /docs in a fresh headless Chromium and
// waits for Swagger UI to render the document.
func swaggerBrowser(t *testing.T, chromium, api string) context.Context {
	t.Helper()
	root, cancelRoot := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancelRoot)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(root, append(chromiumOptions(t, chromium), chromedp.WindowSize(1280, 1600))...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx)
		cancel()
	})
	if err := chromedp.Do(ctx,
		chromedp.Navigate(api+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(`.auth-wrapper button.authorize`)),
		chromedp.WaitVisible(chromedp.CSS(`span.opblock-summary-path[data-path="/protected"]`)),
	); err != nil {
		t.Fatalf("loading Swagger UI from %s/docs: %v", api, err)
	}
	return ctx
}

// click scrolls the element into view and clicks it: chromedp clicks at
// the element's place in the viewport.
func click[S chromedp.Selectable](sel S) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.ScrollIntoView(sel), chromedp.Click(sel))
}

// flowSection is the XPath of the Authorize dialog's part for one scheme:
// its heading names it, such as "OAuth2 (OAuth2, password)" or "APIKeyHeader".
func flowSection(heading string) string {
	return fmt.Sprintf(`//div[@class="auth-container"][.//h4[contains(normalize-space(.), %q)]]`, heading)
}

// authorize opens the Authorize dialog, fills the inputs of the section
// under heading (XPath relative to the section → text), presses its
// Authorize button and, unless popup is set, waits for its Logout button
// and closes the dialog. With popup, it returns after the click.
func authorize(t *testing.T, ctx context.Context, heading string, fields map[string]string) {
	t.Helper()
	sec := flowSection(heading)
	steps := []chromedp.Action[chromedp.Void]{
		click(chromedp.CSS(`.auth-wrapper button.authorize`)),
		chromedp.WaitVisible(sec),
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			if !yield(k) {
				return
			}
		}
	}) {
		steps = append(steps, chromedp.SendKeys(sec+k, fields[k]))
	}
	steps = append(steps, click(sec+`//button[contains(@class,"authorize")]`))
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("Authorize %s: %v", heading, err)
	}
}

// authorized waits for the section's Logout button and closes the dialog.
func authorized(t *testing.T, ctx context.Context, heading string) {
	t.Helper()
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(wait,
		chromedp.WaitVisible(flowSection(heading)+`//button[normalize-space(.)="Logout"]`),
	); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({authorized: window.ui.authSelectors.authorized().toJS(), errors: window.ui.errSelectors.allErrors().toJS()})`))
		t.Fatalf("%s: not authorized: %v\nSwagger UI state: %s", heading, err, state)
	}
	if err := chromedp.Do(ctx, click(chromedp.CSS(`.modal-ux button.btn-done`)), chromedp.WaitNotPresent(chromedp.CSS(`.modal-ux`))); err != nil {
		t.Fatalf("closing the dialog: %v", err)
	}
}

// tryItOut runs the operation GET path with "Try it out" and "Execute" and
// returns the status Swagger UI shows.
func tryItOut(t *testing.T, ctx context.Context, path string) string {
	t.Helper()
	op := fmt.Sprintf(`//div[contains(concat(" ", @class, " "), " opblock ")][.//span[@data-path=%q]]`, path)
	cell := op + `//table[contains(@class,"live-responses-table")]//tr[contains(concat(" ", @class, " "), " response ")]/td[contains(@class,"response-col_status")]`
	if err := chromedp.Do(ctx,
		click(op+`//button[contains(@class,"opblock-summary-control")]`),
		click(op+`//button[contains(@class,"try-out__btn")]`),
		click(op+`//button[contains(@class,"execute")]`),
		chromedp.WaitVisible(cell),
	); err != nil {
		t.Fatalf("Try it out on GET %s: %v", path, err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(cell))
	if err != nil {
		t.Fatalf("Try it out on GET %s: %v", path, err)
	}
	return strings.TrimSpace(status)
}

// TestSwaggerUIAuthorize drives the example's /docs in headless Chromium as
// a FastAPI user would: "Authorize" with each of its schemes, then "Try it
// out" on a guarded route.
func TestSwaggerUIAuthorize(t *testing.T) {
	chromium := chromiumPath(t)
	assets := swaggerUIDist(t)
	api := startExample(t, "http://localhost:3000", "DOCS_ASSETS_URL="+assets)
	password := "OAuth2 (OAuth2, password)"

	t.Run("password flow alice, GET /protected", func(t *testing.T) {
		t.Logf("docs at %s/docs", api)
		ctx := swaggerBrowser(t, chromium, api)
		authorize(t, ctx, password, map[string]string{`//input[@id="oauth_username"]`: "alice", `//input[@id="oauth_password"]`: "wonderland"})
		authorized(t, ctx, password)
		if got := tryItOut(t, ctx, "/protected"); got != "200" {
			t.Errorf("GET /protected as alice: got %s, want 200", got)
		}
	})
	t.Run("password flow bob, GET /admin", func(t *testing.T) {
		ctx := swaggerBrowser(t, chromium, api)
		authorize(t, ctx, password, map[string]string{`//input[@id="oauth_username"]`: "bob", `//input[@id="oauth_password"]`: "builder"})
		authorized(t, ctx, password)
		if got := tryItOut(t, ctx, "/admin"); got != "403" {
			t.Errorf("GET /admin as bob: got %s, want 403", got)
		}
	})
	t.Run("API key, GET /secure", func(t *testing.T) {
		ctx := swaggerBrowser(t, chromium, api)
		authorize(t, ctx, "APIKeyHeader", map[string]string{`//input`: "browser-test-key"})
		authorized(t, ctx, "APIKeyHeader")
		if got := tryItOut(t, ctx, "/secure"); got != "200" {
			t.Errorf("GET /secure with the API key: got %s, want 200", got)
		}
	})
	t.Run("authorization code with PKCE, GET /protected", func(t *testing.T) {
		ctx := swaggerBrowser(t, chromium, api)
		code := "OAuth2 (OAuth2, authorizationCode with PKCE)"
		popup := chromedp.WaitNewTarget(ctx, func(*target.Info) bool { return true })
		authorize(t, ctx, code, map[string]string{`//input[@id="client_id_authorizationCode"]`: "docs"})
		var id target.ID
		select {
		case id = <-popup:
		case <-time.After(20 * time.Second):
			t.Fatal("Swagger UI opened no login window")
		}
		login, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		defer cancel()
		if err := chromedp.Do(login,
			chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "alice"),
			chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "wonderland"),
		); err != nil {
			t.Fatalf("the login window: %v", err)
		}
		// The window posts, goes to oauth2-redirect.html and closes itself.
		_ = chromedp.Do(login, click(chromedp.CSS(`button[type="submit"]`)))
		authorized(t, ctx, code)
		if got := tryItOut(t, ctx, "/protected"); got != "200" {
			t.Errorf("GET /protected after the code flow: got %s, want 200", got)
		}
	})
}

// TestOpenAPIConsistency checks every operation of the example's document
// against the server: declared security (without an empty requirement)
// means a request without credentials is refused with 401, none means it is
// not; a token lacking a declared role or scope gets 403, one holding them
// does not.
func TestOpenAPIConsistency(t *testing.T) {
	api := startExample(t, "http://localhost:3000")
	checkDocumentEnforced(t, api, map[string]string{
		"alice": token(t, api, "alice", "wonderland"),
		"bob":   token(t, api, "bob", "builder"),
	}, map[string][]string{"alice": {"admin"}, "bob": {"user"}}, map[string][]string{"alice": {"read"}, "bob": {"read"}})
}

func token(t *testing.T, api, user, password string) string {
	t.Helper()
	resp, err := http.PostForm(api+"/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("login %s: status %d, %v", user, resp.StatusCode, err)
	}
	return tok.AccessToken
}

// checkDocumentEnforced reads api's /openapi.json and checks every
// operation: without credentials, 401 exactly where the document requires
// credentials; with each user's bearer token, 403 exactly where the
// operation accepts the bearer scheme and the user lacks a declared role
// (x-guard-roles) or scope.
func checkDocumentEnforced(t *testing.T, api string, tokens map[string]string, roles, scopes map[string][]string) {
	t.Helper()
	resp, err := http.Get(api + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
			Roles    []string              `json:"x-guard-roles"`
		}
		Components struct {
			SecuritySchemes map[string]struct{ Type, Scheme string } `json:"securitySchemes"`
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Paths) == 0 {
		t.Fatalf("GET /openapi.json: %v\n%s", err, raw)
	}
	do := func(method, path, bearer string) int {
		req, _ := http.NewRequest(strings.ToUpper(method), api+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			open := len(op.Security) == 0
			bearerScheme := false
			var needScopes []string
			for _, req := range op.Security {
				open = open || len(req) == 0
				for name, s := range req {
					if typ := doc.Components.SecuritySchemes[name].Type; typ == "oauth2" || typ == "openIdConnect" || doc.Components.SecuritySchemes[name].Scheme == "bearer" {
						bearerScheme = true
						needScopes = s
					}
				}
			}
			if got := do(method, path, ""); (got == http.StatusUnauthorized) == open {
				t.Errorf("%s %s without credentials: got %d, document says open=%v", method, path, got, open)
			}
			if !bearerScheme {
				continue
			}
			for user, tok := range tokens {
				lacks := len(op.Roles) > 0 && !slices.ContainsFunc(op.Roles, func(r string) bool { return slices.Contains(roles[user], r) })
				for _, s := range needScopes {
					lacks = lacks || !slices.Contains(scopes[user], s)
				}
				if got := do(method, path, tok); (got == http.StatusForbidden) != lacks || got == http.StatusUnauthorized {
					t.Errorf("%s %s as %s: got %d, document says forbidden=%v", method, path, user, got, lacks)
				}
			}
		}
	}
}
