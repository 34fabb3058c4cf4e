package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
)

// providerMetadata is what guard reads of an OpenID Provider's or an
// authorization server's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414
// §2). Other members are ignored.
type providerMetadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// discoveryURLs returns where the metadata of issuer lives: OpenID Connect
// Discovery 1.0 §4 appends /.well-known/openid-configuration to the issuer;
// RFC 8414 §3 inserts /.well-known/oauth-authorization-server between the
// host and the issuer's path.
func discoveryURLs(issuer string, insecure bool) (oidc, oauth string, err error) {
	u, err := checkRemoteURL(issuer, insecure)
	if err != nil {
		return "", "", err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", "", fmt.Errorf("guard: issuer %q has a query", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	base := u.Scheme + "://" + u.Host
	return base + path + "/.well-known/openid-configuration",
		base + "/.well-known/oauth-authorization-server" + path, nil
}

// parseProviderMetadata reads a discovery document fetched for issuer. It
// requires strict JSON (no duplicate members, valid UTF-8), an "issuer"
// equal to issuer byte for byte (ErrIssuerMismatch), and a "jwks_uri" that
// passes the same URL rule as the issuer (https, or http to loopback) and
// keeps its security: an https issuer's jwks_uri is https, as plain http
// to loopback is for a loopback http issuer only (see discoveredURL).
func parseProviderMetadata(data []byte, issuer string, insecure bool) (providerMetadata, error) {
	m, err := decodeProviderMetadata(data, issuer)
	if err != nil {
		return providerMetadata{}, err
	}
	if m.JWKSURI == "" {
		return providerMetadata{}, errors.New("guard: discovery document has no jwks_uri")
	}
	if err := discoveredURL(issuer, m.JWKSURI, insecure); err != nil {
		return providerMetadata{}, fmt.Errorf("guard: discovery document's jwks_uri: %w", err)
	}
	return m, nil
}

// discoveredURL checks a URL that issuer's discovery document names: the
// rule of checkRemoteURL, and https when the issuer is https (an https
// issuer pointing at http, even to loopback, would let whoever answers
// there supply keys), unless insecure allows plain http.
func discoveredURL(issuer, raw string, insecure bool) error {
	u, err := checkRemoteURL(raw, insecure)
	if err != nil {
		return err
	}
	if !insecure && u.Scheme != "https" && strings.HasPrefix(issuer, "https://") {
		return fmt.Errorf("%w: %q is plain http for the https issuer %q", ErrInsecureURL, raw, issuer)
	}
	return nil
}

// decodeProviderMetadata reads a discovery document fetched for issuer:
// strict JSON (no duplicate members, valid UTF-8) and an "issuer" equal to
// issuer byte for byte (ErrIssuerMismatch). The URLs it holds are not
// checked here.
func decodeProviderMetadata(data []byte, issuer string) (providerMetadata, error) {
	var m providerMetadata
	if err := json.Unmarshal(data, &m); err != nil {
		return providerMetadata{}, fmt.Errorf("guard: malformed discovery document: %w", err)
	}
	if m.Issuer != issuer {
		return providerMetadata{}, fmt.Errorf("%w: the document for %q names issuer %q", ErrIssuerMismatch, issuer, m.Issuer)
	}
	return m, nil
}

// fetchProviderMetadata fetches issuer's metadata document, the OpenID
// Connect one first and, when that answers 404, the RFC 8414 one.
func fetchProviderMetadata(ctx context.Context, c *http.Client, issuer string, max int64, timeout time.Duration, insecure bool) ([]byte, error) {
	oidc, oauth, err := discoveryURLs(issuer, insecure)
	if err != nil {
		return nil, err
	}
	body, _, _, err := fetchDocument(ctx, c, oidc, max, timeout)
	if errors.Is(err, errNotFound) {
		body, _, _, err = fetchDocument(ctx, c, oauth, max, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("guard: discovery for %q: %w", issuer, err)
	}
	return body, nil
}

// discoverJWKSURI fetches issuer's metadata and returns its jwks_uri.
func discoverJWKSURI(ctx context.Context, c *http.Client, issuer string, max int64, timeout time.Duration, insecure bool) (string, error) {
	body, err := fetchProviderMetadata(ctx, c, issuer, max, timeout, insecure)
	if err != nil {
		return "", err
	}
	m, err := parseProviderMetadata(body, issuer, insecure)
	if err != nil {
		return "", err
	}
	return m.JWKSURI, nil
}

// discoverIntrospectionEndpoint fetches issuer's metadata and returns its
// introspection_endpoint (RFC 8414 §2), which must pass the same URL rule
// as the issuer (https, or http to loopback).
func discoverIntrospectionEndpoint(ctx context.Context, c *http.Client, issuer string, timeout time.Duration) (string, error) {
	body, err := fetchProviderMetadata(ctx, c, issuer, DefaultMaxRemoteBytes, timeout, false)
	if err != nil {
		return "", err
	}
	m, err := decodeProviderMetadata(body, issuer)
	if err != nil {
		return "", err
	}
	if m.IntrospectionEndpoint == "" {
		return "", fmt.Errorf("guard: the discovery document of %q has no introspection_endpoint", issuer)
	}
	if err := discoveredURL(issuer, m.IntrospectionEndpoint, false); err != nil {
		return "", fmt.Errorf("guard: discovery document's introspection_endpoint: %w", err)
	}
	return m.IntrospectionEndpoint, nil
}
