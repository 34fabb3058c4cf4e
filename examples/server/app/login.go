package app

import (
	"errors"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

// loginForm is the example's login page for the authorization code flow. An
// empty action posts the form back to the same URL, query string included,
// which is where the AuthorizeEndpoint wants it.
var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Sign in</title>
<h1>Sign in to {{.ClientID}}</h1>
<p>{{.ClientID}} asks for: {{range .Scopes}}<code>{{.}}</code> {{else}}no scopes{{end}}</p>
{{with .Message}}<p role="alert">{{.}}</p>{{end}}
<form method="post" action="">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</html>
`))

// loginPage is the app's login screen: AuthorizeEndpointConfig.Login. A GET
// shows the form; a POST checks the password with the token endpoint's
// Login (the same user store, throttling counters, timing and audit as
// POST /token) and, when it matches, approves the request. Every failed
// check re-renders the form with one generic message, so the page does not
// tell which usernames exist.
type loginPage struct {
	login     *authserver.TokenEndpoint
	authorize *authserver.AuthorizeEndpoint
	log       *slog.Logger
}

func (p *loginPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ar, ok := authserver.AuthorizationRequestFrom(r.Context())
	if !ok { // only the AuthorizeEndpoint calls this handler
		http.Error(w, "no authorization request", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost {
		p.render(w, ar, http.StatusOK, "")
		return
	}
	// The AuthorizeEndpoint has parsed (and bounded) the form.
	u, err := p.login.Login(r, r.PostForm.Get("username"), r.PostForm.Get("password"))
	switch {
	case err == nil:
	case errors.Is(err, guard.ErrThrottled):
		setRetryAfter(w, err)
		p.render(w, ar, http.StatusTooManyRequests, "Too many attempts; try again later.")
		return
	case errors.Is(err, guard.ErrInvalidGrant):
		p.render(w, ar, http.StatusUnauthorized, "Wrong username or password.")
		return
	case errors.Is(err, guard.ErrInvalidRequest): // plain HTTP from another host
		p.render(w, ar, http.StatusBadRequest, "Sign in over HTTPS.")
		return
	default: // the user store, a limiter or the hashing pool: 503
		setRetryAfter(w, err)
		p.render(w, ar, http.StatusServiceUnavailable, "Sign-in is unavailable; try again later.")
		return
	}
	if err := p.authorize.Approve(w, r, u.Username); err != nil {
		p.log.Error("approve", "error", err)
		p.render(w, ar, http.StatusServiceUnavailable, "Sign-in is unavailable; try again later.")
	}
}

// setRetryAfter copies the wait of a throttled or unavailable Login into
// the Retry-After header, in whole seconds rounded up.
func setRetryAfter(w http.ResponseWriter, err error) {
	if e := guard.ErrorOf(err); e != nil && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
}

func (p *loginPage) render(w http.ResponseWriter, ar *authserver.AuthorizationRequest, status int, message string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No scripts, styles or frames: the page is a plain form, and no other
	// site may frame it to trick a user into signing in. No form-action:
	// browsers apply it to the redirect to the client after the post.
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = loginForm.Execute(w, struct {
		ClientID string
		Scopes   []string
		Message  string
	}{ar.ClientID, ar.Scopes, message})
}
