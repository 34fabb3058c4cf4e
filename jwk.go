package guard

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
)

// jwk is the JSON Web Key shape (RFC 7517, RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use,omitzero"`
	KeyOps []string `json:"key_ops,omitzero"`
	Alg    string   `json:"alg,omitzero"`
	Kid    string   `json:"kid,omitzero"`
	Crv    string   `json:"crv,omitzero"`
	X      string   `json:"x,omitzero"`
	Y      string   `json:"y,omitzero"`
	D      string   `json:"d,omitzero"`
	N      string   `json:"n,omitzero"`
	E      string   `json:"e,omitzero"`
	K      string   `json:"k,omitzero"`
	// RSA private keys also carry p, q, dp, dq, qi; dp, dq and qi are recomputed.
	P string `json:"p,omitzero"`
	Q string `json:"q,omitzero"`
}

// ParseJWK parses one JSON Web Key and binds it to alg, like [NewPublicKey]
// and [ParsePEMKey]. alg may be empty when the JWK has an "alg" member
// (when both are present they must agree).
// Keys with "use" other than "sig" are refused. Secret ("oct") and private
// members are honoured, so a JWK can make a signing key.
func ParseJWK(alg Algorithm, data []byte) (*Key, error) {
	var j jwk
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("guard: malformed JWK: %w", err)
	}
	return j.key(alg)
}

func (j *jwk) key(alg Algorithm) (*Key, error) {
	switch {
	case j.Alg != "" && alg != "" && Algorithm(j.Alg) != alg:
		return nil, fmt.Errorf("guard: JWK is for %s, not %s", j.Alg, alg)
	case j.Alg != "":
		alg = Algorithm(j.Alg)
	case alg == "":
		return nil, errors.New("guard: JWK has no alg and none was given")
	}
	if !alg.Valid() {
		return nil, fmt.Errorf("guard: unsupported algorithm %q", alg)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("guard: JWK use %q is not sig", j.Use)
	}
	// key_ops (RFC 7517 §4.3), when present, must allow signatures only.
	if j.KeyOps != nil && len(j.KeyOps) == 0 {
		return nil, errors.New("guard: JWK key_ops is empty")
	}
	for _, op := range j.KeyOps {
		if op != "sign" && op != "verify" {
			return nil, fmt.Errorf("guard: JWK key_ops %q is not sign or verify", op)
		}
	}
	switch j.Kty {
	case "oct":
		if !alg.isHMAC() {
			return nil, fmt.Errorf("guard: oct JWK cannot be used with %s", alg)
		}
		k, err := b64.DecodeString(j.K)
		if err != nil {
			return nil, errors.New("guard: JWK k is not base64url")
		}
		return NewHMACKey(alg, k, j.Kid)
	case "RSA":
		n, err1 := decodeBig(j.N)
		e, err2 := decodeBig(j.E)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("guard: RSA JWK: %w", err)
		}
		if !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, errors.New("guard: RSA JWK exponent too large")
		}
		pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
		if j.D == "" {
			return NewPublicKey(alg, pub, j.Kid)
		}
		d, err1 := decodeBig(j.D)
		p, err2 := decodeBig(j.P)
		q, err3 := decodeBig(j.Q)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("guard: RSA JWK private part: %w", err)
		}
		priv := &rsa.PrivateKey{PublicKey: *pub, D: d, Primes: []*big.Int{p, q}}
		if err := priv.Validate(); err != nil {
			return nil, fmt.Errorf("guard: RSA JWK: %w", err)
		}
		priv.Precompute()
		return NewPrivateKey(alg, priv, j.Kid)
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("guard: unsupported EC curve %q", j.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		if errors.Join(err1, err2) != nil || len(x) != size || len(y) != size {
			return nil, errors.New("guard: EC JWK coordinates are malformed")
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("guard: EC JWK: %w", err)
		}
		if j.D == "" {
			return NewPublicKey(alg, pub, j.Kid)
		}
		d, err := b64.DecodeString(j.D)
		if err != nil || len(d) != size {
			return nil, errors.New("guard: EC JWK d is malformed")
		}
		priv, err := ecdsa.ParseRawPrivateKey(curve, d)
		if err != nil {
			return nil, fmt.Errorf("guard: EC JWK: %w", err)
		}
		if !priv.PublicKey.Equal(pub) {
			return nil, errors.New("guard: EC JWK d does not match x, y")
		}
		return NewPrivateKey(alg, priv, j.Kid)
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("guard: unsupported OKP curve %q", j.Crv)
		}
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("guard: Ed25519 JWK x is malformed")
		}
		if j.D == "" {
			return NewPublicKey(alg, ed25519.PublicKey(x), j.Kid)
		}
		d, err := b64.DecodeString(j.D)
		if err != nil || len(d) != ed25519.SeedSize {
			return nil, errors.New("guard: Ed25519 JWK d is malformed")
		}
		priv := ed25519.NewKeyFromSeed(d)
		if !priv.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(x)) {
			return nil, errors.New("guard: Ed25519 JWK d does not match x")
		}
		return NewPrivateKey(alg, priv, j.Kid)
	}
	return nil, fmt.Errorf("guard: unsupported JWK kty %q", j.Kty)
}

func decodeBig(s string) (*big.Int, error) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("malformed base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}

// publicJWK returns the public JWK of an asymmetric key; ok is false for HMAC keys.
func (k *Key) publicJWK() (j jwk, ok bool) {
	j = jwk{Use: "sig", Alg: string(k.alg), Kid: k.kid}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = b64.EncodeToString(pub.N.Bytes())
		j.E = b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		point, err := pub.Bytes()
		if err != nil {
			return j, false
		}
		size := (len(point) - 1) / 2
		j.Kty, j.Crv = "EC", pub.Curve.Params().Name
		j.X = b64.EncodeToString(point[1 : 1+size])
		j.Y = b64.EncodeToString(point[1+size:])
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = b64.EncodeToString(pub)
	default:
		return j, false
	}
	return j, true
}

// Thumbprint returns the RFC 7638 thumbprint of k's public key: the
// base64url SHA-256 of its required JWK members in lexical order. It is ""
// for an HMAC key and for a key type guard does not publish.
func (k *Key) Thumbprint() string {
	j, ok := k.publicJWK()
	if !ok {
		return ""
	}
	var members string
	switch j.Kty {
	case "RSA":
		members = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	case "EC":
		members = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "OKP":
		members = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	}
	sum := sha256.Sum256([]byte(members))
	return b64.EncodeToString(sum[:])
}

// JWKSHandler returns a handler serving the public halves of keys as a JWK
// Set (RFC 7517 §5), for example at /.well-known/jwks.json, with
// `Cache-Control: public, max-age=<maxAge>` (default 5 minutes when maxAge is
// zero; otherwise a whole number of seconds). HMAC keys are never published;
// they are refused, as are keys without a kid (clients select by kid). GET
// and HEAD only (405 otherwise).
func JWKSHandler(maxAge time.Duration, keys ...*Key) (http.Handler, error) {
	if maxAge == 0 {
		maxAge = 5 * time.Minute
	}
	if maxAge < time.Second || maxAge%time.Second != 0 {
		return nil, fmt.Errorf("guard: JWKS max-age %v is not a positive number of whole seconds", maxAge)
	}
	body, err := MarshalJWKSet(keys...)
	if err != nil {
		return nil, err
	}
	cacheControl := "public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveJWKS(w, r, body, cacheControl)
	}), nil
}

// MarshalJWKSet returns the JWK Set document (RFC 7517 §5) of the public
// halves of keys, the one [JWKSHandler] serves: each key's public members
// with "use":"sig", its "alg" and its "kid", never a private member. Like
// JWKSHandler it refuses, reporting every problem at once, a nil key, an
// HMAC key (a shared secret is never published) and a key without a kid.
// No key gives {"keys":[]}.
func MarshalJWKSet(keys ...*Key) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	var errs []error
	for _, k := range keys {
		if k == nil {
			errs = append(errs, errors.New("guard: nil key"))
			continue
		}
		j, ok := k.publicJWK()
		if !ok {
			errs = append(errs, fmt.Errorf("guard: %v has no public key to publish", k))
			continue
		}
		if k.kid == "" {
			errs = append(errs, fmt.Errorf("guard: %v has no kid", k))
			continue
		}
		set.Keys = append(set.Keys, j)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return json.Marshal(set)
}

// serveJWKS writes a JWK Set document for GET and HEAD, 405 otherwise.
func serveJWKS(w http.ResponseWriter, r *http.Request, body []byte, cacheControl string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", cacheControl)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
