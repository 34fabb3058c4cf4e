package guard

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm is a JWS "alg" value (RFC 7518 §3, RFC 8037). Only the
// algorithms listed as constants exist; "none" never does.
type Algorithm string

// The supported signature algorithms.
const (
	HS256 Algorithm = "HS256"
	HS384 Algorithm = "HS384"
	HS512 Algorithm = "HS512"
	RS256 Algorithm = "RS256"
	RS384 Algorithm = "RS384"
	RS512 Algorithm = "RS512"
	PS256 Algorithm = "PS256"
	PS384 Algorithm = "PS384"
	PS512 Algorithm = "PS512"
	ES256 Algorithm = "ES256"
	ES384 Algorithm = "ES384"
	ES512 Algorithm = "ES512" // ECDSA on P-521 with SHA-512 (RFC 7518 §3.4)
	EdDSA Algorithm = "EdDSA"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3 requires 2048).
const minRSABits = 2048

func (a Algorithm) hash() crypto.Hash {
	switch a {
	case HS256, RS256, PS256, ES256:
		return crypto.SHA256
	case HS384, RS384, PS384, ES384:
		return crypto.SHA384
	case HS512, RS512, PS512, ES512:
		return crypto.SHA512
	}
	return 0 // EdDSA hashes internally
}

func (a Algorithm) isPKCS1() bool { return a == RS256 || a == RS384 || a == RS512 }

func (a Algorithm) isPSS() bool { return a == PS256 || a == PS384 || a == PS512 }

func (a Algorithm) isECDSA() bool { return a == ES256 || a == ES384 || a == ES512 }

func (a Algorithm) isHMAC() bool { return a == HS256 || a == HS384 || a == HS512 }

// Valid reports whether a is one of the algorithms guard signs and
// verifies with (the constants above).
func (a Algorithm) Valid() bool {
	switch a {
	case HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA:
		return true
	}
	return false
}

// Key is a signing or verification key bound to exactly one [Algorithm] and an
// optional key ID ("kid"), and optionally to the issuers it may sign for
// ([Key.ForIssuers]). A Key is immutable and safe for concurrent use.
// Build one with [NewHMACKey], [NewPublicKey], [NewPrivateKey],
// [NewSigningMethodKey], [ParsePEMKey] or [ParseJWK]; [NewVerifier] and
// [NewTokenIssuer] refuse the zero Key.
//
// Signatures are made and checked by a golang-jwt [jwt.SigningMethod]: the
// key fixes which one, so the token header never chooses it.
type Key struct {
	alg  Algorithm
	kid  string
	hmac *hmacKey         // HS*
	pub  crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
	priv crypto.Signer    // a built-in private key; nil otherwise

	signer    jwt.SigningMethod // signs with signKey; nil for verification-only keys
	signKey   any               // what signer.Sign takes
	checkSig  bool              // signer is not built in: verify each signature it makes
	verifier  jwt.SigningMethod // verifies with verifyKey; always a built-in method
	verifyKey any               // what verifier.Verify takes, boxed once

	bound   bool     // set by ForIssuers: only tokens of issuers count
	issuers []string // never modified after ForIssuers
}

// ForIssuers returns a copy of k bound to issuers: a [Verifier] accepts a
// token signed with it only when the token's "iss" is exactly one of them,
// and a [TokenIssuer] signs with it only for them. With several tenants
// behind one verifier, bind each tenant's key to its issuer, so that tenant
// A's key cannot vouch for a token claiming iss=B; such a token gets 401
// invalid_token matching [ErrInvalidIssuer]. This is checked in addition to
// VerifierConfig.Issuers.
//
// k itself is not changed, and issuers is copied; on a bound key the new
// binding replaces the old one. A key that is never bound
// (the default) verifies tokens of any issuer that VerifierConfig.Issuers
// accepts. [NewVerifier] refuses a key bound to no issuer, to an empty one,
// or to one that VerifierConfig.Issuers, when set, does not list.
// ForIssuers on a nil key returns nil.
func (k *Key) ForIssuers(issuers ...string) *Key {
	if k == nil {
		return nil
	}
	c := *k
	c.bound, c.issuers = true, slices.Clone(issuers)
	return &c
}

// signsFor reports whether k may sign or verify a token with "iss" iss.
func (k *Key) signsFor(iss string) bool { return !k.bound || slices.Contains(k.issuers, iss) }

// usable reports whether k was built by a constructor: a zero Key has no
// algorithm and no material.
func (k *Key) usable() bool {
	return k.alg.Valid() && (k.hmac != nil || k.pub != nil) && k.verifier != nil
}

// Algorithm returns the only algorithm the key may be used with.
func (k *Key) Algorithm() Algorithm { return k.alg }

// KeyID returns the key's "kid", or "".
func (k *Key) KeyID() string { return k.kid }

// CanSign reports whether k holds secret material (an HMAC secret or a private key).
func (k *Key) CanSign() bool { return k.signer != nil }

// Symmetric reports whether k is a shared-secret (HMAC) key: one that is
// never published in a JWK Set or a discovery document.
func (k *Key) Symmetric() bool { return k.hmac != nil }

// Public returns the verification half of k: k itself for HMAC keys (the
// secret is both) and verification keys, a key without the private part
// (or the third-party signer) otherwise.
func (k *Key) Public() *Key {
	if k.hmac != nil || k.signer == nil {
		return k
	}
	return &Key{alg: k.alg, kid: k.kid, pub: k.pub, verifier: k.verifier, verifyKey: k.verifyKey, bound: k.bound, issuers: k.issuers}
}

// String describes the key without any key material: its algorithm, kid
// and, for a bound key, its issuers.
func (k *Key) String() string {
	s := "guard.Key(" + string(k.alg)
	if k.kid != "" {
		s += fmt.Sprintf(", kid=%q", k.kid)
	}
	if k.bound {
		s += fmt.Sprintf(", iss=%q", k.issuers)
	}
	return s + ")"
}

// hmacKey keeps keyed MAC states in a pool: hmac.New costs several
// allocations, Reset on a keyed MAC costs none.
type hmacKey struct {
	secret []byte
	size   int
	pool   sync.Pool
}

func newHMACKey(h crypto.Hash, secret []byte) *hmacKey {
	s := bytes.Clone(secret)
	k := &hmacKey{secret: s, size: h.Size()}
	var fn func() hash.Hash
	switch h {
	case crypto.SHA256:
		fn = sha256.New
	case crypto.SHA384:
		fn = sha512.New384
	default:
		fn = sha512.New
	}
	k.pool.New = func() any { return &hmacState{mac: hmac.New(fn, s)} }
	return k
}

// hmacState is a keyed MAC with room for its output, for a signature to
// compare it with, and for a copy of the message (the SigningMethod
// interface hands it over as a string).
type hmacState struct {
	mac hash.Hash
	out [sha512.Size]byte
	sig [sha512.Size]byte
	msg []byte
}

// sum appends the MAC of msg to dst.
func (k *hmacKey) sum(dst, msg []byte) []byte {
	st := k.pool.Get().(*hmacState)
	st.mac.Reset()
	st.mac.Write(msg)
	dst = append(dst, st.mac.Sum(st.out[:0])...)
	k.pool.Put(st)
	return dst
}

// equal reports, in constant time, whether sig is the MAC of msg. It
// allocates nothing once the pooled state's buffer has grown to the
// message size.
func (k *hmacKey) equal(msg string, sig []byte) bool {
	if len(sig) != k.size {
		return false
	}
	st := k.pool.Get().(*hmacState)
	st.msg = append(st.msg[:0], msg...)
	st.mac.Reset()
	st.mac.Write(st.msg)
	ok := hmac.Equal(st.mac.Sum(st.out[:0]), sig)
	if cap(st.msg) > DefaultMaxTokenBytes {
		st.msg = nil // an unusually large token; do not pin it
	}
	k.pool.Put(st)
	return ok
}

// equalSegment is equal for the verifier's hot path: sigSeg is the
// base64url signature segment, decoded into the pooled state, and msg is
// hashed where it lies, without a copy. sigSeg must decode to exactly the
// MAC's size (the caller checks the length; another length goes the
// general way). malformed reports a segment that is not strict base64url.
func (k *hmacKey) equalSegment(msg, sigSeg []byte) (ok, malformed bool) {
	st := k.pool.Get().(*hmacState)
	defer k.pool.Put(st)
	n, err := b64.Decode(st.sig[:], sigSeg)
	if err != nil || n != k.size {
		return false, err != nil
	}
	st.mac.Reset()
	st.mac.Write(msg)
	return hmac.Equal(st.mac.Sum(st.out[:0]), st.sig[:n]), false
}

// NewHMACKey returns a key for HS256, HS384 or HS512. The secret is copied.
// It refuses a secret shorter than the hash output (32 bytes for HS256,
// RFC 7518 §3.2), which also refuses an empty one, and, with an error
// matching [ErrWeakSecret], a secret that is published on JWT cracking
// wordlists or built from a short pattern (a repeated unit, a counting
// sequence, fewer than 6 distinct bytes).
func NewHMACKey(alg Algorithm, secret []byte, kid string) (*Key, error) {
	if !alg.isHMAC() {
		return nil, fmt.Errorf("guard: %q is not an HMAC algorithm", alg)
	}
	if n := alg.hash().Size(); len(secret) < n {
		return nil, fmt.Errorf("guard: %s secret is %d bytes; at least %d are required", alg, len(secret), n)
	}
	if err := checkHMACSecret(secret); err != nil {
		return nil, err
	}
	return newHMACKeyUnchecked(alg, secret, kid), nil
}

// newHMACKeyUnchecked builds an HMAC key without the secret policy.
func newHMACKeyUnchecked(alg Algorithm, secret []byte, kid string) *Key {
	h := newHMACKey(alg.hash(), secret)
	m := hmacMethods[alg]
	return &Key{alg: alg, kid: kid, hmac: h, signer: m, signKey: h, verifier: m, verifyKey: h}
}

// NewPublicKey returns a verification key: *rsa.PublicKey for RS256,
// RS384, RS512, PS256, PS384 and PS512 (at least 2048 bits),
// *ecdsa.PublicKey on P-256 for ES256, P-384 for ES384 or P-521 for ES512,
// ed25519.PublicKey for EdDSA.
func NewPublicKey(alg Algorithm, pub crypto.PublicKey, kid string) (*Key, error) {
	if err := checkAsymmetric(alg, pub); err != nil {
		return nil, err
	}
	if p, ok := pub.(*ed25519.PublicKey); ok {
		pub = *p
	}
	return &Key{alg: alg, kid: kid, pub: pub, verifier: builtinMethod(alg), verifyKey: pub}, nil
}

// NewPrivateKey returns a signing key (which also verifies), with the same
// rules as [NewPublicKey] for priv.Public(). priv is an *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey, which golang-jwt's methods sign
// with, or any other [crypto.Signer], such as a key in an HSM or a KMS
// that exposes only Public and Sign: guard then hashes the signing input
// itself and passes the digest with the options the algorithm needs
// (PKCS #1 v1.5, PSS with a salt as long as the hash), converts an ECDSA
// signature from ASN.1 DER to the fixed-size r||s of JWS (RFC 7518 §3.4),
// and checks every signature against the public key before using it.
func NewPrivateKey(alg Algorithm, priv crypto.Signer, kid string) (*Key, error) {
	switch k := priv.(type) {
	case nil:
		return nil, errors.New("guard: nil private key")
	case *rsa.PrivateKey:
		if k == nil {
			return nil, errors.New("guard: nil private key")
		}
	case *ecdsa.PrivateKey:
		if k == nil {
			return nil, errors.New("guard: nil private key")
		}
	case *ed25519.PrivateKey:
		if k == nil {
			return nil, errors.New("guard: nil private key")
		}
	}
	if p, ok := priv.(*ed25519.PrivateKey); ok {
		priv = *p
	}
	pub := priv.Public()
	if err := checkAsymmetric(alg, pub); err != nil {
		return nil, err
	}
	if p, ok := pub.(*ed25519.PublicKey); ok {
		pub = *p
	}
	k := &Key{alg: alg, kid: kid, pub: pub, priv: priv, verifier: builtinMethod(alg), verifyKey: pub}
	switch priv.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		k.signer, k.signKey = k.verifier, priv
	default:
		k.signer, k.signKey, k.checkSig = cryptoSignerMethod{alg: alg, SigningMethod: k.verifier}, priv, true
	}
	return k, nil
}

func checkAsymmetric(alg Algorithm, pub crypto.PublicKey) error {
	switch alg {
	case RS256, RS384, RS512, PS256, PS384, PS512:
		k, ok := pub.(*rsa.PublicKey)
		if !ok || k == nil || k.N == nil {
			return fmt.Errorf("guard: %s needs an RSA key, not %T", alg, pub)
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("guard: RSA key has %d bits; at least %d are required", k.N.BitLen(), minRSABits)
		}
		if k.E < 3 || k.E&1 == 0 {
			return fmt.Errorf("guard: RSA public exponent %d is not acceptable", k.E)
		}
	case ES256, ES384, ES512:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k == nil || k.Curve == nil {
			return fmt.Errorf("guard: %s needs an ECDSA key, not %T", alg, pub)
		}
		want := elliptic.P256()
		switch alg {
		case ES384:
			want = elliptic.P384()
		case ES512:
			want = elliptic.P521()
		}
		if k.Curve != want {
			return fmt.Errorf("guard: %s needs curve %s, not %s", alg, want.Params().Name, k.Curve.Params().Name)
		}
	case EdDSA:
		var k ed25519.PublicKey
		switch p := pub.(type) {
		case ed25519.PublicKey:
			k = p
		case *ed25519.PublicKey:
			if p != nil {
				k = *p
			}
		default:
			return fmt.Errorf("guard: EdDSA needs an Ed25519 key, not %T", pub)
		}
		if len(k) != ed25519.PublicKeySize {
			return errors.New("guard: malformed Ed25519 public key")
		}
	case "":
		return errors.New("guard: no algorithm given")
	default:
		if alg.isHMAC() {
			return fmt.Errorf("guard: %s takes a secret; use NewHMACKey", alg)
		}
		return fmt.Errorf("guard: unsupported algorithm %q", alg)
	}
	return nil
}

// ParsePEMKey parses one PEM block: a PKIX public key ("PUBLIC KEY"), a PKCS
// #1 RSA key ("RSA PUBLIC KEY", "RSA PRIVATE KEY"), a SEC 1 EC key ("EC PRIVATE
// KEY") or a PKCS #8 private key ("PRIVATE KEY"), and binds it to alg and kid.
// An X.509 certificate is not accepted; pass its public key to [NewPublicKey].
func ParsePEMKey(alg Algorithm, data []byte, kid string) (*Key, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("guard: no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("guard: more than one PEM block")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("guard: unsupported PEM block type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("guard: parsing %s: %w", block.Type, err)
	}
	if s, ok := key.(crypto.Signer); ok {
		return NewPrivateKey(alg, s, kid)
	}
	return NewPublicKey(alg, key, kid)
}

// sameMaterial reports whether a and b hold the same key material.
func sameMaterial(a, b *Key) bool {
	if a.hmac != nil || b.hmac != nil {
		return a.hmac != nil && b.hmac != nil && subtle.ConstantTimeCompare(a.hmac.secret, b.hmac.secret) == 1
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.pub.(equaler)
	return ok && e.Equal(b.pub)
}

// sign returns the JWS signature of signingInput, made by the key's
// signing method. A signature from a method that is not built in (a
// third-party method, an opaque crypto.Signer) is checked against the
// public key first, so a signer that answers in the wrong format or with
// another key never yields a token nobody can verify.
func (k *Key) sign(signingInput []byte) ([]byte, error) {
	if k.signer == nil {
		return nil, fmt.Errorf("guard: %v is a verification key; it cannot sign", k)
	}
	si := string(signingInput)
	sig, err := k.signer.Sign(si, k.signKey)
	if err != nil {
		return nil, err
	}
	if k.checkSig {
		if err := k.verifier.Verify(si, sig, k.verifyKey); err != nil {
			return nil, fmt.Errorf("guard: %s signer made a signature that does not verify with its public key: %w", k.alg, err)
		}
	}
	return sig, nil
}

// verify checks sig over signingInput with the key's built-in method. It
// never panics on any input.
func (k *Key) verify(signingInput string, sig []byte) bool {
	return k.verifier.Verify(signingInput, sig, k.verifyKey) == nil
}

// bytesOf returns the bytes of s without copying them, for callees that
// only read them (base64 decoding, hashing), so that the request path
// verifies a token without copying it. Nothing may write to the result.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// b64 is the only base64 alphabet JWS uses: URL-safe, unpadded, and strict
// about the unused trailing bits.
var b64 = base64.RawURLEncoding.Strict()
