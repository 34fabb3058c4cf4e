package app

import (
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/guardkit/guard"
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
// shows the form; a POST checks the password and, when it matches, approves
// the request. Every failure re-renders the form with one generic message,
// so the page does not tell which usernames exist.
type loginPage struct {
	hasher    *guard.PasswordHasher
	users     users
	limiter   guard.LoginLimiter // per username and client IP
	authorize *guard.AuthorizeEndpoint
	log       *slog.Logger
}

func (p *loginPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ar, ok := guard.AuthorizationRequestFrom(r.Context())
	if !ok { // only the AuthorizeEndpoint calls this handler
		http.Error(w, "no authorization request", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost {
		p.render(w, ar, http.StatusOK, "")
		return
	}
	// The AuthorizeEndpoint has parsed (and bounded) the form.
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	key := "authorize-login:" + strconv.Quote(username) + "@" + ip
	res, err := p.limiter.Reserve(r.Context(), key)
	switch {
	case err != nil:
		p.log.Error("login limiter", "error", err)
		p.render(w, ar, http.StatusServiceUnavailable, "Sign-in is unavailable; try again later.")
		return
	case res.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(res.RetryAfter.Seconds()+0.999)))
		p.render(w, ar, http.StatusTooManyRequests, "Too many attempts; try again later.")
		return
	}
	if err := p.check(r, username, password); err != nil {
		if errors.Is(err, guard.ErrBusy) {
			_ = p.limiter.Refund(r.Context(), key)
			p.render(w, ar, http.StatusServiceUnavailable, "Sign-in is busy; try again.")
			return
		}
		p.log.Info("authorize login failed", "username", username, "ip", ip, "client_id", ar.ClientID)
		p.render(w, ar, http.StatusUnauthorized, "Wrong username or password.")
		return
	}
	_ = p.limiter.Succeed(r.Context(), key)
	if err := p.authorize.Approve(w, r, username); err != nil {
		p.log.Error("approve", "error", err)
		p.render(w, ar, http.StatusServiceUnavailable, "Sign-in is unavailable; try again later.")
	}
}

// check verifies the password, doing a hash's work for unknown users too.
func (p *loginPage) check(r *http.Request, username, password string) error {
	u, ok := p.users[username]
	if !ok || u.Disabled || username == "" {
		return p.hasher.VerifyDummy(r.Context(), password)
	}
	_, err := p.hasher.Verify(r.Context(), password, u.PasswordHash)
	return err
}

func (p *loginPage) render(w http.ResponseWriter, ar *guard.AuthorizationRequest, status int, message string) {
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
