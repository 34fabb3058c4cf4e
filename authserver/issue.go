package authserver

import (
	"context"
	"crypto/rand"
	"strings"
	"time"

	"github.com/guardkit/guard"
)

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitzero"`
	Scope        string `json:"scope,omitzero"`
	tokenID      string // the access token's jti, never written
}

// issue signs the access token for c with the endpoint's TokenIssuer and
// builds the response; the scope is echoed only when it differs from the
// request (RFC 6749 §5.1).
// With a DPoP proof in req, the token is bound to its key (cnf.jkt) and
// its type is "DPoP" (RFC 9449 §5).
func (e *TokenEndpoint) issue(ctx context.Context, req *tokenRequest, c guard.Claims, requested, granted []string) (*tokenResponse, error) {
	typ := "Bearer"
	if req.proof != nil {
		c.Confirmation, typ = &guard.Confirmation{JKT: req.proof.Thumbprint}, "DPoP"
	}
	tok, err := e.cfg.Issuer.Issue(ctx, c)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: tok, TokenType: typ, ExpiresIn: int64(e.cfg.Issuer.TTL() / time.Second)}
	if !sameSet(requested, granted) {
		resp.Scope = strings.Join(granted, " ")
	}
	return resp, nil
}

// newAccessToken names the access token about to be issued: a random jti
// and its expiry, so that a refresh family or a code can record it before
// it is signed.
func (e *TokenEndpoint) newAccessToken() IssuedToken {
	return IssuedToken{ID: rand.Text(), ExpiresAt: e.refreshNow().Add(e.cfg.Issuer.TTL())}
}

// rehash stores an upgraded hash after a successful login. Failures are
// logged and do not fail the login.
func (e *TokenEndpoint) rehash(ctx context.Context, username string, password guard.Secret) {
	up, ok := e.cfg.Users.(PasswordHashUpdater)
	if !ok {
		return
	}
	h, err := e.hasher.Hash(ctx, string(password))
	if err == nil {
		err = up.UpdatePasswordHash(ctx, username, h)
	}
	if err != nil {
		e.log(ctx, "password rehash failed", "username", username, "error", err)
	}
}
