package guard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unsafe"

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
	pc, err := v.verifyAndCheck(ctx, token)
	if err != nil {
		return nil, err
	}
	if pc.c.Confirmation != nil {
		return nil, v.errs.bound // sender-constrained: never accepted as a bearer token
	}
	pc.setPrincipal()
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
// parent context, the principal and its claims in one allocation, which
// usually holds the decoded claims set too (newPrincipalCtx). It answers
// Value(principalKey{}) exactly as [NewContext] would, and delegates
// everything else (Done, Deadline, Err and other keys) to the parent, so
// cancellation propagates as with context.WithValue. Verify and
// AuthenticateToken hand out its claims or principal alone.
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

// setPrincipal sets c's principal from its claims.
func (c *principalCtx) setPrincipal() {
	c.p = Principal{Subject: c.c.Subject, Roles: c.c.Roles, Scopes: c.c.Scopes, Method: MethodBearer, Claims: &c.c}
}

// principalCtx with room for a decoded claims set, each type the size of
// one of Go's allocation size classes, so that the room is not rounded up
// unused. A request's principal, claims and claim strings then cost one
// allocation (BenchmarkGuardHS256Success, bench/, 2 allocations of guard's
// with the request copy instead of 4).
type (
	principalCtx512 struct {
		principalCtx
		room [512 - unsafe.Sizeof(principalCtx{})]byte
	}
	principalCtx640 struct {
		principalCtx
		room [640 - unsafe.Sizeof(principalCtx{})]byte
	}
	principalCtx1K struct {
		principalCtx
		room [1024 - unsafe.Sizeof(principalCtx{})]byte
	}
	principalCtx2K struct {
		principalCtx
		room [2048 - unsafe.Sizeof(principalCtx{})]byte
	}
	principalCtx4K struct {
		principalCtx
		room [4096 - unsafe.Sizeof(principalCtx{})]byte
	}
)

// newPrincipalCtx returns a zero principalCtx and n bytes of memory that
// live as long as it does: in the same allocation up to a few KiB, in one of
// their own beyond. The caller decodes a payload into them, never writes
// them again, and may then point the claims' strings into them.
func newPrincipalCtx(n int) (*principalCtx, []byte) {
	switch {
	case n <= len(principalCtx512{}.room):
		x := new(principalCtx512)
		return &x.principalCtx, x.room[:n]
	case n <= len(principalCtx640{}.room):
		x := new(principalCtx640)
		return &x.principalCtx, x.room[:n]
	case n <= len(principalCtx1K{}.room):
		x := new(principalCtx1K)
		return &x.principalCtx, x.room[:n]
	case n <= len(principalCtx2K{}.room):
		x := new(principalCtx2K)
		return &x.principalCtx, x.room[:n]
	case n <= len(principalCtx4K{}.room):
		x := new(principalCtx4K)
		return &x.principalCtx, x.room[:n]
	}
	return new(principalCtx), make([]byte, n)
}

func (v *Verifier) authenticate(w http.ResponseWriter, r *http.Request) (*principalCtx, error) {
	if v == nil || v.now == nil {
		return nil, errZeroVerifier
	}
	if v.dpop != nil {
		if pc, err, done := v.dpop.authenticate(v, r, v.dpop.mode); done {
			return pc, err
		}
	}
	token, checked, err := v.extract(w, r)
	if err != nil {
		return nil, err
	}
	pc, err := v.verifyAndCheck(r.Context(), token)
	if err == nil && pc.c.Confirmation != nil {
		return nil, v.errs.bound // sender-constrained: never accepted as a bearer token
	}
	if err != nil {
		// A token that verifies is base64url with two dots, so the
		// b64token syntax (RFC 6750 §2.1) is checked only for one that
		// does not: its answer is 400 invalid_request, as if it had been
		// checked first.
		if !checked && !isB64Token(token) {
			return nil, v.errs.invalidRequest
		}
		return nil, err
	}
	pc.Context = r.Context()
	pc.setPrincipal()
	return pc, nil
}

// extract finds the one bearer token of r. checked reports whether the
// token's b64token syntax has been checked; authenticate checks it
// otherwise, once the token has failed to verify.
func (v *Verifier) extract(w http.ResponseWriter, r *http.Request) (token string, checked bool, err error) {
	found := false
	withQuery := v.allowQuery && r.URL.RawQuery != ""
	switch h := r.Header["Authorization"]; len(h) {
	case 0:
	case 1:
		t, st := cutBearer(h[0])
		if st == bearerOK && withQuery && !isB64Token(t) {
			st = bearerMalformed // refused before the query is looked at
		}
		switch st {
		case bearerMalformed:
			return "", false, v.errs.invalidRequest
		case bearerOK:
			token, found, checked = t, true, withQuery
		}
	default:
		return "", false, v.errs.twoCredentials
	}
	// Any query is parsed (not only one containing "access_token" literally):
	// "access%5Ftoken" decodes to the same name.
	if withQuery {
		q := r.URL.Query()["access_token"]
		if len(q) > 0 {
			if w != nil {
				w.Header().Set("Cache-Control", "no-store")
			}
			if found || len(q) > 1 {
				return "", false, v.errs.twoCredentials
			}
			if q[0] == "" || !isB64Token(q[0]) {
				return "", false, v.errs.invalidRequest
			}
			token, found, checked = q[0], true, true
		}
	}
	if !found {
		return "", false, v.errs.noCredentials
	}
	return token, checked, nil
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
	t, st := cutBearer(h)
	if st == bearerOK && !isB64Token(t) {
		return "", bearerMalformed
	}
	return t, st
}

// cutBearer is parseBearer without the b64token check: bearerOK means the
// scheme, at least one space and a non-empty rest, which is returned.
func cutBearer(h string) (string, bearerStatus) { return cutScheme(h, "Bearer") }

// cutScheme is cutBearer for any auth-scheme (RFC 9110 §11.4), such as
// RFC 9449's DPoP.
func cutScheme(h, scheme string) (string, bearerStatus) {
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
	if rest == "" {
		return "", bearerMalformed
	}
	return rest, bearerOK
}

// b64tokenChar[c] is 1 for the b64token characters before any padding.
var b64tokenChar = func() (t [256]uint8) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/" {
		t[c] = 1
	}
	return t
}()

// isB64Token reports whether s is a b64token. It looks at eight bytes per
// step: a refused request pays this scan (authenticate).
func isB64Token(s string) bool {
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		c := s[i : i+8]
		if b64tokenChar[c[0]]&b64tokenChar[c[1]]&b64tokenChar[c[2]]&b64tokenChar[c[3]]&
			b64tokenChar[c[4]]&b64tokenChar[c[5]]&b64tokenChar[c[6]]&b64tokenChar[c[7]] == 0 {
			break
		}
	}
	for i < len(s) && b64tokenChar[s[i]] != 0 {
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
