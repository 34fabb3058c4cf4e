package guard

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// hmacMethod is HS256, HS384 or HS512 as a jwt.SigningMethod whose key is
// an *hmacKey: keyed MAC states are pooled, so a verification allocates
// nothing. golang-jwt's own HMAC method builds a new MAC per call with
// hmac.New, which costs 7 more allocations per request through
// RequireBearer, where HS256 is the fast path; the output is the same
// (checked by the RFC 7515 A.1 and Wycheproof vectors).
type hmacMethod struct{ alg Algorithm }

var hmacMethods = map[Algorithm]hmacMethod{HS256: {HS256}, HS384: {HS384}, HS512: {HS512}}

func (m hmacMethod) Alg() string { return string(m.alg) }

func (m hmacMethod) Sign(signingString string, key any) ([]byte, error) {
	k, ok := key.(*hmacKey)
	if !ok {
		return nil, jwt.ErrInvalidKeyType
	}
	return k.sum(nil, []byte(signingString)), nil
}

func (m hmacMethod) Verify(signingString string, sig []byte, key any) error {
	k, ok := key.(*hmacKey)
	if !ok {
		return jwt.ErrInvalidKeyType
	}
	if !k.equal(signingString, sig) {
		return jwt.ErrSignatureInvalid
	}
	return nil
}

// strictPSS returns a guard-owned RSASSA-PSS method that signs and verifies
// with a salt exactly as long as the hash (RFC 7518 §3.5). golang-jwt's
// package-level SigningMethodPS256 etc. verify with PSSSaltLengthAuto, which
// accepts any salt length; those values are never used or changed here.
func strictPSS(alg Algorithm) *jwt.SigningMethodRSAPSS {
	return &jwt.SigningMethodRSAPSS{
		SigningMethodRSA: &jwt.SigningMethodRSA{Name: string(alg), Hash: alg.hash()},
		Options:          &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash},
	}
}

var (
	strictPS256 = strictPSS(PS256)
	strictPS384 = strictPSS(PS384)
	strictPS512 = strictPSS(PS512)
)

// builtinMethod returns the method that signs and verifies alg with keys of
// the standard library's types.
func builtinMethod(alg Algorithm) jwt.SigningMethod {
	switch alg {
	case HS256, HS384, HS512:
		return hmacMethods[alg]
	case RS256:
		return jwt.SigningMethodRS256
	case RS384:
		return jwt.SigningMethodRS384
	case RS512:
		return jwt.SigningMethodRS512
	case PS256:
		return strictPS256
	case PS384:
		return strictPS384
	case PS512:
		return strictPS512
	case ES256:
		return jwt.SigningMethodES256
	case ES384:
		return jwt.SigningMethodES384
	case ES512:
		return jwt.SigningMethodES512
	case EdDSA:
		return jwt.SigningMethodEdDSA
	}
	return nil
}

// isGolangJWTMethod reports whether m is one of golang-jwt's own
// package-level methods.
func isGolangJWTMethod(m jwt.SigningMethod) bool {
	switch m {
	case jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512,
		jwt.SigningMethodRS256, jwt.SigningMethodRS384, jwt.SigningMethodRS512,
		jwt.SigningMethodPS256, jwt.SigningMethodPS384, jwt.SigningMethodPS512,
		jwt.SigningMethodES256, jwt.SigningMethodES384, jwt.SigningMethodES512,
		jwt.SigningMethodEdDSA:
		return true
	}
	return false
}

// cryptoSignerMethod signs with an opaque crypto.Signer (an HSM or KMS key
// that shows only Public and Sign), which golang-jwt's RSA and ECDSA methods
// do not take: they want the concrete private key. Verify is the embedded
// built-in method's.
type cryptoSignerMethod struct {
	jwt.SigningMethod
	alg Algorithm
}

func (m cryptoSignerMethod) Sign(signingString string, key any) ([]byte, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, jwt.ErrInvalidKeyType
	}
	if m.alg == EdDSA {
		return s.Sign(rand.Reader, []byte(signingString), crypto.Hash(0))
	}
	h := m.alg.hash()
	d := h.New()
	d.Write([]byte(signingString))
	digest := d.Sum(nil)
	switch {
	case m.alg.isPKCS1():
		return s.Sign(rand.Reader, digest, h)
	case m.alg.isPSS():
		return s.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
	case m.alg.isECDSA():
		der, err := s.Sign(rand.Reader, digest, h)
		if err != nil {
			return nil, err
		}
		pub, ok := s.Public().(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("guard: %s signer has a %T public key", m.alg, s.Public())
		}
		return ecdsaDERToJWS(der, (pub.Curve.Params().BitSize+7)/8)
	}
	return nil, fmt.Errorf("guard: cannot sign %s with a crypto.Signer", m.alg)
}

// ecdsaDERToJWS converts an ASN.1 DER ECDSA-Sig-Value (RFC 3279 §2.2.3),
// which crypto.Signer returns, to the JWS form: r and s as big-endian
// integers, each left-padded to size bytes (RFC 7518 §3.4).
func ecdsaDERToJWS(der []byte, size int) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("guard: ECDSA signer returned a malformed DER signature")
	}
	if v.R.Sign() <= 0 || v.S.Sign() <= 0 || v.R.BitLen() > 8*size || v.S.BitLen() > 8*size {
		return nil, errors.New("guard: ECDSA signer returned an out-of-range signature")
	}
	sig := make([]byte, 2*size)
	v.R.FillBytes(sig[:size])
	v.S.FillBytes(sig[size:])
	return sig, nil
}

// NewSigningMethodKey returns a signing key that signs through method, a
// [jwt.SigningMethod] such as a KMS or HSM signer, with key (whatever
// method.Sign takes: a KMS key reference, a client, …). The algorithm is
// method.Alg(), which must be one of the [Algorithm] constants, and is pinned
// to the key like any other; "none" ([jwt.SigningMethodNone]) is refused.
//
// pub is the public key, required for the asymmetric algorithms: tokens are
// verified with it locally, by guard's built-in method (never by calling
// method.Verify, which may be a network call), the JWKS publishes it, and
// every signature method.Sign makes is checked against it before a token is
// issued. It gets the checks of [NewPublicKey] (RSA at least 2048 bits, the
// curve of the algorithm); when key is a [crypto.Signer], its public key
// must equal pub.
//
// golang-jwt's own package-level methods (jwt.SigningMethodHS256, …) are
// taken as guard's built-in ones with the same key rules: key is then the
// HMAC secret as []byte (checked as by [NewHMACKey]) or the private key
// (as by [NewPrivateKey]), and pub, when given, must match it; PS256,
// PS384 and PS512 keys verify strictly (salt as long as the hash). A
// third-party method for an HMAC algorithm is refused: guard verifiers
// check HMAC tokens with the secret itself; use [NewHMACKey].
func NewSigningMethodKey(method jwt.SigningMethod, key any, kid string, pub crypto.PublicKey) (*Key, error) {
	if method == nil {
		return nil, errors.New("guard: nil signing method")
	}
	alg := Algorithm(method.Alg())
	if method == jwt.SigningMethodNone || alg == "none" || alg == "" {
		return nil, fmt.Errorf("guard: signing method %q is refused: tokens must be signed", alg)
	}
	if !alg.Valid() {
		return nil, fmt.Errorf("guard: signing method %q is not a supported algorithm", alg)
	}
	if key == nil {
		return nil, errors.New("guard: nil key for the signing method")
	}
	if isGolangJWTMethod(method) || method == builtinMethod(alg) {
		return builtinMethodKey(alg, key, kid, pub)
	}
	if alg.isHMAC() {
		return nil, fmt.Errorf("guard: a third-party %s method is refused; use NewHMACKey", alg)
	}
	if pub == nil {
		return nil, fmt.Errorf("guard: %s signing method needs the public key", alg)
	}
	if err := checkAsymmetric(alg, pub); err != nil {
		return nil, err
	}
	if p, ok := pub.(*ed25519.PublicKey); ok {
		pub = *p
	}
	if s, ok := key.(crypto.Signer); ok && !samePublic(s.Public(), pub) {
		return nil, errors.New("guard: the signer's public key is not pub")
	}
	v := builtinMethod(alg)
	return &Key{alg: alg, kid: kid, pub: pub, signer: method, signKey: key, checkSig: true, verifier: v, verifyKey: pub}, nil
}

// builtinMethodKey builds the key of a golang-jwt built-in method.
func builtinMethodKey(alg Algorithm, key any, kid string, pub crypto.PublicKey) (*Key, error) {
	if alg.isHMAC() {
		secret, ok := key.([]byte)
		if !ok {
			return nil, fmt.Errorf("guard: %s takes the secret as []byte, not %T", alg, key)
		}
		if pub != nil {
			return nil, fmt.Errorf("guard: %s has no public key", alg)
		}
		return NewHMACKey(alg, secret, kid)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("guard: %s takes a private key (a crypto.Signer), not %T", alg, key)
	}
	k, err := NewPrivateKey(alg, s, kid)
	if err != nil {
		return nil, err
	}
	if pub != nil && !samePublic(k.pub, pub) {
		return nil, errors.New("guard: the private key does not match pub")
	}
	return k, nil
}

// samePublic reports whether a and b are the same public key.
func samePublic(a, b crypto.PublicKey) bool {
	if p, ok := b.(*ed25519.PublicKey); ok && p != nil {
		b = *p
	}
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
