package authserver

import (
	"strings"
	"testing"
)

// TestPKCEKnownAnswer: RFC 7636 Appendix B.
func TestPKCEKnownAnswer(t *testing.T) {
	t.Parallel()
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if !validCodeVerifier(verifier) || !validCodeChallenge(challenge) {
		t.Fatal("RFC 7636 example refused")
	}
	if !pkceMatches(verifier, challenge) {
		t.Error("RFC 7636 Appendix B: verifier does not match its challenge")
	}
	if pkceMatches(verifier[:42]+"Y", challenge) {
		t.Error("another verifier matches")
	}
}

func TestPKCEFormats(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v  string
		ok bool
	}{
		{strings.Repeat("a", 42), false},
		{strings.Repeat("a", 43), true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{strings.Repeat("a", 42) + "+", false},
		{strings.Repeat("a", 42) + "~", true},
		{strings.Repeat("a", 42) + " ", false},
	} {
		if got := validCodeVerifier(tt.v); got != tt.ok {
			t.Errorf("validCodeVerifier(%d chars, %q…): got %v, want %v", len(tt.v), tt.v[len(tt.v)-1:], got, tt.ok)
		}
	}
	for _, c := range []string{"", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"} {
		if validCodeChallenge(c) {
			t.Errorf("validCodeChallenge(%q): accepted", c)
		}
	}
}
