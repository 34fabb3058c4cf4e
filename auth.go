package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
)

// Method says how a [Principal] authenticated.
type Method uint8

const (
	// MethodNone is the zero Method; no authenticated principal carries it.
	MethodNone Method = iota
	// MethodBearer: a verified bearer JWT (RFC 6750).
	MethodBearer
	// MethodAPIKey: an API key looked up in an [APIKeyStore].
	MethodAPIKey
	// MethodClient: an OAuth2 client authenticating at the token endpoint
	// (in [AuthEvent]s).
	MethodClient
	// MethodPassword: a user logging in with a password at the token
	// endpoint (in [AuthEvent]s).
	MethodPassword
)

// String returns "bearer", "api_key", "client", "password" or "none".
func (m Method) String() string {
	switch m {
	case MethodBearer:
		return "bearer"
	case MethodAPIKey:
		return "api_key"
	case MethodClient:
		return "client"
	case MethodPassword:
		return "password"
	}
	return "none"
}

// Principal is the authenticated identity of a request. Middleware stores one
// *Principal per request in its context; handlers read it with [PrincipalFrom].
// A Principal must be treated as read-only once it is in a context.
type Principal struct {
	// Subject identifies the user or client (the JWT "sub").
	Subject string
	// Roles granted to the subject (from "role" or "roles", or the API key record).
	Roles []string
	// Scopes granted to the subject (from "scope" or "scp", or the API key record).
	Scopes []string
	// Method is how the principal authenticated.
	Method Method
	// Claims are the verified token claims; nil for API keys.
	Claims *Claims
	// Binding says how the token was bound to its presenter:
	// [BindingNone] for a bearer token (and API keys), [BindingDPoP] for a
	// DPoP-bound token whose proof was checked.
	Binding Binding
	// KeyThumbprint is the RFC 7638 thumbprint of the key the request
	// proved possession of (the token's cnf.jkt) with BindingDPoP; "" otherwise.
	KeyThumbprint string
}

// Binding says how a [Principal]'s token is bound to its presenter.
type Binding uint8

const (
	// BindingNone: a bearer token (or no token): whoever holds it may use it.
	BindingNone Binding = iota
	// BindingDPoP: a DPoP-bound token (RFC 9449) presented with a proof of
	// possession of its key.
	BindingDPoP
)

// String returns "none" or "dpop".
func (b Binding) String() string {
	if b == BindingDPoP {
		return "dpop"
	}
	return "none"
}

// HasRole reports whether p has role r exactly (no hierarchy; see [Authorizer]).
func (p *Principal) HasRole(r string) bool { return p != nil && slices.Contains(p.Roles, r) }

// HasScope reports whether p was granted scope s.
func (p *Principal) HasScope(s string) bool { return p != nil && slices.Contains(p.Scopes, s) }

// LogValue implements [slog.LogValuer]: subject, method, roles and scopes, never
// the token.
func (p *Principal) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.String("subject", p.Subject),
		slog.String("method", p.Method.String()),
		slog.Any("roles", p.Roles),
		slog.Any("scopes", p.Scopes),
	)
}

// principalKey is the context key for the *Principal; zero-size and unexported,
// so no other package can collide with or overwrite it.
type principalKey struct{}

// NewContext returns a copy of ctx carrying p. Middleware calls it once per
// request; tests use it to call handlers directly.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal stored in ctx by an authentication
// middleware. It never panics; ok is false when there is none.
func PrincipalFrom(ctx context.Context) (p *Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// ClaimsFrom returns the verified JWT claims of the request's principal, if it
// authenticated with a bearer token.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Claims == nil {
		return nil, false
	}
	return p.Claims, true
}

// Authenticator turns a request's credentials into a principal without
// writing a response. [*Verifier] (bearer tokens) and [*APIKeyAuth] (API keys)
// implement it; so can an app's own scheme.
//
// Authenticate returns an error matching [ErrNoCredentials] when the request
// carries none of its kind of credentials (the bare sentinel will do), and an
// *[Error] when it carries bad ones. Challenge declares the WWW-Authenticate
// value, such as `Bearer realm="api"`, that tells a client how to
// authenticate: [RequireAuth] sends it with every 401 of this kind.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
	Challenge() string
}

// RequireAuth returns middleware that admits a request only with valid
// credentials of one of the authenticators (a bearer token, an API key, an
// app's own scheme) and puts the principal in its context:
//   - none present: 401 carrying every authenticator's challenge;
//   - exactly one kind present: that authenticator decides (its principal
//     goes into the context, or its error is written, with its challenge
//     added to a 401 that lacks one);
//   - two kinds at once: 400 invalid_request with every challenge, even if
//     both are valid, so a request never runs with an ambiguous identity.
//
// Failures are written by the request's [Hooks] ErrorWriter, or [WriteError].
// Query-string credentials make the response carry Cache-Control: no-store.
// RequireAuth panics, when called, if there is no authenticator, or one is nil
// or declares no challenge: a wiring mistake, never a request's.
func RequireAuth(authenticators ...Authenticator) func(http.Handler) http.Handler {
	return newAuthMiddleware(false, authenticators).handler
}

// OptionalAuth is [RequireAuth] for routes that also serve anonymous
// requests (FastAPI's auto_error=False): a request with no credentials at all
// goes on without a principal, and the handler checks [PrincipalFrom]. Bad,
// expired or ambiguous credentials are still refused as RequireAuth refuses
// them, so a client learns its token is wrong instead of being served as
// anonymous.
func OptionalAuth(authenticators ...Authenticator) func(http.Handler) http.Handler {
	return newAuthMiddleware(true, authenticators).handler
}

type authMiddleware struct {
	auths              []Authenticator
	optional           bool
	missing, ambiguous *Error
}

func newAuthMiddleware(optional bool, authenticators []Authenticator) *authMiddleware {
	m := &authMiddleware{auths: slices.Clone(authenticators), optional: optional}
	if len(m.auths) == 0 {
		panic("guard: RequireAuth and OptionalAuth need at least one Authenticator")
	}
	var challenges []string
	for i, a := range m.auths {
		if a == nil {
			panic(fmt.Sprintf("guard: authenticator %d is nil", i))
		}
		c := a.Challenge()
		if c == "" {
			panic(fmt.Sprintf("guard: authenticator %d (%T) declares no challenge: a 401 must tell the client how to authenticate", i, a))
		}
		challenges = append(challenges, c)
	}
	m.missing = prerender(&Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenges: challenges, Err: ErrNoCredentials})
	m.ambiguous = prerender(&Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one credential", Challenges: challenges, Err: ErrInvalidRequest})
	return m
}

func (m *authMiddleware) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			found    *Principal
			foundErr error
			from     Authenticator
			present  int
		)
		for _, a := range m.auths {
			p, err := a.Authenticate(r)
			if errors.Is(err, ErrNoCredentials) {
				continue
			}
			present++
			found, foundErr, from = p, err, a
		}
		if r.URL.RawQuery != "" && present > 0 {
			w.Header().Set("Cache-Control", "no-store")
		}
		var err error
		switch {
		case present == 0 && m.optional:
			next.ServeHTTP(w, r)
			return
		case present == 0:
			err = m.missing
		case present > 1:
			err = m.ambiguous
		case foundErr != nil:
			err = withChallenge(foundErr, from.Challenge())
		case found == nil:
			err = errNilPrincipal
		default:
			Audit(r, AuthEvent{Method: found.Method, Subject: found.Subject, Principal: found})
			trackPrincipal(r, found)
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), found)))
			return
		}
		Audit(r, AuthEvent{Err: err})
		WriteRequestError(w, r, err)
	})
}

// errNilPrincipal answers an authenticator that returned neither a principal
// nor an error: a bug in it, refused rather than admitted.
var errNilPrincipal = &Error{Status: http.StatusInternalServerError, Code: "server_error",
	Err: errors.New("guard: authenticator returned no principal and no error")}

// withChallenge makes sure a 401 names how to authenticate (RFC 9110
// §15.5.2): an authenticator's *Error without challenges gets its declared one.
func withChallenge(err error, challenge string) error {
	var e *Error
	if !errors.As(err, &e) {
		e = mapSentinel(err) // a bare sentinel: its challenge is the declared one
		e.Err, e.Challenges = err, nil
	}
	if e.Status != http.StatusUnauthorized || len(e.Challenges) > 0 {
		return e
	}
	c := *e
	c.Challenges = []string{challenge}
	c.rendered = nil
	return &c
}
