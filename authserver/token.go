package authserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
	"github.com/guardkit/guard/internal/syntax"
	"github.com/guardkit/guard/internal/transport"
)

// DefaultMaxTokenRequestBytes caps the body of a token request.
const DefaultMaxTokenRequestBytes = 16 << 10

// User is what a [UserStore] knows about a user.
type User struct {
	// Username is the account's canonical name as the store holds it.
	// Throttling counts attempts, and rehashes are stored, under it, and it is
	// the default Subject. A store whose lookup folds case or trims (citext,
	// *_ci collations, LOWER()) must set it, or "Alice" and "alice" count as
	// two accounts. Default: the username as the client sent it.
	Username string
	// Subject is the token's "sub"; default Username.
	Subject string
	// PasswordHash is the stored hash in any format the [PasswordHasher] reads.
	// Empty means the account has no password (SSO only): every password
	// fails, at the cost of one hash like any other failure.
	PasswordHash guard.Secret
	// Roles and Scopes are granted to the user; Scopes bounds what a token
	// request may ask for.
	Roles  []string
	Scopes []string
	// Disabled users cannot log in; they get the same answer as a wrong password.
	Disabled bool
}

// UserStore looks users up by username for the password grant. It returns an
// error matching [ErrNotFound] for an unknown user; any other error is
// answered 503 temporarily_unavailable (the store is down: fail closed).
type UserStore interface {
	LookupUser(ctx context.Context, username string) (User, error)
}

// PasswordHashUpdater is optionally implemented by a [UserStore]: after a
// successful login whose hash needs an upgrade (another scheme, or weaker
// parameters than the policy), the endpoint stores the new hash with it.
type PasswordHashUpdater interface {
	UpdatePasswordHash(ctx context.Context, username string, newHash guard.Secret) error
}

// Client is a registered OAuth2 client (RFC 6749 §2).
type Client struct {
	// SecretHash is the client secret hashed with the [PasswordHasher]. A
	// confidential client must present the secret (HTTP Basic or the form).
	SecretHash guard.Secret
	// Public marks a client that cannot keep a secret (RFC 6749 §2.1), such as
	// a browser or mobile app: it identifies itself by client_id alone (in the
	// form, or as HTTP Basic with an empty password, as requests-oauthlib's
	// LegacyApplicationClient sends it), SecretHash is ignored, presenting a
	// secret fails, and it may not use client_credentials. Default false.
	Public bool
	// Grants the client may use: "client_credentials", "password",
	// "authorization_code" (refresh_token follows the grant that started the
	// session), and the permission [GrantIntrospection] ("introspection":
	// the client may call the introspection endpoint; a confidential client
	// only). Empty means client_credentials only; a client that may
	// introspect and do nothing else lists GrantIntrospection alone.
	Grants []string
	// RedirectURIs are the client's registered redirection endpoints for the
	// authorization code flow, each an absolute URL matched exactly, byte
	// for byte (RFC 9700 §4.1.3).
	RedirectURIs []string
	// Roles and Scopes granted to client_credentials tokens; Scopes bounds
	// what the client may request.
	Roles  []string
	Scopes []string
	// Resources are the resource indicators (RFC 8707) the client may ask
	// tokens for, each an absolute URI matched byte for byte (see
	// [ValidResourceURI]); a token asked for them has them as its "aud".
	// Default none: a request naming a resource is 400 invalid_target, and
	// tokens get the TokenIssuer's audience.
	Resources []string
	// Name is the client's display name, for a consent page. A dynamically
	// registered client chose it itself (RFC 7591 client_name): show it as
	// the client's claim, never as a verified identity. Default "".
	Name string
	// Disabled clients fail authentication.
	Disabled bool
}

// ClientStore looks clients up by client_id. It returns an error matching
// [ErrNotFound] for an unknown client; any other error is answered 503.
type ClientStore interface {
	LookupClient(ctx context.Context, clientID string) (Client, error)
}

// TokenEndpointConfig configures a [TokenEndpoint]. The zero value issues
// nothing: a grant works only when its store is set (and, for the password
// grant, EnablePasswordGrant).
type TokenEndpointConfig struct {
	// Issuer mints the access tokens. Required.
	Issuer *guard.TokenIssuer
	// Hasher verifies passwords and client secrets. Required.
	Hasher *guard.PasswordHasher

	// Users enables the password grant together with EnablePasswordGrant.
	Users UserStore
	// EnablePasswordGrant turns on grant_type=password (RFC 6749 §4.3), which
	// RFC 9700 §2.4 deprecates; enable it for first-party clients and
	// migrations from a FastAPI OAuth2PasswordBearer app. Default false.
	EnablePasswordGrant bool
	// InferPasswordGrant treats a form with username and password and no
	// grant_type as grant_type=password, as FastAPI's
	// OAuth2PasswordRequestForm does, so clients written for a FastAPI
	// service log in unchanged. Default false: grant_type is required
	// (RFC 6749 §4.3.2) and its absence is 400 invalid_request.
	InferPasswordGrant bool
	// Clients enables grant_type=client_credentials (RFC 6749 §4.4) and
	// client rules for the password grant: with Clients set, a password grant
	// must name a registered client whose Grants include "password" (a public
	// client by client_id, a confidential one with its secret), and that
	// client's Scopes bound the token's.
	Clients ClientStore
	// AuthCodes enables grant_type=authorization_code (RFC 6749 §4.1.3 with
	// PKCE): give it the store of the [AuthorizeEndpoint]. The code is
	// exchanged by the client it was issued to (public clients by client_id,
	// confidential ones with their secret), with the same redirect_uri and
	// the code_verifier; the user is read from Users; a refresh token comes
	// along when Refresh is set and the client's Grants include
	// "refresh_token". A code presented twice is refused and the tokens
	// issued from it are revoked (the access token through Revocations, when
	// set). Default nil.
	AuthCodes AuthCodeStore
	// DangerouslyAllowPasswordGrantWithoutClient lets a password grant that
	// names no client through while Clients is set; such tokens are bounded by
	// the user's scopes only. It lets the refresh and revocation requests of
	// such logins name no client either. Default false: 401 invalid_client.
	DangerouslyAllowPasswordGrantWithoutClient bool

	// MaxBodyBytes caps the request body. Default [DefaultMaxTokenRequestBytes]; over it: 413.
	MaxBodyBytes int64
	// Limiter counts attempts per account (canonical username or client_id)
	// from one client IP. Each counter is reserved before hashing, so
	// concurrent guesses cannot pass its threshold; a success clears the
	// pair's failures and is remembered, so that the account's later logins
	// from that IP skip AccountLimiter. Keys are short digests
	// ("user-ip:…", "client-ip:…"). Default: [NewMemoryLimiter] with its
	// defaults (5 failures, then a wait from 1s doubling to 15m).
	Limiter LoginLimiter
	// IPLimiter counts attempts per client IP (IPv6: per /64), whatever the
	// account; a success is refunded, never reset. Keys "ip:…". Default:
	// [NewMemoryLimiter] with Threshold 20.
	IPLimiter LoginLimiter
	// AccountLimiter counts attempts per account from every client IP where
	// the account has not logged in successfully, so guesses spread over many
	// addresses still meet a ceiling, while the real user, from an address it
	// logged in from before, is throttled only by Limiter and IPLimiter and
	// cannot be locked out by a guesser elsewhere. Keys "user:…",
	// "client:…". Default: [NewMemoryLimiter] with Threshold 50.
	AccountLimiter LoginLimiter
	// TrustedProxies are the peers whose X-Forwarded-For and X-Forwarded-Proto
	// are believed. Default none: the client IP is the TCP peer. Behind a
	// reverse proxy on the same host, leaving it empty makes every client
	// share the loopback address (one throttling bucket for all) and accepts
	// plain HTTP from the proxy as local: the endpoint logs a warning, once,
	// when a loopback request carries forwarding headers.
	TrustedProxies []netip.Prefix
	// DangerouslyAllowInsecureHTTP accepts requests over plain HTTP from
	// non-loopback peers, sending passwords in the clear. Default false: such
	// requests get 400 invalid_request.
	DangerouslyAllowInsecureHTTP bool
	// Realm of the Basic challenge sent with invalid_client. Default [DefaultRealm].
	Realm string
	// Logger receives one line per failed or throttled attempt (username,
	// client, IP, reason; never a secret), and an error line for unreadable
	// stored hashes and failing stores. Default: no logging.
	Logger *slog.Logger
	// ErrorWriter writes failures. Default [WriteError].
	ErrorWriter guard.ErrorWriter

	// Refresh, when set, issues refresh tokens with the password grant and
	// serves grant_type=refresh_token; see [RefreshConfig]. Default nil: no
	// refresh tokens.
	Refresh *RefreshConfig
	// Revocations, when set, is where [TokenEndpoint.RevocationEndpoint]
	// puts revoked access tokens (with AccessTokenVerifier), and what the
	// refresh grant asks about subject revocations ("log out everywhere"),
	// which end the subject's refresh-token families. Default nil.
	Revocations guard.RevocationStore
	// AccessTokenVerifier verifies access tokens presented to the revocation
	// endpoint, which revokes them by "jti", and to the introspection
	// endpoint; it needs Revocations. [NewTokenEndpoint] mints a probe token
	// with Issuer and refuses the config when this verifier rejects it
	// (another issuer, audience, key or algorithm, token type, clock), so
	// that revocation cannot silently do nothing. Default nil: access tokens
	// cannot be revoked there (400 unsupported_token_type) and are inactive
	// to introspection.
	AccessTokenVerifier *guard.Verifier
	// DPoP, when set, takes DPoP proofs (RFC 9449) at the endpoint: a
	// request with a valid proof gets an access token bound to the proof's
	// key (cnf.jkt) and token_type "DPoP"; see [TokenEndpoint] for the
	// rules. Give it the DPoP checker whose BaseURL names the endpoint's
	// public origin when behind a proxy. Default nil: DPoP headers are
	// ignored and tokens are Bearer tokens, and codes bound with dpop_jkt
	// are refused (invalid_grant).
	DPoP *guard.DPoP
	// ExtraClaims, when set, adds the app's claims to every access token
	// the endpoint issues; see [ExtraClaimsFunc]. Default nil.
	ExtraClaims ExtraClaimsFunc
	// Now returns the current time, for refresh-token lifetimes, codes'
	// retry windows and the default limiters (those made when Limiter,
	// IPLimiter or AccountLimiter is nil). Default time.Now.
	Now func() time.Time
}

// MaxAccountNameLen bounds usernames and client ids: longer ones are refused
// with 400 invalid_request before they reach a store or a limiter.
const MaxAccountNameLen = 256

// Grant types the endpoint serves.
const (
	grantPassword          = "password"
	grantClientCredentials = "client_credentials"
)

// TokenEndpoint is the OAuth2 token endpoint (RFC 6749 §3.2), an
// [http.Handler] to mount at POST /token. It is safe for concurrent use.
// The zero value answers every request 500 server_error; create it with
// [NewTokenEndpoint].
//
// Answers: 200 {"access_token","token_type":"Bearer","expires_in"[,"scope"]}
// with Cache-Control: no-store (token_type "DPoP" for a token bound to a
// DPoP proof's key, see TokenEndpointConfig.DPoP); 400 invalid_dpop_proof,
// or use_dpop_nonce with a DPoP-Nonce header; 400 invalid_request, invalid_grant,
// invalid_scope, invalid_target (RFC 8707), unauthorized_client,
// unsupported_grant_type, or
// invalid_client for a client that authenticated in the form; 401
// invalid_client with a Basic challenge when the client used HTTP Basic or
// sent no credentials; 405 for methods other than POST; 413 over the body
// cap; 429 with Retry-After when throttled; 503 temporarily_unavailable with
// Retry-After when the hashing pool is saturated or a store or limiter fails.
type TokenEndpoint struct {
	cfg            TokenEndpointConfig
	hasher         passwordHasher
	limiter        LoginLimiter
	ipLimiter      LoginLimiter
	accountLimiter LoginLimiter
	writeError     guard.ErrorWriter
	errClient401   *guard.Error
	transport      *transport.Policy
	refresh        *refreshSettings
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
	if cfg.Users != nil && !cfg.EnablePasswordGrant && cfg.AuthCodes == nil {
		errs = append(errs, errors.New("guard: Users is set but neither EnablePasswordGrant nor AuthCodes: set EnablePasswordGrant to serve the password grant, or leave Users nil"))
	}
	if cfg.AuthCodes != nil && (cfg.Users == nil || cfg.Clients == nil) {
		errs = append(errs, errors.New("guard: AuthCodes needs Users and Clients (the code names a user and a registered client)"))
	}
	if cfg.InferPasswordGrant && !cfg.EnablePasswordGrant {
		errs = append(errs, errors.New("guard: InferPasswordGrant needs EnablePasswordGrant"))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("guard: MaxBodyBytes is negative"))
	}
	tp, terrs := transport.New("token endpoint", "TokenEndpointConfig", cfg.TrustedProxies, cfg.DangerouslyAllowInsecureHTTP, cfg.Logger)
	errs = append(errs, terrs...)
	errs = append(errs, validateRefresh(&cfg)...)
	if cfg.AccessTokenVerifier != nil && cfg.Revocations == nil {
		errs = append(errs, errors.New("guard: AccessTokenVerifier needs Revocations"))
	}
	if cfg.AccessTokenVerifier != nil && cfg.Issuer != nil {
		if err := probeAccessTokenVerifier(cfg.Issuer, cfg.AccessTokenVerifier); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxTokenRequestBytes
	}
	realm := cfg.Realm
	if realm == "" {
		realm = guard.DefaultRealm
	}
	var b strings.Builder
	b.WriteString(`Basic realm="`)
	syntax.WriteQuotedSafe(&b, realm)
	b.WriteString(`", charset="UTF-8"`)
	e := &TokenEndpoint{
		cfg:            cfg,
		hasher:         cfg.Hasher,
		limiter:        orLimiter(cfg.Limiter, 5, cfg.Now),
		ipLimiter:      orLimiter(cfg.IPLimiter, 20, cfg.Now),
		accountLimiter: orLimiter(cfg.AccountLimiter, 50, cfg.Now),
		writeError:     cfg.ErrorWriter,
		transport:      tp,
		refresh:        newRefreshSettings(&cfg),
	}
	if e.writeError == nil {
		e.writeError = guard.WriteRequestError
	}
	e.errClient401 = &guard.Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed",
		Challenges: []string{b.String()}, Err: guard.ErrInvalidClient}
	return e, nil
}

// orLimiter is l, or the default limiter with threshold on the endpoint's
// clock now.
func orLimiter(l LoginLimiter, threshold int, now func() time.Time) LoginLimiter {
	if l != nil {
		return l
	}
	return MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: threshold, Now: now})
}

// passwordHasher is the part of [*PasswordHasher] the endpoint uses; tests
// wrap it to count the hashing work of each path.
type passwordHasher interface {
	Hash(ctx context.Context, password string) (guard.Secret, error)
	Verify(ctx context.Context, password string, encoded guard.Secret) (needsRehash bool, err error)
	VerifyDummy(ctx context.Context, password string) error
}

// tokenError builds the RFC 6749 §5.2 error.
func tokenError(status int, code, desc string, cause error) *guard.Error {
	return &guard.Error{Status: status, Code: code, Description: desc, Err: cause}
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
	errTokenGrant      = tokenError(http.StatusBadRequest, "unsupported_grant_type", "grant type not supported", guard.ErrUnsupportedGrantType)
	errTokenBadLogin   = tokenError(http.StatusBadRequest, "invalid_grant", "invalid username or password", guard.ErrInvalidGrant)
	errTokenScope      = tokenError(http.StatusBadRequest, "invalid_scope", "requested scope not allowed", guard.ErrInvalidScope)
	errTokenClientNA   = tokenError(http.StatusBadRequest, "unauthorized_client", "client not allowed this grant", guard.ErrUnauthorizedClient)
	errTokenServer     = tokenError(http.StatusInternalServerError, "server_error", "", nil)
	errTokenZero       = tokenError(http.StatusInternalServerError, "server_error", "", errors.New("guard: TokenEndpoint used without NewTokenEndpoint"))
	errTokenLongName   = tokenError(http.StatusBadRequest, "invalid_request", "username or client_id too long", nil)
	errTokenClient400  = tokenError(http.StatusBadRequest, "invalid_client", "client authentication failed", guard.ErrInvalidClient)
	errTokenThrottled  = tokenError(http.StatusTooManyRequests, "invalid_request", "too many failed attempts; retry later", guard.ErrThrottled)
	errTokenBusy       = &guard.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "server busy; retry later", RetryAfter: time.Second, Err: guard.ErrBusy}
	queryCredentialKey = []string{"password", "client_secret", "client_assertion", "refresh_token", "code"}
)

// ServeHTTP implements [http.Handler].
func (e *TokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.hasher == nil { // the zero value: fail closed, never panic
		w.Header().Set("Pragma", "no-cache")
		guard.WriteError(w, r, errTokenZero)
		return
	}
	tok, err := e.serve(w, r)
	// Token responses, errors included, carry Pragma: no-cache besides the
	// writer's Cache-Control: no-store (RFC 6749 §5.1, and §5.2's example).
	w.Header().Set("Pragma", "no-cache")
	if err != nil {
		e.fail(w, r, "token endpoint", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	body, _ := json.Marshal(tok)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// tokenRequest holds the parsed form.
type tokenRequest struct {
	r            *http.Request
	form         map[string]string
	clientID     string
	clientSecret guard.Secret
	basic        bool // client authenticated with HTTP Basic
	hasClient    bool
	resources    []string         // the "resource" parameters, unchecked (RFC 8707)
	proof        *guard.DPoPProof // the checked DPoP proof, nil for none
	ip           string           // client IP, for logs
	ipKey        string           // the client IP as throttling counts it (address, or IPv6 /64)
}

func (e *TokenEndpoint) serve(w http.ResponseWriter, r *http.Request) (*tokenResponse, error) {
	if r.Method != http.MethodPost {
		return nil, errTokenMethod
	}
	if !e.transport.Secure(r) {
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
	grant := req.form["grant_type"]
	if grant == "" && e.cfg.InferPasswordGrant && req.form["username"] != "" && req.form["password"] != "" {
		grant = grantPassword // FastAPI's OAuth2PasswordRequestForm
	}
	var serveGrant func(context.Context, *tokenRequest) (*tokenResponse, error)
	switch grant {
	case "":
		return nil, errTokenNoGrant
	case grantPassword:
		if e.cfg.EnablePasswordGrant {
			serveGrant = e.passwordGrant
		}
	case grantClientCredentials:
		if e.cfg.Clients != nil {
			serveGrant = e.clientGrant
		}
	case grantAuthorizationCode:
		if e.cfg.AuthCodes != nil {
			serveGrant = e.codeGrant
		}
	case grantRefreshToken:
		if e.refresh != nil {
			serveGrant = e.refreshGrant
		}
	}
	if serveGrant == nil {
		return nil, errTokenGrant
	}
	if err := e.checkProof(req); err != nil {
		return nil, err
	}
	return serveGrant(r.Context(), req)
}

// storeDown answers a failing user or client store: fail closed, 503 with
// Retry-After; the cause goes to the log and the ErrorWriter, never the body.
// fail writes the error response of one of the endpoint's handlers: only
// the endpoint's own *guard.Error values reach the wire; anything else (a
// store, limiter or issuer failure, even one wrapping an *Error) is a 500
// whose cause goes to the log and the ErrorWriter, never the body.
func (e *TokenEndpoint) fail(w http.ResponseWriter, r *http.Request, endpoint string, err error) {
	if err == errTokenMethod {
		w.Header().Set("Allow", http.MethodPost)
	}
	werr, ok := err.(*guard.Error)
	if !ok {
		e.logError(r.Context(), endpoint+" failure", "error", err)
		werr = &guard.Error{Status: errTokenServer.Status, Code: errTokenServer.Code, Err: err}
	}
	e.writeError(w, r, werr)
}

func (e *TokenEndpoint) storeDown(ctx context.Context, what string, err error) error {
	e.logError(ctx, what+" failed", "error", err)
	return guard.Unavailable(fmt.Errorf("guard: %s: %w", what, err))
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
