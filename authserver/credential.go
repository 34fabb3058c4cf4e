package authserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/guardkit/guard"
)

// credential is one secret presented for an account: a user's password or a
// client's secret, with what the store returned for the account.
type credential struct {
	kind     *credentialKind
	account  string       // the canonical name: the store's, or as typed when unknown
	secret   string       // as presented
	hash     guard.Secret // the stored hash, when found
	found    bool         // the store knows the account
	disabled bool
}

// errCredential is returned by check for every failed verification; the
// grant answers it with its own error (invalid_grant, invalid_client).
var errCredential = errors.New("guard: credential rejected")

// check is the one way a password or client secret is verified: reserve an
// attempt, verify at the cost of exactly one hash at the current policy on
// every path (unknown account, empty or unreadable stored hash, disabled
// account, wrong secret), then settle the reservation. It returns
// errCredential on a failed verification, a 429 when throttled, a 503 when
// the hashing pool is saturated or a limiter fails.
func (e *TokenEndpoint) check(ctx context.Context, req *tokenRequest, c credential) (needsRehash bool, err error) {
	l, err := e.reserve(ctx, c.kind.name, c.account, req)
	if err != nil {
		if errors.Is(err, guard.ErrThrottled) {
			e.log(ctx, c.kind.throttled, c.kind.field, c.account, "ip", req.ip)
		}
		guard.Audit(req.r, guard.AuthEvent{Method: c.kind.method, Subject: c.account, Err: err})
		return false, err
	}
	var verr error
	if c.found && c.hash != "" {
		needsRehash, verr = e.hasher.Verify(ctx, c.secret, c.hash)
	} else {
		// Unknown account, or one without a password (SSO only): the same
		// work as a real check, and always a failure.
		verr = e.hasher.VerifyDummy(ctx, c.secret)
		if verr == nil {
			verr = guard.ErrPasswordMismatch
		}
	}
	if verr == nil && c.disabled {
		verr = errDisabled
	}
	switch {
	case verr == nil:
		l.succeed(ctx)
		guard.Audit(req.r, guard.AuthEvent{Method: c.kind.method, Subject: c.account})
		return needsRehash, nil
	case errors.Is(verr, guard.ErrBusy):
		l.cancel(ctx) // never evaluated: not a failure
		return false, busyFor(verr)
	case errors.Is(verr, guard.ErrMalformedHash), errors.Is(verr, guard.ErrUnsupportedHash):
		// A stored hash that cannot be read is a server-side problem
		// (corrupted or tampered record): the client hears a wrong
		// password, the log hears this, without the hash.
		e.logError(ctx, "stored hash unreadable", c.kind.field, c.account, "kind", hashProblem(verr))
	}
	reason := failReason(c, verr)
	e.log(ctx, c.kind.failed, c.kind.field, c.account, "ip", req.ip, "reason", reason)
	guard.Audit(req.r, guard.AuthEvent{Method: c.kind.method, Subject: c.account, Err: fmt.Errorf("%w: %s", c.kind.rejected, reason)})
	return false, errCredential
}

var errDisabled = errors.New("guard: account disabled")

// busyFor is the answer to a check the hasher refused (503
// temporarily_unavailable): with the hasher's RetryAfter when it says when
// its CPU budget frees, else a second.
func busyFor(err error) error {
	var ge *guard.Error
	if !errors.As(err, &ge) || ge.RetryAfter <= 0 {
		return errTokenBusy
	}
	e := *errTokenBusy
	e.RetryAfter = ge.RetryAfter
	return &e
}

// credentialKind names an account kind in limiter keys, log lines and audit events.
type credentialKind struct {
	name, field, failed, throttled string
	method                         guard.Method
	rejected                       error // the sentinel of a failed check, for audit events
}

var (
	userCredential   = &credentialKind{"user", "username", "login failed", "login throttled", guard.MethodPassword, guard.ErrInvalidGrant}
	clientCredential = &credentialKind{"client", "client_id", "client authentication failed", "token request throttled", guard.MethodClient, guard.ErrInvalidClient}
)

func hashProblem(err error) string {
	if errors.Is(err, guard.ErrUnsupportedHash) {
		return "unsupported"
	}
	return "malformed"
}

// failReason names why a verification failed, for the log line.
func failReason(c credential, err error) string {
	switch {
	case !c.found:
		return "unknown"
	case c.hash == "":
		return "no password"
	case errors.Is(err, errDisabled):
		return "disabled"
	case errors.Is(err, guard.ErrMalformedHash), errors.Is(err, guard.ErrUnsupportedHash):
		return "unreadable stored hash"
	}
	return "mismatch"
}
