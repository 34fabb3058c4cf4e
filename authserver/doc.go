// Package authserver is the OAuth 2.0 authorization server built on package
// guard: the token endpoint (RFC 6749 password, client_credentials,
// authorization_code and refresh_token grants, with public and confidential
// clients), the authorization endpoint with PKCE, refresh-token families,
// the RFC 7009 revocation endpoint, the RFC 7662 introspection endpoint,
// RFC 7591 dynamic client registration, RFC 8707 resource indicators,
// login throttling, and RFC 8414 / OpenID Connect discovery documents. It imports package guard for keys, tokens,
// password hashing, errors and hooks; guard never imports it, so a service
// that only accepts tokens reads a small API and this package grows on its
// own.
//
// Quick start: a token endpoint with the password grant.
//
//	tokens, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
//		Issuer: issuer, // a *guard.TokenIssuer
//		Hasher: hasher, // a *guard.PasswordHasher
//		Users:  users,  // your UserStore
//		EnablePasswordGrant: true,
//	})
//	if err != nil { log.Fatal(err) }
//	mux.Handle("POST /token", tokens)
//
// Each grant reads in its own file, calling shared steps that live once:
// the form and client authentication, the throttled credential check, the
// scopes, the claims hook, the access token and the refresh family.
//
// # Security considerations
//
//   - Transport: both endpoints require TLS (RFC 6749 §3.1, §3.2); plain
//     HTTP is accepted from loopback peers and from trusted proxies that
//     say https, or everywhere with DangerouslyAllowInsecureHTTP.
//   - Logins: each attempt is counted before hashing, in one atomic step,
//     on three counters: the account from this IP, the IP, and the account
//     from addresses it never logged in from. A success is remembered for
//     its address (30 days by default), so a guesser elsewhere cannot lock
//     the user out of an address she used before. Waits double from 1s to
//     at most 15m after the last failure: never a permanent lockout.
//     Usernames and client ids over 256 bytes are refused; limiter keys are
//     fixed-size digests of the store's canonical name (of the trimmed,
//     lower-cased spelling for a name it does not know, so throttling does
//     not tell real accounts from unknown ones). An app's own sign-in
//     page checks passwords with [TokenEndpoint.Login] and so gets the same
//     rules, on the same counters.
//   - Every failing credential check costs one hash at the current policy,
//     so timing tells nothing about accounts or clients.
//   - Refresh tokens rotate on every use; a rotated token presented again
//     revokes its whole family (RFC 9700 §4.14.2).
//   - Authorization codes are single-use, live one minute, need PKCE S256
//     and an exact redirect URI, and responses carry iss (RFC 9207).
//   - Dynamic client registration (RFC 7591, [RegistrationEndpoint]):
//     public clients only unless the app allows confidential ones; redirect
//     URIs https or http to loopback; grants, scopes and resources from the
//     app's policy; throttled per client IP; secrets stored hashed and
//     sent once. A loopback IP redirect URI registered without a port
//     matches on any port at the authorization endpoint (RFC 8252 §7.3);
//     one registered with a port keeps it.
//   - DPoP (RFC 9449, TokenEndpointConfig.DPoP): a valid proof binds the
//     access token to its key (cnf.jkt, token_type "DPoP"); public
//     clients' refresh tokens are bound to the same key, and dpop_jkt at
//     the authorization endpoint binds the code.
//   - Resource indicators (RFC 8707): a token asked for resources has
//     exactly them as its "aud", each one of the client's Resources; a
//     refresh may narrow them, never widen. See [ValidResourceURI].
//   - Introspection answers only confidential clients whose Grants list
//     [GrantIntrospection]; a refresh token is active only to the client it
//     was issued to; everything else unknown is {"active":false}.
//
// # Standards
//
//   - RFC 6749, OAuth 2.0: https://www.rfc-editor.org/rfc/rfc6749
//   - RFC 7009, token revocation: https://www.rfc-editor.org/rfc/rfc7009
//   - RFC 7662, token introspection: https://www.rfc-editor.org/rfc/rfc7662
//   - RFC 7636, PKCE: https://www.rfc-editor.org/rfc/rfc7636
//   - RFC 8414, authorization server metadata: https://www.rfc-editor.org/rfc/rfc8414
//   - RFC 9207, issuer identification: https://www.rfc-editor.org/rfc/rfc9207
//   - RFC 8707, resource indicators: https://www.rfc-editor.org/rfc/rfc8707
//   - RFC 7591, dynamic client registration: https://www.rfc-editor.org/rfc/rfc7591
//   - RFC 9449, DPoP: https://www.rfc-editor.org/rfc/rfc9449
//   - RFC 9700, OAuth 2.0 security BCP: https://www.rfc-editor.org/rfc/rfc9700
package authserver
