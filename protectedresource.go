package guard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard/internal/syntax"
)

// ProtectedResourceConfig is the OAuth 2.0 protected resource metadata of a
// service (RFC 9728 §2). Resource is required. The config is copied.
type ProtectedResourceConfig struct {
	// Resource is the resource identifier: an https URL without fragment
	// (http only for loopback hosts), such as "https://api.example.com/mcp".
	// Required.
	Resource string
	// AuthorizationServers are the issuer identifiers (RFC 8414) of the
	// authorization servers whose tokens the resource accepts: https URLs
	// without query or fragment (http only for loopback hosts). Default:
	// not published.
	AuthorizationServers []string
	// ScopesSupported are the scopes the resource uses in its
	// authorization decisions (scope tokens, RFC 6749 §3.3). Default: not
	// published.
	ScopesSupported []string
	// BearerMethodsSupported are how a token may be sent: "header",
	// "body", "query" (RFC 6750 §2). Default ["header"] when nil; an empty
	// non-nil slice publishes [] (no bearer tokens, for DPoP-only services).
	BearerMethodsSupported []string
	// DPoPSigningAlgValuesSupported are the accepted DPoP proof algorithms,
	// such as [DPoP.AlgorithmNames]. Default: not published.
	DPoPSigningAlgValuesSupported []string
	// DPoPBoundAccessTokensRequired says that the resource accepts only
	// DPoP-bound tokens (VerifierConfig.DPoPMode [DPoPRequired]). Default false.
	DPoPBoundAccessTokensRequired bool
	// ResourceName is a human-readable name. Default: not published.
	ResourceName string
	// ResourceDocumentation is the URL of the developer documentation.
	// Default: not published.
	ResourceDocumentation string
	// MaxAge is the Cache-Control max-age, a whole number of seconds.
	// Default 1 hour.
	MaxAge time.Duration
}

// protectedResourceDoc is the metadata document (RFC 9728 §2).
type protectedResourceDoc struct {
	Resource              string   `json:"resource"`
	AuthorizationServers  []string `json:"authorization_servers,omitempty"`
	ScopesSupported       []string `json:"scopes_supported,omitempty"`
	BearerMethods         []string `json:"bearer_methods_supported"`
	DPoPAlgs              []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPRequired          bool     `json:"dpop_bound_access_tokens_required,omitzero"`
	ResourceName          string   `json:"resource_name,omitzero"`
	ResourceDocumentation string   `json:"resource_documentation,omitzero"`
}

// ProtectedResourceMetadata returns a handler serving cfg as the RFC 9728
// metadata document, for the path [ProtectedResourceMetadataURL] gives:
// JSON, Cache-Control public with MaxAge, Access-Control-Allow-Origin "*"
// (the document is public, and browser-based clients read it), GET and
// HEAD only (405 with Allow otherwise). It reports every problem of cfg at
// once: a missing or unacceptable Resource or authorization server URL, an
// unknown bearer method, a malformed scope, an empty algorithm, an HMAC
// algorithm, a bad documentation URL or MaxAge.
func ProtectedResourceMetadata(cfg ProtectedResourceConfig) (http.Handler, error) {
	var errs []error
	if cfg.Resource == "" {
		errs = append(errs, errors.New("guard: ProtectedResourceConfig.Resource is required"))
	} else if _, err := checkRemoteURL(cfg.Resource, false); err != nil {
		errs = append(errs, fmt.Errorf("guard: ProtectedResourceConfig.Resource: %w", err))
	}
	for _, as := range cfg.AuthorizationServers {
		u, err := checkRemoteURL(as, false)
		if err == nil && (u.RawQuery != "" || u.ForceQuery) {
			err = fmt.Errorf("%q has a query", as)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("guard: ProtectedResourceConfig.AuthorizationServers: %w", err))
		}
	}
	for _, s := range cfg.ScopesSupported {
		if !syntax.IsScopeToken(s) {
			errs = append(errs, fmt.Errorf("guard: ProtectedResourceConfig.ScopesSupported: %q is not a scope token", s))
		}
	}
	methods := cfg.BearerMethodsSupported
	if methods == nil {
		methods = []string{"header"}
	}
	for _, m := range methods {
		if m != "header" && m != "body" && m != "query" {
			errs = append(errs, fmt.Errorf("guard: ProtectedResourceConfig.BearerMethodsSupported: unknown method %q", m))
		}
	}
	for _, a := range cfg.DPoPSigningAlgValuesSupported {
		if a == "" || a == "none" || Algorithm(a).isHMAC() {
			errs = append(errs, fmt.Errorf("guard: ProtectedResourceConfig.DPoPSigningAlgValuesSupported: %q is not an asymmetric algorithm", a))
		}
	}
	if cfg.ResourceDocumentation != "" {
		if u, err := url.Parse(cfg.ResourceDocumentation); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("guard: ProtectedResourceConfig.ResourceDocumentation %q is not an absolute http(s) URL", cfg.ResourceDocumentation))
		}
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = time.Hour
	}
	if maxAge < time.Second || maxAge%time.Second != 0 {
		errs = append(errs, fmt.Errorf("guard: ProtectedResourceConfig.MaxAge %v is not a positive number of whole seconds", cfg.MaxAge))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	body, err := json.Marshal(protectedResourceDoc{
		Resource:              cfg.Resource,
		AuthorizationServers:  slices.Clone(cfg.AuthorizationServers),
		ScopesSupported:       slices.Clone(cfg.ScopesSupported),
		BearerMethods:         slices.Clone(methods),
		DPoPAlgs:              slices.Clone(cfg.DPoPSigningAlgValuesSupported),
		DPoPRequired:          cfg.DPoPBoundAccessTokensRequired,
		ResourceName:          cfg.ResourceName,
		ResourceDocumentation: cfg.ResourceDocumentation,
	})
	if err != nil {
		return nil, err
	}
	cacheControl := "public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", cacheControl)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", length)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}), nil
}

// ProtectedResourceMetadataURL returns the URL of resource's metadata
// (RFC 9728 §3.1): "/.well-known/oauth-protected-resource" inserted
// between the host and the path, so "https://api.example.com" gives
// "https://api.example.com/.well-known/oauth-protected-resource" and
// "https://api.example.com/mcp" gives
// "https://api.example.com/.well-known/oauth-protected-resource/mcp". A
// trailing slash of the path is dropped; a query is kept. resource must be
// acceptable as ProtectedResourceConfig.Resource.
func ProtectedResourceMetadataURL(resource string) (string, error) {
	u, err := checkRemoteURL(resource, false)
	if err != nil {
		return "", fmt.Errorf("guard: resource: %w", err)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	m := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery, ForceQuery: u.ForceQuery}
	m.Path = "/.well-known/oauth-protected-resource" + u.Path
	m.Path = strings.TrimSuffix(m.Path, "/")
	m.RawPath = "/.well-known/oauth-protected-resource" + path
	return m.String(), nil
}

// checkMetadataURL checks a resource metadata URL (VerifierConfig.ResourceMetadata).
func checkMetadataURL(raw string) error {
	_, err := checkRemoteURL(raw, false)
	return err
}
