package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The OpenAPI descriptions of this file are plain values that marshal to
// OpenAPI 3.1 JSON (https://spec.openapis.org/oas/v3.1.0#security-scheme-object):
// the root takes no OpenAPI dependency. Framework adapters, in their own
// modules, copy them into their frameworks' types.

// SecurityScheme is an OpenAPI 3.1 Security Scheme Object. It describes how a
// credential is presented, never a credential: no key, secret or password is
// ever part of one.
type SecurityScheme struct {
	// Type is "http", "apiKey", "oauth2" or "openIdConnect".
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	// Name and In locate an apiKey: In is "header", "query" or "cookie".
	Name string `json:"name,omitempty"`
	In   string `json:"in,omitempty"`
	// Scheme is the HTTP authentication scheme of type http, such as
	// "bearer"; BearerFormat hints at the token's format, such as "JWT".
	Scheme       string `json:"scheme,omitempty"`
	BearerFormat string `json:"bearerFormat,omitempty"`
	// Flows are the OAuth 2.0 flows of type oauth2.
	Flows *OAuthFlows `json:"flows,omitempty"`
	// OpenIDConnectURL is the discovery document of type openIdConnect.
	OpenIDConnectURL string `json:"openIdConnectUrl,omitempty"`
}

// OAuthFlows are the flows of an oauth2 [SecurityScheme]; nil flows are left out.
type OAuthFlows struct {
	Implicit          *OAuthFlow `json:"implicit,omitempty"`
	Password          *OAuthFlow `json:"password,omitempty"`
	ClientCredentials *OAuthFlow `json:"clientCredentials,omitempty"`
	AuthorizationCode *OAuthFlow `json:"authorizationCode,omitempty"`
}

// OAuthFlow is one OAuth 2.0 flow: its endpoints and the scopes it can grant,
// each with a short description. URLs may be relative to the document.
type OAuthFlow struct {
	AuthorizationURL string            `json:"authorizationUrl,omitempty"`
	TokenURL         string            `json:"tokenUrl,omitempty"`
	RefreshURL       string            `json:"refreshUrl,omitempty"`
	Scopes           map[string]string `json:"scopes"`
}

// MarshalJSON writes nil Scopes as {}, since the field is required.
func (f OAuthFlow) MarshalJSON() ([]byte, error) {
	type plain OAuthFlow
	p := plain(f)
	if p.Scopes == nil {
		p.Scopes = map[string]string{}
	}
	return json.Marshal(p)
}

// SecurityRequirement is an OpenAPI Security Requirement Object: scheme name
// to the scopes needed. An operation's requirements are alternatives (any
// one will do); an empty requirement {} means "no credentials" (optional
// authentication).
type SecurityRequirement map[string][]string

// MarshalJSON writes nil scope lists as [], as the specification requires.
func (s SecurityRequirement) MarshalJSON() ([]byte, error) {
	m := make(map[string][]string, len(s))
	for k, v := range s {
		if v == nil {
			v = []string{}
		}
		m[k] = v
	}
	return json.Marshal(m)
}

// NamedScheme is a [SecurityScheme] under the name it has in
// components.securitySchemes, the name requirements refer to.
type NamedScheme struct {
	Name   string
	Scheme SecurityScheme
}

// SecurityDescriber is implemented by an [Authenticator] that can say, as
// OpenAPI security schemes, how a client presents its credentials. Each
// scheme is one alternative: a request with credentials of any of them is
// authenticated. [*Verifier] and [*APIKeyAuth] implement it; wrap an app's
// own authenticator with [Described].
type SecurityDescriber interface {
	SecuritySchemes() []NamedScheme
}

// Scheme names used by the built-in descriptions, the names FastAPI gives
// the same schemes, so a migrated app's clients and docs keep them.
const (
	SchemeHTTPBearer    = "HTTPBearer"
	SchemeOpenIDConnect = "OpenIdConnect"
	SchemeAPIKeyHeader  = "APIKeyHeader"
	SchemeAPIKeyQuery   = "APIKeyQuery"
	SchemeAPIKeyCookie  = "APIKeyCookie"
	// SchemeHTTPDPoP is a verifier's DPoP scheme (RFC 9449 §7.1), when it
	// has VerifierConfig.DPoP.
	SchemeHTTPDPoP = "HTTPDPoP"
)

// SecuritySchemes implements [SecurityDescriber]. A verifier whose
// KeySource is a [RemoteKeySet] configured with an Issuer is
// "OpenIdConnect", type openIdConnect with the issuer's OpenID Connect
// discovery URL; any other verifier is "HTTPBearer", type http, scheme
// bearer, bearerFormat JWT. With VerifierConfig.DPoP, "HTTPDPoP" (type
// http, scheme dpop) follows it, or replaces it under DPoPRequired. To
// describe a verifier as the oauth2 scheme of
// the token endpoint that issues its tokens, wrap it with [Described].
func (v *Verifier) SecuritySchemes() []NamedScheme {
	if v != nil && v.dpop != nil {
		dpop := NamedScheme{Name: SchemeHTTPDPoP, Scheme: SecurityScheme{Type: "http", Scheme: "dpop", BearerFormat: "JWT",
			Description: "A DPoP-bound access token (Authorization: DPoP) with a DPoP proof header (RFC 9449)"}}
		if v.dpop.mode == DPoPRequired {
			return []NamedScheme{dpop}
		}
		return append(v.bearerSchemes(), dpop)
	}
	return v.bearerSchemes()
}

// bearerSchemes is the description of a verifier's bearer tokens.
func (v *Verifier) bearerSchemes() []NamedScheme {
	if v != nil {
		if rs, ok := v.source.(*RemoteKeySet); ok && rs.issuer != "" {
			if oidc, _, err := discoveryURLs(rs.issuer, true); err == nil {
				return []NamedScheme{{Name: SchemeOpenIDConnect, Scheme: SecurityScheme{
					Type: "openIdConnect", OpenIDConnectURL: oidc}}}
			}
		}
	}
	return []NamedScheme{{Name: SchemeHTTPBearer, Scheme: SecurityScheme{Type: "http", Scheme: "bearer", BearerFormat: "JWT"}}}
}

// SecuritySchemes implements [SecurityDescriber]: one apiKey scheme per
// place the key is read from, "APIKeyHeader" (the Header, spelled as
// configured), "APIKeyQuery"
// (QueryParam, with DangerouslyAllowQuery) and "APIKeyCookie" (CookieName,
// with DangerouslyAllowCookie). Two APIKeyAuths reading different names
// share a scheme name: give one another name with [Described].
func (a *APIKeyAuth) SecuritySchemes() []NamedScheme {
	if a == nil || a.header == "" {
		return nil
	}
	s := []NamedScheme{{Name: SchemeAPIKeyHeader, Scheme: SecurityScheme{Type: "apiKey", In: "header", Name: a.headerName}}}
	if a.query != "" {
		s = append(s, NamedScheme{Name: SchemeAPIKeyQuery, Scheme: SecurityScheme{Type: "apiKey", In: "query", Name: a.query}})
	}
	if a.cookie != "" {
		s = append(s, NamedScheme{Name: SchemeAPIKeyCookie, Scheme: SecurityScheme{Type: "apiKey", In: "cookie", Name: a.cookie}})
	}
	return s
}

// Described returns an [Authenticator] that authenticates exactly as a does
// and describes itself as schemes (see [SecurityDescriber]). Use it for an
// app's own authenticator, to rename a built-in scheme, or to describe a
// [*Verifier] as the oauth2 scheme of the token endpoint that issues its
// tokens. It panics if a is nil, a wiring mistake. [Policy] still enforces
// with a's own middleware (RequireBearer for a *Verifier, RequireAPIKey for
// an *APIKeyAuth).
func Described(a Authenticator, schemes ...NamedScheme) Authenticator {
	if a == nil {
		panic("guard: Described needs an Authenticator")
	}
	if d, ok := a.(*described); ok {
		a = d.Authenticator
	}
	return &described{Authenticator: a, schemes: append([]NamedScheme(nil), schemes...)}
}

type described struct {
	Authenticator
	schemes []NamedScheme
}

func (d *described) SecuritySchemes() []NamedScheme { return d.schemes }

// unwrap returns the authenticator inside a [Described] one.
func unwrap(a Authenticator) Authenticator {
	if d, ok := a.(*described); ok {
		return d.Authenticator
	}
	return a
}

// Check reports what is wrong with s as a Security Scheme Object named n.
func (n NamedScheme) Check() error {
	var errs []error
	if n.Name == "" || strings.IndexFunc(n.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) >= 0 {
		errs = append(errs, fmt.Errorf("scheme name %q must be letters, digits, '.', '-' or '_'", n.Name))
	}
	s := n.Scheme
	switch s.Type {
	case "apiKey":
		if s.Name == "" || (s.In != "header" && s.In != "query" && s.In != "cookie") {
			errs = append(errs, fmt.Errorf("apiKey scheme %q needs a name and in header, query or cookie", n.Name))
		}
	case "http":
		if s.Scheme == "" {
			errs = append(errs, fmt.Errorf("http scheme %q needs a scheme", n.Name))
		}
	case "oauth2":
		if f := s.Flows; f == nil || f.Implicit == nil && f.Password == nil && f.ClientCredentials == nil && f.AuthorizationCode == nil {
			errs = append(errs, fmt.Errorf("oauth2 scheme %q needs a flow", n.Name))
		}
	case "openIdConnect":
		if s.OpenIDConnectURL == "" {
			errs = append(errs, fmt.Errorf("openIdConnect scheme %q needs openIdConnectUrl", n.Name))
		}
	default:
		errs = append(errs, fmt.Errorf("scheme %q has type %q, want http, apiKey, oauth2 or openIdConnect", n.Name, s.Type))
	}
	return errors.Join(errs...)
}

// ErrUndescribed is reported by [Registrar.OpenAPI] for a route guarded by
// an [Authenticator] that does not implement [SecurityDescriber] (or
// describes no scheme): such a route would look open in the docs.
var ErrUndescribed = errors.New("guard: authenticator cannot describe itself to OpenAPI")

// ErrSchemeConflict is reported by [Registrar.OpenAPI] when two different
// security schemes claim one name.
var ErrSchemeConflict = errors.New("guard: two security schemes share a name")
