package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"time"

	"github.com/guardkit/guard"
)

var (
	errTokenCodeMissing  = tokenError(http.StatusBadRequest, "invalid_request", "code, redirect_uri and code_verifier required", nil)
	errTokenCodeVerifier = tokenError(http.StatusBadRequest, "invalid_request", "malformed code_verifier", nil)
	errTokenBadCode      = tokenError(http.StatusBadRequest, "invalid_grant", "invalid authorization code", guard.ErrInvalidGrant)
)

// maxCodeLen bounds a presented code: ours are 43 characters.
const maxCodeLen = 128

// codeGrant serves grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636
// §4.5): every mismatch (unknown, expired or used code, another client or
// redirect URI, a wrong verifier, a user gone or disabled) is one
// invalid_grant, with the reason in the log.
func (e *TokenEndpoint) codeGrant(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	code, redirectURI, verifier := req.form["code"], req.form["redirect_uri"], req.form["code_verifier"]
	if code == "" || redirectURI == "" || verifier == "" {
		return nil, errTokenCodeMissing
	}
	if !validCodeVerifier(verifier) {
		return nil, errTokenCodeVerifier
	}
	if !req.hasClient {
		return nil, e.invalidClient(req) // a code is always exchanged by its client
	}
	client, err := e.authenticateClient(ctx, req, grantAuthorizationCode)
	if err != nil {
		return nil, err
	}
	fail := func(reason string) (*tokenResponse, error) {
		e.log(ctx, "code exchange failed", "client_id", req.clientID, "ip", req.ip, "reason", reason)
		guard.Audit(req.r, guard.AuthEvent{Method: guard.MethodClient, Subject: req.clientID, Err: errors.Join(guard.ErrInvalidGrant, errors.New(reason))})
		return nil, errTokenBadCode
	}
	if len(code) > maxCodeLen {
		return fail("malformed code")
	}
	digest := sha256.Sum256([]byte(code))
	rec, err := e.cfg.AuthCodes.RedeemAuthCode(ctx, digest)
	switch {
	case errors.Is(err, ErrCodeReused):
		if err := e.revokeIssued(ctx, rec); err != nil {
			return nil, err
		}
		return fail("code used twice: its tokens revoked")
	case errors.Is(err, guard.ErrNotFound):
		return fail("unknown or expired code")
	case err != nil:
		return nil, e.storeDown(ctx, "authorization code store", err)
	}
	switch {
	case rec.ClientID != req.clientID:
		return fail("code issued to another client")
	case rec.RedirectURI != redirectURI:
		return fail("redirect_uri differs from the authorization request's")
	case !pkceMatches(verifier, rec.CodeChallenge):
		return fail("code_verifier does not match the code_challenge")
	}
	u, err := e.cfg.Users.LookupUser(ctx, rec.Username)
	if err != nil && !errors.Is(err, guard.ErrNotFound) {
		return nil, e.storeDown(ctx, "user store", err)
	}
	if err != nil || u.Disabled {
		return fail("user unknown or disabled")
	}
	account := rec.Username
	if u.Username != "" {
		account = u.Username
	}
	sub := u.Subject
	if sub == "" {
		sub = account
	}
	granted := intersect(rec.Scopes, u.Scopes)
	c := guard.Claims{Subject: sub, Roles: u.Roles, Scopes: granted, ClientID: req.clientID, ID: rand.Text()}
	if err := e.addExtraClaims(ctx, &c, grantAuthorizationCode, account); err != nil {
		return nil, err
	}
	resp, err := e.issue(ctx, c, rec.Scopes, granted)
	if err != nil {
		return nil, err
	}
	family := ""
	if e.refreshFor(client) {
		if resp.RefreshToken, family, err = e.startRefreshFamilyID(ctx, req.clientID, account, sub, granted); err != nil {
			return nil, err
		}
	}
	if err := e.cfg.AuthCodes.RecordIssued(ctx, digest, c.ID, family); err != nil {
		e.logError(ctx, "authorization code store: tokens issued from a code not recorded", "error", err)
	}
	guard.Audit(req.r, guard.AuthEvent{Method: guard.MethodClient, Subject: req.clientID})
	return resp, nil
}

// revokeIssued revokes the tokens issued from a code presented a second
// time (RFC 6749 §4.1.2): its refresh-token family, and its access token
// when a RevocationStore is configured.
func (e *TokenEndpoint) revokeIssued(ctx context.Context, rec AuthCode) error {
	if rec.RefreshFamily != "" && e.refresh != nil {
		if err := e.refresh.store.RevokeRefreshFamily(ctx, rec.RefreshFamily, rec.ClientID); err != nil && !errors.Is(err, guard.ErrNotFound) {
			return e.storeDown(ctx, "refresh store", err)
		}
	}
	if rec.TokenID != "" && e.cfg.Revocations != nil {
		exp := e.refreshNow().Add(e.cfg.Issuer.TTL())
		if err := e.cfg.Revocations.RevokeToken(ctx, rec.TokenID, exp); err != nil {
			return e.storeDown(ctx, "revocation store", err)
		}
	}
	return nil
}

// refreshNow is the endpoint's clock (TokenEndpointConfig.Now).
func (e *TokenEndpoint) refreshNow() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}
