package guard

import (
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard/internal/claimsjson"
)

// Claims is the claims set of a verified access token (RFC 7519 §4.1, RFC 9068).
// [Verifier.Verify] fills it; [TokenIssuer.Issue] writes one. Treat a Claims
// from a request context as read-only.
//
// Claim names match exactly (RFC 7519 §7.3): "ROLE" is not "role". Duplicate
// names and invalid UTF-8 make the token invalid.
type Claims struct {
	Issuer    string    // "iss"
	Subject   string    // "sub", required
	Audience  []string  // "aud", a string or an array on the wire
	ExpiresAt time.Time // "exp", required
	NotBefore time.Time // "nbf", zero when absent
	IssuedAt  time.Time // "iat", zero when absent
	ID        string    // "jti"
	ClientID  string    // "client_id" (RFC 9068 §2.2)

	// Roles come from "role" (a string, as FastAPI apps usually write it) and
	// "roles" (an array of strings). A claim of another type grants nothing.
	Roles []string
	// Scopes come from "scope" (space-delimited, RFC 8693 §4.2) and "scp" (an
	// array of strings). A claim of another type grants nothing.
	Scopes []string

	// Confirmation is "cnf" (RFC 7800), nil when the token has none. A
	// token with a cnf is sender-constrained: a [Verifier] refuses it as a
	// plain bearer token (401 invalid_token) and, with DPoP configured,
	// accepts it only with "Authorization: DPoP" and a proof by the key
	// whose thumbprint is Confirmation.JKT (RFC 9449 §7). When issuing, a
	// non-nil Confirmation is written as {"jkt":…}; its JKT must be set.
	Confirmation *Confirmation

	// Extra holds every other member of the claims set as one JSON object, or
	// nil when there are none. Read it with [Claims.DecodeExtra]. When issuing,
	// set it to a JSON object of additional claims; a name that collides with
	// a claim above makes Issue fail.
	Extra []byte

	// oneRole and oneAud back Roles and Audience for the common single
	// "role" and single "aud", saving an allocation each.
	oneRole [1]string
	oneAud  [1]string
}

// Confirmation is the "cnf" claim of a sender-constrained token (RFC 7800
// §3.1).
type Confirmation struct {
	// JKT is "jkt": the RFC 7638 SHA-256 thumbprint (base64url) of the DPoP
	// key the token is bound to (RFC 9449 §6.1). It is "" when the cnf
	// names only confirmation methods guard does not check (such as mTLS's
	// "x5t#S256"); such a token is refused both as bearer and as DPoP.
	JKT string
}

// DecodeExtra unmarshals the token's extra claims into v (usually a pointer to
// a struct of the app's own claims) with the same strict rules as the rest of
// the token: exact names, no duplicates, valid UTF-8. It decodes only Extra,
// not the token.
func (c *Claims) DecodeExtra(v any) error {
	if len(c.Extra) == 0 {
		return json.Unmarshal([]byte("{}"), v)
	}
	return json.Unmarshal(c.Extra, v)
}

// fill sets c from the wire form w, sharing its strings and slices. A lone
// "aud" is in c.oneAud already when w was decoded with
// w.StoreLoneAudience(&c.oneAud).
func (c *Claims) fill(w *claimsjson.Wire) {
	c.Issuer = w.Iss
	c.Subject = w.Sub
	c.Audience = w.Aud
	c.ExpiresAt = w.Exp.Time()
	c.NotBefore = w.Nbf.Time()
	c.IssuedAt = w.Iat.Time()
	c.ID = w.Jti
	c.ClientID = w.ClientID
	switch {
	case w.Role != "" && len(w.Roles) == 0:
		c.oneRole[0] = string(w.Role)
		c.Roles = c.oneRole[:1:1]
	case w.Role != "":
		c.Roles = append([]string{string(w.Role)}, w.Roles...)
	default:
		c.Roles = w.Roles
	}
	c.Scopes = w.Scp
	if w.Scope != "" {
		c.Scopes = splitScope(string(w.Scope), w.Scp)
	}
	if len(w.Extra) > 0 {
		c.Extra = w.Extra
	}
	if w.Cnf.Present() {
		c.Confirmation = &Confirmation{JKT: w.Cnf.JKT}
	}
}

// splitScope returns the scope tokens of a "scope" claim followed by more.
// The list is split on U+0020 only (RFC 6749 §3.3): a tab, a newline or a
// Unicode space stays inside its token, which then matches no scope a
// handler requires. Empty tokens, from doubled, leading or trailing spaces,
// are dropped rather than failing the token: they grant nothing (no
// requirement can name ""), issuers in the wild do emit them, and dropping
// them cannot join or split a real token. The scope characters are not
// checked here: an unusual token simply never matches.
func splitScope(s string, more []string) []string {
	list := make([]string, 0, strings.Count(s, " ")+1+len(more))
	for s != "" {
		var tok string
		tok, s, _ = strings.Cut(s, " ")
		if tok != "" {
			list = append(list, tok)
		}
	}
	list = append(list, more...)
	if len(list) == 0 {
		return more
	}
	return list
}

// wire builds the JSON form of c for issuing. One role is written as "role"
// (what FastAPI apps read), several as "roles"; scopes as "scope".
func (c *Claims) wire() claimsjson.Wire {
	w := claimsjson.Wire{
		Iss: c.Issuer, Sub: c.Subject, Aud: c.Audience,
		Exp: claimsjson.DateOf(c.ExpiresAt), Nbf: claimsjson.DateOf(c.NotBefore), Iat: claimsjson.DateOf(c.IssuedAt),
		Jti: c.ID, ClientID: c.ClientID, Extra: c.Extra,
	}
	if len(c.Roles) == 1 {
		w.Role = claimsjson.LenientString(c.Roles[0])
	} else if len(c.Roles) > 1 {
		w.Roles = c.Roles
	}
	if len(c.Scopes) > 0 {
		w.Scope = claimsjson.LenientString(strings.Join(c.Scopes, " "))
	}
	if c.Confirmation != nil {
		w.Cnf = claimsjson.ConfirmationJKT(c.Confirmation.JKT)
	}
	return w
}
