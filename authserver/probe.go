package authserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/guardkit/guard"
)

// probeSubject is the subject of the probe token NewTokenEndpoint mints; the
// token is never sent anywhere.
const probeSubject = "guard:probe"

// probeAccessTokenVerifier mints a token with issuer, as the endpoint would,
// and checks that v accepts it: a verifier that refuses the endpoint's own
// tokens would make revocation and introspection of access tokens silently
// do nothing. The error names what differs. A verdict the verifier cannot
// give now (its key source has no keys yet, its revocation store is down:
// not an invalid token) does not fail the config, as it says nothing about
// the two matching.
func probeAccessTokenVerifier(issuer *guard.TokenIssuer, v *guard.Verifier) error {
	ctx := context.Background()
	tok, err := issuer.Issue(ctx, guard.Claims{Subject: probeSubject})
	if err != nil {
		return fmt.Errorf("guard: TokenEndpointConfig.Issuer cannot mint a probe token: %w", err)
	}
	_, err = v.Verify(ctx, tok)
	if err == nil || !errors.Is(err, guard.ErrInvalidToken) {
		return nil
	}
	return fmt.Errorf("guard: TokenEndpointConfig.AccessTokenVerifier refuses the tokens Issuer mints (%s), so revocation and introspection of access tokens would do nothing: %w", probeMismatch(err), err)
}

// probeMismatch names the setting behind a refused probe token.
func probeMismatch(err error) string {
	switch {
	case errors.Is(err, guard.ErrInvalidIssuer):
		return "issuer: the verifier's Issuers or the key's issuers do not accept the issuer's iss"
	case errors.Is(err, guard.ErrInvalidAudience):
		return "audience: the verifier's Audiences do not meet the issuer's Audience"
	case errors.Is(err, guard.ErrUnknownKey):
		return "key: the verifier has no key with the issuer's kid"
	case errors.Is(err, guard.ErrInvalidSignature):
		return "key: the verifier's key does not verify the issuer's signature"
	case errors.Is(err, guard.ErrAlgorithm):
		return "algorithm: the verifier has no key for the issuer's alg"
	case errors.Is(err, guard.ErrTokenExpired), errors.Is(err, guard.ErrTokenNotYetValid):
		return "clock: the issuer's and the verifier's Now disagree"
	case errors.Is(err, guard.ErrTokenLifetime):
		return "lifetime: the issuer's TTL exceeds the verifier's MaxTokenLifetime"
	case errors.Is(err, guard.ErrTokenTooLarge):
		return "size: the issuer's tokens exceed the verifier's MaxTokenBytes"
	case errors.Is(err, guard.ErrTokenRevoked):
		return "revocation: the verifier's revocation checker refuses a fresh token"
	case errors.Is(err, guard.ErrMalformedToken):
		return "token type or header: the verifier refuses the issuer's header"
	}
	return "invalid token"
}
