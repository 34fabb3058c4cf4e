package guard

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// jwkOf renders a JWK from members given as name/value pairs, in order.
func jwkOf(kv ...string) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		v := kv[i+1]
		if !strings.HasPrefix(v, "[") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, "%q:%s", kv[i], v)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func b64Big(i *big.Int) string { return b64.EncodeToString(i.Bytes()) }

func ecCoords(t testing.TB, pub *ecdsa.PublicKey) (x, y string) {
	t.Helper()
	p, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	n := (len(p) - 1) / 2
	return b64.EncodeToString(p[1 : 1+n]), b64.EncodeToString(p[1+n:])
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseJWK(t *testing.T) {
	rsaK := jwtRSA()
	n, e := b64Big(rsaK.N), b64Big(big.NewInt(int64(rsaK.E)))
	d, p, q := b64Big(rsaK.D), b64Big(rsaK.Primes[0]), b64Big(rsaK.Primes[1])
	small := jwtRSA1024()
	x, y := ecCoords(t, &jwtP256().PublicKey)
	ecD := b64.EncodeToString(mustBytes(jwtP256().Bytes()))
	otherD := b64.EncodeToString(mustBytes(jwtP256b().Bytes()))
	x384, y384 := ecCoords(t, &jwtP384().PublicKey)
	// A point off the curve: y+1.
	yb, _ := b64.DecodeString(y)
	yb[len(yb)-1] ^= 1
	yOff := b64.EncodeToString(yb)
	edPub := jwtEd().Public().(ed25519.PublicKey)
	edX := b64.EncodeToString(edPub)
	edD := b64.EncodeToString(jwtEd().Seed())
	k32 := b64.EncodeToString(jwtSecret32)

	tests := []struct {
		name     string
		jwk      []byte
		alg      Algorithm
		wantErr  bool
		wantAlg  Algorithm
		wantSign bool
	}{
		{"oct HS256", jwkOf("kty", "oct", "alg", "HS256", "k", k32, "kid", "h1"), "", false, HS256, true},
		{"oct alg from argument", jwkOf("kty", "oct", "k", k32), HS256, false, HS256, true},
		{"oct 31 bytes", jwkOf("kty", "oct", "alg", "HS256", "k", b64.EncodeToString(jwtSecret32[:31])), "", true, "", false},
		{"oct empty k", jwkOf("kty", "oct", "alg", "HS256", "k", ""), "", true, "", false},
		{"oct HS384 with 32 bytes", jwkOf("kty", "oct", "alg", "HS384", "k", k32), "", true, "", false},
		{"oct padded k", jwkOf("kty", "oct", "alg", "HS256", "k", b64.EncodeToString(jwtSecret32)+"="), "", true, "", false},
		{"oct for RS256", jwkOf("kty", "oct", "alg", "RS256", "k", k32), "", true, "", false},
		{"RSA public", jwkOf("kty", "RSA", "alg", "RS256", "n", n, "e", e), "", false, RS256, false},
		{"RSA public PS256", jwkOf("kty", "RSA", "n", n, "e", e), PS256, false, PS256, false},
		{"RSA private", jwkOf("kty", "RSA", "alg", "RS256", "n", n, "e", e, "d", d, "p", p, "q", q), "", false, RS256, true},
		{"RSA private wrong d", jwkOf("kty", "RSA", "alg", "RS256", "n", n, "e", e, "d", b64Big(big.NewInt(12345)), "p", p, "q", q), "", true, "", false},
		{"RSA private without primes", jwkOf("kty", "RSA", "alg", "RS256", "n", n, "e", e, "d", d), "", true, "", false},
		{"RSA 1024 bits", jwkOf("kty", "RSA", "alg", "RS256", "n", b64Big(small.N), "e", e), "", true, "", false},
		{"RSA e=1", jwkOf("kty", "RSA", "alg", "RS256", "n", n, "e", "AQ"), "", true, "", false},
		{"RSA huge e", jwkOf("kty", "RSA", "alg", "RS256", "n", n, "e", "AQAAAAAAAAAB"), "", true, "", false},
		{"RSA missing n", jwkOf("kty", "RSA", "alg", "RS256", "e", e), "", true, "", false},
		{"RSA for ES256", jwkOf("kty", "RSA", "alg", "ES256", "n", n, "e", e), "", true, "", false},
		{"EC public", jwkOf("kty", "EC", "alg", "ES256", "crv", "P-256", "x", x, "y", y), "", false, ES256, false},
		{"EC private", jwkOf("kty", "EC", "alg", "ES256", "crv", "P-256", "x", x, "y", y, "d", ecD), "", false, ES256, true},
		{"EC d of another key", jwkOf("kty", "EC", "alg", "ES256", "crv", "P-256", "x", x, "y", y, "d", otherD), "", true, "", false},
		{"EC point not on curve", jwkOf("kty", "EC", "alg", "ES256", "crv", "P-256", "x", x, "y", yOff), "", true, "", false},
		{"EC short x", jwkOf("kty", "EC", "alg", "ES256", "crv", "P-256", "x", x[:40], "y", y), "", true, "", false},
		{"EC P-384", jwkOf("kty", "EC", "alg", "ES384", "crv", "P-384", "x", x384, "y", y384), "", false, ES384, false},
		{"EC P-384 coords on P-256", jwkOf("kty", "EC", "alg", "ES256", "crv", "P-256", "x", x384, "y", y384), "", true, "", false},
		{"EC P-256 key for ES384", jwkOf("kty", "EC", "alg", "ES384", "crv", "P-256", "x", x, "y", y), "", true, "", false},
		{"EC P-521", jwkOf("kty", "EC", "alg", "ES512", "crv", "P-521", "x", x, "y", y), "", true, "", false},
		{"EC unknown crv", jwkOf("kty", "EC", "alg", "ES256", "crv", "secp256k1", "x", x, "y", y), "", true, "", false},
		{"OKP public", jwkOf("kty", "OKP", "alg", "EdDSA", "crv", "Ed25519", "x", edX), "", false, EdDSA, false},
		{"OKP private", jwkOf("kty", "OKP", "crv", "Ed25519", "x", edX, "d", edD), EdDSA, false, EdDSA, true},
		{"OKP d of another key", jwkOf("kty", "OKP", "crv", "Ed25519", "x", edX, "d", b64.EncodeToString(make([]byte, 32))), EdDSA, true, "", false},
		{"OKP short x", jwkOf("kty", "OKP", "crv", "Ed25519", "x", edX[:20]), EdDSA, true, "", false},
		{"OKP X25519", jwkOf("kty", "OKP", "crv", "X25519", "x", edX), EdDSA, true, "", false},
		{"mismatched alg", jwkOf("kty", "EC", "alg", "ES256", "crv", "P-256", "x", x, "y", y), ES384, true, "", false},
		{"no alg anywhere", jwkOf("kty", "EC", "crv", "P-256", "x", x, "y", y), "", true, "", false},
		{"alg none", jwkOf("kty", "oct", "alg", "none", "k", k32), "", true, "", false},
		{"alg none argument", jwkOf("kty", "oct", "k", k32), "none", true, "", false},
		{"use sig", jwkOf("kty", "EC", "use", "sig", "crv", "P-256", "x", x, "y", y), ES256, false, ES256, false},
		{"use enc", jwkOf("kty", "EC", "use", "enc", "crv", "P-256", "x", x, "y", y), ES256, true, "", false},
		{"key_ops verify", jwkOf("kty", "EC", "key_ops", `["verify"]`, "crv", "P-256", "x", x, "y", y), ES256, false, ES256, false},
		{"key_ops encrypt", jwkOf("kty", "EC", "key_ops", `["encrypt"]`, "crv", "P-256", "x", x, "y", y), ES256, true, "", false},
		{"key_ops verify and wrapKey", jwkOf("kty", "EC", "key_ops", `["verify","wrapKey"]`, "crv", "P-256", "x", x, "y", y), ES256, true, "", false},
		{"key_ops empty", jwkOf("kty", "EC", "key_ops", `[]`, "crv", "P-256", "x", x, "y", y), ES256, true, "", false},
		{"unknown kty", jwkOf("kty", "DSA", "alg", "ES256"), "", true, "", false},
		{"Kty case", jwkOf("kty", "ec", "alg", "ES256", "crv", "P-256", "x", x, "y", y), "", true, "", false},
		{"duplicate member", []byte(`{"kty":"oct","alg":"HS256","k":"` + k32 + `","k":"` + k32 + `"}`), "", true, "", false},
		{"member name case", []byte(`{"kty":"oct","ALG":"HS256","k":"` + k32 + `"}`), "", true, "", false},
		{"not an object", []byte(`[]`), HS256, true, "", false},
		{"not JSON", []byte(`kty=oct`), HS256, true, "", false},
		{"invalid UTF-8", []byte("{\"kty\":\"oct\",\"kid\":\"\xff\",\"alg\":\"HS256\",\"k\":\"" + k32 + "\"}"), "", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseJWK(tt.alg, tt.jwk)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("ParseJWK(%s): got err %v, want error %v", tt.jwk, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := k.Algorithm(); got != tt.wantAlg {
				t.Errorf("Algorithm: got %s, want %s", got, tt.wantAlg)
			}
			if got := k.CanSign(); got != tt.wantSign {
				t.Errorf("CanSign: got %v, want %v", got, tt.wantSign)
			}
		})
	}
}

// TestParseJWKKeyWorks checks that keys parsed from JWKs interoperate with the
// keys they were made from.
func TestParseJWKKeyWorks(t *testing.T) {
	x, y := ecCoords(t, &jwtP256().PublicKey)
	pub, err := ParseJWK(ES256, jwkOf("kty", "EC", "crv", "P-256", "x", x, "y", y, "kid", "e1"))
	if err != nil {
		t.Fatal(err)
	}
	if pub.KeyID() != "e1" {
		t.Errorf("KeyID: got %q, want e1", pub.KeyID())
	}
	sig, err := jwtMustPriv(t, ES256, jwtP256(), "").sign([]byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.verify("m", sig) {
		t.Errorf("JWK public key: got verify false, want true")
	}
}

func newJWKSKeys(t testing.TB) []*Key {
	return []*Key{
		jwtMustPriv(t, RS256, jwtRSA(), "rsa-1"),
		jwtMustPriv(t, ES256, jwtP256(), "ec-1"),
		jwtMustPriv(t, ES384, jwtP384(), "ec-2"),
		jwtMustPriv(t, EdDSA, jwtEd(), "ed-1"),
	}
}

func TestJWKSHandler(t *testing.T) {
	keys := newJWKSKeys(t)
	h, err := JWKSHandler(0, keys...)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", rec.Code)
	}
	for name, want := range map[string]string{
		"Content-Type":   "application/jwk-set+json",
		"Cache-Control":  "public, max-age=300",
		"Content-Length": fmt.Sprint(rec.Body.Len()),
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	body := rec.Body.Bytes()

	var set struct {
		Keys []jsontext.Value `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if got, want := len(set.Keys), len(keys); got != want {
		t.Fatalf("keys in set: got %d, want %d", got, want)
	}
	for i, raw := range set.Keys {
		var members map[string]any
		if err := json.Unmarshal(raw, &members); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := members[secret]; ok {
				t.Errorf("key %d publishes private member %q: %s", i, secret, raw)
			}
		}
		if members["use"] != "sig" {
			t.Errorf("key %d use: got %v, want sig", i, members["use"])
		}
		// The published key parses back and verifies what the private key signs.
		pub, err := ParseJWK("", raw)
		if err != nil {
			t.Fatalf("ParseJWK(%s): %v", raw, err)
		}
		if pub.CanSign() {
			t.Errorf("key %d: parsed JWKS key can sign, want public only", i)
		}
		if pub.Algorithm() != keys[i].Algorithm() || pub.KeyID() != keys[i].KeyID() {
			t.Errorf("key %d: got %v, want %v", i, pub, keys[i])
		}
		iss, err := NewTokenIssuer(TokenIssuerConfig{Key: keys[i], Now: jwtClock(jwtNow)})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.Issue(context.Background(), Claims{Subject: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(VerifierConfig{Keys: []*Key{pub}, Now: jwtClock(jwtNow)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("key %d: Verify with the published key: %v", i, err)
		}
	}
}

func TestJWKSHandlerMethods(t *testing.T) {
	h, err := JWKSHandler(time.Hour, newJWKSKeys(t)...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method     string
		wantStatus int
		wantBody   bool
	}{
		{http.MethodGet, 200, true},
		{http.MethodHead, 200, false},
		{http.MethodPost, 405, false},
		{http.MethodPut, 405, false},
		{http.MethodDelete, 405, false},
		{http.MethodOptions, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, "/jwks", nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantStatus == 405 {
				if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow: got %q, want %q", got, "GET, HEAD")
				}
				if strings.Contains(rec.Body.String(), `"keys"`) {
					t.Errorf("405 body contains the key set: %q", rec.Body.String())
				}
				return
			}
			if got, want := rec.Header().Get("Cache-Control"), "public, max-age=3600"; got != want {
				t.Errorf("Cache-Control: got %q, want %q", got, want)
			}
			if got := rec.Body.Len() > 0; got != tt.wantBody {
				t.Errorf("has body: got %v, want %v", got, tt.wantBody)
			}
			if rec.Header().Get("Content-Length") == "" || rec.Header().Get("Content-Length") == "0" {
				t.Errorf("Content-Length: got %q, want the size of the GET body", rec.Header().Get("Content-Length"))
			}
		})
	}
}

func TestJWKSHandlerRefuses(t *testing.T) {
	good := jwtMustPriv(t, ES256, jwtP256(), "ec-1")
	tests := []struct {
		name   string
		maxAge time.Duration
		keys   []*Key
	}{
		{"HMAC key", 0, []*Key{good, jwtMustHMAC(t, HS256, jwtSecret32, "h1")}},
		{"no kid", 0, []*Key{good, jwtMustPriv(t, EdDSA, jwtEd(), "")}},
		{"nil key", 0, []*Key{good, nil}},
		{"negative max-age", -time.Second, []*Key{good}},
		{"sub-second max-age", 500 * time.Millisecond, []*Key{good}},
		{"fractional max-age", 1500 * time.Millisecond, []*Key{good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := JWKSHandler(tt.maxAge, tt.keys...)
			if err == nil {
				t.Fatalf("got handler %v and nil error, want an error", h)
			}
			if h != nil {
				t.Errorf("got a handler with the error, want nil")
			}
		})
	}
}

func TestJWKSHandlerEmpty(t *testing.T) {
	h, err := JWKSHandler(0)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if got, want := rec.Body.String(), `{"keys":[]}`; got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
}

func TestJWKSHandlerP256Coordinates(t *testing.T) {
	// Coordinates are fixed-width (RFC 7518 §6.2.1.2): a key whose x starts
	// with a zero byte must still publish 32 bytes. The search over small
	// private scalars is deterministic.
	for d := int64(1); d < 100_000; d++ {
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), big.NewInt(d).FillBytes(make([]byte, 32)))
		if err != nil {
			t.Fatal(err)
		}
		pt, _ := k.PublicKey.Bytes()
		if pt[1] != 0 {
			continue
		}
		j, ok := jwtMustPriv(t, ES256, k, "z").publicJWK()
		if !ok {
			t.Fatal("publicJWK: got false")
		}
		if xb, _ := b64.DecodeString(j.X); len(xb) != 32 {
			t.Errorf("x for d=%d: got %d bytes, want 32", d, len(xb))
		}
		back, err := ParseJWK(ES256, jwkOf("kty", j.Kty, "crv", j.Crv, "x", j.X, "y", j.Y))
		if err != nil {
			t.Fatalf("ParseJWK of the published key: %v", err)
		}
		if !back.pub.(*ecdsa.PublicKey).Equal(&k.PublicKey) {
			t.Errorf("round trip: got a different key")
		}
		return
	}
	t.Fatal("no scalar below 100000 gives an x with a leading zero byte")
}

// TestMarshalJWKSet: the document is the one JWKSHandler serves, it reads
// back with ParseJWKSet as public keys only, and every refusal is reported.
func TestMarshalJWKSet(t *testing.T) {
	keys := newJWKSKeys(t)
	body, err := MarshalJWKSet(keys...)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := JWKSHandler(0, keys...)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Body.String() != string(body) {
		t.Errorf("MarshalJWKSet and JWKSHandler differ:\n%s\n%s", body, rec.Body)
	}
	got, skipped, err := ParseJWKSet(body)
	if err != nil || len(skipped) != 0 || len(got) != len(keys) {
		t.Fatalf("ParseJWKSet: %d keys, skipped %v, %v", len(got), skipped, err)
	}
	for _, k := range got {
		if k.CanSign() {
			t.Errorf("%v can sign", k)
		}
	}
	if empty, err := MarshalJWKSet(); err != nil || string(empty) != `{"keys":[]}` {
		t.Errorf("no keys: %s, %v", empty, err)
	}
	_, err = MarshalJWKSet(jwtMustHMAC(t, HS256, jwtSecret32, "h1"), jwtMustPriv(t, EdDSA, jwtEd(), ""), nil)
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("got %v, want three problems", err)
	}
}
