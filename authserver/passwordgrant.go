package authserver

import (
	"context"

	"github.com/guardkit/guard"
)

// passwordGrant serves grant_type=password (RFC 6749 §4.3). It reads top to
// bottom as the steps it shares with the other grants: the form, the client
// (clientauth.go), the throttled password check (login.go), the scopes
// (scope.go), the claims hook (claimshook.go), the access token (issue.go)
// and, for a client that gets them, a new refresh family (refresh.go).
func (e *TokenEndpoint) passwordGrant(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	username, password := req.form["username"], req.form["password"]
	if username == "" || password == "" {
		return nil, errTokenMissing
	}
	if len(username) > MaxAccountNameLen {
		return nil, errTokenLongName
	}
	requested, err := parseScope(req.form["scope"])
	if err != nil {
		return nil, err
	}
	resources, err := requestResources(req)
	if err != nil {
		return nil, err
	}
	client, err := e.authenticateClient(ctx, req, grantPassword)
	if err != nil {
		return nil, err
	}
	// Checked before the password, so that a refused resource costs no
	// hash and says nothing about the user.
	if resources, err = grantResources(resources, clientResources(client), nil); err != nil {
		return nil, err
	}
	u, needsRehash, err := e.checkPassword(ctx, req, username, password)
	if err != nil {
		return nil, err
	}
	account := u.Username
	allowed := u.Scopes
	if client != nil {
		allowed = intersect(allowed, client.Scopes)
	}
	granted, err := grantScopes(requested, allowed)
	if err != nil {
		return nil, err
	}
	if needsRehash {
		e.rehash(ctx, account, guard.Secret(password))
	}
	sub := u.Subject
	if sub == "" {
		sub = account
	}
	c := guard.Claims{Subject: sub, Roles: u.Roles, Scopes: granted, Audience: resources}
	if client != nil {
		c.ClientID = req.clientID
	}
	if err := e.addExtraClaims(ctx, &c, grantPassword, account); err != nil {
		return nil, err
	}
	at := e.newAccessToken()
	c.ID, c.ExpiresAt = at.ID, at.ExpiresAt
	resp, err := e.issue(ctx, req, c, requested, granted)
	if err != nil || !e.refreshFor(client) {
		return resp, err
	}
	// The family keeps the login's grant, the bound of later refreshes.
	resp.RefreshToken, _, err = e.startFamily(ctx, RefreshFamily{ClientID: c.ClientID, Username: account, Subject: sub,
		Scopes: granted, Resources: resources, KeyThumbprint: familyKey(req, client)}, at)
	return resp, err
}
