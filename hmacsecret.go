package guard

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
)

// checkHMACSecret refuses, with an error wrapping [ErrWeakSecret], an HMAC
// secret that can be guessed without brute force: one published on the
// wordlists that JWT crackers try first (see publishedSecrets), or one built
// from a short pattern. The patterns are chosen so that random secrets in any
// encoding (raw bytes, hex, base64, base32) never match them in practice;
// hmacsecret_test.go measures that.
func checkHMACSecret(secret []byte) error {
	reason := weakSecretPattern(secret)
	if reason == "" && (isPublishedSecret(secret) || isPublishedSecret(bytes.TrimSpace(secret))) {
		reason = "it is published on lists of JWT secrets that attackers try first"
	}
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w: %s; generate 32 random bytes instead, with crypto/rand (rand.Read, or rand.Text twice) or `openssl rand -base64 32`", ErrWeakSecret, reason)
}

// weakSecretPattern describes the pattern secret is built from, or returns
// "" when it finds none. The rules, for a secret of n bytes:
//
//   - it repeats a unit of at most n/2 bytes (the last copy may be cut
//     short): "secretsecret…", "ci-key-ci-key-…", "1234567890" repeated;
//   - at least three quarters of its adjacent bytes step by +1 or -1:
//     "0123456789abcdef…", "abcdefgh…", "zyxwvu…";
//   - it has fewer than 6 distinct byte values: "aaaa…ab", "0000…0001".
func weakSecretPattern(secret []byte) string {
	n := len(secret)
	if n == 0 {
		return "it is empty"
	}
	if p := smallestPeriod(secret); p <= n/2 {
		return fmt.Sprintf("it repeats a %d-byte pattern", p)
	}
	steps := 0
	for i := 1; i < n; i++ {
		if d := int(secret[i]) - int(secret[i-1]); d == 1 || d == -1 {
			steps++
		}
	}
	if 4*steps >= 3*(n-1) {
		return "it is a counting sequence"
	}
	var seen [256]bool
	distinct := 0
	for _, b := range secret {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	if distinct < 6 {
		return fmt.Sprintf("it uses only %d distinct byte values", distinct)
	}
	return ""
}

// smallestPeriod returns the smallest p > 0 such that s[i] == s[i-p] for
// every i >= p (len(s) when s repeats nothing), from the prefix function of
// Knuth, Morris and Pratt: linear time whatever the input.
func smallestPeriod(s []byte) int {
	if len(s) == 0 {
		return 0
	}
	border := make([]int, len(s)) // border[i]: longest proper prefix of s[:i+1] that is also its suffix
	for i := 1; i < len(s); i++ {
		k := border[i-1]
		for k > 0 && s[i] != s[k] {
			k = border[k-1]
		}
		if s[i] == s[k] {
			k++
		}
		border[i] = k
	}
	return len(s) - border[len(s)-1]
}

// isPublishedSecret reports whether secret is in publishedSecrets.
func isPublishedSecret(secret []byte) bool {
	if len(secret) < 32 {
		return false // shorter secrets are refused by length, and not listed
	}
	d := sha256.Sum256(secret)
	_, found := slices.BinarySearch(publishedSecrets, binary.BigEndian.Uint64(d[:8]))
	return found
}
