package authserver

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/guardkit/guard"
)

// grantRevocation stands for the revocation endpoint where client
// authentication asks for a grant: every authenticated client may revoke its
// own tokens, whatever its Grants.
const grantRevocation = "revocation"

var (
	errRevokeNoToken     = tokenError(http.StatusBadRequest, "invalid_request", "token required", nil)
	errRevokeQuery       = tokenError(http.StatusBadRequest, "invalid_request", "token in the query string", nil)
	errRevokeOtherClient = tokenError(http.StatusBadRequest, "unauthorized_client", "token was issued to another client", guard.ErrUnauthorizedClient)
	errRevokeTokenType   = tokenError(http.StatusBadRequest, "unsupported_token_type", "access tokens cannot be revoked here", guard.ErrUnsupportedTokenType)
)

// RevocationEndpoint returns the OAuth 2.0 token revocation endpoint (RFC
// 7009), an [http.Handler] to mount at POST /revoke. It takes the form
// parameters token and token_type_hint ("refresh_token" or "access_token";
// any other hint is ignored, as the token's shape tells its type) and
// authenticates the client exactly as the token endpoint does (with Clients
// set, a request without client authentication gets 401 invalid_client;
// without Clients, a token's holder may revoke it with the token alone).
//
// A refresh token revokes its whole family and, when Revocations is set,
// the access tokens issued on it (the login's and every refresh's, RFC 7009
// §2.1). An access token is put on the
// Revocations deny-list by its "jti" until it expires, when both Revocations
// and AccessTokenVerifier are configured (otherwise 400
// unsupported_token_type). Answers: 200 with an empty body when the token was
// revoked, and also, as RFC 7009 §2.2 requires, when it is unknown, expired,
// malformed or already revoked (an access token that fails to verify for a
// reason other than expiry or revocation is logged at Warn, without the
// token: it may be a verifier that does not match the tokens this endpoint
// mints); 400 unauthorized_client for a token issued
// to another client; the token endpoint's 400/401/405/413/429 answers for a
// malformed request or failed client authentication; 503
// temporarily_unavailable with Retry-After when a store fails. It is safe for
// concurrent use.
func (e *TokenEndpoint) RevocationEndpoint() http.Handler { return revocationEndpoint{e} }

type revocationEndpoint struct{ e *TokenEndpoint }

func (h revocationEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e
	w.Header().Set("Pragma", "no-cache")
	if e == nil || e.hasher == nil {
		guard.WriteError(w, r, errTokenZero)
		return
	}
	err := e.revoke(w, r)
	if err != nil {
		e.fail(w, r, "revocation endpoint", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (e *TokenEndpoint) revoke(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return errTokenMethod
	}
	if !e.transport.Secure(r) {
		return errTokenTLS
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return errTokenType
	}
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return errTokenForm
		}
		if q.Has("token") || q.Has("client_secret") {
			return errRevokeQuery
		}
	}
	req, err := e.readForm(w, r)
	if err != nil {
		return err
	}
	if err := e.clientAuth(r, req); err != nil {
		return err
	}
	token := req.form["token"]
	if token == "" {
		return errRevokeNoToken
	}
	ctx := r.Context()
	client, err := e.authenticateClient(ctx, req, grantRevocation)
	if err != nil {
		return err
	}
	clientID := ""
	if client != nil {
		clientID = req.clientID
	}
	if rt, ok := parseRefreshToken(token); ok {
		return e.revokeRefresh(ctx, rt, clientID, req)
	}
	if looksLikeJWS(token) {
		return e.revokeAccess(ctx, token, clientID, req.ip)
	}
	return nil // not a token this server issues: nothing to revoke
}

func (e *TokenEndpoint) revokeRefresh(ctx context.Context, rt refreshToken, clientID string, req *tokenRequest) error {
	if e.refresh == nil {
		return nil
	}
	fam, err := e.refresh.store.RevokeRefreshFamily(ctx, rt.family, clientID)
	switch {
	case err == nil:
		// The access tokens issued on the grant go with it (RFC 7009 §2.1).
		return e.revokeAccessTokens(ctx, fam.AccessTokens)
	case errors.Is(err, guard.ErrNotFound):
		return nil
	case errors.Is(err, guard.ErrUnauthorizedClient):
		e.log(ctx, "revocation refused", "client_id", clientID, "ip", req.ip, "reason", "issued to another client")
		return errRevokeOtherClient
	}
	return e.storeDown(ctx, "refresh store", err)
}

func (e *TokenEndpoint) revokeAccess(ctx context.Context, token, clientID, ip string) error {
	if e.cfg.Revocations == nil || e.cfg.AccessTokenVerifier == nil {
		return errRevokeTokenType
	}
	c, err := e.cfg.AccessTokenVerifier.Verify(ctx, token)
	if errors.Is(err, guard.ErrInvalidToken) {
		// Invalid, expired or already revoked: nothing to do. Expired and
		// already revoked tokens are routine; any other failure may be a
		// token of another issuer or a verifier that does not match the
		// tokens this endpoint mints, where revocation does nothing: say so.
		if !errors.Is(err, guard.ErrTokenExpired) && !errors.Is(err, guard.ErrTokenRevoked) {
			e.log(ctx, "revocation: access token does not verify; nothing revoked", "client_id", clientID, "ip", ip, "error", err)
		}
		return nil
	} else if err != nil {
		return err // 503 from a failing revocation check, or a misconfigured verifier
	}
	if c.ClientID != "" && c.ClientID != clientID {
		return errRevokeOtherClient
	}
	if c.ID == "" {
		return errRevokeTokenType // a token without jti can only be revoked by subject
	}
	if err := e.cfg.Revocations.RevokeToken(ctx, c.ID, c.ExpiresAt); err != nil {
		return e.storeDown(ctx, "revocation store", err)
	}
	return nil
}

// looksLikeJWS reports whether token has the shape of a compact JWS (three
// non-empty dot-separated segments), which is what an access token of this
// server looks like; the verifier then decides whether it is one.
func looksLikeJWS(token string) bool {
	h, rest, ok := strings.Cut(token, ".")
	if !ok || h == "" {
		return false
	}
	p, sig, ok := strings.Cut(rest, ".")
	return ok && p != "" && sig != "" && !strings.Contains(sig, ".") && !strings.ContainsAny(token, "\r\n")
}
