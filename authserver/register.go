package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
	"github.com/guardkit/guard/internal/syntax"
	"github.com/guardkit/guard/internal/transport"
)

// Registration defaults.
const (
	// DefaultMaxRegistrationBytes caps the body of a registration request
	// when RegistrationConfig.MaxBodyBytes is zero.
	DefaultMaxRegistrationBytes = 16 << 10
	// DefaultRegistrationThreshold is how many registrations one client IP
	// (IPv6: one /64) makes before the default limiter makes it wait.
	DefaultRegistrationThreshold = 10
)

// RegistrationConfig configures a [RegistrationEndpoint]: the app's policy
// for clients that register themselves (RFC 7591), as MCP clients do. It is
// copied by [NewRegistrationEndpoint].
type RegistrationConfig struct {
	// Clients is where registered clients go; give the token and
	// authorization endpoints the same store. Required.
	Clients ClientRegistry
	// AllowConfidentialClients lets clients register with
	// token_endpoint_auth_method client_secret_basic or client_secret_post:
	// they get a client_secret, stored hashed with Hasher. Default false:
	// public clients only ("none"; a request that leaves the method out is
	// registered as "none" and told so).
	AllowConfidentialClients bool
	// Hasher hashes the secrets of confidential clients. Required with
	// AllowConfidentialClients; give it the token endpoint's hasher.
	Hasher *guard.PasswordHasher
	// GrantTypes are the grant types a client may register, among
	// "authorization_code", "refresh_token" and "client_credentials" (which
	// needs AllowConfidentialClients). A request that leaves grant_types
	// out gets authorization_code (RFC 7591 §2). Default
	// authorization_code and refresh_token.
	GrantTypes []string
	// Scopes are the scopes a registered client may have; a request that
	// leaves scope out gets them all. Default none.
	Scopes []string
	// Resources are given to every registered client as its
	// [Client].Resources (RFC 8707): the MCP servers or APIs its tokens may
	// name. Default none.
	Resources []string
	// InitialAccessToken, when set, must be presented as
	// "Authorization: Bearer <token>" (RFC 7591 §3): a request without it
	// gets 401 with a Bearer challenge, a wrong one 401 invalid_token.
	// It is compared in constant time. Default "": registration is open.
	InitialAccessToken guard.Secret
	// DangerouslyAllowCustomSchemeRedirectURIs lets native apps register
	// private-use URI schemes (RFC 8252 §7.1, such as
	// "com.example.app:/callback"), which any app on a device may claim.
	// javascript, data, vbscript, file, blob and about stay refused.
	// Default false: https, or http to loopback only.
	DangerouslyAllowCustomSchemeRedirectURIs bool
	// Limiter counts registrations per client IP (IPv6: per /64), each one
	// whatever its outcome, with keys "register-ip:…". Default:
	// [NewMemoryLimiter] with Threshold [DefaultRegistrationThreshold] on
	// Now. Over it: 429 with Retry-After.
	Limiter LoginLimiter
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto are believed, as for the token endpoint. Default
	// none.
	TrustedProxies []netip.Prefix
	// DangerouslyAllowInsecureHTTP accepts requests over plain HTTP from
	// non-loopback peers, so client secrets travel in the clear. Default
	// false: 400 invalid_request.
	DangerouslyAllowInsecureHTTP bool
	// MaxBodyBytes caps the request body. Default
	// [DefaultMaxRegistrationBytes]; over it: 413.
	MaxBodyBytes int64
	// Logger receives one line per registration (client_id, IP, method)
	// and per refusal (IP, reason); never a secret. Default: no logging.
	Logger *slog.Logger
	// ErrorWriter writes failures. Default [guard.WriteRequestError].
	ErrorWriter guard.ErrorWriter
	// Now returns the current time (client_id_issued_at, the default
	// limiter). Default time.Now.
	Now func() time.Time
}

// RegistrationEndpoint is the dynamic client registration endpoint (RFC
// 7591), an [http.Handler] to mount at POST /register ([PathRegister]). It
// is safe for concurrent use.
//
// A request is a JSON object of client metadata (RFC 7591 §2):
// redirect_uris, token_endpoint_auth_method, grant_types, response_types,
// scope and client_name are read, checked against the app's policy and
// stored; other members are ignored. The client gets a random client_id
// (130 bits) and, when confidential, a random client_secret (256 bits)
// that is stored only as a hash and sent once.
//
// Answers: 201 with client_id, client_id_issued_at, client_secret and
// client_secret_expires_at 0 (confidential clients), and the registered
// metadata, with Cache-Control: no-store; 400 invalid_redirect_uri or
// invalid_client_metadata (RFC 7591 §3.2.2), 400 invalid_request without
// TLS; 401 without the initial access token (invalid_token when wrong);
// 405 for methods other than POST; 413 over the body cap; 429 with
// Retry-After when the client IP registered too often; 503
// temporarily_unavailable with Retry-After when the store, the limiter or
// the hashing pool fails.
type RegistrationEndpoint struct {
	cfg        RegistrationConfig
	policy     registrationPolicy
	limiter    LoginLimiter
	transport  *transport.Policy
	writeError guard.ErrorWriter
	iat        [32]byte // SHA-256 of the initial access token
	noToken    *guard.Error
	badToken   *guard.Error
}

var registrationGrants = []string{grantAuthorizationCode, grantRefreshToken, grantClientCredentials}

// NewRegistrationEndpoint validates cfg and reports every problem at once.
func NewRegistrationEndpoint(cfg RegistrationConfig) (*RegistrationEndpoint, error) {
	var errs []error
	if cfg.Clients == nil {
		errs = append(errs, errors.New("guard: RegistrationConfig.Clients is nil"))
	}
	if cfg.AllowConfidentialClients && cfg.Hasher == nil {
		errs = append(errs, errors.New("guard: RegistrationConfig.AllowConfidentialClients needs Hasher"))
	}
	if cfg.GrantTypes == nil {
		cfg.GrantTypes = []string{grantAuthorizationCode, grantRefreshToken}
	}
	for _, g := range cfg.GrantTypes {
		switch {
		case !slices.Contains(registrationGrants, g):
			errs = append(errs, fmt.Errorf("guard: RegistrationConfig.GrantTypes: %q cannot be registered (authorization_code, refresh_token, client_credentials)", g))
		case g == grantClientCredentials && !cfg.AllowConfidentialClients:
			errs = append(errs, errors.New("guard: RegistrationConfig.GrantTypes: client_credentials needs AllowConfidentialClients"))
		}
	}
	for _, s := range cfg.Scopes {
		if !syntax.IsScopeToken(s) {
			errs = append(errs, fmt.Errorf("guard: RegistrationConfig.Scopes: %q is not a scope token", s))
		}
	}
	for _, r := range cfg.Resources {
		if !ValidResourceURI(r) {
			errs = append(errs, fmt.Errorf("guard: RegistrationConfig.Resources: %q is not an absolute URI without a fragment", r))
		}
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("guard: RegistrationConfig.MaxBodyBytes is negative"))
	}
	tp, terrs := transport.New("registration endpoint", "RegistrationConfig", cfg.TrustedProxies, cfg.DangerouslyAllowInsecureHTTP, cfg.Logger)
	errs = append(errs, terrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.GrantTypes = slices.Clone(cfg.GrantTypes)
	cfg.Scopes = slices.Clone(cfg.Scopes)
	cfg.Resources = slices.Clone(cfg.Resources)
	cfg.TrustedProxies = slices.Clone(cfg.TrustedProxies)
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxRegistrationBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &RegistrationEndpoint{
		cfg: cfg,
		policy: registrationPolicy{confidential: cfg.AllowConfidentialClients, grants: cfg.GrantTypes, scopes: cfg.Scopes,
			customSchemes: cfg.DangerouslyAllowCustomSchemeRedirectURIs},
		limiter:    orLimiter(cfg.Limiter, DefaultRegistrationThreshold, cfg.Now),
		transport:  tp,
		writeError: cfg.ErrorWriter,
		iat:        sha256.Sum256([]byte(cfg.InitialAccessToken)),
	}
	if e.writeError == nil {
		e.writeError = guard.WriteRequestError
	}
	challenge := `Bearer realm="` + guard.DefaultRealm + `"`
	e.noToken = &guard.Error{Status: http.StatusUnauthorized, Description: "initial access token required", Challenges: []string{challenge}, Err: guard.ErrNoCredentials}
	e.badToken = &guard.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "invalid initial access token", Challenges: []string{challenge}, Err: guard.ErrInvalidToken}
	return e, nil
}

var (
	errRegMethod    = tokenError(http.StatusMethodNotAllowed, "invalid_request", "POST required", nil)
	errRegTLS       = tokenError(http.StatusBadRequest, "invalid_request", "TLS required", nil)
	errRegType      = metadataError("body must be application/json")
	errRegTooBig    = &guard.Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_client_metadata", Description: "request body too large", Err: ErrInvalidClientMetadata}
	errRegThrottled = tokenError(http.StatusTooManyRequests, "invalid_request", "too many registrations; retry later", guard.ErrThrottled)
	errRegZero      = tokenError(http.StatusInternalServerError, "server_error", "", errors.New("guard: RegistrationEndpoint used without NewRegistrationEndpoint"))
)

// registrationResponse is the RFC 7591 §3.2.1 body.
type registrationResponse struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret,omitzero"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitzero"`
	ClientName              string   `json:"client_name,omitzero"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope,omitzero"`
}

// ServeHTTP implements [http.Handler].
func (e *RegistrationEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.limiter == nil { // the zero value: fail closed, never panic
		w.Header().Set("Pragma", "no-cache")
		guard.WriteError(w, r, errRegZero)
		return
	}
	resp, err := e.serve(w, r)
	w.Header().Set("Pragma", "no-cache")
	if err != nil {
		if err == errRegMethod {
			w.Header().Set("Allow", http.MethodPost)
		}
		werr, ok := err.(*guard.Error)
		if !ok {
			e.logError(r.Context(), "registration failure", "error", err)
			werr = &guard.Error{Status: errTokenServer.Status, Code: errTokenServer.Code, Err: err}
		}
		e.writeError(w, r, werr)
		return
	}
	body, _ := json.Marshal(resp)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(append(body, '\n'))
}

func (e *RegistrationEndpoint) serve(w http.ResponseWriter, r *http.Request) (*registrationResponse, error) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		return nil, errRegMethod
	}
	if !e.transport.Secure(r) {
		return nil, errRegTLS
	}
	ip := e.transport.ClientIP(r)
	// Every request counts, before anything is read or hashed: a flood of
	// registrations, or of guesses at the initial access token, meets the
	// limit.
	res, err := e.limiter.Reserve(ctx, limiterKey("register-ip:", transport.LimiterIPKey(ip)))
	if err != nil {
		e.logError(ctx, "limiter failed", "error", err)
		return nil, guard.Unavailable(errors.Join(errLimiter, err))
	}
	if res.RetryAfter > 0 {
		e.log(ctx, "registration throttled", "ip", ip)
		return nil, throttledRegistration(res.RetryAfter)
	}
	if err := e.checkInitialToken(r); err != nil {
		e.log(ctx, "registration refused", "ip", ip, "reason", "initial access token")
		return nil, err
	}
	if ct := r.Header.Values("Content-Type"); len(ct) != 1 {
		return nil, errRegType
	} else if mt, params, err := mime.ParseMediaType(ct[0]); err != nil || mt != "application/json" ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return nil, errRegType
	}
	if r.ContentLength > e.cfg.MaxBodyBytes {
		return nil, errRegTooBig
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errRegTooBig
		}
		return nil, metadataError("unreadable body")
	}
	reg, gerr := e.policy.parseRegistration(body)
	if gerr != nil {
		e.log(ctx, "registration refused", "ip", ip, "reason", gerr.Description)
		return nil, gerr
	}
	return e.register(ctx, reg, ip)
}

// register makes the client's id (and secret) and stores it.
func (e *RegistrationEndpoint) register(ctx context.Context, reg *registration, ip string) (*registrationResponse, error) {
	c := Client{Public: reg.method == authMethodNone, Grants: reg.grants, RedirectURIs: reg.redirectURIs,
		Scopes: reg.scopes, Resources: slices.Clone(e.cfg.Resources), Name: reg.name}
	now := e.cfg.Now()
	resp := &registrationResponse{ClientIDIssuedAt: now.Unix(), ClientName: reg.name, RedirectURIs: reg.redirectURIs,
		TokenEndpointAuthMethod: reg.method, GrantTypes: reg.grants, ResponseTypes: reg.responseTypes, Scope: strings.Join(reg.scopes, " ")}
	if resp.RedirectURIs == nil {
		resp.RedirectURIs = []string{}
	}
	if !c.Public {
		var raw [32]byte
		_, _ = rand.Read(raw[:]) // crypto/rand never fails on supported platforms
		secret := base64.RawURLEncoding.EncodeToString(raw[:])
		hash, err := e.cfg.Hasher.Hash(ctx, secret)
		if errors.Is(err, guard.ErrBusy) {
			return nil, errTokenBusy
		}
		if err != nil {
			return nil, err
		}
		c.SecretHash = hash
		var never int64 // client_secret_expires_at 0: the secret does not expire
		resp.ClientSecret, resp.ClientSecretExpiresAt = secret, &never
	}
	// 130 random bits: a taken id is as good as impossible, but is retried.
	for range 3 {
		resp.ClientID = rand.Text()
		err := e.cfg.Clients.RegisterClient(ctx, resp.ClientID, c)
		if errors.Is(err, ErrClientExists) {
			continue
		}
		if err != nil {
			e.logError(ctx, "client registry failed", "error", err)
			return nil, guard.Unavailable(fmt.Errorf("guard: client registry: %w", err))
		}
		if e.cfg.Logger != nil {
			e.cfg.Logger.InfoContext(ctx, "client registered", "client_id", resp.ClientID, "ip", ip, "method", reg.method)
		}
		return resp, nil
	}
	return nil, errors.New("guard: client registry: no free client id")
}

// checkInitialToken checks the initial access token, when one is
// configured: in constant time, over digests of equal length.
func (e *RegistrationEndpoint) checkInitialToken(r *http.Request) error {
	if e.cfg.InitialAccessToken == "" {
		return nil
	}
	auth := r.Header.Values("Authorization")
	if len(auth) != 1 {
		return e.noToken
	}
	scheme, tok, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return e.noToken
	}
	sum := sha256.Sum256([]byte(strings.TrimLeft(tok, " ")))
	if subtle.ConstantTimeCompare(sum[:], e.iat[:]) != 1 {
		return e.badToken
	}
	return nil
}

func throttledRegistration(wait time.Duration) error {
	err := *errRegThrottled
	err.RetryAfter = wait
	return &err
}

func (e *RegistrationEndpoint) log(ctx context.Context, msg string, args ...any) {
	if e.cfg.Logger != nil {
		e.cfg.Logger.WarnContext(ctx, msg, args...)
	}
}

func (e *RegistrationEndpoint) logError(ctx context.Context, msg string, args ...any) {
	if e.cfg.Logger != nil {
		e.cfg.Logger.ErrorContext(ctx, msg, args...)
	}
}
