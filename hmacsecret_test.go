package guard

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestNewHMACKeyRefusesWeakSecrets(t *testing.T) {
	counting := make([]byte, 64)
	for i := range counting {
		counting[i] = byte(i)
	}
	tests := []struct {
		name   string
		alg    Algorithm
		secret string
		reason string // in the error, besides the advice
	}{
		// Published: on JWT cracking wordlists or copied from tutorials.
		{"jwt_tool wordlist", HS256, "my_very_long_and_safe_secret_key", "published"},
		{"jwt_tool wordlist, leet", HS256, "YoUR sUpEr S3krEt 1337 HMAC kEy HeRE", "published"},
		{"wallarm list", HS256, "supersecretkeyyoushouldnotcommittogithub", "published"},
		{"FastAPI tutorial", HS256, "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7", "published"},
		{"jwt.io HS256 default", HS256, "a-string-secret-at-least-256-bits-long", "published"},
		{"jwt.io HS256 default, read from a file", HS256, "a-string-secret-at-least-256-bits-long\n", "published"},
		{"jwt.io HS384 default", HS384, "a-valid-string-secret-that-is-at-least-384-bits-long", "published"},
		{"jwt.io HS512 default", HS512, "a-valid-string-secret-that-is-at-least-512-bits-long-which-is-very-long", "published"},
		{"Spring Boot tutorials", HS256, "5367566B59703373367639792F423F4528482B4D6251655468576D5A71347437", "published"},
		{"Spring Boot tutorials, other", HS256, "404E635266556A586E3272357538782F413F4428472B4B6250645367566B5970", "published"},
		{"BezKoder tutorials", HS256, "======================BezKoder=Spring===========================", "published"},
		{"ultra secure placeholder", HS256, "my-32-character-ultra-secure-and-ultra-long-secret", "published"},

		// Patterns.
		{"one byte repeated", HS256, strings.Repeat("k", 32), "1-byte pattern"},
		{"one byte repeated, HS512", HS512, string(bytes.Repeat([]byte{1}, 64)), "1-byte pattern"},
		{"word repeated", HS256, strings.Repeat("secret", 6), "6-byte pattern"},
		{"changeme repeated", HS256, strings.Repeat("changeme", 4), "8-byte pattern"},
		{"10-byte unit, cut short", HS256, "ci-secret-ci-secret-ci-secret-ci-secret", "10-byte pattern"},
		{"digits repeated", HS256, "12345678901234567890123456789012", "10-byte pattern"},
		{"half repeated", HS256, "0123456789abcdef0123456789abcdef", "16-byte pattern"},
		{"counting up", HS256, "0123456789abcdefghijklmnopqrstuvwxyz", "counting sequence"},
		{"counting down", HS256, "zyxwvutsrqponmlkjihgfedcba9876543210", "counting sequence"},
		{"counting bytes", HS512, string(counting), "counting sequence"},
		{"two values", HS256, strings.Repeat("a", 31) + "b", "2 distinct"},
		{"a one at the end", HS256, strings.Repeat("0", 40) + "1", "2 distinct"},
		{"five values", HS256, "aaaaaaaaaaaabbbbbbbbbbbcccccccccddddde", "5 distinct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewHMACKey(tt.alg, []byte(tt.secret), "")
			if !errors.Is(err, ErrWeakSecret) {
				t.Fatalf("got key %v, error %v; want %v", k, err, ErrWeakSecret)
			}
			if k != nil {
				t.Errorf("got key %v with the error, want nil", k)
			}
			for _, want := range []string{tt.reason, "crypto/rand", "openssl rand -base64 32"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), strings.TrimSpace(tt.secret)) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

// TestHMACSecretRandomNeverWeak: secrets from crypto/rand, in every usual
// encoding and length, pass the check. A false alarm has a probability below
// 2^-40 per secret for each of these (2^-30 for the decimal digits, where
// fewer than 6 distinct values is the likeliest).
func TestHMACSecretRandomNeverWeak(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	encodings := []struct {
		name string
		gen  func() []byte
	}{
		{"raw 32", func() []byte { return random(32) }},
		{"raw 48", func() []byte { return random(48) }},
		{"raw 64", func() []byte { return random(64) }},
		{"hex of 16 (openssl rand -hex 16)", func() []byte { return []byte(hex.EncodeToString(random(16))) }},
		{"hex of 32 (openssl rand -hex 32)", func() []byte { return []byte(hex.EncodeToString(random(32))) }},
		{"HEX of 16", func() []byte { return []byte(strings.ToUpper(hex.EncodeToString(random(16)))) }},
		{"base64 of 24", func() []byte { return []byte(base64.StdEncoding.EncodeToString(random(24))) }},
		{"base64 of 32 (openssl rand -base64 32)", func() []byte { return []byte(base64.StdEncoding.EncodeToString(random(32))) }},
		{"base64url of 48", func() []byte { return []byte(base64.RawURLEncoding.EncodeToString(random(48))) }},
		{"base32 of 20", func() []byte { return []byte(base32.StdEncoding.EncodeToString(random(20))) }},
		{"rand.Text twice", func() []byte { return []byte(rand.Text() + rand.Text()) }},
		{"decimal of 16", func() []byte {
			n := new(big.Int).SetBytes(random(16))
			return []byte(n.Add(n, new(big.Int).Lsh(big.NewInt(1), 128)).String()) // 39 digits
		}},
	}
	n := 20000
	if testing.Short() {
		n = 1000
	}
	for _, e := range encodings {
		t.Run(e.name, func(t *testing.T) {
			for range n {
				s := e.gen()
				if err := checkHMACSecret(s); err != nil {
					t.Fatalf("%q: %v", s, err)
				}
			}
		})
	}
}

func TestPublishedSecretsSorted(t *testing.T) {
	for i := 1; i < len(publishedSecrets); i++ {
		if publishedSecrets[i-1] >= publishedSecrets[i] {
			t.Fatalf("publishedSecrets[%d] = %#x is not above the entry before it, %#x", i, publishedSecrets[i], publishedSecrets[i-1])
		}
	}
}

func TestSmallestPeriod(t *testing.T) {
	tests := []struct {
		s    string
		want int
	}{
		{"", 0}, {"a", 1}, {"aaaa", 1}, {"abab", 2}, {"ababa", 2}, {"abcab", 3},
		{"aabaab", 3}, {"abaabaa", 3}, {"abcd", 4}, {"aab", 3}, {"abacaba", 4},
	}
	for _, tt := range tests {
		if got := smallestPeriod([]byte(tt.s)); got != tt.want {
			t.Errorf("smallestPeriod(%q): got %d, want %d", tt.s, got, tt.want)
		}
	}
}

// FuzzSmallestPeriod checks the prefix-function period against the
// definition.
func FuzzSmallestPeriod(f *testing.F) {
	for _, s := range []string{"", "a", "abab", "abaabaa", "ci-secret-ci-secret-ci-secret-ci-secret", "0123456789abcdef0123456789abcdef"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		want := len(s)
		for p := 1; p < len(s); p++ {
			if bytes.Equal(s[p:], s[:len(s)-p]) {
				want = p
				break
			}
		}
		if got := smallestPeriod(s); got != want {
			t.Fatalf("smallestPeriod(%q): got %d, want %d", s, got, want)
		}
	})
}
