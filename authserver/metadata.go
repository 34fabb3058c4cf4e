package authserver

import (
	"strings"

	"github.com/guardkit/guard"
)

// The paths [Discovery] assumes under the server's base URL.
const (
	PathToken         = "/token"
	PathRevoke        = "/revoke"
	PathIntrospect    = "/introspect"
	PathAuthorize     = "/authorize"
	PathRegister      = "/register"
	PathJWKS          = "/.well-known/jwks.json"
	PathOpenIDConfig  = "/.well-known/openid-configuration"
	PathOAuthMetadata = "/.well-known/oauth-authorization-server"
)

// Discovery returns the metadata of a server at base (its public base URL,
// which is also the tokens' issuer) whose endpoints are mounted at the paths
// above: the token endpoint at [PathToken], its RevocationEndpoint at
// [PathRevoke] and IntrospectionEndpoint at [PathIntrospect], the
// authorization endpoint at [PathAuthorize], and the JWK Set of keys at
// [PathJWKS]. What the endpoints serve comes from them, so the document
// cannot drift from the configuration:
//   - from tokens: token_endpoint, revocation_endpoint, grant_types_supported
//     (the grants whose stores are set), token_endpoint_auth_methods_supported
//     (client_secret_basic and client_secret_post with a ClientStore, and
//     none for public clients), with a ClientStore
//     introspection_endpoint with its auth methods, and with DPoP
//     dpop_signing_alg_values_supported (RFC 9449 §5.1);
//   - from authorize: authorization_endpoint, response_types_supported
//     ["code"], code_challenge_methods_supported ["S256"] and
//     authorization_response_iss_parameter_supported;
//   - from keys: id_token_signing_alg_values_supported, at each request.
//
// A [RegistrationEndpoint] is not known here: mount it at [PathRegister]
// and set the result's RegistrationEndpoint to base + PathRegister.
//
// tokens, authorize and keys may each be nil. Change any field of the
// result (ScopesSupported, say, or a URL mounted elsewhere) before passing
// it to [DiscoveryHandler].
func Discovery(base string, tokens *TokenEndpoint, authorize *AuthorizeEndpoint, keys *guard.KeySet) DiscoveryConfig {
	base = strings.TrimSuffix(base, "/")
	cfg := DiscoveryConfig{Issuer: base, JWKSURI: base + PathJWKS, Keys: keys}
	if tokens != nil {
		c := &tokens.cfg
		cfg.TokenEndpoint = base + PathToken
		cfg.RevocationEndpoint = base + PathRevoke
		if c.AuthCodes != nil {
			cfg.GrantTypesSupported = append(cfg.GrantTypesSupported, grantAuthorizationCode)
		}
		if c.EnablePasswordGrant && c.Users != nil {
			cfg.GrantTypesSupported = append(cfg.GrantTypesSupported, grantPassword)
		}
		if c.Clients != nil {
			cfg.GrantTypesSupported = append(cfg.GrantTypesSupported, grantClientCredentials)
		}
		if c.Refresh != nil {
			cfg.GrantTypesSupported = append(cfg.GrantTypesSupported, grantRefreshToken)
		}
		if c.Clients != nil {
			cfg.TokenEndpointAuthMethodsSupported = []string{"client_secret_basic", "client_secret_post"}
			cfg.IntrospectionEndpoint = base + PathIntrospect
			cfg.IntrospectionEndpointAuthMethodsSupported = []string{"client_secret_basic", "client_secret_post"}
		}
		cfg.DPoPSigningAlgValuesSupported = c.DPoP.AlgorithmNames() // nil without DPoP
		if c.Clients == nil || c.AuthCodes != nil || c.EnablePasswordGrant || c.Refresh != nil {
			// Public clients name themselves with client_id and no secret.
			cfg.TokenEndpointAuthMethodsSupported = append(cfg.TokenEndpointAuthMethodsSupported, "none")
		}
	}
	if authorize != nil {
		cfg.AuthorizationEndpoint = base + PathAuthorize
		cfg.ResponseTypesSupported = []string{"code"}
		cfg.CodeChallengeMethodsSupported = []string{"S256"}
		cfg.AuthorizationResponseIssParameterSupported = true
	}
	return cfg
}
