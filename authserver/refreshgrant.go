package authserver

import (
	"context"
	"errors"

	"github.com/guardkit/guard"
)

// refreshGrant serves grant_type=refresh_token (RFC 6749 §6).
//
// Every check that can fail (the user, the subject's revocation, the scope,
// ExtraClaims, the signature) runs before the rotation commits, on the
// family as the store holds it, so that a refusal or a 503 leaves the
// presented token current and a retry works. A store error of the rotation
// itself leaves its outcome unknown: the retry of the same token within the
// grace window is then answered as a retry (see RefreshConfig.GraceWindow).
func (e *TokenEndpoint) refreshGrant(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	raw := req.form["refresh_token"]
	if raw == "" {
		return nil, errTokenNoRefresh
	}
	requested, err := parseScope(req.form["scope"])
	if err != nil {
		return nil, err
	}
	// From here on req.resources holds the checked list.
	if req.resources, err = requestResources(req); err != nil {
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
	// The access token is named before the rotation, so that the family
	// records it (and a reuse revokes it).
	at := e.newAccessToken()
	var resp *tokenResponse
	fam, _, err := rs.store.LookupRefreshToken(ctx, presented.family, presented.digest, now)
	switch {
	case err == nil && fam.ClientID == clientID:
		if resp, err = e.refreshResponse(ctx, req, client, fam, requested, at); err != nil {
			return nil, err
		}
	case err == nil, errors.Is(err, guard.ErrNotFound):
		// Another client's, or not current (a retry, a reuse, unknown or
		// expired): the rotation tells which, and changes nothing but a
		// reuse.
	default:
		return nil, e.storeDown(ctx, "refresh store", err)
	}
	next := newRefreshToken(presented.seed())
	rot := RefreshRotation{Family: presented.family, ClientID: clientID, Presented: presented.digest, Next: next.digest,
		Now: now, IdleUntil: now.Add(rs.idle), AccessToken: at}
	if rs.grace > 0 {
		rot.GraceUntil = now.Add(rs.grace)
		rot.Sealed = sealSuccessor(presented.raw, next.raw)
	}
	fam, sealed, err := rs.store.RotateRefreshToken(ctx, rot)
	switch {
	case errors.Is(err, ErrRefreshTokenReused):
		e.log(ctx, "refresh token reused: family revoked", "client_id", clientID, "ip", req.ip)
		if err := e.revokeAccessTokens(ctx, fam.AccessTokens); err != nil {
			return nil, err
		}
		return nil, errTokenReusedGrant
	case errors.Is(err, guard.ErrNotFound), errors.Is(err, guard.ErrUnauthorizedClient):
		e.log(ctx, "refresh failed", "client_id", clientID, "ip", req.ip, "reason", refreshFailReason(err))
		return nil, errTokenBadRefresh
	case err != nil:
		// Outcome unknown: the retry is a retry within the grace window.
		return nil, e.storeDown(ctx, "refresh store", err)
	}
	if rs.settle {
		// The store answered this rotation (or this retry): its window for
		// an unknown outcome closes, and the token now counts as used.
		// Should this write fail, the window only stays open for its few
		// seconds.
		if err := rs.store.SettleRefreshToken(ctx, presented.family, presented.digest); err != nil {
			e.log(ctx, "refresh: closing the retry window failed", "client_id", clientID, "error", err)
		}
	}
	successor := next.raw
	if sealed != nil {
		if successor, ok = openSuccessor(presented.raw, sealed); !ok {
			return nil, e.storeDown(ctx, "refresh store", errors.New("sealed successor does not open"))
		}
	}
	if resp == nil {
		// A retry within the grace window: nothing was committed but the
		// access token's record, so checks may still refuse.
		if resp, err = e.refreshResponse(ctx, req, client, fam, requested, at); err != nil {
			return nil, err
		}
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

// refreshResponse re-reads the family's user, builds the access token's
// claims and signs it, as at. A user that is gone, disabled, revoked or now
// of another subject ends the family.
func (e *TokenEndpoint) refreshResponse(ctx context.Context, req *tokenRequest, client *Client, fam RefreshFamily, requested []string, at IssuedToken) (*tokenResponse, error) {
	// A family bound to a DPoP key is refreshed with a proof of that key
	// (RFC 9449 §5); a refusal here changes nothing.
	if err := e.proofBinding(ctx, req, fam.KeyThumbprint, errTokenBadRefresh); err != nil {
		return nil, err
	}
	c, granted, err := e.refreshClaims(ctx, req, client, fam, requested)
	if err != nil {
		return nil, err
	}
	c.ID, c.ExpiresAt = at.ID, at.ExpiresAt
	return e.issue(ctx, req, c, requested, granted)
}

// refreshClaims re-reads the family's user and builds the access token's
// claims. A user that is gone, disabled, revoked or now of another subject
// ends the family.
func (e *TokenEndpoint) refreshClaims(ctx context.Context, req *tokenRequest, client *Client, fam RefreshFamily, requested []string) (guard.Claims, []string, error) {
	u, err := e.cfg.Users.LookupUser(ctx, fam.Username)
	if err != nil && !errors.Is(err, guard.ErrNotFound) {
		return guard.Claims{}, nil, e.storeDown(ctx, "user store", err)
	}
	sub := u.Subject
	if sub == "" {
		sub = fam.Username
	}
	reason := ""
	switch {
	case err != nil:
		reason = "unknown user"
	case u.Disabled:
		reason = "disabled user"
	case fam.Subject != "" && sub != fam.Subject:
		// An account deleted and re-created under the same name: the
		// family belongs to the old one.
		reason = "user's subject changed"
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
		if err := e.endFamily(ctx, fam.ID, fam.ClientID); err != nil {
			return guard.Claims{}, nil, err
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
	// A refresh may narrow the grant's resources, never widen them (RFC
	// 8707 §2.2); a client whose Resources shrank since loses the others.
	res := fam.Resources
	if client != nil {
		res = intersect(res, client.Resources)
	}
	resources, err := grantResources(req.resources, res, res)
	if err != nil {
		return guard.Claims{}, nil, err
	}
	c := guard.Claims{Subject: sub, Roles: u.Roles, Scopes: granted, ClientID: fam.ClientID, Audience: resources}
	if err := e.addExtraClaims(ctx, &c, grantRefreshToken, fam.Username); err != nil {
		return guard.Claims{}, nil, err
	}
	return c, granted, nil
}

// endFamily deletes a refresh-token family and revokes the access tokens
// issued on it. A family already gone is no error.
func (e *TokenEndpoint) endFamily(ctx context.Context, family, clientID string) error {
	fam, err := e.refresh.store.RevokeRefreshFamily(ctx, family, clientID)
	switch {
	case errors.Is(err, guard.ErrNotFound):
		return nil
	case err != nil:
		return e.storeDown(ctx, "refresh store", err)
	}
	return e.revokeAccessTokens(ctx, fam.AccessTokens)
}

// revokeAccessTokens puts the access tokens of an ended grant on the
// Revocations deny-list, when one is configured.
func (e *TokenEndpoint) revokeAccessTokens(ctx context.Context, toks []IssuedToken) error {
	if e.cfg.Revocations == nil {
		return nil
	}
	for _, t := range toks {
		if err := e.cfg.Revocations.RevokeToken(ctx, t.ID, t.ExpiresAt); err != nil {
			return e.storeDown(ctx, "revocation store", err)
		}
	}
	return nil
}
