package authserver

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/internal/syntax"
	"github.com/guardkit/guard/internal/transport"
)

// AuthorizeEndpointConfig configures an [AuthorizeEndpoint]. It is copied by the
// constructor.
type AuthorizeEndpointConfig struct {
	// Clients are the registered clients. A client may use the flow when its
	// Grants include "authorization_code"; the redirect_uri of a request must
	// equal one of its RedirectURIs exactly (RFC 9700 §4.1.3). Required.
	Clients ClientStore
	// Codes keeps the issued codes; give the token endpoint the same store
	// (TokenEndpointConfig.AuthCodes). Required.
	Codes AuthCodeStore
	// Login is the app's login and consent page. It receives every valid
	// authorization request, with the [*AuthorizationRequest] in its context
	// ([AuthorizationRequestFrom]), and completes it with
	// [AuthorizeEndpoint.Approve] or [AuthorizeEndpoint.Deny]. Its forms
	// post back to the same URL, query string included. A page that asks
	// for a password checks it with [TokenEndpoint.Login], so guesses there
	// meet the same throttling as the password grant. Required.
	Login http.Handler
	// Issuer is the authorization server's issuer identifier, sent as "iss"
	// with every response to the client (RFC 9207). Required.
	Issuer string
	// CodeTTL is a code's lifetime. Default and maximum 60s.
	CodeTTL time.Duration
	// MaxStateBytes bounds the "state" parameter. Default 1024.
	MaxStateBytes int
	// TrustedProxies are the peers whose X-Forwarded-Proto (and
	// X-Forwarded-For) are believed, as for TokenEndpointConfig: give both
	// endpoints the same list. Default none.
	TrustedProxies []netip.Prefix
	// DangerouslyAllowInsecureHTTP accepts requests over plain HTTP from
	// non-loopback peers, so the login page's password travels in the
	// clear. Default false: such requests get the ErrorPage with 400
	// invalid_request, as RFC 6749 §3.1 requires TLS at this endpoint.
	DangerouslyAllowInsecureHTTP bool
	// ErrorPage answers the requests that must not be redirected: an
	// unknown or disabled client, a redirect_uri that is missing, repeated or
	// not registered (RFC 6749 §4.1.2.1), a cross-origin form post. Default:
	// a short text/plain page with the status.
	ErrorPage guard.ErrorWriter
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// AuthorizationRequest is a validated authorization request (RFC 6749
// §4.1.1 with PKCE), as the app's login page finds it in its context.
type AuthorizationRequest struct {
	ClientID string
	// ClientName is the client's Name, "" when it has none: a registered
	// client's own claim (RFC 7591 client_name), not a verified identity.
	ClientName  string
	RedirectURI string
	// Scopes are the scopes requested, or the client's when none were.
	Scopes []string
	// State is returned to the client unchanged.
	State         string
	CodeChallenge string
	// Resources are the resource indicators (RFC 8707) requested, each one
	// of the client's Resources; none when none were named.
	Resources []string
	// DPoPKeyThumbprint is the dpop_jkt parameter (RFC 9449 §10): the code
	// is bound to that DPoP key, and the token request must prove it. ""
	// when absent.
	DPoPKeyThumbprint string
}

type authorizationRequestKey struct{}

// authorizeEndpointKey carries the AuthorizeEndpoint that called Login, so
// that a [LoginPage] can approve without holding it.
type authorizeEndpointKey struct{}

// AuthorizationRequestFrom returns the request an [AuthorizeEndpoint] hands
// to the app's login page.
func AuthorizationRequestFrom(ctx context.Context) (*AuthorizationRequest, bool) {
	ar, ok := ctx.Value(authorizationRequestKey{}).(*AuthorizationRequest)
	return ar, ok && ar != nil
}

// AuthorizeEndpoint is the authorization endpoint of the authorization code
// flow (RFC 6749 §4.1), done as RFC 9700 says: response_type=code only,
// PKCE with S256 for every client, redirect URIs matched exactly, codes good
// once for at most a minute, the issuer named in every response (RFC 9207),
// and form posts refused across origins ([http.CrossOriginProtection]).
// Mount it at GET and POST /authorize. It is safe for concurrent use.
//
// guard never renders the app's screens: a valid request reaches
// AuthorizeEndpointConfig.Login, which calls Approve or Deny. An invalid client or
// redirect URI gets the ErrorPage and is never redirected; every other
// error is redirected to the client with error, state and iss.
type AuthorizeEndpoint struct {
	cfg       AuthorizeEndpointConfig
	csrf      *http.CrossOriginProtection
	transport *transport.Policy
}

// Authorization request parameters (RFC 6749 §4.1.1, RFC 7636 §4.3).
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "dpop_jkt"}

// authorizeFormParams may not come in a form post's body either.
var authorizeFormParams = append(slices.Clip(authorizeParams), "resource")

const grantAuthorizationCode = "authorization_code"

// NewAuthorizeEndpoint validates cfg.
func NewAuthorizeEndpoint(cfg AuthorizeEndpointConfig) (*AuthorizeEndpoint, error) {
	var errs []error
	if cfg.Clients == nil {
		errs = append(errs, errors.New("guard: AuthorizeEndpointConfig.Clients is nil"))
	}
	if cfg.Codes == nil {
		errs = append(errs, errors.New("guard: AuthorizeEndpointConfig.Codes is nil"))
	}
	if cfg.Login == nil {
		errs = append(errs, errors.New("guard: AuthorizeEndpointConfig.Login is nil: the app's login page completes each request"))
	}
	if u, err := url.Parse(cfg.Issuer); cfg.Issuer == "" || err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("guard: AuthorizeEndpointConfig.Issuer %q is not an absolute URL without query or fragment (RFC 9207)", cfg.Issuer))
	}
	if cfg.CodeTTL < 0 || cfg.CodeTTL > time.Minute {
		errs = append(errs, fmt.Errorf("guard: AuthorizeEndpointConfig.CodeTTL %v is outside (0, 1m]", cfg.CodeTTL))
	}
	if cfg.MaxStateBytes < 0 {
		errs = append(errs, errors.New("guard: AuthorizeEndpointConfig.MaxStateBytes is negative"))
	}
	tp, terrs := transport.New("authorization endpoint", "AuthorizeEndpointConfig", cfg.TrustedProxies, cfg.DangerouslyAllowInsecureHTTP, nil)
	errs = append(errs, terrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.CodeTTL = cmp.Or(cfg.CodeTTL, time.Minute)
	cfg.MaxStateBytes = cmp.Or(cfg.MaxStateBytes, 1024)
	if cfg.ErrorPage == nil {
		cfg.ErrorPage = plainErrorPage
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &AuthorizeEndpoint{cfg: cfg, csrf: http.NewCrossOriginProtection(), transport: tp}, nil
}

// plainErrorPage is the default AuthorizeEndpointConfig.ErrorPage.
func plainErrorPage(w http.ResponseWriter, _ *http.Request, err error) {
	e := guard.ErrorOf(err)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	var b strings.Builder
	b.WriteString("The authorization request was refused: ")
	syntax.WriteQuotedSafe(&b, e.Description)
	b.WriteString(".\n")
	_, _ = w.Write([]byte(b.String()))
}

func pageError(status int, code, desc string) *guard.Error {
	return &guard.Error{Status: status, Code: code, Description: desc}
}

// ServeHTTP validates an authorization request and hands it to the app's
// login page, or refuses it.
func (a *AuthorizeEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.transport.Secure(r) {
		a.cfg.ErrorPage(w, r, pageError(http.StatusBadRequest, "invalid_request", "TLS required"))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if err := a.csrf.Check(r); err != nil {
			a.cfg.ErrorPage(w, r, pageError(http.StatusForbidden, "access_denied", "cross-origin form post"))
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		a.cfg.ErrorPage(w, r, pageError(http.StatusMethodNotAllowed, "invalid_request", "method not allowed"))
		return
	}
	ar, redirectURI, err := a.parse(w, r)
	switch {
	case err != nil && redirectURI == "":
		a.cfg.ErrorPage(w, r, err)
	case err != nil:
		state := ""
		if ar != nil {
			state = ar.State
		}
		a.redirect(w, r, redirectURI, url.Values{"error": {err.Code}, "error_description": {err.Description}}, state)
	default:
		ctx := context.WithValue(context.WithValue(r.Context(), authorizationRequestKey{}, ar), authorizeEndpointKey{}, a)
		a.cfg.Login.ServeHTTP(w, r.WithContext(ctx))
	}
}

// parse validates the request. An error with redirectURI == "" must not be
// redirected; one with it set is redirected there.
func (a *AuthorizeEndpoint) parse(w http.ResponseWriter, r *http.Request) (ar *AuthorizationRequest, redirectURI string, _ *guard.Error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, "", pageError(http.StatusBadRequest, "invalid_request", "malformed query string")
	}
	if len(q["client_id"]) != 1 || q.Get("client_id") == "" || len(q.Get("client_id")) > MaxAccountNameLen {
		return nil, "", pageError(http.StatusBadRequest, "invalid_request", "exactly one client_id required")
	}
	client, err := a.cfg.Clients.LookupClient(r.Context(), q.Get("client_id"))
	switch {
	case errors.Is(err, guard.ErrNotFound) || (err == nil && client.Disabled):
		return nil, "", pageError(http.StatusBadRequest, "invalid_client", "unknown client")
	case err != nil:
		return nil, "", guard.Unavailable(fmt.Errorf("guard: client store: %w", err))
	}
	if len(q["redirect_uri"]) != 1 || !redirectRegistered(client.RedirectURIs, q.Get("redirect_uri")) {
		return nil, "", pageError(http.StatusBadRequest, "invalid_request", "redirect_uri missing or not registered for this client")
	}
	redirectURI = q.Get("redirect_uri")
	ar = &AuthorizationRequest{ClientID: q.Get("client_id"), ClientName: client.Name, RedirectURI: redirectURI, CodeChallenge: q.Get("code_challenge")}
	if s := q.Get("state"); len(s) <= a.cfg.MaxStateBytes {
		ar.State = s // an oversized state is not sent back
	}
	fail := func(code, desc string) (*AuthorizationRequest, string, *guard.Error) {
		return ar, redirectURI, pageError(http.StatusBadRequest, code, desc)
	}
	for _, p := range authorizeParams {
		if len(q[p]) > 1 {
			return fail("invalid_request", "repeated parameter "+p)
		}
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, DefaultMaxTokenRequestBytes)
		if err := r.ParseForm(); err != nil {
			return fail("invalid_request", "malformed form body")
		}
		for _, p := range authorizeFormParams {
			if r.PostForm.Has(p) {
				return fail("invalid_request", "authorization parameters belong in the query string only")
			}
		}
	}
	switch rt := q.Get("response_type"); {
	case rt == "":
		return fail("invalid_request", "response_type required")
	case rt != "code":
		// The implicit grant and hybrid responses leak tokens (RFC 9700 §2.1.2).
		return fail("unsupported_response_type", "only response_type=code is supported")
	}
	if len(q.Get("state")) > a.cfg.MaxStateBytes {
		return fail("invalid_request", "state too long")
	}
	switch m := q.Get("code_challenge_method"); {
	case q.Get("code_challenge") == "" || m == "":
		return fail("invalid_request", "PKCE required: code_challenge with code_challenge_method=S256")
	case m != "S256":
		return fail("invalid_request", "code_challenge_method must be S256")
	case !validCodeChallenge(ar.CodeChallenge):
		return fail("invalid_request", "malformed code_challenge")
	}
	if !slices.Contains(client.Grants, grantAuthorizationCode) {
		return fail("unauthorized_client", "client not allowed the authorization code grant")
	}
	scopes, serr := parseScope(q.Get("scope"))
	if serr != nil {
		return fail("invalid_scope", "malformed scope")
	}
	if ar.Scopes, serr = grantScopes(scopes, client.Scopes); serr != nil {
		return fail("invalid_scope", "requested scope not allowed")
	}
	if q.Has("dpop_jkt") && !validJKT(q.Get("dpop_jkt")) {
		return fail("invalid_request", "malformed dpop_jkt")
	}
	ar.DPoPKeyThumbprint = q.Get("dpop_jkt")
	res, rerr := parseResources(q["resource"])
	if rerr != nil {
		return fail(rerr.Code, rerr.Description)
	}
	if ar.Resources, serr = grantResources(res, client.Resources, nil); serr != nil {
		return fail("invalid_target", "resource not allowed")
	}
	return ar, redirectURI, nil
}

// Approve completes the request in r's context for the user who logged in as
// username (the account name of the token endpoint's UserStore): it stores a
// new code and redirects the user agent to the client with code, state and
// iss. The app's login page calls it after authenticating the user and, if it
// asks, getting consent. It returns an error (and writes nothing) when r
// carries no authorization request or the code cannot be stored; the app then
// answers as it sees fit.
func (a *AuthorizeEndpoint) Approve(w http.ResponseWriter, r *http.Request, username string) error {
	ar, ok := AuthorizationRequestFrom(r.Context())
	if !ok {
		return errors.New("guard: Approve needs the request the AuthorizeEndpoint handed to Login")
	}
	if username == "" {
		return errors.New("guard: Approve needs the username the user logged in as")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	code := base64.RawURLEncoding.EncodeToString(raw[:])
	rec := AuthCode{ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, CodeChallenge: ar.CodeChallenge,
		Scopes: ar.Scopes, Resources: ar.Resources, KeyThumbprint: ar.DPoPKeyThumbprint, Username: username, ExpiresAt: a.cfg.Now().Add(a.cfg.CodeTTL)}
	if err := a.cfg.Codes.SaveAuthCode(r.Context(), sha256.Sum256([]byte(code)), rec); err != nil {
		return fmt.Errorf("guard: authorization code store: %w", err)
	}
	a.redirect(w, r, ar.RedirectURI, url.Values{"code": {code}}, ar.State)
	return nil
}

// Deny redirects the user agent to the client with error=access_denied: the
// user refused consent or gave up.
func (a *AuthorizeEndpoint) Deny(w http.ResponseWriter, r *http.Request) error {
	ar, ok := AuthorizationRequestFrom(r.Context())
	if !ok {
		return errors.New("guard: Deny needs the request the AuthorizeEndpoint handed to Login")
	}
	a.redirect(w, r, ar.RedirectURI, url.Values{"error": {"access_denied"}}, ar.State)
	return nil
}

// redirect sends the user agent to the registered redirectURI with params,
// state and iss added to its query (RFC 6749 §4.1.2, RFC 9207 §2): 303 after
// a form post, so the browser follows with GET (RFC 9700 §4.12), else 302.
func (a *AuthorizeEndpoint) redirect(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, state string) {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered by the app; cannot be followed
		a.cfg.ErrorPage(w, r, pageError(http.StatusInternalServerError, "server_error", "registered redirect_uri is not a URL"))
		return
	}
	q := u.Query()
	for k, vs := range params {
		if vs[0] != "" {
			q.Set(k, vs[0])
		}
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", a.cfg.Issuer)
	u.RawQuery = q.Encode()
	h := w.Header()
	h.Set("Location", u.String())
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.WriteHeader(status)
}

// redirectRegistered reports whether uri is one of registered, byte for
// byte (RFC 9700 §4.1.3), or, for a registered loopback IP literal over
// http without a port, the same URI with any port: native apps listen on a
// port the system gives them, which RFC 8252 §7.3 asks servers to take. A
// registered loopback URI with a port (a web client served on the machine,
// such as Swagger UI) keeps its port.
func redirectRegistered(registered []string, uri string) bool {
	if slices.Contains(registered, uri) {
		return true
	}
	host, rest, _, ok := loopbackRedirect(uri)
	if !ok {
		return false
	}
	for _, r := range registered {
		if h, rr, hasPort, ok := loopbackRedirect(r); ok && !hasPort && h == host && rr == rest {
			return true
		}
	}
	return false
}

// loopbackRedirect splits "http://127.0.0.1:port/rest" or
// "http://[::1]:port/rest" (the port optional) into the host and what
// follows the authority, and says whether a port was there; ok is false
// for any other URI.
func loopbackRedirect(uri string) (host, rest string, hasPort, ok bool) {
	after, found := strings.CutPrefix(uri, "http://")
	if !found {
		return "", "", false, false
	}
	i := strings.IndexAny(after, "/?#")
	if i < 0 {
		i = len(after)
	}
	authority, rest := after[:i], after[i:]
	for _, h := range []string{"127.0.0.1", "[::1]"} {
		port, found := strings.CutPrefix(authority, h)
		if !found {
			continue
		}
		if port == "" {
			return h, rest, false, true
		}
		digits, found := strings.CutPrefix(port, ":")
		if found && len(digits) > 0 && len(digits) <= 5 && strings.Trim(digits, "0123456789") == "" {
			return h, rest, true, true
		}
	}
	return "", "", false, false
}
