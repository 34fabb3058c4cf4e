package guard

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/guardkit/guard/internal/syntax"
)

// Sentinel errors. Every error returned by this package can be tested with
// [errors.Is] against one or more of these. Errors that reach the wire are
// *[Error] values; they match the sentinel of their RFC error code (for example
// an expired token matches both [ErrInvalidToken] and [ErrTokenExpired]).
var (
	// ErrNoCredentials: the request carried no credentials at all (401, bare challenge).
	ErrNoCredentials = errors.New("guard: no credentials")
	// ErrInvalidRequest: malformed credentials, or two credentials at once (RFC 6750 invalid_request).
	ErrInvalidRequest = errors.New("guard: invalid request")
	// ErrInvalidToken: the token is not acceptable for any reason (RFC 6750 invalid_token).
	ErrInvalidToken = errors.New("guard: invalid token")
	// ErrInsufficientScope: authenticated, but lacking a role or scope (RFC 6750 insufficient_scope).
	ErrInsufficientScope = errors.New("guard: insufficient scope")

	// ErrMalformedToken: the token is not a well-formed compact JWS with a JSON claims set.
	ErrMalformedToken = errors.New("guard: malformed token")
	// ErrTokenTooLarge: the token is longer than the verifier's size cap.
	ErrTokenTooLarge = errors.New("guard: token too large")
	// ErrInvalidSignature: the signature does not verify.
	ErrInvalidSignature = errors.New("guard: invalid signature")
	// ErrAlgorithm: the header names an algorithm no configured key allows.
	ErrAlgorithm = errors.New("guard: algorithm not allowed")
	// ErrUnknownKey: the header's kid names no configured key, or no kid was given while several keys match.
	ErrUnknownKey = errors.New("guard: unknown key")
	// ErrTokenExpired: exp is in the past (beyond the leeway).
	ErrTokenExpired = errors.New("guard: token expired")
	// ErrTokenNotYetValid: nbf or iat is in the future (beyond the leeway).
	ErrTokenNotYetValid = errors.New("guard: token not yet valid")
	// ErrInvalidIssuer: iss is missing or not one of the accepted issuers.
	ErrInvalidIssuer = errors.New("guard: invalid issuer")
	// ErrInvalidAudience: aud is missing or names none of the accepted audiences.
	ErrInvalidAudience = errors.New("guard: invalid audience")
	// ErrMissingClaim: a required claim (exp, sub) is absent or of the wrong type.
	ErrMissingClaim = errors.New("guard: missing required claim")
	// ErrTokenLifetime: exp lies further ahead than the verifier's maximum
	// token lifetime, or exp - iat exceeds it.
	ErrTokenLifetime = errors.New("guard: token lifetime too long")
	// ErrTokenRevoked: the token's jti or its subject was revoked (see [RevocationChecker]).
	ErrTokenRevoked = errors.New("guard: token revoked")

	// ErrNotFound is what a store ([APIKeyStore], and the authorization
	// server's user and client stores) returns for an unknown name or key;
	// callers answer it like bad credentials.
	ErrNotFound = errors.New("guard: not found")

	// ErrInvalidAPIKey: the API key is unknown, revoked, expired or malformed.
	ErrInvalidAPIKey = errors.New("guard: invalid API key")

	// ErrPasswordMismatch: the password does not match the stored hash.
	ErrPasswordMismatch = errors.New("guard: password mismatch")
	// ErrBusy: no hashing slot was free before the context ended.
	ErrBusy = errors.New("guard: busy")
	// Password-hashing errors; Verify and Hash wrap them with detail.
	// ErrPasswordTooLong: the password is longer than bcrypt's 72 bytes (when
	// bcrypt is the default scheme), or longer than [MaxPasswordLen] for any scheme.
	ErrPasswordTooLong = errors.New("guard: password too long")
	// ErrPasswordContainsNUL: the password contains a NUL byte and the scheme is
	// bcrypt, which would stop reading at it in C implementations.
	ErrPasswordContainsNUL = errors.New("guard: password contains a NUL byte")
	// ErrMalformedHash: the stored hash string is not a well-formed hash of a
	// known scheme (truncated, bad base64, bad parameters, unknown prefix).
	ErrMalformedHash = errors.New("guard: malformed password hash")
	// ErrUnsupportedHash: the stored hash is well formed but this hasher refuses
	// to run it: its scheme is not in [PasswordHasherConfig.Schemes], its
	// version is not supported, or its cost is above a configured ceiling.
	ErrUnsupportedHash = errors.New("guard: unsupported password hash")

	// OAuth2 token endpoint error codes (RFC 6749 §5.2).
	ErrInvalidGrant         = errors.New("guard: invalid grant")
	ErrInvalidClient        = errors.New("guard: invalid client")
	ErrInvalidScope         = errors.New("guard: invalid scope")
	ErrUnauthorizedClient   = errors.New("guard: unauthorized client")
	ErrUnsupportedGrantType = errors.New("guard: unsupported grant type")
	// ErrUnsupportedTokenType: the revocation endpoint cannot revoke this kind of token (RFC 7009 §2.2.1).
	ErrUnsupportedTokenType = errors.New("guard: unsupported token type")
	// ErrThrottled: too many failed attempts; retry later (429).
	ErrThrottled = errors.New("guard: too many attempts")

	// ErrInvalidDPoPProof: the request's DPoP proof is missing, malformed,
	// signed wrongly, not for this request (htm, htu, ath), too old or from
	// the future, or replayed (RFC 9449 invalid_dpop_proof).
	ErrInvalidDPoPProof = errors.New("guard: invalid DPoP proof")
	// ErrUseDPoPNonce: the server requires a DPoP nonce and the proof has
	// none or a stale one (RFC 9449 §8, use_dpop_nonce); [DPoPNonce] gives
	// the fresh nonce to send in the DPoP-Nonce header.
	ErrUseDPoPNonce = errors.New("guard: use DPoP nonce")
)

// Error is an authentication or authorization failure with the fields that
// go on the wire. It is what [WriteError] renders; components build it with
// fixed, safe descriptions and keep the cause in Err for logs.
//
// An *Error matches, under [errors.Is], the sentinel of its Code (for example
// Code "invalid_token" matches [ErrInvalidToken]) and anything its Err matches.
type Error struct {
	// Status is the HTTP status code, such as 401.
	Status int
	// Code is the RFC 6749 / RFC 6750 error code, such as "invalid_token".
	// It is empty for a request that simply carried no credentials.
	Code string
	// Description is a short human-readable text safe to show to the client.
	// Characters outside RFC 6750's error_description set are replaced.
	Description string
	// Scope lists the scopes or roles the resource needs (insufficient_scope).
	Scope string
	// Challenges are WWW-Authenticate values, such as `Bearer realm="api"`.
	// The writer adds error, error_description and scope parameters to
	// Bearer challenges when Code is set.
	Challenges []string
	// RetryAfter, when positive, is sent as the Retry-After header (whole seconds, rounded up).
	RetryAfter time.Duration
	// Err is the underlying cause. It never reaches the response body.
	Err error

	// paramScheme is the auth scheme whose challenges get the error
	// parameters: "" for Bearer (every error but the DPoP ones), "DPoP"
	// when the failure is about a DPoP-presented token or its proof, so a
	// Bearer challenge beside it stays bare (RFC 9449 §7.1).
	paramScheme string

	// rendered is the wire form, computed once for the errors components
	// build at construction (see prerender); it is used only while the
	// fields it was made from are unchanged.
	rendered *errorWire
}

// errorWire is an *Error's challenges and body, ready to write.
type errorWire struct {
	code, desc, scope string
	from              []string // the Challenges it was made from
	challenges        []string
	body              []byte
}

func (r *errorWire) matches(e *Error) bool {
	return r.code == e.Code && r.desc == e.Description && r.scope == e.Scope &&
		len(r.from) == len(e.Challenges) && (len(r.from) == 0 || &r.from[0] == &e.Challenges[0])
}

func renderError(e *Error) *errorWire {
	r := &errorWire{code: e.Code, desc: e.Description, scope: e.Scope, from: e.Challenges, body: errorBody(e)}
	for _, c := range e.Challenges {
		r.challenges = append(r.challenges, challengeWithParams(c, e))
	}
	return r
}

// prerender computes e's wire form once, before e is shared; WriteError then
// writes it without formatting anything.
func prerender(e *Error) *Error {
	e.rendered = renderError(e)
	return e
}

// withCause returns a copy of e, a pre-built error, with cause as its Err;
// the copy keeps e's rendered wire form, so the response is unchanged.
func (e *Error) withCause(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

func (e *Error) wire() *errorWire {
	if r := e.rendered; r != nil && r.matches(e) {
		return r
	}
	return renderError(e)
}

// Error describes e for logs: code, description and cause. It may contain
// internal detail; it is never written to a response.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("guard: ")
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString(http.StatusText(e.Status))
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.Err != nil {
		b.WriteString(" (")
		b.WriteString(e.Err.Error())
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's error code.
func (e *Error) Is(target error) bool {
	if e.Code == "" {
		return target == ErrNoCredentials && e.Status == http.StatusUnauthorized
	}
	return codeSentinel(e.Code) == target
}

func codeSentinel(code string) error {
	switch code {
	case "invalid_request":
		return ErrInvalidRequest
	case "invalid_token":
		return ErrInvalidToken
	case "insufficient_scope":
		return ErrInsufficientScope
	case "invalid_grant":
		return ErrInvalidGrant
	case "invalid_client":
		return ErrInvalidClient
	case "invalid_scope":
		return ErrInvalidScope
	case "unauthorized_client":
		return ErrUnauthorizedClient
	case "unsupported_grant_type":
		return ErrUnsupportedGrantType
	case "unsupported_token_type":
		return ErrUnsupportedTokenType
	case "invalid_dpop_proof":
		return ErrInvalidDPoPProof
	case "use_dpop_nonce":
		return ErrUseDPoPNonce
	}
	return nil
}

// ErrorWriter writes the response for a failed request. Every component has an
// ErrorWriter field; nil means [WriteError]. A custom writer receives the same
// errors (usually an *[Error]) and must not echo err.Error() to the client.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// WriteError is the default [ErrorWriter]. For an *[Error] (found with
// [errors.As]) it writes the status, the WWW-Authenticate challenges (RFC 6750
// §3), Retry-After, `Cache-Control: no-store`, and a small JSON body
// {"error":…,"error_description":…} (RFC 6749 §5.2). Any other error becomes a
// 500 with {"error":"server_error"} and no detail. It never writes err.Error().
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := err.(*Error) // guard's own errors, without errors.As's reflection
	if !ok {
		e = ErrorOf(err)
	}
	rw := e.wire()
	h := w.Header()
	// One allocation holds every header value; each header gets its own
	// full slice of it (cap == len), so no later layer can change another
	// response's headers through a shared backing array.
	vals := make([]string, 0, len(rw.challenges)+5)
	if len(rw.challenges) > 0 {
		if old := h["Www-Authenticate"]; len(old) > 0 {
			h["Www-Authenticate"] = append(old[:len(old):len(old)], rw.challenges...)
		} else {
			vals = append(vals, rw.challenges...)
			h["Www-Authenticate"] = vals[:len(rw.challenges):len(rw.challenges)]
		}
	}
	set := func(key, value string) {
		i := len(vals)
		vals = append(vals, value)
		h[key] = vals[i : i+1 : i+1]
	}
	if e.RetryAfter > 0 {
		secs := int64(e.RetryAfter / time.Second) // rounded up without overflowing
		if e.RetryAfter%time.Second != 0 {
			secs++
		}
		set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if e.Code == "use_dpop_nonce" {
		if n, ok := DPoPNonce(e); ok {
			set("Dpop-Nonce", n)
		}
	}
	set("Content-Type", "application/json")
	set("Cache-Control", "no-store")
	set("X-Content-Type-Options", "nosniff")
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(rw.body)
}

// mapSentinel turns a bare sentinel (or an unknown error) into an *Error.
// Custom ErrorWriters and handlers may pass plain sentinels; a client's mistake
// must still get its 4xx, never a 500.
func mapSentinel(err error) *Error {
	bearer := []string{`Bearer realm="` + DefaultRealm + `"`}
	switch {
	case errors.Is(err, ErrNoCredentials):
		return &Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenges: bearer}
	case errors.Is(err, ErrInsufficientScope):
		return &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "insufficient privileges", Challenges: bearer}
	case errors.Is(err, ErrInvalidRequest):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed request", Challenges: bearer}
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrMalformedToken), errors.Is(err, ErrTokenTooLarge),
		errors.Is(err, ErrInvalidSignature), errors.Is(err, ErrAlgorithm), errors.Is(err, ErrUnknownKey),
		errors.Is(err, ErrTokenExpired), errors.Is(err, ErrTokenNotYetValid), errors.Is(err, ErrInvalidIssuer),
		errors.Is(err, ErrInvalidAudience), errors.Is(err, ErrMissingClaim), errors.Is(err, ErrTokenLifetime),
		errors.Is(err, ErrTokenRevoked):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "invalid token", Challenges: bearer}
	case errors.Is(err, ErrInvalidAPIKey):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "invalid API key",
			Challenges: []string{`ApiKey realm="` + DefaultRealm + `"`}}
	case errors.Is(err, ErrInvalidGrant), errors.Is(err, ErrPasswordMismatch):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "invalid grant"}
	case errors.Is(err, ErrInvalidClient):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed",
			Challenges: []string{`Basic realm="` + DefaultRealm + `"`}}
	case errors.Is(err, ErrInvalidScope):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "invalid scope"}
	case errors.Is(err, ErrUnauthorizedClient):
		return &Error{Status: http.StatusBadRequest, Code: "unauthorized_client", Description: "unauthorized client"}
	case errors.Is(err, ErrUnsupportedGrantType):
		return &Error{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "unsupported grant type"}
	case errors.Is(err, ErrInvalidDPoPProof):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_dpop_proof", Description: "invalid DPoP proof"}
	case errors.Is(err, ErrUseDPoPNonce):
		return &Error{Status: http.StatusBadRequest, Code: "use_dpop_nonce", Description: "DPoP nonce required", Err: err}
	case errors.Is(err, ErrBusy):
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "server busy", RetryAfter: time.Second}
	case errors.Is(err, ErrThrottled):
		// The token endpoint's answer: RFC 6749 has no throttling code, and
		// slow_down belongs to the device flow (RFC 8628).
		return &Error{Status: http.StatusTooManyRequests, Code: "invalid_request", Description: "too many failed attempts; retry later", RetryAfter: time.Second}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "server_error"}
}

// challengeWithParams appends RFC 6750 §3 parameters to a Bearer challenge
// (to a DPoP one instead for the errors of DPoP, RFC 9449 §7.1). Other
// schemes (Basic, ApiKey) are written as configured.
func challengeWithParams(c string, e *Error) string {
	if e.Code == "" || !hasScheme(c, e.paramScheme) {
		return c
	}
	var b strings.Builder
	b.Grow(len(c) + len(e.Code) + len(e.Description) + len(e.Scope) + 48)
	b.WriteString(c)
	sep := ", "
	if strings.IndexByte(c, ' ') < 0 { // a bare scheme name
		sep = " "
	}
	b.WriteString(sep)
	b.WriteString(`error="`)
	syntax.WriteQuotedSafe(&b, e.Code)
	b.WriteByte('"')
	if e.Description != "" {
		b.WriteString(`, error_description="`)
		syntax.WriteQuotedSafe(&b, e.Description)
		b.WriteByte('"')
	}
	if e.Scope != "" {
		b.WriteString(`, scope="`)
		syntax.WriteQuotedSafe(&b, e.Scope)
		b.WriteByte('"')
	}
	return b.String()
}

// hasScheme reports whether challenge c is of scheme ("" meaning Bearer).
func hasScheme(c, scheme string) bool {
	if scheme == "" {
		return syntax.IsBearer(c)
	}
	n := len(scheme)
	return len(c) >= n && strings.EqualFold(c[:n], scheme) && (len(c) == n || c[n] == ' ')
}

// errorBody renders {"error":…,"error_description":…} with the same character
// filter as the header, so the body needs no JSON escaping beyond that.
func errorBody(e *Error) []byte {
	code := e.Code
	if code == "" && e.Status == http.StatusUnauthorized {
		// RFC 6750 §3.1 keeps error codes out of the challenge of a request
		// without credentials. The body is not governed by it; "unauthorized"
		// is deliberately not an RFC code, so no client mistakes it for
		// invalid_token (which would make it refresh or drop its token).
		code = "unauthorized"
	}
	var b strings.Builder
	b.Grow(len(code) + len(e.Description) + len(e.Scope) + 64)
	b.WriteString(`{"error":"`)
	syntax.WriteQuotedSafe(&b, code)
	b.WriteByte('"')
	if e.Description != "" {
		b.WriteString(`,"error_description":"`)
		syntax.WriteQuotedSafe(&b, e.Description)
		b.WriteByte('"')
	}
	if e.Scope != "" {
		b.WriteString(`,"scope":"`)
		syntax.WriteQuotedSafe(&b, e.Scope)
		b.WriteByte('"')
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// writerOrDefault is a component's writer: its own ErrorWriter, or the
// request's [Hooks] ErrorWriter, or [WriteError].
func writerOrDefault(w ErrorWriter) ErrorWriter {
	if w == nil {
		return WriteRequestError
	}
	return w
}

// ErrorOf returns the *[Error] that [WriteError] writes for err: err itself
// (or the *Error it wraps), or the standard answer to a bare sentinel, or a
// 500 server_error for anything else. Custom [ErrorWriter]s use it to get the
// status, code and challenges without re-deriving them.
func ErrorOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return mapSentinel(err)
}

// WWWAuthenticate returns the WWW-Authenticate values [WriteError] sends for
// e: each of its Challenges, Bearer ones with RFC 6750 §3's error,
// error_description and scope parameters, quoted safely. A custom
// [ErrorWriter] sets them as they are:
//
//	for _, v := range guard.ErrorOf(err).WWWAuthenticate() {
//		w.Header().Add("WWW-Authenticate", v)
//	}
func (e *Error) WWWAuthenticate() []string {
	return slices.Clone(e.wire().challenges)
}

// Unavailable is the answer to a failing dependency (a user, client,
// API-key, refresh or revocation store, a limiter): fail closed with 503
// temporarily_unavailable and a Retry-After of 5 seconds. cause is kept in
// Err for logs and never reaches the body. Handlers outside this package
// that call a store on a request path answer its errors with it.
func Unavailable(cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Description: "service unavailable; retry later", RetryAfter: 5 * time.Second, Err: cause}
}

// ErrWeakSecret: [NewHMACKey] refused a secret that is published (on the
// wordlists used to crack JWTs) or built from a short pattern (one repeated
// unit, a counting sequence, very few distinct bytes). Generate the secret
// with crypto/rand instead.
var ErrWeakSecret = errors.New("guard: weak HMAC secret")

// ErrKeysUnavailable: a [KeySource] has no keys to verify with yet (a remote
// key set not loaded) or could not supply them. A [Verifier] answers it with
// 503 temporarily_unavailable and Retry-After, failing closed.
var ErrKeysUnavailable = errors.New("guard: verification keys unavailable")

// ErrInvalidKeySet: [ParseJWKSet] refused a whole JWK Set: not a JSON
// object with a "keys" array, over the size or key-count cap, two usable
// keys with one kid, or a private member (d, p, q, dp, dq, qi, oth, or an
// oct key's k) in a set that must hold public keys only.
var ErrInvalidKeySet = errors.New("guard: invalid JWK set")

// ErrUnsupportedKey: [ParseJWKSet] skipped one key of a set: an unsupported
// kty, crv or alg, "use" other than "sig", key_ops without "verify", or a
// key that is not acceptable (RSA under 2048 bits, a point off its curve, an
// alg that contradicts the key).
var ErrUnsupportedKey = errors.New("guard: unsupported key")

// Remote key errors (a [RemoteKeySet] and OIDC discovery). Fetch failures
// reach RemoteKeySetConfig.OnError and the log, not clients; a client
// meets them only as [ErrKeysUnavailable] (503) or [ErrUnknownKey] (401).
var (
	// ErrInsecureURL: a key or discovery URL, or a redirect, is not https
	// (plain http is allowed to loopback hosts only), or a redirect changes
	// the scheme.
	ErrInsecureURL = errors.New("guard: insecure URL")
	// ErrResponseTooLarge: a fetched document is over its size cap.
	ErrResponseTooLarge = errors.New("guard: response too large")
	// ErrIssuerMismatch: a discovery document names another issuer than the
	// one it was fetched for (OpenID Connect Discovery 1.0 §4.3, RFC 8414 §3.3).
	ErrIssuerMismatch = errors.New("guard: issuer mismatch")
)
