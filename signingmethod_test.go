package guard

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"
)

// opaqueSigner hides the concrete key type: only Public and Sign are
// visible, as with a key in an HSM.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }

func (o opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, digest, opts)
}

func TestOpaqueSigner(t *testing.T) {
	for _, tc := range []struct {
		alg  Algorithm
		priv crypto.Signer
	}{
		{RS256, jwtRSA()}, {RS384, jwtRSA()}, {RS512, jwtRSA()},
		{PS256, jwtRSA()}, {PS384, jwtRSA()}, {PS512, jwtRSA()},
		{ES256, jwtP256()}, {ES384, jwtP384()}, {ES512, jwtP521()},
		{EdDSA, jwtEd()},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			k := jwtMustPriv(t, tc.alg, opaqueSigner{tc.priv}, "hsm")
			if _, ok := k.signer.(cryptoSignerMethod); !ok {
				t.Errorf("signer: got %T, want cryptoSignerMethod", k.signer)
			}
			tok := jwtSign(t, k, `{"alg":"`+string(tc.alg)+`","kid":"hsm"}`, jwtClaims(""))
			v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k.Public()}})
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Errorf("Verify: got %v, want nil", err)
			}
			// golang-jwt's own method agrees (for PS, its lax global).
			dot := strings.LastIndexByte(tok, '.')
			sig, _ := b64.DecodeString(tok[dot+1:])
			if err := jwt.GetSigningMethod(string(tc.alg)).Verify(tok[:dot], sig, k.pub); err != nil {
				t.Errorf("golang-jwt verify: got %v, want nil", err)
			}
		})
	}
}

// derSigner returns a fixed, malformed or mismatched signature.
type badSigner struct {
	crypto.Signer
	sig []byte
}

func (b badSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return b.sig, nil }

func TestOpaqueSignerBadSignatures(t *testing.T) {
	digest := sha256.Sum256([]byte("x"))
	otherDER, err := jwtP256b().Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sig  []byte
	}{
		{"empty", nil},
		{"not DER", []byte{1, 2, 3}},
		{"DER with trailing bytes", append(otherDER, 0)},
		{"another key's signature", otherDER},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := jwtMustPriv(t, ES256, badSigner{opaqueSigner{jwtP256()}, tc.sig}, "")
			if sig, err := k.sign([]byte("a.b")); err == nil {
				t.Errorf("got signature %x, want an error", sig)
			}
		})
	}
}

// fakeKMS is a third-party jwt.SigningMethod: its key is a reference that
// only it can resolve, as a KMS signer's is.
type fakeKMS struct {
	alg    string
	keys   map[string]crypto.Signer
	signs  atomic.Int32
	broken bool // answer with a DER ECDSA signature instead of r||s
}

func (m *fakeKMS) Alg() string { return m.alg }

func (m *fakeKMS) Sign(s string, key any) ([]byte, error) {
	m.signs.Add(1)
	ref, ok := key.(string)
	if !ok {
		return nil, jwt.ErrInvalidKeyType
	}
	priv := m.keys[ref]
	if m.broken {
		d := sha256.Sum256([]byte(s))
		return priv.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	return jwt.GetSigningMethod(m.alg).Sign(s, priv)
}

func (m *fakeKMS) Verify(string, []byte, any) error {
	panic("guard must verify locally, never through the third-party method")
}

func TestNewSigningMethodKeyThirdParty(t *testing.T) {
	kms := &fakeKMS{alg: "ES256", keys: map[string]crypto.Signer{"alias/jwt": jwtP256()}}
	k, err := NewSigningMethodKey(kms, "alias/jwt", "kms-1", jwtP256().Public())
	if err != nil {
		t.Fatal(err)
	}
	if k.Algorithm() != ES256 || !k.CanSign() || k.KeyID() != "kms-1" {
		t.Fatalf("got %v (CanSign %v), want an ES256 signing key kms-1", k, k.CanSign())
	}
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Now: jwtClock(jwtNow)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(context.Background(), Claims{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if kms.signs.Load() != 1 {
		t.Errorf("KMS Sign calls: got %d, want 1", kms.signs.Load())
	}
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("Verify: got %v, want nil", err)
	}
	if pub := k.Public(); pub.CanSign() || pub.signer != nil {
		t.Errorf("Public(): got a key that can sign")
	}

	kms.broken = true
	if _, err := iss.Issue(context.Background(), Claims{Subject: "alice"}); err == nil {
		t.Error("a signer answering DER: got a token, want an error")
	}
}

func TestNewSigningMethodKeyRefuses(t *testing.T) {
	es := &fakeKMS{alg: "ES256"}
	for _, tc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		pub    crypto.PublicKey
		err    error
	}{
		{"nil method", nil, "k", nil, nil},
		{"none", jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, nil},
		{"none by name", &fakeKMS{alg: "none"}, "k", nil, nil},
		{"unsupported alg", &fakeKMS{alg: "ES256K"}, "k", jwtP256().Public(), nil},
		{"nil key", es, nil, jwtP256().Public(), nil},
		{"no public key", es, "k", nil, nil},
		{"public key of another curve", es, "k", jwtP384().Public(), nil},
		{"small RSA public key", &fakeKMS{alg: "RS256"}, "k", jwtRSA1024().Public(), nil},
		{"signer does not match pub", es, jwtP256b(), jwtP256().Public(), nil},
		{"third-party HMAC", &fakeKMS{alg: "HS256"}, jwtSecret32, nil, nil},
		{"golang-jwt HS256, weak secret", jwt.SigningMethodHS256, []byte(strings.Repeat("ab", 32)), nil, ErrWeakSecret},
		{"golang-jwt HS256, short secret", jwt.SigningMethodHS256, jwtSecret32[:31], nil, nil},
		{"golang-jwt HS256, string secret", jwt.SigningMethodHS256, string(jwtSecret32), nil, nil},
		{"golang-jwt RS256, small key", jwt.SigningMethodRS256, jwtRSA1024(), nil, nil},
		{"golang-jwt ES384, P-256 key", jwt.SigningMethodES384, jwtP256(), nil, nil},
		{"golang-jwt ES256, pub mismatch", jwt.SigningMethodES256, jwtP256(), jwtP256b().Public(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewSigningMethodKey(tc.method, tc.key, "", tc.pub)
			if err == nil {
				t.Fatalf("got %v, want an error", k)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("got %v, want it to match %v", err, tc.err)
			}
		})
	}
}

// TestNewSigningMethodKeyBuiltin: golang-jwt's own methods become guard's
// built-in keys; PS256 among them verifies strictly, and golang-jwt's
// package-level PS256 is left as it was.
func TestNewSigningMethodKeyBuiltin(t *testing.T) {
	before := *jwt.SigningMethodPS256.VerifyOptions
	k, err := NewSigningMethodKey(jwt.SigningMethodPS256, jwtRSA(), "ps", jwtRSA().Public())
	if err != nil {
		t.Fatal(err)
	}
	if k.signer != strictPS256 || k.checkSig {
		t.Errorf("signer: got %v (checkSig %v), want guard's strict PS256", k.signer, k.checkSig)
	}
	hk, err := NewSigningMethodKey(jwt.SigningMethodHS256, jwtSecret32, "", nil)
	if err != nil || hk.hmac == nil {
		t.Fatalf("golang-jwt HS256: got %v, %v; want a pooled HMAC key", hk, err)
	}

	// A PS256 signature with a 0-byte salt: golang-jwt's global accepts it,
	// guard does not.
	si := b64.EncodeToString([]byte(`{"alg":"PS256"}`)) + "." + b64.EncodeToString([]byte(jwtClaims("")))
	d := sha256.Sum256([]byte(si))
	sig, err := rsa.SignPSS(rand.Reader, jwtRSA(), crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := jwt.SigningMethodPS256.Verify(si, sig, &jwtRSA().PublicKey); err != nil {
		t.Fatalf("golang-jwt's PS256 global: got %v, want it to accept any salt length", err)
	}
	if k.verify(si, sig) {
		t.Error("guard PS256 accepted a 0-byte salt: got true, want false")
	}
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	_, err = v.Verify(context.Background(), si+"."+b64.EncodeToString(sig))
	jwtCheckErr(t, err, ErrInvalidSignature)

	if after := *jwt.SigningMethodPS256.VerifyOptions; after != before || after.SaltLength != rsa.PSSSaltLengthAuto {
		t.Errorf("jwt.SigningMethodPS256.VerifyOptions: got %+v, want %+v", after, before)
	}
	if o := jwt.SigningMethodPS256.Options; o.SaltLength != rsa.PSSSaltLengthEqualsHash {
		t.Errorf("jwt.SigningMethodPS256.Options: got %+v, want unchanged", o)
	}
}

// TestNewAlgorithmKnownAnswers checks RS384, RS512, PS384, PS512 and ES512
// against published signatures: the Wycheproof JWS groups of those
// algorithms (their JWKs carry the private key: the deterministic RSASSA-
// PKCS1-v1_5 signatures must be reproduced byte for byte), RFC 7520 §4.2
// (PS384, Figure 20) and §4.3 (ES512 on P-521, Figure 27) as Wycheproof
// carries them. The RFC 7520 keys' "alg" members are set to the algorithm
// the RFC signs with: the vector file labels them PS256 and "ES521".
func TestNewAlgorithmKnownAnswers(t *testing.T) {
	f := loadWycheproof(t, "json_web_signature_test.json")
	seen := map[Algorithm]int{}
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			if tc.Result != "valid" {
				continue
			}
			alg := Algorithm(jwsHeaderAlg(tc.JWS))
			switch alg {
			case RS384, RS512, PS384, PS512, ES512:
			default:
				continue
			}
			dot := strings.LastIndexByte(tc.JWS, '.')
			if strings.IndexByte(tc.JWS, '.') == dot-1 {
				continue // empty payload
			}
			raw := g.Private
			if len(raw) == 0 {
				raw = g.Public
			}
			k, err := ParseJWK("", withAlg(t, raw, alg))
			if err != nil {
				t.Fatalf("%d: %v", tc.TcID, err)
			}
			sig, _ := b64.DecodeString(tc.JWS[dot+1:])
			if !k.verify(tc.JWS[:dot], sig) {
				t.Errorf("%s %d (%s): published signature does not verify", alg, tc.TcID, g.Comment)
			}
			if alg == RS384 || alg == RS512 {
				if !k.CanSign() {
					t.Fatalf("%d: want a private key", tc.TcID)
				}
				got, err := k.sign([]byte(tc.JWS[:dot]))
				if err != nil || b64.EncodeToString(got) != tc.JWS[dot+1:] {
					t.Errorf("%s %d: re-signing does not reproduce the signature (%v)", alg, tc.TcID, err)
				}
			}
			sig[len(sig)/2] ^= 1
			if k.verify(tc.JWS[:dot], sig) {
				t.Errorf("%s %d: a flipped bit verifies", alg, tc.TcID)
			}
			seen[alg]++
		}
	}
	for _, alg := range []Algorithm{RS384, RS512, PS384, PS512, ES512} {
		if seen[alg] == 0 {
			t.Errorf("%s: no published vector checked", alg)
		}
	}
	t.Logf("vectors checked: %v", seen)
}

// withAlg returns the JWK raw with its "alg" member set to alg.
func withAlg(t *testing.T, raw jsontext.Value, alg Algorithm) []byte {
	t.Helper()
	var m map[string]jsontext.Value
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["alg"] = jsontext.Value(`"` + alg + `"`)
	out, err := json.Marshal(m, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestECDSADERToJWS checks the DER to r||s conversion on edge values.
func TestECDSADERToJWS(t *testing.T) {
	digest := sha256.Sum256([]byte("m"))
	for range 20 {
		der, err := jwtP521().Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ecdsaDERToJWS(der, 66)
		if err != nil || len(sig) != 132 {
			t.Fatalf("got %d bytes, %v; want 132", len(sig), err)
		}
		if err := jwt.SigningMethodES512.Verify("m", sig, &jwtP521().PublicKey); err == nil {
			t.Fatal("a SHA-256 digest verified as ES512")
		}
	}
	// r = 0 and an r longer than the curve are refused.
	for _, der := range [][]byte{
		{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01},
		append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, append(make([]byte, 32), 0x02, 0x01, 0x01)...),
	} {
		if _, err := ecdsaDERToJWS(der, 32); err == nil {
			t.Errorf("%x: got nil error, want one", der)
		}
	}
}
