package authserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

// Helpers shared by this package's tests. Keys are made once per test binary.

// testQueueTimeout keeps hashing from refusing work on a loaded test machine.
const testQueueTimeout = 10 * time.Minute

var (
	jwtSecret32 = []byte("ZcaAHPeTjaZlORSw9FF6J1NyCFPbYcAa")
	jwtP256     = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	jwtEd = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func jwtMustHMAC(t testing.TB, alg guard.Algorithm, secret []byte, kid string) *guard.Key {
	t.Helper()
	k, err := guard.NewHMACKey(alg, secret, kid)
	if err != nil {
		t.Fatalf("NewHMACKey(%s): %v", alg, err)
	}
	return k
}

func jwtMustPriv(t testing.TB, alg guard.Algorithm, s crypto.Signer, kid string) *guard.Key {
	t.Helper()
	k, err := guard.NewPrivateKey(alg, s, kid)
	if err != nil {
		t.Fatalf("NewPrivateKey(%s): %v", alg, err)
	}
	return k
}

func mustKeySet(t testing.TB, cfg guard.KeySetConfig) *guard.KeySet {
	t.Helper()
	s, err := guard.NewKeySet(cfg)
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	return s
}

// kidOf returns the kid of a compact JWS's header.
func kidOf(t testing.TB, tok string) string {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h, json.RejectUnknownMembers(false)); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// jsonErrors is an app's own error shape, for the hooks tests.
func jsonErrors(w http.ResponseWriter, r *http.Request, err error) {
	e := guard.ErrorOf(err)
	for _, v := range e.WWWAuthenticate() {
		w.Header().Add("WWW-Authenticate", v)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(`{"title":"` + e.Code + `"}`))
}
