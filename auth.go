package guard

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
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
	// MethodClient: an OAuth2 client authenticated at the token endpoint.
	MethodClient
	// MethodPassword: a user authenticated by password at the token endpoint.
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
// implement it. Authenticate returns an error matching [ErrNoCredentials] when
// the request carries none of its kind of credentials, and an *[Error] when it
// carries bad ones.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// RequireAny returns middleware that accepts any one of several kinds of
// credentials, such as a bearer token or an API key:
//   - none present: 401 carrying every authenticator's challenge;
//   - exactly one kind present: that authenticator decides (its principal
//     goes into the context, or its own error is written);
//   - two kinds at once: 400 invalid_request with every challenge, even if
//     both are valid, so a request never runs with an ambiguous identity.
//
// To learn the challenges, RequireAny asks each authenticator once, when it
// is called, about a request that carries no credentials. Failures go to
// errorWriter (nil means [WriteError]). With no authenticators every request
// gets 401. Query-string credentials make the response carry
// Cache-Control: no-store.
func RequireAny(errorWriter ErrorWriter, authenticators ...Authenticator) func(http.Handler) http.Handler {
	auths := slices.Clone(authenticators)
	writeError := writerOrDefault(errorWriter)
	var challenges []string
	empty := (&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}}).WithContext(context.Background())
	for _, a := range auths {
		if _, err := a.Authenticate(empty); err != nil {
			if e := (*Error)(nil); errors.As(err, &e) {
				challenges = append(challenges, e.Challenges...)
			}
		}
	}
	missing := &Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenges: challenges, Err: ErrNoCredentials}
	ambiguous := &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one credential", Challenges: challenges, Err: ErrInvalidRequest}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var (
				found    *Principal
				foundErr error
				present  int
			)
			for _, a := range auths {
				p, err := a.Authenticate(r)
				if errors.Is(err, ErrNoCredentials) {
					continue
				}
				present++
				found, foundErr = p, err
			}
			if r.URL.RawQuery != "" && present > 0 {
				w.Header().Set("Cache-Control", "no-store")
			}
			switch {
			case present == 0:
				writeError(w, r, missing)
			case present > 1:
				writeError(w, r, ambiguous)
			case foundErr != nil:
				writeError(w, r, foundErr)
			default:
				next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), found)))
			}
		})
	}
}
