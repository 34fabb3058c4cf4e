package authserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"time"

	"github.com/go-json-experiment/json"
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
	var err error
	// From here on req.resources holds the checked list.
	if req.resources, err = requestResources(req); err != nil {
		return nil, err
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
	rec, err := e.cfg.AuthCodes.LookupAuthCode(ctx, digest)
	switch {
	case errors.Is(err, guard.ErrNotFound):
		return fail("unknown or expired code")
	case err != nil:
		return nil, e.storeDown(ctx, "authorization code store", err)
	}
	// The binding first: a redemption by anyone but the bound client with
	// the right redirect URI and verifier changes nothing (RFC 6749
	// §4.1.2): the code is not burned and its tokens are not revoked.
	switch {
	case rec.ClientID != req.clientID:
		return fail("code issued to another client")
	case rec.RedirectURI != redirectURI:
		return fail("redirect_uri differs from the authorization request's")
	case !pkceMatches(verifier, rec.CodeChallenge):
		return fail("code_verifier does not match the code_challenge")
	}
	// A code bound with dpop_jkt is exchanged with a proof of that key
	// (RFC 9449 §10); otherwise it stays as it was.
	if err := e.proofBinding(ctx, req, rec.KeyThumbprint, errTokenBadCode); err == errTokenBadCode {
		return fail("DPoP key is not the dpop_jkt of the authorization request")
	} else if err != nil {
		return nil, err
	}
	now := e.refreshNow()
	red := AuthRedemption{Now: now, RetryUntil: now.Add(e.retryWindow())}
	var resp *tokenResponse
	if !rec.Used {
		// Everything that can fail runs before the code is marked used.
		if resp, red.RefreshFamily, err = e.codeResponse(ctx, req, client, rec); err != nil {
			if errors.Is(err, errTokenBadCode) {
				return fail("user unknown or disabled")
			}
			return nil, err
		}
		red.TokenID = resp.tokenID
		body, err := json.Marshal(resp)
		if err != nil {
			return nil, err
		}
		red.Sealed = sealSuccessor(codeSealSecret(code, verifier), string(body))
	}
	rec, sealed, err := e.cfg.AuthCodes.RedeemAuthCode(ctx, digest, red)
	if errors.Is(err, ErrCodeReused) || errors.Is(err, guard.ErrNotFound) || sealed != nil {
		// The tokens just minted are not handed out: end their family.
		// (After any other error the redemption may have happened, with
		// them in its sealed response.)
		if red.RefreshFamily != "" {
			if err := e.endFamily(ctx, red.RefreshFamily, req.clientID); err != nil {
				return nil, err
			}
		}
	}
	switch {
	case errors.Is(err, ErrCodeReused):
		if err := e.revokeIssued(ctx, rec); err != nil {
			return nil, err
		}
		return fail("code used twice: its tokens revoked")
	case errors.Is(err, guard.ErrNotFound):
		return fail("unknown or expired code")
	case err != nil:
		// Outcome unknown: a retry within the window gets what was stored.
		return nil, e.storeDown(ctx, "authorization code store", err)
	}
	// The outcome is known: a second redemption is reuse from now on. When
	// this fails, the retry window stays open until RetryUntil.
	if err := e.cfg.AuthCodes.SettleAuthCode(ctx, digest); err != nil {
		e.logError(ctx, "authorization code store: code not settled", "error", err)
	}
	if sealed == nil && resp == nil { // a used code that the store found unused
		return nil, e.storeDown(ctx, "authorization code store", errors.New("a used code redeemed as new"))
	}
	if sealed != nil {
		body, ok := openSuccessor(codeSealSecret(code, verifier), sealed)
		resp = &tokenResponse{}
		if !ok || json.Unmarshal([]byte(body), resp) != nil {
			return nil, e.storeDown(ctx, "authorization code store", errors.New("sealed token response does not open"))
		}
		e.log(ctx, "code exchange retried: the first exchange's tokens sent again", "client_id", req.clientID, "ip", req.ip)
	}
	guard.Audit(req.r, guard.AuthEvent{Method: guard.MethodClient, Subject: req.clientID})
	return resp, nil
}

// codeSealSecret is what seals a code's token response: only the holder of
// the code and its PKCE verifier can open it.
func codeSealSecret(code, verifier string) string { return "code\x00" + code + "\x00" + verifier }

// retryWindow is how long a redemption whose outcome the endpoint did not
// learn (a store error) can be retried by the code's client: the refresh
// grace window, or its default without refresh tokens.
func (e *TokenEndpoint) retryWindow() time.Duration {
	if e.refresh != nil {
		return e.refresh.grace
	}
	return DefaultRefreshGraceWindow
}

// codeResponse issues the tokens of a code: it re-reads the user, runs
// ExtraClaims, signs the access token and starts the refresh family. It
// returns errTokenBadCode for a user unknown or disabled.
func (e *TokenEndpoint) codeResponse(ctx context.Context, req *tokenRequest, client *Client, rec AuthCode) (*tokenResponse, string, error) {
	u, err := e.cfg.Users.LookupUser(ctx, rec.Username)
	if err != nil && !errors.Is(err, guard.ErrNotFound) {
		return nil, "", e.storeDown(ctx, "user store", err)
	}
	if err != nil || u.Disabled {
		return nil, "", errTokenBadCode
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
	// The token request may name some of the code's resources (RFC 8707
	// §2.2), all of them by naming none.
	grantRes := intersect(rec.Resources, client.Resources)
	resources, err := grantResources(req.resources, grantRes, grantRes)
	if err != nil {
		return nil, "", err
	}
	at := e.newAccessToken()
	c := guard.Claims{Subject: sub, Roles: u.Roles, Scopes: granted, ClientID: req.clientID, ID: at.ID, ExpiresAt: at.ExpiresAt, Audience: resources}
	if err := e.addExtraClaims(ctx, &c, grantAuthorizationCode, account); err != nil {
		return nil, "", err
	}
	resp, err := e.issue(ctx, req, c, rec.Scopes, granted)
	if err != nil {
		return nil, "", err
	}
	resp.tokenID = at.ID
	family := ""
	if e.refreshFor(client) {
		g := RefreshFamily{ClientID: req.clientID, Username: account, Subject: sub, Scopes: granted, Resources: grantRes,
			KeyThumbprint: familyKey(req, client)}
		if resp.RefreshToken, family, err = e.startFamily(ctx, g, at); err != nil {
			return nil, "", err
		}
	}
	return resp, family, nil
}

// revokeIssued revokes the tokens issued from a code presented a second
// time (RFC 6749 §4.1.2): its refresh-token family (with the access tokens
// refreshed on it), and its access token when a RevocationStore is
// configured.
func (e *TokenEndpoint) revokeIssued(ctx context.Context, rec AuthCode) error {
	if rec.RefreshFamily != "" && e.refresh != nil {
		if err := e.endFamily(ctx, rec.RefreshFamily, rec.ClientID); err != nil {
			return err
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
