package guard

import "strings"

// The HTTP syntax rules guard checks and writes (RFC 9110 §5.6), in one
// place: tokens (auth-scheme and header names) and the characters a
// quoted-string may carry unescaped.

// tchar[c] is true for the token characters of RFC 9110 §5.6.2.
var tchar = func() (t [256]bool) {
	for _, c := range "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" {
		t[c] = true
	}
	return t
}()

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
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

// quotable reports whether c may stand unescaped in a quoted-string, and in
// RFC 6750 §3's error_description (%x20-21 / %x23-5B / %x5D-7E).
func quotable(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

// isQuotable reports whether s can go inside a quoted-string unescaped.
func isQuotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if !quotable(s[i]) {
			return false
		}
	}
	return true
}

// writeQuotedSafe writes s keeping only quotable characters; anything else,
// including quotes, backslashes, CR and LF, becomes '?'. This is what keeps a
// description from ever splitting or injecting a header.
func writeQuotedSafe(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !quotable(c) {
			c = '?'
		}
		b.WriteByte(c)
	}
}

// isBearer reports whether challenge c is of the Bearer scheme.
func isBearer(c string) bool {
	return len(c) >= 6 && strings.EqualFold(c[:6], "Bearer") && (len(c) == 6 || c[6] == ' ')
}
