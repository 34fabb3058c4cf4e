package authserver

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

// The client metadata of RFC 7591 §2 that registration reads, and how.

// Registration errors (RFC 7591 §3.2.2), answered 400 with the code as
// "error".
var (
	// ErrInvalidClientMetadata: a metadata value is malformed or not
	// allowed by the app's policy (code invalid_client_metadata).
	ErrInvalidClientMetadata = errors.New("guard: invalid client metadata")
	// ErrInvalidRedirectURI: a redirect URI is malformed or not allowed
	// (code invalid_redirect_uri).
	ErrInvalidRedirectURI = errors.New("guard: invalid redirect URI")
)

// Bounds of one registration request.
const (
	// MaxRedirectURIs is how many redirect_uris a client may register.
	MaxRedirectURIs = 10
	// MaxRedirectURIBytes bounds one redirect URI.
	MaxRedirectURIBytes = 2048
	// MaxClientNameBytes bounds client_name.
	MaxClientNameBytes = 256
)

// Token endpoint authentication methods a client may register.
const (
	authMethodNone        = "none"
	authMethodSecretBasic = "client_secret_basic"
	authMethodSecretPost  = "client_secret_post"
)

func metadataError(desc string) *guard.Error {
	return &guard.Error{Status: http.StatusBadRequest, Code: "invalid_client_metadata", Description: desc, Err: ErrInvalidClientMetadata}
}

func redirectURIError(desc string) *guard.Error {
	return &guard.Error{Status: http.StatusBadRequest, Code: "invalid_redirect_uri", Description: desc, Err: ErrInvalidRedirectURI}
}

// clientMetadata is the part of an RFC 7591 §2 request guard reads. Other
// members are ignored, as §2 requires of metadata a server does not
// understand, and are neither stored nor echoed. A pointer or a nil slice
// is a member left out (or null): the default applies.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod *string  `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              *string  `json:"client_name"`
	Scope                   *string  `json:"scope"`
}

// registrationPolicy is what the app allows (RegistrationConfig with its
// defaults).
type registrationPolicy struct {
	confidential  bool     // AllowConfidentialClients
	grants        []string // grant types a client may register
	scopes        []string // scopes a client may register
	customSchemes bool     // DangerouslyAllowCustomSchemeRedirectURIs
}

// registration is an accepted request: what is registered and echoed.
type registration struct {
	method        string
	grants        []string
	responseTypes []string
	redirectURIs  []string
	scopes        []string
	name          string
}

// parseRegistration reads and checks a registration request body against
// the policy. It never panics; every refusal is a 400 with
// invalid_client_metadata or invalid_redirect_uri.
func (p *registrationPolicy) parseRegistration(body []byte) (*registration, *guard.Error) {
	var m clientMetadata
	// Duplicate members and invalid UTF-8 are refused by the decoder; a
	// body that is not one JSON object is refused too.
	if err := json.Unmarshal(body, &m, json.RejectUnknownMembers(false)); err != nil {
		return nil, metadataError("body must be a JSON object of client metadata")
	}
	reg := &registration{}

	switch {
	case m.TokenEndpointAuthMethod == nil && p.confidential:
		reg.method = authMethodSecretBasic // RFC 7591 §2's default
	case m.TokenEndpointAuthMethod == nil:
		// The default would be client_secret_basic; a server that takes
		// only public clients registers one and says so (§3.2.1).
		reg.method = authMethodNone
	default:
		reg.method = *m.TokenEndpointAuthMethod
	}
	switch reg.method {
	case authMethodNone:
	case authMethodSecretBasic, authMethodSecretPost:
		if !p.confidential {
			return nil, metadataError("only public clients (token_endpoint_auth_method none) may register")
		}
	default:
		return nil, metadataError("unsupported token_endpoint_auth_method")
	}

	reg.grants = []string{grantAuthorizationCode} // §2's default
	if m.GrantTypes != nil {
		reg.grants = nil
		for _, g := range m.GrantTypes {
			if !slices.Contains(p.grants, g) {
				return nil, metadataError("grant type not allowed")
			}
			if !slices.Contains(reg.grants, g) {
				reg.grants = append(reg.grants, g)
			}
		}
	}
	hasCode := slices.Contains(reg.grants, grantAuthorizationCode)
	switch {
	case len(reg.grants) == 0:
		return nil, metadataError("grant_types is empty")
	case slices.Contains(reg.grants, grantRefreshToken) && !hasCode:
		return nil, metadataError("refresh_token needs authorization_code")
	case slices.Contains(reg.grants, grantClientCredentials) && reg.method == authMethodNone:
		return nil, metadataError("client_credentials needs a confidential client")
	}

	reg.responseTypes = []string{}
	if hasCode {
		reg.responseTypes = []string{"code"}
	}
	if m.ResponseTypes != nil {
		for _, rt := range m.ResponseTypes {
			if rt != "code" {
				return nil, metadataError("only response_type code is supported")
			}
		}
		// §2.1: response type code goes with the authorization_code grant.
		if (len(m.ResponseTypes) > 0) != hasCode {
			return nil, metadataError("response_types and grant_types do not agree")
		}
	}

	if len(m.RedirectURIs) > MaxRedirectURIs {
		return nil, redirectURIError("too many redirect_uris")
	}
	for _, u := range m.RedirectURIs {
		if reason := checkRedirectURI(u, p.customSchemes); reason != "" {
			return nil, redirectURIError(reason)
		}
		if !slices.Contains(reg.redirectURIs, u) {
			reg.redirectURIs = append(reg.redirectURIs, u)
		}
	}
	if hasCode && len(reg.redirectURIs) == 0 {
		return nil, redirectURIError("redirect_uris required for the authorization_code grant")
	}

	reg.scopes = slices.Clone(p.scopes) // left out: every scope the policy allows
	if m.Scope != nil {
		requested, err := parseScope(*m.Scope)
		if err != nil {
			return nil, metadataError("malformed scope")
		}
		if reg.scopes, err = grantScopes(requested, p.scopes); err != nil {
			return nil, metadataError("scope not allowed")
		}
	}

	if m.ClientName != nil {
		reg.name = *m.ClientName
		if len(reg.name) > MaxClientNameBytes || strings.ContainsFunc(reg.name, isControl) {
			return nil, metadataError("client_name too long or with control characters")
		}
	}
	return reg, nil
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) }

// checkRedirectURI returns why s may not be registered as a redirect URI,
// or "": an absolute URI without fragment or user info, of at most
// [MaxRedirectURIBytes], without spaces or control characters, whose
// scheme is https (with a host), or http to a loopback host (127.0.0.1,
// [::1] or localhost, any port: RFC 8252 §7.3, §8.3), or, with custom, a
// private-use scheme (RFC 8252 §7.1) other than ones a browser runs or
// reads (javascript, data, vbscript, file, blob, about).
func checkRedirectURI(s string, custom bool) string {
	if s == "" || len(s) > MaxRedirectURIBytes || strings.ContainsFunc(s, func(r rune) bool { return r == ' ' || isControl(r) }) {
		return "malformed redirect URI"
	}
	if strings.Contains(s, "#") {
		return "redirect URI with a fragment" // RFC 6749 §3.1.2
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "redirect URI must be an absolute URI"
	}
	if u.User != nil {
		return "redirect URI with user info"
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "https":
		if u.Host == "" || u.Hostname() == "" {
			return "https redirect URI without a host"
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return "http redirect URI to a host other than loopback"
		}
	case "javascript", "data", "vbscript", "file", "blob", "about", "ws", "wss", "ftp":
		return "redirect URI scheme not allowed"
	default:
		if !custom {
			return "redirect URI must be https, or http to loopback"
		}
		if u.Opaque == "" && u.Host == "" && u.Path == "" {
			return "redirect URI must be an absolute URI"
		}
	}
	return ""
}

// isLoopbackHost reports whether host (without port or brackets) is
// 127.0.0.1, ::1 or localhost. Other 127/8 addresses are not: RFC 8252
// §7.3 names these.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && (a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback())
}
