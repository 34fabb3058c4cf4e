package authserver

import (
	"errors"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/guardkit/guard"
)

// LoginPageConfig configures [NewLoginPage]. The config is copied.
type LoginPageConfig struct {
	// Tokens checks passwords with [TokenEndpoint.Login]: the same user
	// store, throttling counters, timing and audit as POST /token. Required.
	Tokens *TokenEndpoint
	// Template renders the page, executed with a [LoginPageData]. Its form
	// posts back to the same URL (action="", query string included) with
	// the fields username and password. Default [DefaultLoginTemplate].
	Template *template.Template
	// The messages shown when a sign-in fails. Defaults: "Wrong username or
	// password.", "Too many attempts; try again later.", "Sign in over
	// HTTPS." and "Sign-in is unavailable; try again later."
	WrongCredentials, Throttled, InsecureTransport, Unavailable string
	// Logger receives the errors of approving a request. Default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultLoginTemplate is the page a [LoginPage] shows when its config
// names no Template: the client, the scopes asked for, the message of a
// failed attempt, and a form with username and password that posts back to
// the same URL. It has no styles or scripts (the page's headers forbid
// them); an app with a look of its own passes its own template.
var DefaultLoginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Sign in</title>
<h1>Sign in to {{.ClientID}}</h1>
{{with .ClientName}}<p>The client calls itself “{{.}}”.</p>{{end}}
<p>{{.ClientID}} asks for: {{range .Scopes}}<code>{{.}}</code> {{else}}no scopes{{end}}</p>
{{with .Message}}<p role="alert">{{.}}</p>{{end}}
<form method="post" action="">
<label>Username <input name="username" autocomplete="username" value="{{.Username}}" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</html>
`))

// LoginPageData is what a [LoginPage] executes its Template with.
type LoginPageData struct {
	// Request is the authorization request being signed in for.
	Request *AuthorizationRequest
	// ClientID, ClientName and Scopes are the request's, for the page's
	// text. ClientName is "" for a client without a Name; a registered
	// client chose its own (show it as its claim, beside the client_id).
	ClientID   string
	ClientName string
	Scopes     []string
	// Username is what the user typed, for the form shown again after a
	// failure; "" on the first view.
	Username string
	// Message is the reason the previous attempt failed; "" on the first view.
	Message string
}

// LoginPage is a login page for the authorization code flow, to set as
// AuthorizeEndpointConfig.Login: an app supplies only its HTML. A GET shows
// the form. A POST checks the password with [TokenEndpoint.Login] and, when
// it matches, approves the request (the browser goes back to the client
// with a code); otherwise the form is shown again with one message:
// 401 for wrong credentials (one message for every reason, so the page
// does not tell which usernames exist), 429 with Retry-After when
// throttled, 400 for plain HTTP from another host, 503 with Retry-After
// when a store or the hashing pool fails. Every page carries
// Cache-Control: no-store and headers that forbid scripts, styles, frames
// and referrers. It is safe for concurrent use.
type LoginPage struct {
	cfg LoginPageConfig
}

// NewLoginPage checks cfg and returns the page.
func NewLoginPage(cfg LoginPageConfig) (*LoginPage, error) {
	var errs []error
	if cfg.Tokens == nil {
		errs = append(errs, errors.New("guard: LoginPageConfig.Tokens is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, m := range []struct {
		p   *string
		def string
	}{
		{&cfg.WrongCredentials, "Wrong username or password."},
		{&cfg.Throttled, "Too many attempts; try again later."},
		{&cfg.InsecureTransport, "Sign in over HTTPS."},
		{&cfg.Unavailable, "Sign-in is unavailable; try again later."},
	} {
		if *m.p == "" {
			*m.p = m.def
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Template == nil {
		cfg.Template = DefaultLoginTemplate
	}
	return &LoginPage{cfg: cfg}, nil
}

func (p *LoginPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ar, ok := AuthorizationRequestFrom(r.Context())
	az, _ := r.Context().Value(authorizeEndpointKey{}).(*AuthorizeEndpoint)
	if !ok || az == nil || p == nil || p.cfg.Tokens == nil {
		// Only an AuthorizeEndpoint calls this handler.
		http.Error(w, "no authorization request", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost {
		p.render(w, ar, http.StatusOK, "", "")
		return
	}
	// The AuthorizeEndpoint has parsed (and bounded) the form.
	username := r.PostForm.Get("username")
	u, err := p.cfg.Tokens.Login(r, username, r.PostForm.Get("password"))
	switch {
	case err == nil:
	case errors.Is(err, guard.ErrThrottled):
		setRetryAfter(w, err)
		p.render(w, ar, http.StatusTooManyRequests, username, p.cfg.Throttled)
		return
	case errors.Is(err, guard.ErrInvalidGrant):
		p.render(w, ar, http.StatusUnauthorized, username, p.cfg.WrongCredentials)
		return
	case errors.Is(err, guard.ErrInvalidRequest): // plain HTTP from another host
		p.render(w, ar, http.StatusBadRequest, username, p.cfg.InsecureTransport)
		return
	default: // the user store, a limiter or the hashing pool
		setRetryAfter(w, err)
		p.render(w, ar, http.StatusServiceUnavailable, username, p.cfg.Unavailable)
		return
	}
	if err := az.Approve(w, r, u.Username); err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "guard: login page: approving the authorization request", "error", err)
		w.Header().Set("Retry-After", "5")
		p.render(w, ar, http.StatusServiceUnavailable, username, p.cfg.Unavailable)
	}
}

// setRetryAfter copies the wait of a throttled or unavailable Login into
// the Retry-After header, in whole seconds rounded up.
func setRetryAfter(w http.ResponseWriter, err error) {
	if e := guard.ErrorOf(err); e != nil && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
}

func (p *LoginPage) render(w http.ResponseWriter, ar *AuthorizationRequest, status int, username, message string) {
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
	if err := p.cfg.Template.Execute(w, LoginPageData{Request: ar, ClientID: ar.ClientID, ClientName: ar.ClientName, Scopes: ar.Scopes, Username: username, Message: message}); err != nil {
		p.cfg.Logger.Error("guard: login page: template", "error", err)
	}
}
