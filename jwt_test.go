package guard

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"sync"
	"testing"
	"time"
)

// Test keys are generated once per test binary: RSA generation is the slow
// part of the suite.
var (
	jwtRSA     = sync.OnceValue(func() *rsa.PrivateKey { return jwtGenRSA(2048) })
	jwtRSA2    = sync.OnceValue(func() *rsa.PrivateKey { return jwtGenRSA(2048) })
	jwtRSA1024 = sync.OnceValue(func() *rsa.PrivateKey { return jwtGenRSA(1024) })
	jwtP256    = sync.OnceValue(func() *ecdsa.PrivateKey { return jwtGenEC(elliptic.P256()) })
	jwtP256b   = sync.OnceValue(func() *ecdsa.PrivateKey { return jwtGenEC(elliptic.P256()) })
	jwtP384    = sync.OnceValue(func() *ecdsa.PrivateKey { return jwtGenEC(elliptic.P384()) })
	jwtP521    = sync.OnceValue(func() *ecdsa.PrivateKey { return jwtGenEC(elliptic.P521()) })
	jwtEd      = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func jwtGenRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func jwtGenEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// jwtNow is the fixed clock of the verifier and issuer tests.
var jwtNow = time.Unix(1_700_000_000, 0).UTC()

func jwtClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// jwtSecret32 etc. are HMAC secrets of exactly the minimum length.
var (
	jwtSecret32 = []byte("ZcaAHPeTjaZlORSw9FF6J1NyCFPbYcAa")
	jwtSecret48 = []byte("uMnK0jL/3bPKFzklJavfreOMf1x9TEID1/Y6rQ/ObIH4D6PO")
	jwtSecret64 = []byte("CridYymMH638Me6csdpl0sVdPGus5+b/C3KmOEn/5qFGQvMmtU31i/iBM3CSbLuF")
)

func jwtMustHMAC(t testing.TB, alg Algorithm, secret []byte, kid string) *Key {
	t.Helper()
	k, err := NewHMACKey(alg, secret, kid)
	if err != nil {
		t.Fatalf("NewHMACKey(%s): %v", alg, err)
	}
	return k
}

func jwtMustPriv(t testing.TB, alg Algorithm, s crypto.Signer, kid string) *Key {
	t.Helper()
	k, err := NewPrivateKey(alg, s, kid)
	if err != nil {
		t.Fatalf("NewPrivateKey(%s): %v", alg, err)
	}
	return k
}

// jwtSign builds a compact JWS from raw header and payload JSON, signed
// with k. It bypasses TokenIssuer so tests can build any shape.
func jwtSign(t testing.TB, k *Key, header, payload string) string {
	t.Helper()
	si := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := k.sign([]byte(si))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return si + "." + b64.EncodeToString(sig)
}

// jwtCheckErr asserts err: nil when want is empty, otherwise an error matching
// ErrInvalidToken and every sentinel in want.
func jwtCheckErr(t testing.TB, err error, want ...error) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got nil error, want %v", want)
	}
	for _, w := range append([]error{ErrInvalidToken}, want...) {
		if !errors.Is(err, w) {
			t.Errorf("got error %v, want it to match %v", err, w)
		}
	}
}

func TestNewHMACKey(t *testing.T) {
	tests := []struct {
		name    string
		alg     Algorithm
		secret  []byte
		wantErr bool
	}{
		{"HS256 32 bytes", HS256, jwtSecret32, false},
		{"HS256 31 bytes", HS256, jwtSecret32[:31], true},
		{"HS256 64 bytes", HS256, jwtSecret64, false},
		{"HS384 48 bytes", HS384, jwtSecret48, false},
		{"HS384 47 bytes", HS384, jwtSecret48[:47], true},
		{"HS384 32 bytes", HS384, jwtSecret32, true},
		{"HS512 64 bytes", HS512, jwtSecret64, false},
		{"HS512 63 bytes", HS512, jwtSecret64[:63], true},
		{"HS512 48 bytes", HS512, jwtSecret48, true},
		{"empty", HS256, []byte{}, true},
		{"nil", HS256, nil, true},
		{"none", "none", jwtSecret64, true},
		{"None", "None", jwtSecret64, true},
		{"NONE", "NONE", jwtSecret64, true},
		{"lower-case hs256", "hs256", jwtSecret64, true},
		{"empty alg", "", jwtSecret64, true},
		{"unknown alg", "HS1024", jwtSecret64, true},
		{"RS256 is not HMAC", RS256, jwtSecret64, true},
		{"EdDSA is not HMAC", EdDSA, jwtSecret64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewHMACKey(tt.alg, tt.secret, "kid-1")
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("NewHMACKey(%q, %d bytes): got err %v, want error %v", tt.alg, len(tt.secret), err, tt.wantErr)
			}
			if err != nil {
				if k != nil {
					t.Errorf("got key %v with error, want nil", k)
				}
				return
			}
			if got := k.Algorithm(); got != tt.alg {
				t.Errorf("Algorithm: got %s, want %s", got, tt.alg)
			}
			if got := k.KeyID(); got != "kid-1" {
				t.Errorf("KeyID: got %q, want kid-1", got)
			}
			if !k.CanSign() {
				t.Errorf("CanSign: got false, want true")
			}
			if k.Public() != k {
				t.Errorf("Public of an HMAC key: got a different key, want the key itself")
			}
		})
	}
}

func TestNewHMACKeyCopiesSecret(t *testing.T) {
	secret := bytes.Clone(jwtSecret32)
	k := jwtMustHMAC(t, HS256, secret, "")
	sig, err := k.sign([]byte("a.b"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range secret {
		secret[i] = 0
	}
	if !k.verify("a.b", sig) {
		t.Errorf("after the caller zeroed its secret: got verify false, want true (the key must hold a copy)")
	}
}

func TestKeyStringHasNoMaterial(t *testing.T) {
	k := jwtMustHMAC(t, HS256, []byte("q3W8vRzK1mYp6TnB0cXe5LhJ9sDf2GaU"), "k1")
	if got, want := k.String(), `guard.Key(HS256, kid="k1")`; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
	k2 := jwtMustPriv(t, EdDSA, jwtEd(), "")
	if got, want := k2.String(), "guard.Key(EdDSA)"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
}

func TestNewPublicKey(t *testing.T) {
	edPub := jwtEd().Public().(ed25519.PublicKey)
	evenE := jwtRSA().PublicKey
	evenE.E = 65536
	oneE := jwtRSA().PublicKey
	oneE.E = 1
	tests := []struct {
		name    string
		alg     Algorithm
		pub     crypto.PublicKey
		wantErr bool
	}{
		{"RS256 2048", RS256, &jwtRSA().PublicKey, false},
		{"PS256 2048", PS256, &jwtRSA().PublicKey, false},
		{"RS256 1024 bits", RS256, &jwtRSA1024().PublicKey, true},
		{"PS256 1024 bits", PS256, &jwtRSA1024().PublicKey, true},
		{"RSA even exponent", RS256, &evenE, true},
		{"RSA exponent 1", RS256, &oneE, true},
		{"RSA value not pointer", RS256, jwtRSA().PublicKey, true},
		{"nil RSA", RS256, (*rsa.PublicKey)(nil), true},
		{"ES256 P-256", ES256, &jwtP256().PublicKey, false},
		{"ES384 P-384", ES384, &jwtP384().PublicKey, false},
		{"ES256 with P-384", ES256, &jwtP384().PublicKey, true},
		{"ES384 with P-256", ES384, &jwtP256().PublicKey, true},
		{"ES256 with RSA", ES256, &jwtRSA().PublicKey, true},
		{"nil ECDSA", ES256, (*ecdsa.PublicKey)(nil), true},
		{"EdDSA", EdDSA, edPub, false},
		{"EdDSA pointer", EdDSA, &edPub, false},
		{"EdDSA short", EdDSA, edPub[:31], true},
		{"EdDSA with ECDSA", EdDSA, &jwtP256().PublicKey, true},
		{"RS256 with Ed25519", RS256, edPub, true},
		{"HS256 takes a secret", HS256, edPub, true},
		{"none", "none", edPub, true},
		{"None", "None", edPub, true},
		{"empty alg", "", edPub, true},
		{"ES512 on P-256", "ES512", &jwtP256().PublicKey, true},
		{"RS512", "RS512", &jwtRSA().PublicKey, false},
		{"unsupported ES256K", "ES256K", &jwtP256().PublicKey, true},
		{"nil", RS256, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewPublicKey(tt.alg, tt.pub, "kid")
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if k.CanSign() {
				t.Errorf("CanSign of a public key: got true, want false")
			}
			if _, err := k.sign([]byte("x")); err == nil {
				t.Errorf("sign with a public key: got nil error, want an error")
			}
		})
	}
}

func TestNewPrivateKey(t *testing.T) {
	edPriv := jwtEd()
	tests := []struct {
		name    string
		alg     Algorithm
		priv    crypto.Signer
		wantErr bool
	}{
		{"RS256", RS256, jwtRSA(), false},
		{"PS256", PS256, jwtRSA(), false},
		{"RS256 1024 bits", RS256, jwtRSA1024(), true},
		{"ES256", ES256, jwtP256(), false},
		{"ES384", ES384, jwtP384(), false},
		{"ES256 with P-384", ES256, jwtP384(), true},
		{"EdDSA", EdDSA, edPriv, false},
		{"EdDSA pointer", EdDSA, &edPriv, false},
		{"EdDSA with RSA", EdDSA, jwtRSA(), true},
		{"none", "none", jwtP256(), true},
		{"HS256", HS256, jwtP256(), true},
		{"nil", ES256, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewPrivateKey(tt.alg, tt.priv, "")
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !k.CanSign() {
				t.Errorf("CanSign: got false, want true")
			}
			pub := k.Public()
			if pub.CanSign() {
				t.Errorf("Public().CanSign: got true, want false")
			}
			if pub.Algorithm() != tt.alg {
				t.Errorf("Public().Algorithm: got %s, want %s", pub.Algorithm(), tt.alg)
			}
		})
	}
}

// TestSignVerify checks the signature layer of every algorithm: what one key
// signs, the same key (and its public half) verifies; any change to the input
// or signature, a signature of the wrong length, and another key of the same
// algorithm are refused.
func TestSignVerify(t *testing.T) {
	keys := []*Key{
		jwtMustHMAC(t, HS256, jwtSecret32, ""),
		jwtMustHMAC(t, HS384, jwtSecret48, ""),
		jwtMustHMAC(t, HS512, jwtSecret64, ""),
		jwtMustPriv(t, RS256, jwtRSA(), ""),
		jwtMustPriv(t, RS384, jwtRSA(), ""),
		jwtMustPriv(t, RS512, jwtRSA(), ""),
		jwtMustPriv(t, PS256, jwtRSA(), ""),
		jwtMustPriv(t, PS384, jwtRSA(), ""),
		jwtMustPriv(t, PS512, jwtRSA(), ""),
		jwtMustPriv(t, ES256, jwtP256(), ""),
		jwtMustPriv(t, ES384, jwtP384(), ""),
		jwtMustPriv(t, ES512, jwtP521(), ""),
		jwtMustPriv(t, EdDSA, jwtEd(), ""),
	}
	others := map[Algorithm]*Key{
		HS256: jwtMustHMAC(t, HS256, jwtSecret64, ""),
		HS384: jwtMustHMAC(t, HS384, jwtSecret64, ""),
		HS512: jwtMustHMAC(t, HS512, []byte("Yh3kP9mQ2wL7vB4nX8cR1tZ6sD0fG5jA-e2uK7pW9qM4bV1xN8zC3rT6yH0gL5sF"), ""),
		RS256: jwtMustPriv(t, RS256, jwtRSA2(), ""),
		RS384: jwtMustPriv(t, RS384, jwtRSA2(), ""),
		RS512: jwtMustPriv(t, RS512, jwtRSA2(), ""),
		PS256: jwtMustPriv(t, PS256, jwtRSA2(), ""),
		PS384: jwtMustPriv(t, PS384, jwtRSA2(), ""),
		PS512: jwtMustPriv(t, PS512, jwtRSA2(), ""),
		ES256: jwtMustPriv(t, ES256, jwtP256b(), ""),
		ES384: jwtMustPriv(t, ES384, jwtGenEC(elliptic.P384()), ""),
		ES512: jwtMustPriv(t, ES512, jwtGenEC(elliptic.P521()), ""),
	}
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	others[EdDSA] = jwtMustPriv(t, EdDSA, otherEd, "")

	msg := []byte("eyJhbGciOiJ4In0.eyJzdWIiOiJ4In0")
	for _, k := range keys {
		t.Run(string(k.Algorithm()), func(t *testing.T) {
			sig, err := k.sign(msg)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if !k.verify(string(msg), sig) {
				t.Fatalf("verify of own signature: got false, want true")
			}
			if !k.Public().verify(string(msg), sig) {
				t.Errorf("Public().verify: got false, want true")
			}
			if others[k.alg].verify(string(msg), sig) {
				t.Errorf("another %s key verified the signature: got true, want false", k.alg)
			}
			bad := bytes.Clone(sig)
			bad[len(bad)/2] ^= 1
			if k.verify(string(msg), bad) {
				t.Errorf("flipped signature bit: got true, want false")
			}
			if k.verify(string(msg)+"x", sig) {
				t.Errorf("changed message: got true, want false")
			}
			for _, s := range [][]byte{nil, {}, sig[:len(sig)-1], append(bytes.Clone(sig), 0), make([]byte, len(sig))} {
				if k.verify(string(msg), s) {
					t.Errorf("signature of %d bytes: got true, want false", len(s))
				}
			}
		})
	}
}

func jwtPEM(t testing.TB, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePEMKey(t *testing.T) {
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rsaPKIX := jwtPEM(t, "PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&jwtRSA().PublicKey)))
	ecPKIX := jwtPEM(t, "PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&jwtP256().PublicKey)))
	edPKIX := jwtPEM(t, "PUBLIC KEY", must(x509.MarshalPKIXPublicKey(jwtEd().Public())))
	rsaPKCS1Pub := jwtPEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&jwtRSA().PublicKey))
	rsaPKCS1 := jwtPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(jwtRSA()))
	rsaPKCS8 := jwtPEM(t, "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(jwtRSA())))
	ecPKCS8 := jwtPEM(t, "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(jwtP256())))
	edPKCS8 := jwtPEM(t, "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(jwtEd())))
	ecSEC1 := jwtPEM(t, "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(jwtP256())))
	ec384SEC1 := jwtPEM(t, "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(jwtP384())))
	rsa1024 := jwtPEM(t, "PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&jwtRSA1024().PublicKey)))

	tests := []struct {
		name     string
		alg      Algorithm
		data     []byte
		wantErr  bool
		wantSign bool
	}{
		{"PKIX RSA", RS256, rsaPKIX, false, false},
		{"PKIX RSA for PS256", PS256, rsaPKIX, false, false},
		{"PKIX EC", ES256, ecPKIX, false, false},
		{"PKIX Ed25519", EdDSA, edPKIX, false, false},
		{"PKCS1 public", RS256, rsaPKCS1Pub, false, false},
		{"PKCS1 private", RS256, rsaPKCS1, false, true},
		{"PKCS8 RSA", PS256, rsaPKCS8, false, true},
		{"PKCS8 EC", ES256, ecPKCS8, false, true},
		{"PKCS8 Ed25519", EdDSA, edPKCS8, false, true},
		{"SEC1 EC", ES256, ecSEC1, false, true},
		{"SEC1 P-384", ES384, ec384SEC1, false, true},
		{"SEC1 P-384 for ES256", ES256, ec384SEC1, true, false},
		{"PKIX RSA for ES256", ES256, rsaPKIX, true, false},
		{"PKIX RSA 1024 bits", RS256, rsa1024, true, false},
		{"PKIX EC for HS256", HS256, ecPKIX, true, false},
		{"PKIX EC for none", "none", ecPKIX, true, false},
		{"garbage", RS256, []byte("not a pem"), true, false},
		{"empty", RS256, nil, true, false},
		{"two blocks", RS256, append(bytes.Clone(rsaPKIX), rsaPKCS1Pub...), true, false},
		{"trailing text", RS256, append(bytes.Clone(rsaPKIX), "junk"...), true, false},
		{"trailing whitespace", RS256, append(bytes.Clone(rsaPKIX), "\n\n  \n"...), false, false},
		{"certificate", RS256, jwtPEM(t, "CERTIFICATE", []byte{0x30, 0}), true, false},
		{"wrong block type for content", RS256, jwtPEM(t, "RSA PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&jwtP256().PublicKey))), true, false},
		{"corrupt DER", RS256, jwtPEM(t, "PUBLIC KEY", []byte{0x30, 0x82, 0xff}), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePEMKey(tt.alg, tt.data, "pem-kid")
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if k.Algorithm() != tt.alg || k.KeyID() != "pem-kid" {
				t.Errorf("got %v, want alg %s kid pem-kid", k, tt.alg)
			}
			if got := k.CanSign(); got != tt.wantSign {
				t.Errorf("CanSign: got %v, want %v", got, tt.wantSign)
			}
		})
	}
}

// TestParsePEMKeyVerifies checks that a key loaded from a PKIX PEM verifies
// what the private key signed.
func TestParsePEMKeyVerifies(t *testing.T) {
	der, err := x509.MarshalPKIXPublicKey(&jwtP256().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePEMKey(ES256, jwtPEM(t, "PUBLIC KEY", der), "")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jwtMustPriv(t, ES256, jwtP256(), "").sign([]byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.verify("m", sig) {
		t.Errorf("got verify false, want true")
	}
}

func TestAlgorithmValid(t *testing.T) {
	for _, a := range []Algorithm{HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA} {
		if !a.Valid() {
			t.Errorf("%s.Valid(): got false, want true", a)
		}
	}
	for _, a := range []Algorithm{"", "none", "None", "NONE", "nOnE", "hs256", "rs384", "ES521", "ES256K", "Ed25519", "EDDSA", "HS256 "} {
		if a.Valid() {
			t.Errorf("%q.Valid(): got true, want false", a)
		}
	}
}

func TestNewPrivateKeyTypedNil(t *testing.T) {
	for _, s := range []crypto.Signer{(*rsa.PrivateKey)(nil), (*ecdsa.PrivateKey)(nil), (*ed25519.PrivateKey)(nil), nil} {
		if _, err := NewPrivateKey(ES256, s, ""); err == nil {
			t.Errorf("NewPrivateKey(%T(nil)) accepted", s)
		}
	}
}
