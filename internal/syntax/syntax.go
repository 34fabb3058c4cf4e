// Package syntax holds the wire syntax rules guard checks and writes, each in
// one place: RFC 9110 tokens (auth-scheme and header names), the characters a
// quoted-string and RFC 6750's error_description may carry unescaped, and
// RFC 6749 §3.3 scope tokens.
package syntax

import "strings"

// tchar[c] is true for the token characters of RFC 9110 §5.6.2.
var tchar = func() (t [256]bool) {
	for _, c := range "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" {
		t[c] = true
	}
	return t
}()

// IsTChar reports whether c is an RFC 9110 token character.
func IsTChar(c byte) bool { return tchar[c] }

// IsToken reports whether s is a non-empty RFC 9110 token.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// Quotable reports whether c may stand unescaped in a quoted-string, and in
// RFC 6750 §3's error_description (%x20-21 / %x23-5B / %x5D-7E).
func Quotable(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

// IsQuotable reports whether s can go inside a quoted-string unescaped.
func IsQuotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if !Quotable(s[i]) {
			return false
		}
	}
	return true
}

// WriteQuotedSafe writes s keeping only quotable characters; anything else,
// including quotes, backslashes, CR and LF, becomes '?'. This is what keeps a
// description from ever splitting or injecting a header.
func WriteQuotedSafe(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !Quotable(c) {
			c = '?'
		}
		b.WriteByte(c)
	}
}

// IsBearer reports whether challenge c is of the Bearer scheme.
func IsBearer(c string) bool {
	return len(c) >= 6 && strings.EqualFold(c[:6], "Bearer") && (len(c) == 6 || c[6] == ' ')
}

// IsScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*NQCHAR, where NQCHAR is %x21 / %x23-5B / %x5D-7E (printable ASCII
// without space, '"' and '\\'). It is the one rule for scope names: what a
// token issuer writes and what a token request may ask for.
func IsScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ' ' || !Quotable(c) { // NQCHAR: a quotable character but space
			return false
		}
	}
	return true
}
