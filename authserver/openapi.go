package authserver

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/internal/syntax"
)

// OAuth2SchemeConfig configures [TokenEndpoint.SecurityScheme].
type OAuth2SchemeConfig struct {
	// Name is the scheme's name in components.securitySchemes. Default "OAuth2".
	Name string
	// TokenURL is where the endpoint is mounted, absolute or relative to the
	// document's server, such as "/token". Required.
	TokenURL string
	// AuthorizationURL is where the [AuthorizeEndpoint] is mounted, such as
	// "/authorize". Required when the endpoint serves the authorization code
	// grant (TokenEndpointConfig.AuthCodes is set).
	AuthorizationURL string
	// Scopes are the scopes clients may ask for, each with the short
	// description Swagger UI shows beside its checkbox. Default none.
	Scopes map[string]string
	// Description of the scheme. Default none.
	Description string
}

// DefaultOAuth2SchemeName is the default OAuth2SchemeConfig.Name.
const DefaultOAuth2SchemeName = "OAuth2"

// SecurityScheme describes the endpoint as an OpenAPI 3.1 oauth2 security
// scheme, with one flow per grant it serves: password (EnablePasswordGrant),
// clientCredentials (Clients), authorizationCode (AuthCodes, with
// cfg.AuthorizationURL); each flow has refreshUrl when refresh tokens are
// issued (Refresh), and cfg.Scopes. It never holds a secret.
//
// The endpoint issues the tokens; a [guard.Verifier] accepts them. Describe
// the verifier as this scheme with [guard.Described], so the routes it
// guards name the scheme:
//
//	scheme, err := tokens.SecurityScheme(authserver.OAuth2SchemeConfig{TokenURL: "/token"})
//	bearer := guard.Described(verifier, scheme)
//
// It returns an error listing every problem: no TokenURL, no
// AuthorizationURL with the code grant, a scope that is not an RFC 6749
// scope-token, a bad name, or an endpoint that serves none of the flows.
func (e *TokenEndpoint) SecurityScheme(cfg OAuth2SchemeConfig) (guard.NamedScheme, error) {
	var errs []error
	if cfg.Name == "" {
		cfg.Name = DefaultOAuth2SchemeName
	}
	if cfg.TokenURL == "" {
		errs = append(errs, errors.New("guard: OAuth2SchemeConfig.TokenURL is required"))
	}
	for _, s := range slices.Sorted(maps.Keys(cfg.Scopes)) {
		if !syntax.IsScopeToken(s) {
			errs = append(errs, fmt.Errorf("guard: OAuth2SchemeConfig.Scopes: %q is not a scope token", s))
		}
	}
	scopes := maps.Clone(cfg.Scopes)
	if scopes == nil {
		scopes = map[string]string{}
	}
	refresh := ""
	if e.cfg.Refresh != nil {
		refresh = cfg.TokenURL
	}
	flow := func() *guard.OAuthFlow {
		return &guard.OAuthFlow{TokenURL: cfg.TokenURL, RefreshURL: refresh, Scopes: scopes}
	}
	flows := &guard.OAuthFlows{}
	if e.cfg.EnablePasswordGrant {
		flows.Password = flow()
	}
	if e.cfg.Clients != nil {
		flows.ClientCredentials = flow()
	}
	if e.cfg.AuthCodes != nil {
		if cfg.AuthorizationURL == "" {
			errs = append(errs, errors.New("guard: OAuth2SchemeConfig.AuthorizationURL is required: the endpoint serves the authorization code grant"))
		}
		flows.AuthorizationCode = flow()
		flows.AuthorizationCode.AuthorizationURL = cfg.AuthorizationURL
	}
	s := guard.NamedScheme{Name: cfg.Name, Scheme: guard.SecurityScheme{Type: "oauth2", Description: cfg.Description, Flows: flows}}
	if err := s.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return guard.NamedScheme{}, err
	}
	return s, nil
}
