// Package guard is what a net/http service needs to accept credentials: JWT
// access tokens and the keys that sign and verify them, bearer middleware,
// role and scope checks, API keys, password hashing, revocation checks and
// CORS. The OAuth2 authorization server (token and authorization endpoints,
// refresh families, RFC 7009 revocation, RFC 7662 introspection, login
// throttling, metadata) is the
// package [github.com/guardkit/guard/authserver], built on this one; a
// service that only verifies tokens never imports it.
//
// Quick start: verify HS256 tokens and protect two routes.
//
//	key, err := guard.NewHMACKey(guard.HS256, secret, "") // secret: >= 32 random bytes
//	if err != nil { log.Fatal(err) }
//	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}})
//	if err != nil { log.Fatal(err) }
//	mux := http.NewServeMux()
//	mux.Handle("GET /me", v.RequireBearer(me))
//	mux.Handle("GET /admin", v.RequireBearer(guard.RequireRole("admin")(admin)))
//	// in a handler:
//	p, ok := guard.PrincipalFrom(r.Context())
//
// Every middleware has the shape func(http.Handler) http.Handler, so it works
// with http.ServeMux, chi's r.Use and alice. Identity reaches handlers only
// through the request context ([PrincipalFrom], [ClaimsFrom]). Constructors
// take a Config struct, copy it, validate everything at once and return an
// error; a zero Config denies rather than allows. Options that weaken security
// are named Dangerously….
//
// # Middleware order
//
// From the outside in:
//
//	CORS  →  authentication  →  authorization  →  handler
//	c.Handler(v.RequireBearer(guard.RequireRole("admin")(h)))
//
// CORS goes outside authentication: browsers send preflight OPTIONS requests
// without credentials, and the CORS layer answers them before they could be
// rejected; error responses from the auth layer then still carry the CORS
// headers, so browser code can read the 401 and its WWW-Authenticate.
// RequireRole and RequireScope go inside an authenticating middleware
// (RequireBearer, RequireAPIKey, RequireAuth or OptionalAuth); outside one
// they answer 401 to every request. [Hooks], if used, go outermost.
//
// # Errors
//
// Failures are *[Error] values written by one [ErrorWriter] (default
// [WriteError]) in the shape of RFC 6750 §3 and RFC 6749 §5.2: 401 with a
// WWW-Authenticate challenge, 400 invalid_request, 403 insufficient_scope,
// and so on. Response bodies never contain internal error text; use
// [errors.Is] with the sentinels (ErrInvalidToken, ErrTokenExpired, …) in
// custom writers and logs. An app with its own error shape sets its writer
// once, in [Hooks]; [ErrorOf] and [Error.WWWAuthenticate] give a custom
// writer the status and the challenge without re-deriving them.
//
// # OpenAPI
//
// Authenticators describe themselves as OpenAPI 3.1 security schemes
// ([SecurityDescriber]: a [*Verifier] is http bearer JWT, or openIdConnect
// with a remote issuer; an [*APIKeyAuth] is one apiKey scheme per place it
// reads; [Described] names an app's own), in plain types with no OpenAPI
// dependency. A [Policy] is one route's guard chain as data (authenticators
// as alternatives, Optional, Scopes, Roles): its Middleware enforces what
// its Security describes. A [Registrar] mounts handlers behind their
// policies and builds the document (merged into the app's own), refusing
// undescribed authenticators and conflicting scheme names; roles go into
// the "x-guard-roles" extension and the operation's description. The
// token endpoint's oauth2 scheme is authserver.TokenEndpoint.SecurityScheme;
// huma, kin-openapi and ogen adapters live in their own modules under
// openapi/.
//
// # Security considerations
//
//   - Tokens: the algorithm comes from the configured key, never from the
//     token; "none" does not exist; HMAC secrets shorter than the hash, secrets
//     on the published JWT-cracking wordlists or built from a pattern, and
//     RSA keys under 2048 bits are refused; a key may be bound to the
//     issuers it signs for; exp may lie at most 24h ahead (MaxTokenLifetime); a token's kid must select a key, with
//     no fallback; jku, x5u, jwk and x5c headers are ignored; exp and sub are
//     required; claim names are matched exactly and duplicates rejected
//     (RFC 7519 §7.3); tokens over 8 KiB are rejected before decoding.
//   - Passwords: bcrypt at cost 12 by default, which passlib's
//     CryptContext(schemes=["bcrypt"]) reads, so a FastAPI service can share
//     the user table; argon2id is one setting away; argon2id, bcrypt and
//     passlib formats are verified and upgraded on login; a bounded pool of
//     hashing slots sheds load with 503 instead of queueing; every failed
//     check (unknown user, wrong password, disabled account, account without
//     a password, unreadable stored hash, unknown client) costs one hash at
//     the current policy, so timing tells nothing about accounts.
//   - API keys: only SHA-256 digests are stored and compared.
//   - Remote keys ([RemoteKeySet]): https only (plain http to loopback
//     hosts), no redirect that changes the scheme, 1 MiB and 10 s per
//     fetch, a discovery document's issuer must equal the configured one
//     exactly, secret (HMAC) keys are never taken from a remote set, a
//     flood of unknown kids costs at most one fetch per RefetchInterval,
//     and until keys load verifiers answer 503, never accepting.
//   - Remote revocation ([IntrospectionChecker]): the same URL rule, no
//     redirects, 64 KiB and 5 s per answer; an "active" answer is trusted
//     for at most CacheFor (5 s by default, 30 s at most), and any failure
//     is 503, never a request let through.
//   - Sender-constrained tokens ([DPoP], RFC 9449): a token with a cnf is
//     never accepted as a bearer token; a DPoP proof must be one header of
//     at most 4 KiB, signed by the public (never private or symmetric) key
//     in its header with an asymmetric algorithm, for this method and URL,
//     at most 60 s old, carry the access token's hash, be seen once (a
//     replay cache keyed by key thumbprint and jti; a failing cache is 503),
//     and come from the key the token's cnf.jkt names.
//   - Secrets (passwords, client secrets, keys, tokens) are held in types
//     that print as REDACTED, including through log/slog.
//
// # Standards
//
//   - RFC 6749, OAuth 2.0: https://www.rfc-editor.org/rfc/rfc6749
//   - RFC 6750, Bearer token usage: https://www.rfc-editor.org/rfc/rfc6750
//   - RFC 7662, token introspection: https://www.rfc-editor.org/rfc/rfc7662
//   - RFC 7515/7517/7518/7519, JWS, JWK, JWA, JWT: https://www.rfc-editor.org/rfc/rfc7519
//   - RFC 8037, EdDSA for JOSE: https://www.rfc-editor.org/rfc/rfc8037
//   - RFC 8725, JWT best current practices: https://www.rfc-editor.org/rfc/rfc8725
//   - RFC 9068, JWT access tokens: https://www.rfc-editor.org/rfc/rfc9068
//   - RFC 9700, OAuth 2.0 security BCP: https://www.rfc-editor.org/rfc/rfc9700
//   - RFC 9449, DPoP: https://www.rfc-editor.org/rfc/rfc9449
//   - RFC 9728, protected resource metadata: https://www.rfc-editor.org/rfc/rfc9728
//   - RFC 7638, JWK thumbprint: https://www.rfc-editor.org/rfc/rfc7638
package guard
