package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/guardtest"
)

// freshKeys is a MemoryReplayCache that sees a new key on every call, as
// it would with a new proof per request: the benchmark reuses one proof,
// so that signing it (the client's work) is not measured, while the
// cache's insert is.
type freshKeys struct {
	c *guard.MemoryReplayCache
	n atomic.Uint64
}

func (f *freshKeys) Remember(ctx context.Context, key string, until time.Time) (bool, error) {
	return f.c.Remember(ctx, key+strconv.FormatUint(f.n.Add(1), 10), until)
}

// BenchmarkDPoP is one request with a DPoP-bound ES256 access token and an
// ES256 proof through RequireBearer (token signature, proof parse and
// signature, htm/htu/iat/ath, thumbprint = cnf.jkt, replay cache), next to
// its floor: the two raw ES256 verifications it cannot avoid, plus guard's
// whole HS256 bearer request for the rest of the work.
func BenchmarkDPoP(b *testing.B) {
	const target = "http://api.example.com/admin"
	b.Run("guard_ES256_token_ES256_proof", func(b *testing.B) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		key, err := guard.NewPrivateKey(guard.ES256, priv, "")
		must(err)
		client := guardtest.NewDPoPKey(b)
		in := b64.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + b64.EncodeToString([]byte(
			`{"iss":"`+issuer+`","sub":"`+subject+`","aud":"`+audience+`","exp":4102444800,"iat":1700000000,"role":"`+role+
				`","cnf":{"jkt":"`+client.Thumbprint()+`"}}`))
		d := sha256.Sum256([]byte(in))
		r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
		must(err)
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		token := in + "." + b64.EncodeToString(sig)

		dp, err := guard.NewDPoP(guard.DPoPConfig{Replay: &freshKeys{c: guard.NewMemoryReplayCache(1 << 22)}})
		must(err)
		v, err := guard.NewVerifier(guard.VerifierConfig{
			Keys: []*guard.Key{key.Public()}, Issuers: []string{issuer}, Audiences: []string{audience},
			MaxTokenLifetime: 100 * 365 * 24 * time.Hour, DPoP: dp,
		})
		must(err)
		h := v.RequireBearer(guard.RequireRole(role)(ok))
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "DPoP "+token)
		req.Header.Set("DPoP", client.Proof(b, http.MethodGet, target, guardtest.DPoPProofOptions{AccessToken: token}))
		serve(b, h, req, http.StatusOK)
	})
	b.Run("floor_2x_raw_ES256_plus_guard_HS256", func(b *testing.B) {
		f := fx().es
		pub := f.pub.(*ecdsa.PublicKey)
		h := guardBearer(b, fx().hs, 0)
		req := bearerRequest(fx().hs.token)
		b.ReportAllocs()
		for b.Loop() {
			for range 2 {
				d := sha256.Sum256(f.signingInput)
				if !ecdsa.Verify(pub, d[:], f.r, f.s) {
					b.Fatal("ES256 does not verify")
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
