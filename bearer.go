package guard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/guardkit/guard/internal/syntax"
)

// RequireBearer returns middleware that admits a request only with a valid
// bearer token (RFC 6750) and puts its [*Principal] (Method [MethodBearer],
// Claims set) in the request context.
//
// The token comes from the Authorization header ("Bearer" in any case, one or
// more spaces, b64token characters) or, only with
// DangerouslyAllowQueryToken, the "access_token" query parameter. The body is
// never read. Failures, written by the ErrorWriter:
//   - no credentials: 401 with a bare `Bearer realm="…"` challenge (for a
//     route that also serves anonymous requests, use [OptionalAuth]);
//   - a malformed header, two Authorization headers, or a header and a query
//     token at once: 400 invalid_request;
//   - a token that does not verify: 401 invalid_token with a fixed
//     error_description;
//   - a Verifier not built by [NewVerifier]: 500 server_error, always.
func (v *Verifier) RequireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := v.authenticate(w, r)
		switch {
		case err == nil:
		case err == errZeroVerifier: // no ErrorWriter to ask: v has no config
			WriteError(w, r, err)
			return
		default:
			Audit(r, AuthEvent{Method: MethodBearer, Err: err})
			v.writeError(w, r, err)
			return
		}
		Audit(r, AuthEvent{Method: MethodBearer, Subject: ctx.p.Subject, Principal: &ctx.p})
		trackPrincipal(r, &ctx.p)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Authenticate verifies the request's bearer credentials and returns its
// principal. With no credentials it returns an error matching
// [ErrNoCredentials]; otherwise failures are *[Error] values as described at
// [Verifier.RequireBearer]. It writes nothing.
func (v *Verifier) Authenticate(r *http.Request) (*Principal, error) {
	ctx, err := v.authenticate(nil, r)
	if err != nil {
		return nil, err
	}
	return &ctx.p, nil
}

// AuthenticateToken verifies a bearer token that a framework has already
// taken from the request (such as an ogen SecurityHandler, which receives
// the token, not the request) exactly as [Verifier.Authenticate] verifies
// the request's, and returns its principal. An empty token is an error
// matching [ErrNoCredentials]; other failures are *[Error] values as for
// Authenticate. It writes nothing.
func (v *Verifier) AuthenticateToken(ctx context.Context, token string) (*Principal, error) {
	if v == nil || v.now == nil {
		return nil, errZeroVerifier
	}
	if token == "" {
		return nil, v.errs.noCredentials
	}
	pc := new(struct {
		p Principal
		c Claims
	}) // one allocation for both, as for Authenticate
	if err := v.verifyAndCheck(ctx, token, &pc.c); err != nil {
		return nil, err
	}
	if pc.c.Confirmation != nil {
		return nil, v.errs.bound // sender-constrained: never accepted as a bearer token
	}
	pc.p = Principal{Subject: pc.c.Subject, Roles: pc.c.Roles, Scopes: pc.c.Scopes, Method: MethodBearer, Claims: &pc.c}
	return &pc.p, nil
}

// Challenge implements [Authenticator]: the bare `Bearer realm="…"`
// challenge of a request without credentials.
func (v *Verifier) Challenge() string {
	if v == nil || v.errs.noCredentials == nil {
		return bearerChallenge(DefaultRealm)
	}
	return v.errs.noCredentials.Challenges[0]
}

// principalCtx is the request context RequireBearer hands downstream: the
// parent context, the principal and its claims in one allocation. It answers
// Value(principalKey{}) exactly as [NewContext] would, and delegates
// everything else (Done, Deadline, Err and other keys) to the parent, so
// cancellation propagates as with context.WithValue.
type principalCtx struct {
	context.Context
	p Principal
	c Claims
}

func (c *principalCtx) Value(key any) any {
	if key == (principalKey{}) {
		return &c.p
	}
	return c.Context.Value(key)
}

func (c *principalCtx) String() string {
	return fmt.Sprint(c.Context) + ".WithValue(guard.principalKey, *guard.Principal)"
}

// principalPool holds principalCtx values of failed verifications only; a
// successful one belongs to its request for good.
var principalPool = sync.Pool{New: func() any { return new(principalCtx) }}

func (v *Verifier) authenticate(w http.ResponseWriter, r *http.Request) (*principalCtx, error) {
	if v == nil || v.now == nil {
		return nil, errZeroVerifier
	}
	if v.dpop != nil {
		if pc, err, done := v.dpop.authenticate(v, r, v.dpop.mode); done {
			return pc, err
		}
	}
	token, err := v.extract(w, r)
	if err != nil {
		return nil, err
	}
	pc := principalPool.Get().(*principalCtx)
	err = v.verifyAndCheck(r.Context(), token, &pc.c)
	if err == nil && pc.c.Confirmation != nil {
		err = v.errs.bound // sender-constrained: never accepted as a bearer token
	}
	if err != nil {
		*pc = principalCtx{}
		principalPool.Put(pc) // never handed out: reuse it, so failures allocate nothing
		return nil, err
	}
	pc.Context = r.Context()
	pc.p = Principal{Subject: pc.c.Subject, Roles: pc.c.Roles, Scopes: pc.c.Scopes, Method: MethodBearer, Claims: &pc.c}
	return pc, nil
}

// extract finds the one bearer token of r.
func (v *Verifier) extract(w http.ResponseWriter, r *http.Request) (string, error) {
	var token string
	found := false
	switch h := r.Header["Authorization"]; len(h) {
	case 0:
	case 1:
		t, st := parseBearer(h[0])
		switch st {
		case bearerMalformed:
			return "", v.errs.invalidRequest
		case bearerOK:
			token, found = t, true
		}
	default:
		return "", v.errs.twoCredentials
	}
	// Any query is parsed (not only one containing "access_token" literally):
	// "access%5Ftoken" decodes to the same name.
	if v.allowQuery && r.URL.RawQuery != "" {
		q := r.URL.Query()["access_token"]
		if len(q) > 0 {
			if w != nil {
				w.Header().Set("Cache-Control", "no-store")
			}
			if found || len(q) > 1 {
				return "", v.errs.twoCredentials
			}
			if q[0] == "" || !isB64Token(q[0]) {
				return "", v.errs.invalidRequest
			}
			token, found = q[0], true
		}
	}
	if !found {
		return "", v.errs.noCredentials
	}
	return token, nil
}

type bearerStatus uint8

const (
	bearerAbsent    bearerStatus = iota // another scheme, or empty
	bearerOK                            // "Bearer <b64token>"
	bearerMalformed                     // "Bearer" with a missing or malformed token
)

// parseBearer parses an Authorization value per RFC 6750 §2.1:
//
//	credentials = "Bearer" 1*SP b64token
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// The scheme is case-insensitive (RFC 9110 §11.1). Another scheme is reported
// as absent: RFC 6750 §3.1 treats it like a request without credentials.
func parseBearer(h string) (string, bearerStatus) {
	const scheme = "Bearer"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", bearerAbsent
	}
	rest := h[len(scheme):]
	if rest == "" {
		return "", bearerMalformed
	}
	if rest[0] != ' ' {
		if syntax.IsTChar(rest[0]) {
			return "", bearerAbsent // "Bearerx …" is some other scheme
		}
		return "", bearerMalformed // "Bearer\t…", "Bearer,…": not 1*SP
	}
	rest = strings.TrimLeft(rest, " ")
	if !isB64Token(rest) {
		return "", bearerMalformed
	}
	return rest, bearerOK
}

// b64tokenChar[c] is true for the b64token characters before any padding.
var b64tokenChar = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/" {
		t[c] = true
	}
	return t
}()

func isB64Token(s string) bool {
	i := 0
	for i < len(s) && b64tokenChar[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}
