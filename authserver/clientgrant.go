package authserver

import (
	"context"

	"github.com/guardkit/guard"
)

// clientGrant serves grant_type=client_credentials (RFC 6749 §4.4): the
// client authenticates (clientauth.go) and gets a token for itself, its
// client_id as the subject, with no refresh token (§4.4.3).
func (e *TokenEndpoint) clientGrant(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	requested, err := parseScope(req.form["scope"])
	if err != nil {
		return nil, err
	}
	resources, err := requestResources(req)
	if err != nil {
		return nil, err
	}
	client, err := e.authenticateClient(ctx, req, grantClientCredentials)
	if err != nil {
		return nil, err
	}
	granted, err := grantScopes(requested, client.Scopes)
	if err != nil {
		return nil, err
	}
	if resources, err = grantResources(resources, client.Resources, nil); err != nil {
		return nil, err
	}
	c := guard.Claims{Subject: req.clientID, ClientID: req.clientID, Roles: client.Roles, Scopes: granted, Audience: resources}
	if err := e.addExtraClaims(ctx, &c, grantClientCredentials, ""); err != nil {
		return nil, err
	}
	return e.issue(ctx, req, c, requested, granted)
}
