package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/guardkit/guard"
)

// The one claims set every library verifies: HS256 (or the asymmetric
// algorithm under test) with iss, aud, exp, sub and role "admin". The dates
// are fixed so the token bytes are the same in every run; exp is in 2100.
const (
	secret   = "bench-secret-0123456789abcdef-0123456789abcdef" // 46 bytes, over the 32 HS256 needs
	issuer   = "https://auth.example.com"
	audience = "https://api.example.com"
	subject  = "user-123"
	role     = "admin"
	expUnix  = 4102444800 // 2100-01-01
	iatUnix  = 1700000000

	payloadJSON = `{"iss":"` + issuer + `","sub":"` + subject + `","aud":"` + audience +
		`","exp":4102444800,"iat":1700000000,"role":"` + role + `"}`
)

var b64 = base64.RawURLEncoding

// algFixture holds one algorithm's keys and tokens.
type algFixture struct {
	alg      guard.Algorithm
	key      *guard.Key // signing key; the verifier uses its public half
	token    string     // valid
	badToken string     // token with one signature byte changed
	// For the raw-verification floors.
	signingInput []byte
	sig          []byte
	pub          crypto.PublicKey
	r, s         *big.Int // ES256 only
}

type fixtures struct {
	hs, es, ed, rs *algFixture
}

// fx builds the keys and tokens once per process. RSA key generation is the
// slow part (a fraction of a second).
var fx = sync.OnceValue(func() *fixtures {
	f := &fixtures{}

	hk, err := guard.NewHMACKey(guard.HS256, []byte(secret), "")
	must(err)
	f.hs = makeFixture(guard.HS256, hk, nil, func(in []byte) []byte {
		return hmacSHA256([]byte(secret), in)
	})

	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	ek, err := guard.NewPrivateKey(guard.ES256, ecPriv, "")
	must(err)
	f.es = makeFixture(guard.ES256, ek, &ecPriv.PublicKey, func(in []byte) []byte {
		d := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, ecPriv, d[:])
		must(err)
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	})
	f.es.r = new(big.Int).SetBytes(f.es.sig[:32])
	f.es.s = new(big.Int).SetBytes(f.es.sig[32:])

	seed := sha256.Sum256([]byte("bench ed25519 seed"))
	edPriv := ed25519.NewKeyFromSeed(seed[:])
	dk, err := guard.NewPrivateKey(guard.EdDSA, edPriv, "")
	must(err)
	f.ed = makeFixture(guard.EdDSA, dk, edPriv.Public(), func(in []byte) []byte {
		return ed25519.Sign(edPriv, in)
	})

	rsPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	rk, err := guard.NewPrivateKey(guard.RS256, rsPriv, "")
	must(err)
	f.rs = makeFixture(guard.RS256, rk, &rsPriv.PublicKey, func(in []byte) []byte {
		d := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, rsPriv, crypto.SHA256, d[:])
		must(err)
		return sig
	})
	return f
})

func makeFixture(alg guard.Algorithm, key *guard.Key, pub crypto.PublicKey, sign func([]byte) []byte) *algFixture {
	in := b64.EncodeToString([]byte(`{"alg":"`+string(alg)+`","typ":"JWT"}`)) + "." +
		b64.EncodeToString([]byte(payloadJSON))
	sig := sign([]byte(in))
	tok := in + "." + b64.EncodeToString(sig)
	return &algFixture{
		alg: alg, key: key, token: tok, badToken: flipSignature(tok),
		signingInput: []byte(in), sig: sig, pub: pub,
	}
}

// flipSignature changes the first character of the signature segment, which
// keeps the token well-formed base64url of the same length.
func flipSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// ok is the protected handler of every row: it writes 200 and nothing else.
var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
})

func bearerRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://api.example.com/admin", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// serve measures h on the prebuilt request r: one httptest.NewRecorder per
// iteration (the same for every row), and a status check on each response.
func serve(b *testing.B, h http.Handler, r *http.Request, want int) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			b.Fatalf("status %d, want %d; body %q; headers %v", w.Code, want, w.Body.String(), w.Header())
		}
	}
}

// serveParallel is serve under b.RunParallel.
func serveParallel(b *testing.B, h http.Handler, r *http.Request, want int) {
	b.Helper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != want {
				b.Errorf("status %d, want %d", w.Code, want)
				return
			}
		}
	})
}

// API-key stores. Keys are "bench-key-<i>" (cheap and deterministic). The
// stores of one size are built together, outside the timer, and dropped once
// that size's rows are done so that later rows do not run with a heap of
// millions of live objects.
const apiKeyHeader = "X-API-Key"

var apiKeySizes = []int{1, 10_000, 1_000_000}

func apiKey(i int) string { return "bench-key-" + strconv.Itoa(i) }

const missingAPIKey = "bench-key-missing"

var adminRoles = []string{role}

type handRecord struct {
	Subject string
	Roles   []string
}

// buildAPIKeyStores returns a guard MemoryAPIKeys and a plain map, each
// holding the digests of keys 0..n-1. The collector is paused while they
// fill: a growing heap of small objects otherwise costs more than the
// hashing.
func buildAPIKeyStores(n int) (*guard.MemoryAPIKeys, map[[32]byte]*handRecord) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	gs := new(guard.MemoryAPIKeys)
	hs := make(map[[32]byte]*handRecord, n)
	rec := &handRecord{Subject: subject, Roles: adminRoles}
	buf := make([]byte, 0, 32)
	for i := range n {
		buf = strconv.AppendInt(append(buf[:0], "bench-key-"...), int64(i), 10)
		d := sha256.Sum256(buf)
		gs.Add(d, guard.APIKeyRecord{Subject: subject, Roles: adminRoles})
		hs[d] = rec
	}
	return gs, hs
}

type handKey struct{}

// handAPIKey is the hand-written API-key middleware guard is measured
// against: one header read, SHA-256, one map lookup, one context value.
func handAPIKey(m map[[32]byte]*handRecord, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(apiKeyHeader)
		if key == "" {
			w.Header().Set("WWW-Authenticate", `ApiKey realm="api"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rec := m[sha256.Sum256([]byte(key))]
		if rec == nil {
			w.Header().Set("WWW-Authenticate", `ApiKey realm="api", error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), handKey{}, rec)))
	})
}

func apiKeyRequest(key string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://api.example.com/secure", nil)
	r.Header.Set(apiKeyHeader, key)
	return r
}
