package authserver

import (
	"context"
	"errors"

	"github.com/guardkit/guard"
)

// refreshGrant serves grant_type=refresh_token (RFC 6749 §6).
func (e *TokenEndpoint) refreshGrant(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	raw := req.form["refresh_token"]
	if raw == "" {
		return nil, errTokenNoRefresh
	}
	requested, err := parseScope(req.form["scope"])
	if err != nil {
		return nil, err
	}
	client, err := e.authenticateClient(ctx, req, grantRefreshToken)
	if err != nil {
		return nil, err
	}
	clientID := ""
	if client != nil {
		clientID = req.clientID
	}
	presented, ok := parseRefreshToken(raw)
	if !ok {
		e.log(ctx, "refresh failed", "client_id", clientID, "ip", req.ip, "reason", "malformed")
		return nil, errTokenBadRefresh
	}
	rs := e.refresh
	now := rs.now()
	next := newRefreshToken(presented.seed())
	rot := RefreshRotation{Family: presented.family, ClientID: clientID, Presented: presented.digest, Next: next.digest,
		Now: now, IdleUntil: now.Add(rs.idle)}
	if rs.grace > 0 {
		rot.GraceUntil = now.Add(rs.grace)
		rot.Sealed = sealSuccessor(presented.raw, next.raw)
	}
	fam, sealed, err := rs.store.RotateRefreshToken(ctx, rot)
	switch {
	case errors.Is(err, ErrRefreshTokenReused):
		e.log(ctx, "refresh token reused: family revoked", "client_id", clientID, "ip", req.ip)
		return nil, errTokenReusedGrant
	case errors.Is(err, guard.ErrNotFound), errors.Is(err, guard.ErrUnauthorizedClient):
		e.log(ctx, "refresh failed", "client_id", clientID, "ip", req.ip, "reason", refreshFailReason(err))
		return nil, errTokenBadRefresh
	case err != nil:
		return nil, e.storeDown(ctx, "refresh store", err)
	}
	successor := next.raw
	if sealed != nil {
		if successor, ok = openSuccessor(presented.raw, sealed); !ok {
			return nil, e.storeDown(ctx, "refresh store", errors.New("sealed successor does not open"))
		}
	}
	c, granted, err := e.refreshClaims(ctx, req, client, fam, requested)
	if err != nil {
		return nil, err
	}
	resp, err := e.issue(ctx, c, requested, granted)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = successor
	return resp, nil
}

func refreshFailReason(err error) string {
	if errors.Is(err, guard.ErrUnauthorizedClient) {
		return "issued to another client"
	}
	return "unknown, expired or revoked"
}

// refreshClaims re-reads the family's user and builds the access token's
// claims. A user that is gone, disabled or revoked ends the family.
func (e *TokenEndpoint) refreshClaims(ctx context.Context, req *tokenRequest, client *Client, fam RefreshFamily, requested []string) (guard.Claims, []string, error) {
	u, err := e.cfg.Users.LookupUser(ctx, fam.Username)
	if err != nil && !errors.Is(err, guard.ErrNotFound) {
		return guard.Claims{}, nil, e.storeDown(ctx, "user store", err)
	}
	reason := ""
	switch {
	case err != nil:
		reason = "unknown user"
	case u.Disabled:
		reason = "disabled user"
	}
	if reason == "" && e.refresh.revocations != nil {
		revoked, err := e.refresh.revocations.Revoked(ctx, &guard.Claims{Subject: fam.Subject, IssuedAt: fam.AuthTime})
		if err != nil {
			return guard.Claims{}, nil, e.storeDown(ctx, "revocation store", err)
		}
		if revoked {
			reason = "subject revoked"
		}
	}
	if reason != "" {
		e.log(ctx, "refresh failed", "username", fam.Username, "ip", req.ip, "reason", reason)
		if err := e.refresh.store.RevokeRefreshFamily(ctx, fam.ID, fam.ClientID); err != nil && !errors.Is(err, guard.ErrNotFound) {
			return guard.Claims{}, nil, e.storeDown(ctx, "refresh store", err)
		}
		return guard.Claims{}, nil, errTokenBadRefresh
	}
	allowed := intersect(fam.Scopes, u.Scopes)
	if client != nil {
		allowed = intersect(allowed, client.Scopes)
	}
	granted, err := grantScopes(requested, allowed)
	if err != nil {
		return guard.Claims{}, nil, err
	}
	sub := u.Subject
	if sub == "" {
		sub = fam.Username
	}
	c := guard.Claims{Subject: sub, Roles: u.Roles, Scopes: granted, ClientID: fam.ClientID}
	if err := e.addExtraClaims(ctx, &c, grantRefreshToken, fam.Username); err != nil {
		return guard.Claims{}, nil, err
	}
	return c, granted, nil
}
