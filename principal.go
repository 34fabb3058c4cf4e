package guard

import (
	"context"
	"log/slog"
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
