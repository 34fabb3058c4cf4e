package authserver

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

// GrantIntrospection, listed in a [Client]'s Grants, lets the client call
// the introspection endpoint ([TokenEndpoint.IntrospectionEndpoint]). It is
// a permission, not a grant type: the token endpoint answers
// grant_type=introspection 400 unsupported_grant_type. A resource server
// that introspects and does nothing else is registered as a confidential
// client with Grants: []string{GrantIntrospection}.
const GrantIntrospection = "introspection"

// MaxIntrospectedTokenBytes caps the token parameter of an introspection
// request: the verifier's default cap ([guard.DefaultMaxTokenBytes]). A
// longer token is 400 invalid_request, before any decoding.
const MaxIntrospectedTokenBytes = guard.DefaultMaxTokenBytes

var (
	errIntrospectNoToken = tokenError(http.StatusBadRequest, "invalid_request", "token required", nil)
	errIntrospectQuery   = tokenError(http.StatusBadRequest, "invalid_request", "token in the query string", nil)
	errIntrospectTooLong = tokenError(http.StatusBadRequest, "invalid_request", "token too large", nil)
	errIntrospectNA      = tokenError(http.StatusBadRequest, "unauthorized_client", "client not allowed to introspect", guard.ErrUnauthorizedClient)
)

// inactive is the whole answer for a token that is not active (RFC 7662
// §2.2): nothing more is said about it.
var inactive = []byte(`{"active":false}` + "\n")

// introspection is the RFC 7662 §2.2 answer for an active token. Empty
// members are left out.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitzero"`
	ClientID  string `json:"client_id,omitzero"`
	Subject   string `json:"sub,omitzero"`
	ExpiresAt int64  `json:"exp,omitzero"`
	IssuedAt  int64  `json:"iat,omitzero"`
	Issuer    string `json:"iss,omitzero"`
	Audience  any    `json:"aud,omitzero"` // a string for one value, else an array
	TokenType string `json:"token_type,omitzero"`
	ID        string `json:"jti,omitzero"`
	// Cnf is the DPoP key binding of a bound access token (RFC 9449 §6.2).
	Cnf *introspectedCnf `json:"cnf,omitzero"`
}

type introspectedCnf struct {
	JKT string `json:"jkt"`
}

// IntrospectionEndpoint returns the OAuth 2.0 token introspection endpoint
// (RFC 7662), an [http.Handler] to mount at POST /introspect. It takes the
// form parameters token and token_type_hint (ignored: the token's shape
// tells its type) and authenticates the client exactly as the token
// endpoint does (HTTP Basic or client_id and client_secret in the form,
// counted by the same limiters, with the same audit events).
//
// Who may ask: only a confidential client that authenticates with its
// secret and whose Grants list [GrantIntrospection]; without Clients
// nobody may. A public client, or one without the permission, gets 400
// unauthorized_client.
//
// What it says: an access token is active when AccessTokenVerifier accepts
// it (signature, issuer, audience, times) and Revocations, when set, does
// not hold it revoked; any client allowed to introspect may ask about any
// access token (that is what a resource server does). A refresh token is
// active when it is its family's current token, the family has not
// expired, its user still exists and is enabled, and its subject was not
// revoked; it is active only to the client it was issued to (a refresh
// token issued to no client is active to nobody). Everything else (unknown,
// expired, revoked, rotated, malformed, another client's refresh token, an
// access token when AccessTokenVerifier is nil) is 200 {"active":false},
// with nothing more, as RFC 7662 §2.2 asks.
//
// An active answer carries active, scope, client_id, sub, exp, iat, iss,
// aud, token_type ("Bearer", or "DPoP" with cnf.jkt for a DPoP-bound
// token, RFC 9449 §6.2) and jti, each left out when empty; for a
// refresh token only active, scope, client_id, sub and exp (the earlier of
// the family's end and the token's idle deadline). Answers: 200 application/json with
// Cache-Control: no-store; 400 invalid_request for a missing token or one
// over [MaxIntrospectedTokenBytes], a token in the query string, or a
// malformed request; 401 invalid_client with a Basic challenge when client
// authentication fails or is missing (RFC 7662 §2.3 asks for 401 whatever
// the method, and there is no browser here to prompt); 400
// unauthorized_client; 405 for methods other than POST; 413 over the body
// cap; 429 when throttled; 503 temporarily_unavailable with Retry-After
// when a store, a limiter or the verifier's key source fails. The endpoint
// is safe for concurrent use.
func (e *TokenEndpoint) IntrospectionEndpoint() http.Handler { return introspectionEndpoint{e} }

type introspectionEndpoint struct{ e *TokenEndpoint }

func (h introspectionEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e
	w.Header().Set("Pragma", "no-cache")
	if e == nil || e.hasher == nil {
		guard.WriteError(w, r, errTokenZero)
		return
	}
	resp, err := e.introspect(w, r)
	if err != nil {
		e.fail(w, r, "introspection endpoint", err)
		return
	}
	body := inactive
	if resp != nil {
		b, err := json.Marshal(resp)
		if err != nil { // cannot happen: strings from verified tokens and stores are valid UTF-8
			e.logError(r.Context(), "introspection endpoint failure", "error", err)
		} else {
			body = append(b, '\n')
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// introspect answers nil for an inactive token.
func (e *TokenEndpoint) introspect(w http.ResponseWriter, r *http.Request) (*introspection, error) {
	if r.Method != http.MethodPost {
		return nil, errTokenMethod
	}
	if !e.transport.Secure(r) {
		return nil, errTokenTLS
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return nil, errTokenType
	}
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, errTokenForm
		}
		if q.Has("token") || q.Has("client_secret") {
			return nil, errIntrospectQuery
		}
	}
	req, err := e.readForm(w, r)
	if err != nil {
		return nil, err
	}
	if err := e.clientAuth(r, req); err != nil {
		return nil, err
	}
	token := req.form["token"]
	switch {
	case token == "":
		return nil, errIntrospectNoToken
	case len(token) > MaxIntrospectedTokenBytes:
		return nil, errIntrospectTooLong
	}
	ctx := r.Context()
	if !req.hasClient {
		return nil, e.errClient401
	}
	if e.cfg.Clients == nil || req.clientSecret == "" {
		// Only a registered confidential client may introspect: spend a
		// failed check (throttled and audited like any other) and answer
		// invalid_client.
		return nil, e.introspectClientError(e.clientRejected(ctx, req, credential{kind: clientCredential, account: req.clientID, secret: string(req.clientSecret)}))
	}
	client, err := e.authenticateClient(ctx, req, GrantIntrospection)
	if err != nil {
		return nil, e.introspectClientError(err)
	}
	if client == nil || client.Public { // cannot happen: a secret was checked
		return nil, errIntrospectNA
	}
	if rt, ok := parseRefreshToken(token); ok {
		return e.introspectRefresh(ctx, rt, req)
	}
	if looksLikeJWS(token) {
		return e.introspectAccess(ctx, token)
	}
	return nil, nil
}

// introspectClientError keeps RFC 7662 §2.3's 401 for every failed client
// authentication, and names the endpoint in unauthorized_client.
func (e *TokenEndpoint) introspectClientError(err error) error {
	switch err {
	case errTokenClient400:
		return e.errClient401
	case errTokenClientNA:
		return errIntrospectNA
	}
	return err
}

func (e *TokenEndpoint) introspectAccess(ctx context.Context, token string) (*introspection, error) {
	v := e.cfg.AccessTokenVerifier
	if v == nil {
		return nil, nil
	}
	c, err := v.Verify(ctx, token)
	if errors.Is(err, guard.ErrInvalidToken) {
		return nil, nil
	} else if err != nil {
		return nil, err // 503 from the key source or the verifier's revocation check
	}
	if e.cfg.Revocations != nil {
		revoked, err := e.cfg.Revocations.Revoked(ctx, c)
		if err != nil {
			return nil, e.storeDown(ctx, "revocation store", err)
		}
		if revoked {
			return nil, nil
		}
	}
	resp := &introspection{Active: true, Scope: strings.Join(c.Scopes, " "), ClientID: c.ClientID, Subject: c.Subject,
		ExpiresAt: c.ExpiresAt.Unix(), Issuer: c.Issuer, TokenType: "Bearer", ID: c.ID}
	if !c.IssuedAt.IsZero() {
		resp.IssuedAt = c.IssuedAt.Unix()
	}
	if c.Confirmation != nil && c.Confirmation.JKT != "" {
		resp.TokenType, resp.Cnf = "DPoP", &introspectedCnf{JKT: c.Confirmation.JKT}
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		resp.Audience = c.Audience[0]
	default:
		resp.Audience = c.Audience
	}
	return resp, nil
}

func (e *TokenEndpoint) introspectRefresh(ctx context.Context, rt refreshToken, req *tokenRequest) (*introspection, error) {
	rs := e.refresh
	if rs == nil {
		return nil, nil
	}
	now := rs.now()
	fam, idleUntil, err := rs.store.LookupRefreshToken(ctx, rt.family, rt.digest, now)
	if errors.Is(err, guard.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, e.storeDown(ctx, "refresh store", err)
	}
	if fam.ClientID == "" || fam.ClientID != req.clientID {
		return nil, nil // not the caller's token: nothing is said about it
	}
	u, err := e.cfg.Users.LookupUser(ctx, fam.Username)
	if errors.Is(err, guard.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, e.storeDown(ctx, "user store", err)
	}
	if u.Disabled {
		return nil, nil
	}
	if rs.revocations != nil {
		revoked, err := rs.revocations.Revoked(ctx, &guard.Claims{Subject: fam.Subject, IssuedAt: fam.AuthTime})
		if err != nil {
			return nil, e.storeDown(ctx, "revocation store", err)
		}
		if revoked {
			return nil, nil
		}
	}
	exp := fam.ExpiresAt
	if idleUntil.Before(exp) {
		exp = idleUntil
	}
	return &introspection{Active: true, Scope: strings.Join(fam.Scopes, " "), ClientID: fam.ClientID, Subject: fam.Subject,
		ExpiresAt: exp.Unix()}, nil
}
