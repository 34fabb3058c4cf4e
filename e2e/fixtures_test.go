package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// testHasher is the default scheme at its lowest allowed cost, and hash
// hashes a password with it.
func testHasher(t *testing.T) (h *guard.PasswordHasher, hash func(pw string) guard.Secret) {
	t.Helper()
	h, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{BcryptCost: 10, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return h, func(pw string) guard.Secret {
		s, err := h.Hash(context.Background(), pw)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// testKey is the HS256 key of the in-process token endpoints.
func testKey(t *testing.T) *guard.Key {
	t.Helper()
	key, err := guard.NewHMACKey(guard.HS256, []byte("e2e-test-key-0123456789abcdef0123456789"), "")
	if err != nil {
		t.Fatal(err)
	}
	return key
}
