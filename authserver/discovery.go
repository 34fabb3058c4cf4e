package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

// DiscoveryConfig configures [DiscoveryHandler]. The application passes its
// own URLs and lists; nothing is guessed from requests. The config is
// copied; changing it afterwards has no effect.
type DiscoveryConfig struct {
	// Issuer is the "iss" of the tokens, an absolute http or https URL with
	// no query or fragment; clients require it to equal the URL they
	// discovered from. Required.
	Issuer string
	// JWKSURI is the absolute URL of the JWKS handler. Required.
	JWKSURI string
	// AuthorizationEndpoint is the absolute URL of the [AuthorizeEndpoint]
	// (RFC 8414 §2). Default: not published.
	AuthorizationEndpoint string
	// TokenEndpoint is the absolute URL of the token endpoint. Default:
	// not published.
	TokenEndpoint string
	// RevocationEndpoint is the absolute URL of the revocation endpoint
	// ([TokenEndpoint.RevocationEndpoint], RFC 7009), published as
	// revocation_endpoint (RFC 8414 §2). Default: not published.
	RevocationEndpoint string
	// IntrospectionEndpoint is the absolute URL of the introspection
	// endpoint ([TokenEndpoint.IntrospectionEndpoint], RFC 7662), published
	// as introspection_endpoint (RFC 8414 §2); a resource server's
	// [guard.IntrospectionChecker] finds it there. Default: not published.
	IntrospectionEndpoint string
	// IntrospectionEndpointAuthMethodsSupported, published as
	// introspection_endpoint_auth_methods_supported: "client_secret_basic"
	// and "client_secret_post" are what the endpoint takes; "none" is
	// refused, as introspection needs an authenticated client. It needs
	// IntrospectionEndpoint. Default: not published.
	IntrospectionEndpointAuthMethodsSupported []string
	// RegistrationEndpoint is the absolute URL of the [RegistrationEndpoint]
	// (RFC 7591), published as registration_endpoint (RFC 8414 §2).
	// Default: not published.
	RegistrationEndpoint string
	// DPoPSigningAlgValuesSupported lists the DPoP proof algorithms the
	// token endpoint takes (RFC 9449 §5.1), published as
	// dpop_signing_alg_values_supported. Default: not published.
	DPoPSigningAlgValuesSupported []string
	// GrantTypesSupported, such as "password" and "client_credentials".
	// Default: not published.
	GrantTypesSupported []string
	// TokenEndpointAuthMethodsSupported, such as "client_secret_basic" and
	// "client_secret_post". Default: not published.
	TokenEndpointAuthMethodsSupported []string
	// ScopesSupported lists the scopes clients may ask for. Default: not
	// published.
	ScopesSupported []string
	// ResponseTypesSupported lists the authorization endpoint's response
	// types. Default: an empty list, as a server with a token endpoint
	// only has none.
	ResponseTypesSupported []string
	// CodeChallengeMethodsSupported lists the PKCE methods (RFC 7636 §6.2);
	// the [AuthorizeEndpoint] takes "S256" only, and "plain" is refused here
	// (RFC 9700 §2.1.1). Default: not published.
	CodeChallengeMethodsSupported []string
	// AuthorizationResponseIssParameterSupported publishes that responses
	// from the authorization endpoint carry "iss" (RFC 9207 §3), as the
	// [AuthorizeEndpoint]'s do; it needs AuthorizationEndpoint. Default false.
	AuthorizationResponseIssParameterSupported bool
	// SubjectTypesSupported (OpenID Connect). Default ["public"].
	SubjectTypesSupported []string
	// Keys, when set, gives the signing algorithms published as
	// id_token_signing_alg_values_supported: those of the set's public keys
	// at the time of each request (HMAC keys are never listed). Clients
	// such as go-oidc accept only the algorithms listed there. Default nil:
	// SigningAlgorithms is published instead.
	Keys *guard.KeySet
	// SigningAlgorithms is published as id_token_signing_alg_values_supported
	// when Keys is nil. Default: not published.
	SigningAlgorithms []guard.Algorithm
	// MaxAge is the Cache-Control max-age, a whole number of seconds.
	// Default 5 minutes.
	MaxAge time.Duration
}

// discoveryDoc is the metadata document (RFC 8414 §2, OpenID Connect
// Discovery 1.0 §3).
type discoveryDoc struct {
	Issuer                            string   `json:"issuer"`
	JWKSURI                           string   `json:"jwks_uri"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitzero"`
	TokenEndpoint                     string   `json:"token_endpoint,omitzero"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitzero"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint,omitzero"`
	IntrospectionAuthMethods          []string `json:"introspection_endpoint_auth_methods_supported,omitzero"`
	RegistrationEndpoint              string   `json:"registration_endpoint,omitzero"`
	DPoPSigningAlgs                   []string `json:"dpop_signing_alg_values_supported,omitzero"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitzero"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitzero"`
	ScopesSupported                   []string `json:"scopes_supported,omitzero"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	CodeChallengeMethods              []string `json:"code_challenge_methods_supported,omitzero"`
	IssParameterSupported             bool     `json:"authorization_response_iss_parameter_supported,omitzero"`
	SigningAlgs                       []string `json:"id_token_signing_alg_values_supported,omitzero"`
}

// DiscoveryHandler returns a handler serving authorization server metadata
// as JSON, for both /.well-known/openid-configuration (OpenID Connect
// Discovery 1.0) and /.well-known/oauth-authorization-server (RFC 8414; for
// an issuer with a path, RFC 8414 §3 puts the path after that name): mount
// it where the application's clients look. GET and HEAD only (405
// otherwise), with Cache-Control public and MaxAge. DiscoveryHandler
// reports every invalid field at once. The handler is safe for concurrent
// use and never fails.
func DiscoveryHandler(cfg DiscoveryConfig) (http.Handler, error) {
	var errs []error
	if err := checkMetadataURL(cfg.Issuer, true); err != nil {
		errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.Issuer: %w", err))
	}
	if err := checkMetadataURL(cfg.JWKSURI, false); err != nil {
		errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.JWKSURI: %w", err))
	}
	if cfg.TokenEndpoint != "" {
		if err := checkMetadataURL(cfg.TokenEndpoint, false); err != nil {
			errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.TokenEndpoint: %w", err))
		}
	}
	if cfg.RevocationEndpoint != "" {
		if err := checkMetadataURL(cfg.RevocationEndpoint, false); err != nil {
			errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.RevocationEndpoint: %w", err))
		}
	}
	if cfg.RegistrationEndpoint != "" {
		if err := checkMetadataURL(cfg.RegistrationEndpoint, false); err != nil {
			errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.RegistrationEndpoint: %w", err))
		}
	}
	if cfg.IntrospectionEndpoint != "" {
		if err := checkMetadataURL(cfg.IntrospectionEndpoint, false); err != nil {
			errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.IntrospectionEndpoint: %w", err))
		}
	} else if len(cfg.IntrospectionEndpointAuthMethodsSupported) > 0 {
		errs = append(errs, errors.New("guard: DiscoveryConfig.IntrospectionEndpointAuthMethodsSupported needs IntrospectionEndpoint"))
	}
	if slices.Contains(cfg.IntrospectionEndpointAuthMethodsSupported, "none") {
		errs = append(errs, errors.New(`guard: DiscoveryConfig.IntrospectionEndpointAuthMethodsSupported lists "none" (introspection needs client authentication)`))
	}
	if cfg.AuthorizationEndpoint != "" {
		if err := checkMetadataURL(cfg.AuthorizationEndpoint, false); err != nil {
			errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.AuthorizationEndpoint: %w", err))
		}
	} else if cfg.AuthorizationResponseIssParameterSupported {
		errs = append(errs, errors.New("guard: DiscoveryConfig.AuthorizationResponseIssParameterSupported needs AuthorizationEndpoint"))
	}
	if slices.Contains(cfg.CodeChallengeMethodsSupported, "plain") {
		errs = append(errs, errors.New(`guard: DiscoveryConfig.CodeChallengeMethodsSupported lists "plain" (RFC 9700 §2.1.1: S256 only)`))
	}
	for name, list := range map[string][]string{
		"GrantTypesSupported": cfg.GrantTypesSupported, "TokenEndpointAuthMethodsSupported": cfg.TokenEndpointAuthMethodsSupported,
		"ScopesSupported": cfg.ScopesSupported, "ResponseTypesSupported": cfg.ResponseTypesSupported,
		"SubjectTypesSupported": cfg.SubjectTypesSupported, "CodeChallengeMethodsSupported": cfg.CodeChallengeMethodsSupported,
		"IntrospectionEndpointAuthMethodsSupported": cfg.IntrospectionEndpointAuthMethodsSupported,
		"DPoPSigningAlgValuesSupported":             cfg.DPoPSigningAlgValuesSupported,
	} {
		if slices.Contains(list, "") {
			errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.%s has an empty entry", name))
		}
	}
	for _, a := range cfg.SigningAlgorithms {
		if !a.Valid() {
			errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.SigningAlgorithms: unsupported %q", a))
		}
	}
	if cfg.Keys != nil && len(cfg.SigningAlgorithms) > 0 {
		errs = append(errs, errors.New("guard: DiscoveryConfig has both Keys and SigningAlgorithms; set one"))
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 5 * time.Minute
	}
	if maxAge < time.Second || maxAge%time.Second != 0 {
		errs = append(errs, fmt.Errorf("guard: DiscoveryConfig.MaxAge %v is not a positive number of whole seconds", cfg.MaxAge))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	doc := discoveryDoc{
		Issuer:                            cfg.Issuer,
		JWKSURI:                           cfg.JWKSURI,
		AuthorizationEndpoint:             cfg.AuthorizationEndpoint,
		TokenEndpoint:                     cfg.TokenEndpoint,
		RevocationEndpoint:                cfg.RevocationEndpoint,
		IntrospectionEndpoint:             cfg.IntrospectionEndpoint,
		IntrospectionAuthMethods:          slices.Clone(cfg.IntrospectionEndpointAuthMethodsSupported),
		RegistrationEndpoint:              cfg.RegistrationEndpoint,
		DPoPSigningAlgs:                   slices.Clone(cfg.DPoPSigningAlgValuesSupported),
		GrantTypesSupported:               slices.Clone(cfg.GrantTypesSupported),
		TokenEndpointAuthMethodsSupported: slices.Clone(cfg.TokenEndpointAuthMethodsSupported),
		ScopesSupported:                   slices.Clone(cfg.ScopesSupported),
		ResponseTypesSupported:            append([]string{}, cfg.ResponseTypesSupported...),
		SubjectTypesSupported:             slices.Clone(cfg.SubjectTypesSupported),
		CodeChallengeMethods:              slices.Clone(cfg.CodeChallengeMethodsSupported),
		IssParameterSupported:             cfg.AuthorizationResponseIssParameterSupported,
	}
	if doc.SubjectTypesSupported == nil {
		doc.SubjectTypesSupported = []string{"public"}
	}
	for _, a := range cfg.SigningAlgorithms {
		doc.SigningAlgs = append(doc.SigningAlgs, string(a))
	}
	static, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	keys := cfg.Keys
	cacheControl := "public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body := static
		if keys != nil {
			d := doc
			snap, _ := keys.VerificationKeys(r.Context()) // a KeySet always has its keys
			d.SigningAlgs = publishedAlgorithms(snap)
			if b, err := json.Marshal(d); err == nil {
				body = b
			}
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", cacheControl)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}), nil
}

// publishedAlgorithms lists, once each and in order, the algorithms of the
// public (non-HMAC) keys of s.
func publishedAlgorithms(s *guard.KeySnapshot) []string {
	var algs []string
	for _, k := range s.Keys() {
		if alg := string(k.Algorithm()); !k.Symmetric() && !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
	}
	return algs
}

// checkMetadataURL checks an absolute http or https URL; an issuer also
// may not have a query or fragment (RFC 8414 §2).
func checkMetadataURL(s string, issuer bool) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	if issuer && (u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.User != nil) {
		return fmt.Errorf("%q has a query, fragment or user info", s)
	}
	return nil
}
