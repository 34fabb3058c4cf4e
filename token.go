package guard

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
)

// DefaultMaxTokenRequestBytes caps the body of a token request.
const DefaultMaxTokenRequestBytes = 16 << 10

// User is what a [UserStore] knows about a user.
type User struct {
	// Subject is the token's "sub"; default the username.
	Subject string
	// PasswordHash is the stored hash in any format the [PasswordHasher] reads.
	PasswordHash Secret
	// Roles and Scopes are granted to the user; Scopes bounds what a token
	// request may ask for.
	Roles  []string
	Scopes []string
	// Disabled users cannot log in; they get the same answer as a wrong password.
	Disabled bool
}

// UserStore looks users up by username for the password grant. It returns an
// error matching [ErrNotFound] for an unknown user; any other error is a 500.
type UserStore interface {
	LookupUser(ctx context.Context, username string) (User, error)
}

// PasswordHashUpdater is optionally implemented by a [UserStore]: after a
// successful login whose hash needs an upgrade (another scheme, or weaker
// parameters than the policy), the endpoint stores the new hash with it.
type PasswordHashUpdater interface {
	UpdatePasswordHash(ctx context.Context, username string, newHash Secret) error
}

// Client is an OAuth2 client registered with a hashed secret.
type Client struct {
	// SecretHash is the client secret hashed with the [PasswordHasher].
	SecretHash Secret
	// Grants the client may use: "client_credentials", "password". Empty means
	// client_credentials only.
	Grants []string
	// Roles and Scopes granted to client_credentials tokens; Scopes bounds
	// what the client may request.
	Roles  []string
	Scopes []string
	// Disabled clients fail authentication.
	Disabled bool
}

// ClientStore looks clients up by client_id. It returns an error matching
// [ErrNotFound] for an unknown client.
type ClientStore interface {
	LookupClient(ctx context.Context, clientID string) (Client, error)
}

// TokenEndpointConfig configures a [TokenEndpoint]. The zero value issues
// nothing: a grant works only when its store is set (and, for the password
// grant, EnablePasswordGrant).
type TokenEndpointConfig struct {
	// Issuer mints the access tokens. Required.
	Issuer *TokenIssuer
	// Hasher verifies passwords and client secrets. Required.
	Hasher *PasswordHasher

	// Users enables the password grant together with EnablePasswordGrant.
	Users UserStore
	// EnablePasswordGrant turns on grant_type=password (RFC 6749 §4.3), which
	// RFC 9700 §2.4 deprecates; enable it for first-party clients and
	// migrations from a FastAPI OAuth2PasswordBearer app. Default false.
	EnablePasswordGrant bool
	// Clients enables grant_type=client_credentials (RFC 6749 §4.4) and client
	// authentication for the password grant.
	Clients ClientStore

	// MaxBodyBytes caps the request body. Default [DefaultMaxTokenRequestBytes]; over it: 413.
	MaxBodyBytes int64
	// Limiter counts failed attempts per username and per client_id.
	// Default: [NewMemoryLimiter] with its defaults (throttling after 5 failures).
	Limiter LoginLimiter
	// IPLimiter counts failed attempts per client IP, whatever the username.
	// Default: [NewMemoryLimiter] with Threshold 20.
	IPLimiter LoginLimiter
	// TrustedProxies are the peers whose X-Forwarded-For and X-Forwarded-Proto
	// are believed. Default none: the client IP is the TCP peer.
	TrustedProxies []netip.Prefix
	// DangerouslyAllowInsecureHTTP accepts requests over plain HTTP from
	// non-loopback peers, sending passwords in the clear. Default false: such
	// requests get 400 invalid_request.
	DangerouslyAllowInsecureHTTP bool
	// Realm of the Basic challenge sent with invalid_client. Default [DefaultRealm].
	Realm string
	// Logger receives one line per failed or throttled attempt (username,
	// client, IP, reason; never a secret). Default: no logging.
	Logger *slog.Logger
	// ErrorWriter writes failures. Default [WriteError].
	ErrorWriter ErrorWriter
}

// TokenEndpoint is the OAuth2 token endpoint (RFC 6749 §3.2), an
// [http.Handler] to mount at POST /token. It is safe for concurrent use.
//
// Answers: 200 {"access_token","token_type":"Bearer","expires_in"[,"scope"]}
// with Cache-Control: no-store; 400 invalid_request, invalid_grant,
// invalid_scope, unauthorized_client or unsupported_grant_type; 401
// invalid_client (with a Basic challenge when Basic was used); 405 for
// methods other than POST; 413 over the body cap; 429 with Retry-After when
// throttled; 503 with Retry-After when the hashing pool is saturated; 500 when
// a store fails.
type TokenEndpoint struct {
	cfg        TokenEndpointConfig
	hasher     passwordHasher
	limiter    LoginLimiter
	ipLimiter  LoginLimiter
	writeError ErrorWriter
	basic      []string
}

// NewTokenEndpoint validates cfg.
func NewTokenEndpoint(cfg TokenEndpointConfig) (*TokenEndpoint, error) {
	var errs []error
	if cfg.Issuer == nil {
		errs = append(errs, errors.New("guard: TokenEndpointConfig.Issuer is nil"))
	}
	if cfg.Hasher == nil {
		errs = append(errs, errors.New("guard: TokenEndpointConfig.Hasher is nil"))
	}
	if cfg.EnablePasswordGrant && cfg.Users == nil {
		errs = append(errs, errors.New("guard: EnablePasswordGrant needs Users"))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("guard: MaxBodyBytes is negative"))
	}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("guard: invalid trusted proxy prefix %v", p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.TrustedProxies = slices.Clone(cfg.TrustedProxies)
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxTokenRequestBytes
	}
	realm := cfg.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	var b strings.Builder
	b.WriteString(`Basic realm="`)
	writeQuotedSafe(&b, realm)
	b.WriteString(`", charset="UTF-8"`)
	e := &TokenEndpoint{cfg: cfg, hasher: cfg.Hasher, limiter: cfg.Limiter, writeError: writerOrDefault(cfg.ErrorWriter), basic: []string{b.String()}}
	if e.limiter == nil {
		e.limiter = NewMemoryLimiter(MemoryLimiterConfig{})
	}
	e.ipLimiter = cfg.IPLimiter
	if e.ipLimiter == nil {
		e.ipLimiter = NewMemoryLimiter(MemoryLimiterConfig{Threshold: 20})
	}
	return e, nil
}

// passwordHasher is the part of [*PasswordHasher] the endpoint uses; tests
// wrap it to count the hashing work of each path.
type passwordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (needsRehash bool, err error)
	VerifyDummy(ctx context.Context, password string) error
}

// tokenError builds the RFC 6749 §5.2 error.
func tokenError(status int, code, desc string, cause error) *Error {
	return prerender(&Error{Status: status, Code: code, Description: desc, Err: cause})
}

var (
	errTokenMethod     = tokenError(http.StatusMethodNotAllowed, "invalid_request", "POST required", nil)
	errTokenTLS        = tokenError(http.StatusBadRequest, "invalid_request", "TLS required", nil)
	errTokenType       = tokenError(http.StatusBadRequest, "invalid_request", "body must be application/x-www-form-urlencoded", nil)
	errTokenTooBig     = tokenError(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large", nil)
	errTokenForm       = tokenError(http.StatusBadRequest, "invalid_request", "malformed form body", nil)
	errTokenRepeated   = tokenError(http.StatusBadRequest, "invalid_request", "repeated parameter", nil)
	errTokenEmpty      = tokenError(http.StatusBadRequest, "invalid_request", "empty parameter", nil)
	errTokenQuery      = tokenError(http.StatusBadRequest, "invalid_request", "credentials in the query string", nil)
	errTokenNoGrant    = tokenError(http.StatusBadRequest, "invalid_request", "grant_type required", nil)
	errTokenMissing    = tokenError(http.StatusBadRequest, "invalid_request", "username and password required", nil)
	errTokenTwoAuth    = tokenError(http.StatusBadRequest, "invalid_request", "more than one client authentication method", nil)
	errTokenBasic      = tokenError(http.StatusBadRequest, "invalid_request", "malformed Basic credentials", nil)
	errTokenClientID   = tokenError(http.StatusBadRequest, "invalid_request", "client_secret without client_id", nil)
	errTokenGrant      = tokenError(http.StatusBadRequest, "unsupported_grant_type", "grant type not supported", ErrUnsupportedGrantType)
	errTokenBadLogin   = tokenError(http.StatusBadRequest, "invalid_grant", "invalid username or password", ErrInvalidGrant)
	errTokenScope      = tokenError(http.StatusBadRequest, "invalid_scope", "requested scope not allowed", ErrInvalidScope)
	errTokenClientNA   = tokenError(http.StatusBadRequest, "unauthorized_client", "client not allowed this grant", ErrUnauthorizedClient)
	errTokenServer     = tokenError(http.StatusInternalServerError, "server_error", "", nil)
	errTokenThrottled  = tokenError(http.StatusTooManyRequests, "invalid_request", "too many failed attempts; retry later", ErrThrottled)
	errTokenBusy       = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "server busy; retry later", RetryAfter: time.Second, Err: ErrBusy}
	queryCredentialKey = []string{"password", "client_secret", "client_assertion", "refresh_token", "code"}
)

// ServeHTTP implements [http.Handler].
func (e *TokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, err := e.serve(w, r)
	// Token responses, errors included, carry Pragma: no-cache besides the
	// writer's Cache-Control: no-store (RFC 6749 §5.1, and §5.2's example).
	w.Header().Set("Pragma", "no-cache")
	if err != nil {
		if err == errTokenMethod {
			w.Header().Set("Allow", http.MethodPost)
		}
		// Only the endpoint's own *Error values reach the wire; anything else
		// (a store, limiter or issuer failure, even one wrapping an *Error)
		// is a 500 whose cause goes to the log and the ErrorWriter, never the body.
		werr, ok := err.(*Error)
		if !ok {
			e.logError(r.Context(), "token endpoint failure", "error", err)
			werr = &Error{Status: errTokenServer.Status, Code: errTokenServer.Code, Err: err}
		}
		e.writeError(w, r, werr)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	body, _ := json.Marshal(tok)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitzero"`
}

// tokenRequest holds the parsed form.
type tokenRequest struct {
	form         map[string]string
	clientID     string
	clientSecret Secret
	basic        bool // client authenticated with HTTP Basic
	hasClient    bool
	ip           string // client IP, for logs
	ipKey        string // limiter key of the client IP ("ip:" + address or IPv6 /64)
}

func (e *TokenEndpoint) serve(w http.ResponseWriter, r *http.Request) (*tokenResponse, error) {
	if r.Method != http.MethodPost {
		return nil, errTokenMethod
	}
	if !e.secureTransport(r) {
		return nil, errTokenTLS
	}
	if ct := r.Header.Get("Content-Type"); ct == "" {
		return nil, errTokenType
	} else if mt, params, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return nil, errTokenType
	}
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, errTokenForm
		}
		for _, k := range queryCredentialKey {
			if q.Has(k) {
				return nil, errTokenQuery
			}
		}
	}
	req, err := e.readForm(w, r)
	if err != nil {
		return nil, err
	}
	if err := e.clientAuth(r, req); err != nil {
		return nil, err
	}
	switch req.form["grant_type"] {
	case "":
		return nil, errTokenNoGrant
	case "password":
		if e.cfg.EnablePasswordGrant {
			return e.passwordGrant(r.Context(), req)
		}
	case "client_credentials":
		if e.cfg.Clients != nil {
			return e.clientGrant(r.Context(), req)
		}
	}
	return nil, errTokenGrant
}

// readForm reads the capped body and applies RFC 6749 §3.2's parameter rules:
// no repeats, no empty values, valid UTF-8.
func (e *TokenEndpoint) readForm(w http.ResponseWriter, r *http.Request) (*tokenRequest, error) {
	if r.ContentLength > e.cfg.MaxBodyBytes {
		return nil, errTokenTooBig
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errTokenTooBig
		}
		return nil, errTokenForm
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errTokenForm
	}
	ip := e.clientIP(r)
	req := &tokenRequest{form: make(map[string]string, len(values)), ip: ip, ipKey: limiterIPKey(ip)}
	// The checks are ranked so that the answer does not depend on map order.
	var ferr *Error
	for k, vs := range values {
		switch {
		case len(vs) > 1:
			ferr = errTokenRepeated
		case !utf8.ValidString(k) || !utf8.ValidString(vs[0]):
			if ferr != errTokenRepeated {
				ferr = errTokenForm
			}
		case vs[0] == "":
			if ferr == nil {
				ferr = errTokenEmpty
			}
		default:
			req.form[k] = vs[0]
		}
	}
	if ferr != nil {
		return nil, ferr
	}
	return req, nil
}

// clientAuth extracts client credentials: HTTP Basic with form-encoded id and
// secret (RFC 6749 §2.3.1), or client_id/client_secret in the body, not both.
func (e *TokenEndpoint) clientAuth(r *http.Request, req *tokenRequest) error {
	auth := r.Header.Values("Authorization")
	bodyID, hasBodyID := req.form["client_id"]
	bodySecret, hasBodySecret := req.form["client_secret"]
	switch {
	case len(auth) > 1:
		return errTokenTwoAuth
	case len(auth) == 1:
		if hasBodyID || hasBodySecret {
			return errTokenTwoAuth
		}
		scheme, cred, ok := strings.Cut(auth[0], " ")
		if !ok || !strings.EqualFold(scheme, "Basic") {
			return errTokenBasic
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimLeft(cred, " "))
		if err != nil {
			return errTokenBasic
		}
		id, secret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return errTokenBasic
		}
		if id, err = url.QueryUnescape(id); err != nil {
			return errTokenBasic
		}
		if secret, err = url.QueryUnescape(secret); err != nil {
			return errTokenBasic
		}
		if id == "" && secret == "" {
			// golang.org/x/oauth2 with AuthStyleInHeader and no ClientID
			// (a public client, FastAPI style) sends "Basic Og==": no client.
			return nil
		}
		if id == "" || !utf8.ValidString(id) || !utf8.ValidString(secret) {
			return errTokenBasic
		}
		req.clientID, req.clientSecret, req.basic, req.hasClient = id, Secret(secret), true, true
	case hasBodySecret && !hasBodyID:
		return errTokenClientID
	case hasBodyID:
		req.clientID, req.clientSecret, req.hasClient = bodyID, Secret(bodySecret), true
	}
	return nil
}

func (e *TokenEndpoint) invalidClient(req *tokenRequest) *Error {
	err := &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed", Err: ErrInvalidClient}
	if req.basic || !req.hasClient {
		err.Challenges = e.basic
	}
	return err
}

// authenticateClient checks the client's secret. A public client (client_id
// without a secret) is accepted only for the password grant when no
// ClientStore is configured, as FastAPI's OAuth2PasswordRequestForm does.
func (e *TokenEndpoint) authenticateClient(ctx context.Context, req *tokenRequest, grant string) (*Client, error) {
	if e.cfg.Clients == nil {
		if req.clientSecret != "" || req.basic {
			return nil, e.invalidClient(req)
		}
		return nil, nil
	}
	if !req.hasClient || req.clientSecret == "" {
		if grant == "password" && !req.hasClient {
			return nil, nil
		}
		return nil, e.invalidClient(req)
	}
	key := "client:" + req.clientID
	if err := e.throttled(ctx, key, req.ipKey); err != nil {
		e.log(ctx, "token request throttled", "client_id", req.clientID, "ip", req.ip)
		return nil, err
	}
	c, err := e.cfg.Clients.LookupClient(ctx, req.clientID)
	var verr error
	switch {
	case errors.Is(err, ErrNotFound):
		verr = e.hasher.VerifyDummy(ctx, string(req.clientSecret))
	case err != nil:
		return nil, fmt.Errorf("guard: client store: %w", err)
	default:
		_, verr = e.hasher.Verify(ctx, string(req.clientSecret), string(c.SecretHash))
		if verr == nil && c.Disabled {
			verr = ErrPasswordMismatch
		}
	}
	if errors.Is(verr, ErrBusy) {
		return nil, errTokenBusy
	}
	if err != nil || verr != nil {
		e.fail(ctx, key, req.ipKey)
		e.log(ctx, "client authentication failed", "client_id", req.clientID, "ip", req.ip)
		return nil, e.invalidClient(req)
	}
	e.reset(ctx, key)
	grants := c.Grants
	if len(grants) == 0 {
		grants = []string{"client_credentials"}
	}
	if !slices.Contains(grants, grant) {
		return nil, errTokenClientNA
	}
	return &c, nil
}

func (e *TokenEndpoint) passwordGrant(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	username, password := req.form["username"], Secret(req.form["password"])
	if username == "" || password == "" {
		return nil, errTokenMissing
	}
	requested, err := parseScope(req.form["scope"])
	if err != nil {
		return nil, err
	}
	client, err := e.authenticateClient(ctx, req, "password")
	if err != nil {
		return nil, err
	}
	userKey, ipKey := "user:"+username, req.ipKey
	if err := e.throttled(ctx, userKey, ipKey); err != nil {
		e.log(ctx, "login throttled", "username", username, "ip", req.ip)
		return nil, err
	}
	u, err := e.cfg.Users.LookupUser(ctx, username)
	var (
		verr        error
		needsRehash bool
	)
	switch {
	case errors.Is(err, ErrNotFound):
		verr = e.hasher.VerifyDummy(ctx, string(password))
	case err != nil:
		return nil, fmt.Errorf("guard: user store: %w", err)
	default:
		needsRehash, verr = e.hasher.Verify(ctx, string(password), string(u.PasswordHash))
		if verr == nil && u.Disabled {
			verr = ErrPasswordMismatch
		}
	}
	if errors.Is(verr, ErrBusy) {
		return nil, errTokenBusy
	}
	if err != nil || verr != nil {
		e.fail(ctx, userKey, ipKey)
		e.log(ctx, "login failed", "username", username, "ip", req.ip)
		return nil, errTokenBadLogin
	}
	e.reset(ctx, userKey)
	allowed := u.Scopes
	if client != nil {
		allowed = intersect(allowed, client.Scopes)
	}
	granted, err := grantScopes(requested, allowed)
	if err != nil {
		return nil, err
	}
	if needsRehash {
		e.rehash(ctx, username, password)
	}
	sub := u.Subject
	if sub == "" {
		sub = username
	}
	c := Claims{Subject: sub, Roles: u.Roles, Scopes: granted}
	if client != nil {
		c.ClientID = req.clientID
	}
	return e.issue(ctx, c, requested, granted)
}

func (e *TokenEndpoint) clientGrant(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	requested, err := parseScope(req.form["scope"])
	if err != nil {
		return nil, err
	}
	client, err := e.authenticateClient(ctx, req, "client_credentials")
	if err != nil {
		return nil, err
	}
	granted, err := grantScopes(requested, client.Scopes)
	if err != nil {
		return nil, err
	}
	c := Claims{Subject: req.clientID, ClientID: req.clientID, Roles: client.Roles, Scopes: granted}
	return e.issue(ctx, c, requested, granted)
}

func (e *TokenEndpoint) issue(ctx context.Context, c Claims, requested, granted []string) (*tokenResponse, error) {
	tok, err := e.cfg.Issuer.Issue(ctx, c)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(e.cfg.Issuer.TTL() / time.Second)}
	if !sameSet(requested, granted) {
		resp.Scope = strings.Join(granted, " ")
	}
	return resp, nil
}

// rehash stores an upgraded hash after a successful login. Failures are
// logged and do not fail the login.
func (e *TokenEndpoint) rehash(ctx context.Context, username string, password Secret) {
	up, ok := e.cfg.Users.(PasswordHashUpdater)
	if !ok {
		return
	}
	h, err := e.hasher.Hash(ctx, string(password))
	if err == nil {
		err = up.UpdatePasswordHash(ctx, username, Secret(h))
	}
	if err != nil {
		e.log(ctx, "password rehash failed", "username", username, "error", err)
	}
}

// throttled checks the subject key (user or client) and the client IP.
func (e *TokenEndpoint) throttled(ctx context.Context, key, ip string) error {
	d1, err1 := e.limiter.Check(ctx, key)
	d2, err2 := e.ipLimiter.Check(ctx, ip)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("guard: limiter: %w", err)
	}
	if wait := max(d1, d2); wait > 0 {
		err := *errTokenThrottled
		err.RetryAfter = wait
		return &err
	}
	return nil
}

// fail records a failed attempt; a limiter error is logged, the answer is a failure anyway.
func (e *TokenEndpoint) fail(ctx context.Context, key, ip string) {
	if err := errors.Join(e.limiter.Fail(ctx, key), e.ipLimiter.Fail(ctx, ip)); err != nil {
		e.log(ctx, "limiter failed", "error", err)
	}
}

func (e *TokenEndpoint) reset(ctx context.Context, key string) {
	if err := e.limiter.Reset(ctx, key); err != nil {
		e.log(ctx, "limiter failed", "error", err)
	}
}

func (e *TokenEndpoint) log(ctx context.Context, msg string, args ...any) {
	if e.cfg.Logger != nil {
		e.cfg.Logger.WarnContext(ctx, msg, args...)
	}
}

func (e *TokenEndpoint) logError(ctx context.Context, msg string, args ...any) {
	if e.cfg.Logger != nil {
		e.cfg.Logger.ErrorContext(ctx, msg, args...)
	}
}

// secureTransport: TLS, a loopback peer, a trusted proxy that says https, or
// the dangerous option.
func (e *TokenEndpoint) secureTransport(r *http.Request) bool {
	if r.TLS != nil || e.cfg.DangerouslyAllowInsecureHTTP {
		return true
	}
	peer, ok := peerAddr(r)
	if !ok {
		return false
	}
	if peer.IsLoopback() {
		return true
	}
	return e.trusted(peer) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// limiterIPKey is the limiter key of a client IP: the address for IPv4, the
// /64 prefix for IPv6 (one host usually holds a whole /64, so counting single
// IPv6 addresses would let it rotate past the limit).
func limiterIPKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() {
		return "ip:" + ip
	}
	p, _ := a.WithZone("").Prefix(64)
	return "ip:" + p.String()
}

func peerAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		a, err := netip.ParseAddr(host)
		return a.Unmap(), err == nil
	}
	return ap.Addr().Unmap(), true
}

func (e *TokenEndpoint) trusted(a netip.Addr) bool {
	for _, p := range e.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the TCP peer, or, when the peer is a trusted proxy, the
// rightmost X-Forwarded-For address that is not a trusted proxy.
func (e *TokenEndpoint) clientIP(r *http.Request) string {
	peer, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if !e.trusted(peer) {
		return peer.String()
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer.String()
			}
			a = a.Unmap()
			if !e.trusted(a) {
				return a.String()
			}
			peer = a
		}
	}
	return peer.String()
}

// parseScope splits a scope parameter (RFC 6749 §3.3: scope-tokens of
// NQCHAR separated by single spaces).
func parseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	list := strings.Split(s, " ")
	for _, tok := range list {
		if tok == "" {
			return nil, errTokenScope
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return nil, errTokenScope
			}
		}
	}
	return list, nil
}

// grantScopes: requested ⊆ allowed, else invalid_scope; nothing requested
// means everything allowed.
func grantScopes(requested, allowed []string) ([]string, error) {
	if len(requested) == 0 {
		return slices.Clone(allowed), nil
	}
	var granted []string
	for _, s := range requested {
		if !slices.Contains(allowed, s) {
			return nil, errTokenScope
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted, nil
}

func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}
