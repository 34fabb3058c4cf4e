package authserver

import (
	"context"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/internal/transport"
)

// Login checks a user's password for an app's own sign-in page, such as the
// login handler of an [AuthorizeEndpoint], exactly as the password grant
// checks it: the user is looked up in TokenEndpointConfig.Users first, so
// throttling and the returned User.Username use the store's canonical name;
// the attempt is throttled on the same three counters as the token
// endpoint's (so guesses through the page and through POST /token draw on
// one budget); every failing path costs one hash at the current policy; the
// attempt is audited and logged like a token request; and a hash below the
// current policy is upgraded on success, when the store can update it. The
// client IP is r's, as TrustedProxies says, and r must have come over TLS
// by the token endpoint's rule (TLS, a loopback peer, a trusted proxy that
// says https, or DangerouslyAllowInsecureHTTP): a password sent in the clear
// is refused unread.
//
// On success it returns the user with Username set to the canonical name,
// the one to pass to [AuthorizeEndpoint.Approve], and PasswordHash cleared. Otherwise the error is an
// *[Error] (see [ErrorOf]) of one of these kinds:
//   - [ErrThrottled] (429): too many failed attempts; its RetryAfter says
//     when to try again (test for it first: on the wire it is also an
//     invalid_request);
//   - [ErrInvalidRequest] (400): r came over plain HTTP;
//   - [ErrInvalidGrant] (400): a wrong, empty, over-long ([MaxAccountNameLen])
//     or non-UTF-8 username or password, an unknown, disabled or
//     password-less account: one answer for all, so the page cannot tell
//     which usernames exist;
//   - anything else is a 503 (Status): the user store or a limiter failed,
//     or the hashing pool is saturated ([ErrBusy]); its RetryAfter is set.
//
// Login needs TokenEndpointConfig.Users; without it, every call fails.
func (e *TokenEndpoint) Login(r *http.Request, username, password string) (User, error) {
	if e == nil || e.cfg.Users == nil {
		return User{}, errors.New("guard: TokenEndpoint.Login needs TokenEndpointConfig.Users")
	}
	if !e.transport.Secure(r) {
		return User{}, errTokenTLS
	}
	// What the password grant refuses as malformed (empty, over-long, not
	// UTF-8) never reaches the store or the hasher here either.
	if username == "" || password == "" || len(username) > MaxAccountNameLen ||
		!utf8.ValidString(username) || !utf8.ValidString(password) {
		return User{}, errLoginRefused
	}
	ip := e.transport.ClientIP(r)
	req := &tokenRequest{r: r, ip: ip, ipKey: transport.LimiterIPKey(ip)}
	u, needsRehash, err := e.checkPassword(r.Context(), req, username, password)
	if err != nil {
		return User{}, err
	}
	if needsRehash {
		e.rehash(r.Context(), u.Username, guard.Secret(password))
	}
	u.PasswordHash = "" // the page needs the account, not its hash
	return u, nil
}

// errLoginRefused is Login's answer to an empty username or password, one
// that is not UTF-8, or a username over the bound: the same as a wrong one,
// without a store lookup or a hash.
var errLoginRefused = tokenError(http.StatusBadRequest, "invalid_grant", "invalid username or password", guard.ErrInvalidGrant)

// checkPassword is the one password check of the password grant and Login:
// it looks the user up and runs the throttled credential check. The returned
// User has Username set to the canonical name; needsRehash says the stored
// hash is below the current policy, for the caller to upgrade once the
// whole request has succeeded.
func (e *TokenEndpoint) checkPassword(ctx context.Context, req *tokenRequest, username, password string) (_ User, needsRehash bool, _ error) {
	// The store is asked first so that throttling keys, the token's subject
	// and a rehash use the account's canonical name, whatever the case or
	// spacing the client typed.
	u, err := e.cfg.Users.LookupUser(ctx, username)
	found := err == nil
	if err != nil && !errors.Is(err, guard.ErrNotFound) {
		return User{}, false, e.storeDown(ctx, "user store", err)
	}
	switch {
	case !found:
		// Counted as stores that fold case and trim would name it, so the
		// spellings of a name that does not exist share one bucket just as
		// a real account's do, and throttling tells nothing about which
		// names exist.
		u.Username = foldAccountName(username)
	case u.Username == "":
		u.Username = username
	}
	needsRehash, err = e.check(ctx, req, credential{kind: userCredential, account: u.Username, secret: password,
		hash: u.PasswordHash, found: found, disabled: u.Disabled})
	if err == errCredential {
		return User{}, false, errTokenBadLogin
	} else if err != nil {
		return User{}, false, err
	}
	return u, needsRehash, nil
}
