package guard

import (
	"context"
	"errors"
	"testing"
)

// FuzzParsePasswordHash checks the stored-hash parser on arbitrary input:
// it never panics; what it accepts formats back to the identical string;
// and Verify on it, under small cost ceilings, returns promptly with a
// mismatch or a refusal, never a match for a wrong password, and always
// after exactly one key-derivation run (no early answer to time).
// Seeds: the table cases below, the passlib vectors and
// testdata/fuzz/FuzzParsePasswordHash.
func FuzzParsePasswordHash(f *testing.F) {
	for _, s := range []string{okArgon2, okBcrypt, okBSHA, okPBKDF2,
		"$bcrypt-sha256$2b,4$gbvfmqX4.RfJGnPzg0MBAe$nYBdF.OZlOWTPAMHdZvlGmfkWAjUoCm", "$2y$", "$argon2id$v=19$m=,t=,p=$$"} {
		f.Add(s)
	}
	for _, tt := range badHashes {
		f.Add(tt.enc)
	}
	for _, v := range loadPasslibVectors(f) {
		f.Add(v.Hash)
	}
	h := newTestHasher(f, PasswordHasherConfig{})
	// Ceilings low enough that any accepted hash verifies in milliseconds.
	h.maxBcryptCost, h.maxArgon2Memory, h.maxArgon2Time, h.maxPBKDF2Rounds = 5, 1024, 2, 5000

	runs := traceKDF(h)

	f.Fuzz(func(t *testing.T, s string) {
		runs()
		ph, err := parsePasswordHash(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedHash) {
				t.Fatalf("parse(%q): error %v matches neither ErrMalformedHash nor ErrUnsupportedHash", s, err)
			}
			_, verr := h.Verify(context.Background(), "fuzz-password-not-in-any-seed", Secret(s))
			if !errors.Is(verr, ErrMalformedHash) && !errors.Is(verr, ErrUnsupportedHash) && !errors.Is(verr, ErrPasswordMismatch) {
				t.Fatalf("Verify(%q): got %v, want a refusal", s, verr)
			}
			if n := len(runs()); n != 1 {
				t.Fatalf("Verify(%q): %d KDF runs, want 1", s, n)
			}
			return
		}
		if got := ph.String(); got != s {
			t.Fatalf("parse(%q).String() = %q, want the input", s, got)
		}
		ph2, err := parsePasswordHash(ph.String())
		if err != nil || ph2.String() != s {
			t.Fatalf("reparse(%q): (%q, %v)", s, ph2.String(), err)
		}
		_, err = h.Verify(context.Background(), "fuzz-password-not-in-any-seed", Secret(s))
		if err == nil {
			t.Fatalf("Verify(%q) matched a password it was not made from", s)
		}
		if !errors.Is(err, ErrPasswordMismatch) && !errors.Is(err, ErrUnsupportedHash) && !errors.Is(err, ErrMalformedHash) {
			t.Fatalf("Verify(%q): unexpected error %v", s, err)
		}
		if n := len(runs()); n != 1 {
			t.Fatalf("Verify(%q): %d KDF runs, want 1", s, n)
		}
	})
}
