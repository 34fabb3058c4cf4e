package guard

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
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
	"math/big"
	"slices"
	"sync"
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
	PS256 Algorithm = "PS256"
	ES256 Algorithm = "ES256"
	ES384 Algorithm = "ES384"
	EdDSA Algorithm = "EdDSA"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3 requires 2048).
const minRSABits = 2048

func (a Algorithm) hash() crypto.Hash {
	switch a {
	case HS256, RS256, PS256, ES256:
		return crypto.SHA256
	case HS384, ES384:
		return crypto.SHA384
	case HS512:
		return crypto.SHA512
	}
	return 0 // EdDSA hashes internally
}

func (a Algorithm) isHMAC() bool { return a == HS256 || a == HS384 || a == HS512 }

func (a Algorithm) valid() bool {
	switch a {
	case HS256, HS384, HS512, RS256, PS256, ES256, ES384, EdDSA:
		return true
	}
	return false
}

// Key is a signing or verification key bound to exactly one [Algorithm] and an
// optional key ID ("kid"), and optionally to the issuers it may sign for
// ([Key.ForIssuers]). A Key is immutable and safe for concurrent use.
// Build one with [NewHMACKey], [NewPublicKey], [NewPrivateKey], [ParsePEMKey]
// or [ParseJWK]; [NewVerifier] and [NewTokenIssuer] refuse the zero Key.
type Key struct {
	alg  Algorithm
	kid  string
	hmac *hmacKey         // HS*
	pub  crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
	priv crypto.Signer    // nil for verification-only keys

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
func (k *Key) usable() bool { return k.alg.valid() && (k.hmac != nil || k.pub != nil) }

// Algorithm returns the only algorithm the key may be used with.
func (k *Key) Algorithm() Algorithm { return k.alg }

// KeyID returns the key's "kid", or "".
func (k *Key) KeyID() string { return k.kid }

// CanSign reports whether k holds secret material (an HMAC secret or a private key).
func (k *Key) CanSign() bool { return k.hmac != nil || k.priv != nil }

// Public returns the verification half of k: k itself for HMAC keys (the
// secret is both), a key without the private part otherwise.
func (k *Key) Public() *Key {
	if k.hmac != nil || k.priv == nil {
		return k
	}
	return &Key{alg: k.alg, kid: k.kid, pub: k.pub, bound: k.bound, issuers: k.issuers}
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

// hmacState is a keyed MAC with room for its output.
type hmacState struct {
	mac hash.Hash
	out [sha512.Size]byte
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
// allocates nothing.
func (k *hmacKey) equal(msg, sig []byte) bool {
	if len(sig) != k.size {
		return false
	}
	st := k.pool.Get().(*hmacState)
	st.mac.Reset()
	st.mac.Write(msg)
	ok := hmac.Equal(st.mac.Sum(st.out[:0]), sig)
	k.pool.Put(st)
	return ok
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
	return &Key{alg: alg, kid: kid, hmac: newHMACKey(alg.hash(), secret)}, nil
}

// NewPublicKey returns a verification key: *rsa.PublicKey for RS256/PS256
// (at least 2048 bits), *ecdsa.PublicKey on P-256 for ES256 or P-384 for
// ES384, ed25519.PublicKey for EdDSA.
func NewPublicKey(alg Algorithm, pub crypto.PublicKey, kid string) (*Key, error) {
	if err := checkAsymmetric(alg, pub); err != nil {
		return nil, err
	}
	if p, ok := pub.(*ed25519.PublicKey); ok {
		pub = *p
	}
	return &Key{alg: alg, kid: kid, pub: pub}, nil
}

// NewPrivateKey returns a signing key (which also verifies) from an
// *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey, with the same
// rules as [NewPublicKey].
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
	return &Key{alg: alg, kid: kid, pub: pub, priv: priv}, nil
}

func checkAsymmetric(alg Algorithm, pub crypto.PublicKey) error {
	switch alg {
	case RS256, PS256:
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
	case ES256, ES384:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k == nil || k.Curve == nil {
			return fmt.Errorf("guard: %s needs an ECDSA key, not %T", alg, pub)
		}
		want := elliptic.P256()
		if alg == ES384 {
			want = elliptic.P384()
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

// sign returns the JWS signature of signingInput.
func (k *Key) sign(signingInput []byte) ([]byte, error) {
	if k.hmac != nil {
		return k.hmac.sum(nil, signingInput), nil
	}
	if k.priv == nil {
		return nil, fmt.Errorf("guard: %v is a verification key; it cannot sign", k)
	}
	if k.alg == EdDSA {
		return k.priv.Sign(nil, signingInput, crypto.Hash(0))
	}
	h := k.alg.hash().New()
	h.Write(signingInput)
	digest := h.Sum(nil)
	switch k.alg {
	case RS256:
		return k.priv.Sign(rand.Reader, digest, crypto.SHA256)
	case PS256:
		return k.priv.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	}
	// ES256, ES384: JWS wants r||s, each left-padded to the curve size (RFC 7518 §3.4).
	priv, ok := k.priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("guard: ECDSA signer is not an *ecdsa.PrivateKey")
	}
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest)
	if err != nil {
		return nil, err
	}
	n := (priv.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*n)
	r.FillBytes(sig[:n])
	s.FillBytes(sig[n:])
	return sig, nil
}

// verify checks sig over signingInput. It never panics on any input.
func (k *Key) verify(signingInput, sig []byte) bool {
	switch k.alg {
	case HS256, HS384, HS512:
		return k.hmac.equal(signingInput, sig)
	case EdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.pub.(ed25519.PublicKey), signingInput, sig)
	}
	var digest []byte
	switch k.alg.hash() {
	case crypto.SHA256:
		d := sha256.Sum256(signingInput)
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384(signingInput)
		digest = d[:]
	}
	switch k.alg {
	case RS256:
		pub := k.pub.(*rsa.PublicKey)
		return len(sig) == pub.Size() && rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil
	case PS256:
		pub := k.pub.(*rsa.PublicKey)
		return len(sig) == pub.Size() && rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case ES256, ES384:
		pub := k.pub.(*ecdsa.PublicKey)
		n := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return false
		}
		r := new(big.Int).SetBytes(sig[:n])
		s := new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(pub, digest, r, s)
	}
	return false
}

// b64 is the only base64 alphabet JWS uses: URL-safe, unpadded, and strict
// about the unused trailing bits.
var b64 = base64.RawURLEncoding.Strict()
