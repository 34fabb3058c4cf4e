package authserver

import (
	"context"
	"fmt"
	"slices"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
	"github.com/guardkit/guard/internal/claimsjson"
)

// ClaimsRequest describes an access token the [TokenEndpoint] is about to
// issue, for [TokenEndpointConfig.ExtraClaims]. Its slices are read-only.
type ClaimsRequest struct {
	// Grant is "password", "client_credentials" or "refresh_token".
	Grant string
	// Username is the account's canonical name; "" for client_credentials.
	Username string
	// Subject is the token's "sub".
	Subject string
	// ClientID is the authenticated client; "" when the request named none.
	ClientID string
	// Roles and Scopes are what the token carries.
	Roles, Scopes []string
	// Resources are the resource indicators (RFC 8707) the token is for,
	// its "aud"; none when the request named none (the token then has the
	// TokenIssuer's audience).
	Resources []string
}

// ExtraClaimsFunc returns claims to add to an access token, such as
// {"tenant": "acme"}. Values are encoded as JSON. Returning an error fails
// the request with 503 temporarily_unavailable (the app's dependency is
// down: fail closed). A name the issuer writes itself (iss, sub, aud, exp,
// nbf, iat, jti, client_id, role, roles, scope, scp) is refused: the request
// fails with 500 server_error and the cause goes to the log, so an app bug
// can neither override the token's identity nor go unnoticed.
type ExtraClaimsFunc func(ctx context.Context, req ClaimsRequest) (map[string]any, error)

// addExtraClaims runs the ExtraClaims hook, when configured, for c.
func (e *TokenEndpoint) addExtraClaims(ctx context.Context, c *guard.Claims, grant, username string) error {
	if e.cfg.ExtraClaims == nil {
		return nil
	}
	extra, err := e.cfg.ExtraClaims(ctx, ClaimsRequest{Grant: grant, Username: username, Subject: c.Subject,
		ClientID: c.ClientID, Roles: slices.Clip(c.Roles), Scopes: slices.Clip(c.Scopes), Resources: slices.Clip(c.Audience)})
	if err != nil {
		return e.storeDown(ctx, "ExtraClaims", err)
	}
	if len(extra) == 0 {
		return nil
	}
	for name := range extra {
		if claimsjson.IsRegistered(name) {
			return fmt.Errorf("guard: ExtraClaims returned registered claim %q", name)
		}
	}
	b, err := json.Marshal(extra, json.Deterministic(true))
	if err != nil {
		return fmt.Errorf("guard: ExtraClaims: %w", err)
	}
	c.Extra = b
	return nil
}
