package authserver

import (
	"context"
	"errors"
	"slices"

	"github.com/guardkit/guard"
)

// clientOptional reports whether a request for grant may name no client
// while Clients is set.
func (e *TokenEndpoint) clientOptional(grant string) bool {
	return grant != grantClientCredentials && e.cfg.DangerouslyAllowPasswordGrantWithoutClient
}

// invalidClient is RFC 6749 §5.2's invalid_client: 401 with a Basic
// challenge when the client used HTTP Basic or sent no credentials at all
// (the challenge names the supported method), else 400, the section's
// default status, which keeps browsers from showing a login prompt.
func (e *TokenEndpoint) invalidClient(req *tokenRequest) *guard.Error {
	if req.basic || !req.hasClient {
		return e.errClient401
	}
	return errTokenClient400
}

// authenticateClient authenticates or identifies the client of a request for
// grant. It returns nil and no error when the request may go on without a
// client: the password grant with no ClientStore (a client_id is then taken as
// the caller's word, never put in the token) or with
// DangerouslyAllowPasswordGrantWithoutClient and no client named.
func (e *TokenEndpoint) authenticateClient(ctx context.Context, req *tokenRequest, grant string) (*Client, error) {
	if e.cfg.Clients == nil {
		if req.clientSecret == "" {
			return nil, nil // no client, or a public client naming itself: nothing to check against
		}
		// A secret that no store can check fails like a wrong one.
		return nil, e.clientRejected(ctx, req, credential{kind: clientCredential, account: req.clientID, secret: string(req.clientSecret)})
	}
	if !req.hasClient {
		if e.clientOptional(grant) {
			return nil, nil
		}
		return nil, e.invalidClient(req)
	}
	c, err := e.cfg.Clients.LookupClient(ctx, req.clientID)
	found := err == nil
	if err != nil && !errors.Is(err, guard.ErrNotFound) {
		return nil, e.storeDown(ctx, "client store", err)
	}
	if !found && req.clientSecret == "" && e.clientOptional(grant) {
		// A FastAPI client names itself with an id no one registered and no
		// secret (requests-oauthlib's LegacyApplicationClient does; FastAPI
		// ignores it). Where a request may name no client, this one names
		// none: nothing is checked and the token is bound to no client.
		return nil, nil
	}
	cred := credential{kind: clientCredential, account: req.clientID, secret: string(req.clientSecret),
		hash: c.SecretHash, found: found, disabled: c.Disabled}
	switch {
	case found && c.Public && req.clientSecret == "" && !c.Disabled:
		// A public client identifies itself; there is no secret to check.
	case found && c.Public:
		// A secret from a public client, or a disabled one: fail at the cost of a hash.
		cred.found = false
		return nil, e.clientRejected(ctx, req, cred)
	default:
		if req.clientSecret == "" {
			cred.found = false // a confidential or unknown client must authenticate
		}
		if _, err := e.check(ctx, req, cred); err != nil {
			return nil, e.clientError(req, err)
		}
	}
	grants := c.Grants
	if len(grants) == 0 {
		grants = []string{grantClientCredentials}
	}
	if grant != grantRevocation && !slices.Contains(grants, grant) || (c.Public && grant == grantClientCredentials) {
		return nil, errTokenClientNA
	}
	return &c, nil
}

// clientRejected spends a failed check on cred and answers invalid_client.
func (e *TokenEndpoint) clientRejected(ctx context.Context, req *tokenRequest, cred credential) error {
	_, err := e.check(ctx, req, cred)
	if err == nil { // cannot happen: cred holds no hash
		err = errCredential
	}
	return e.clientError(req, err)
}

func (e *TokenEndpoint) clientError(req *tokenRequest, err error) error {
	if err == errCredential {
		return e.invalidClient(req)
	}
	return err
}
