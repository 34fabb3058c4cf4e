package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/guardkit/guard"
)

// Resource indicators (RFC 8707). A client names the protected resource it
// wants a token for with one or more "resource" parameters, at the
// authorization endpoint and at the token endpoint; the token's "aud" is
// then exactly those resources, so a token minted for one MCP server or API
// is refused by another.
//
// The rules, the same at every grant:
//   - each value is an absolute URI without a fragment (RFC 8707 §2), of at
//     most [MaxResourceBytes], without spaces or control characters, and a
//     request names at most [MaxResources]; otherwise 400 invalid_target;
//   - each must be one of the client's [Client].Resources, matched byte for
//     byte; a request that names no client (the password grant without a
//     ClientStore) may name no resource; otherwise 400 invalid_target;
//   - with the authorization code grant, the code remembers the resources
//     of the authorization request; the token request may name a subset of
//     them, and names all of them by naming none;
//   - a refresh token's family remembers the resources of its grant (the
//     code's, or the password grant's request); a refresh may narrow them,
//     never widen (invalid_target), and names all of them by naming none;
//   - a request that names no resource, in a grant that has none, gets a
//     token with the TokenIssuer's own audience (TokenIssuerConfig.Audience),
//     as before resource indicators.

// ErrInvalidTarget: a "resource" parameter is malformed or not allowed to
// the client (RFC 8707 §2, error code invalid_target, status 400).
var ErrInvalidTarget = errors.New("guard: invalid target")

// Bounds of the resource parameters of one request.
const (
	// MaxResources is how many "resource" parameters one request may carry.
	MaxResources = 16
	// MaxResourceBytes bounds one resource URI.
	MaxResourceBytes = 2048
)

var (
	errTargetSyntax  = tokenError(http.StatusBadRequest, "invalid_target", "resource must be an absolute URI without a fragment", ErrInvalidTarget)
	errTargetTooMany = tokenError(http.StatusBadRequest, "invalid_target", "too many resource parameters", ErrInvalidTarget)
	errTargetDenied  = tokenError(http.StatusBadRequest, "invalid_target", "resource not allowed", ErrInvalidTarget)
)

// ValidResourceURI reports whether s is acceptable as a resource indicator:
// an absolute URI (a scheme, and a host for http and https) without a
// fragment, of at most [MaxResourceBytes], in valid UTF-8 and without
// spaces or control characters. Apps may check their Client.Resources with
// it.
func ValidResourceURI(s string) bool {
	if s == "" || len(s) > MaxResourceBytes || !utf8.ValidString(s) || strings.Contains(s, "#") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque == "" && u.Host == "" && u.Path == "" {
		return false
	}
	if (u.Scheme == "https" || u.Scheme == "http") && u.Host == "" {
		return false
	}
	return true
}

// parseResources checks the resource parameters of a request and returns
// them without duplicates, in order; nil for none.
func parseResources(list []string) ([]string, *guard.Error) {
	if len(list) > MaxResources {
		return nil, errTargetTooMany
	}
	var out []string
	for _, s := range list {
		if !ValidResourceURI(s) {
			return nil, errTargetSyntax
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// grantResources returns the resources a request gets: requested when each
// is allowed (else invalid_target), or dflt when none was requested.
func grantResources(requested, allowed, dflt []string) ([]string, error) {
	if len(requested) == 0 {
		return slices.Clone(dflt), nil
	}
	for _, s := range requested {
		if !slices.Contains(allowed, s) {
			return nil, errTargetDenied
		}
	}
	return requested, nil
}

// requestResources parses the resource parameters of a token request.
func requestResources(req *tokenRequest) ([]string, error) {
	res, err := parseResources(req.resources)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// clientResources is what client may ask for; nil without a client.
func clientResources(client *Client) []string {
	if client == nil {
		return nil
	}
	return client.Resources
}
