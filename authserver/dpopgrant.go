package authserver

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/guardkit/guard"
)

// DPoP at the token endpoint (RFC 9449), with TokenEndpointConfig.DPoP set:
//
//   - A request carrying a DPoP header has its proof checked (method, URL,
//     age, signature, replay; see [guard.DPoP.Check]) before its grant runs.
//     A bad proof is 400 invalid_dpop_proof; a proof without a required
//     nonce is 400 use_dpop_nonce with a fresh nonce in DPoP-Nonce; a
//     failing replay cache is 503 with Retry-After. A valid proof binds
//     the access token to its key (cnf.jkt) and the response's token_type
//     is "DPoP". A request without a DPoP header gets a Bearer token,
//     unless its grant is bound to a key.
//   - A refresh family started with a proof by a public client (or with no
//     client) is bound to the proof's key (RFC 9449 §5): each refresh must
//     prove that key. Without a proof: 400 invalid_dpop_proof; with
//     another key: 400 invalid_grant, and the family stays as it was (a
//     thief without the key cannot end it). Families of confidential
//     clients are not bound: their client authentication constrains them,
//     and a refresh may prove any key (or none) for its access token.
//   - An authorization request's dpop_jkt (RFC 9449 §10) binds its code:
//     the token request must prove that key. Without a proof: 400
//     invalid_dpop_proof; with another key: 400 invalid_grant, and the code
//     stays unused.

var errDPoPRequired = tokenError(http.StatusBadRequest, "invalid_dpop_proof", "DPoP proof required", guard.ErrInvalidDPoPProof)

// checkProof checks the request's DPoP proof, when the endpoint takes DPoP
// and the request carries one.
func (e *TokenEndpoint) checkProof(req *tokenRequest) error {
	if e.cfg.DPoP == nil || len(req.r.Header.Values("DPoP")) == 0 {
		return nil
	}
	p, err := e.cfg.DPoP.Check(req.r, "")
	if err != nil {
		e.log(req.r.Context(), "DPoP proof refused", "client_id", req.clientID, "ip", req.ip, "error", err)
		return err
	}
	req.proof = p
	return nil
}

// proofBinding checks that req proves the key whose thumbprint is jkt, for
// a grant bound to it; jkt "" is no binding. It returns errDPoPRequired
// without a proof, and mismatch (the grant's own invalid_grant) for another
// key, or when the endpoint no longer takes DPoP.
func (e *TokenEndpoint) proofBinding(ctx context.Context, req *tokenRequest, jkt string, mismatch error) error {
	switch {
	case jkt == "":
		return nil
	case e.cfg.DPoP == nil:
		e.log(ctx, "DPoP-bound grant refused: the endpoint has no DPoP", "client_id", req.clientID, "ip", req.ip)
		return mismatch
	case req.proof == nil:
		return errDPoPRequired
	case req.proof.Thumbprint != jkt:
		e.log(ctx, "DPoP key mismatch", "client_id", req.clientID, "ip", req.ip)
		return mismatch
	}
	return nil
}

// familyKey is the thumbprint a new refresh family is bound to: the
// proof's, for a public client or none (RFC 9449 §5); "" otherwise.
func familyKey(req *tokenRequest, client *Client) string {
	if req.proof == nil || (client != nil && !client.Public) {
		return ""
	}
	return req.proof.Thumbprint
}

// validJKT reports whether s has the shape of an RFC 7638 SHA-256
// thumbprint: 43 base64url characters.
func validJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	var b [32]byte
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(s))
	return err == nil && n == 32
}
