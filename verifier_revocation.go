package guard

import (
	"context"
	"fmt"
	"net/http"
)

// setRevocations installs the optional revocation check and its error.
func (v *Verifier) setRevocations(rc RevocationChecker, ch []string, scheme string) {
	if rc == nil {
		return
	}
	v.revocations = rc
	v.tokenRevocations, _ = rc.(TokenRevocationChecker)
	v.errRevoked = prerender(&Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "token revoked",
		Challenges: ch, Err: ErrTokenRevoked, paramScheme: scheme})
}

// verifyAndCheck is verify followed by the revocation check.
func (v *Verifier) verifyAndCheck(ctx context.Context, token string) (*principalCtx, error) {
	pc, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := v.checkRevoked(ctx, token, &pc.c); err != nil {
		return nil, err
	}
	return pc, nil
}

// checkRevoked asks the revocation checker, when there is one, about a token
// whose signature and claims verified.
func (v *Verifier) checkRevoked(ctx context.Context, token string, c *Claims) error {
	if v.revocations == nil {
		return nil
	}
	var revoked bool
	var err error
	if v.tokenRevocations != nil {
		revoked, err = v.tokenRevocations.RevokedToken(ctx, token, c)
	} else {
		revoked, err = v.revocations.Revoked(ctx, c)
	}
	if err != nil {
		return Unavailable(fmt.Errorf("guard: revocation check: %w", err))
	}
	if revoked {
		return v.errRevoked
	}
	return nil
}
