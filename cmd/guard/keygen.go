package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"

	"github.com/guardkit/guard"
)

const keygenMore = `Algorithms: ES256, ES384, ES512, EdDSA, RS256, RS384, RS512, PS256, PS384, PS512
(RSA: --bits, at least 2048), and HS256, HS384, HS512 (a random secret as long
as the hash, written as an "oct" JWK; it has no PEM form).

Without --out the key is printed to stdout: the output IS the key, so keep it
out of logs. With --out it is written to FILE with mode 0600; an existing
FILE is refused unless --force, which replaces it atomically. The kid defaults
to the key's RFC 7638 thumbprint (random for HS keys).

A JWK keeps alg and kid. A PEM file (PKCS #8) keeps neither: guard reads an
RSA PEM key as RS256 unless told --alg PS256, and gives every PEM key its
thumbprint as kid, so --kid is refused with --pem.

Examples:
  guard keygen --alg ES256 --out signing.jwk
  guard keygen --alg EdDSA --pem --out ed25519.pem
  guard keygen --alg RS256 --bits 3072 --kid 2026-12 --out rsa.jwk
  guard keygen --alg HS256 > secret.jwk
  guard keygen --alg ES256 --out signing.jwk --force    # replace the key
`

func (c *cli) keygen(args []string) int {
	fs := c.flagSet("keygen", "guard keygen --alg ALG [--kid ID] [--bits N] [--out FILE] [--pem] [--force] [--json]", keygenMore)
	alg := fs.String("alg", "", "signature algorithm (required)")
	kid := fs.String("kid", "", "key ID (default: the RFC 7638 thumbprint)")
	bits := fs.Int("bits", 2048, "RSA modulus size in bits (at least 2048)")
	out := fs.String("out", "", "write the key to `FILE` (mode 0600) instead of stdout")
	asPEM := fs.Bool("pem", false, "PKCS #8 PEM instead of a JWK")
	force := fs.Bool("force", false, "replace an existing --out file")
	asJSON := fs.Bool("json", false, "with --out: print a JSON summary (alg, kid, file, public JWK)")
	pos, status, done := c.parse(fs, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return c.fail("keygen", usagef("unexpected argument %q (see -h)", pos[0]))
	}
	if *asJSON && *out == "" {
		return c.fail("keygen", usagef("--json summarises a key written with --out; without --out the key itself is printed"))
	}
	key, data, err := generate(guard.Algorithm(*alg), *kid, *bits, *asPEM)
	if err != nil {
		return c.fail("keygen", err)
	}
	if *out == "" {
		c.stdout.Write(data)
		return exitOK
	}
	if err := writeSecretFile(*out, data, *force); err != nil {
		return c.fail("keygen", err)
	}
	if *asJSON {
		summary := map[string]any{"file": *out, "alg": key.Algorithm(), "kid": key.KeyID()}
		if !key.Symmetric() {
			set, err := guard.MarshalJWKSet(key)
			if err != nil {
				return c.fail("keygen", err)
			}
			var doc struct{ Keys []json.RawMessage }
			_ = json.Unmarshal(set, &doc)
			summary["public_jwk"] = doc.Keys[0]
		}
		if err := c.writeJSON(summary); err != nil {
			return c.fail("keygen", err)
		}
		return exitOK
	}
	fmt.Fprintf(c.stdout, "wrote %s: %s key, kid %q\n", *out, key.Algorithm(), key.KeyID())
	return exitOK
}

// generate makes a key for alg and encodes it: a private JWK (with its
// public members), or PKCS #8 PEM. It checks the result with guard's own
// parser, so the file is one guard loads.
func generate(alg guard.Algorithm, kid string, bits int, asPEM bool) (*guard.Key, []byte, error) {
	if alg == "" {
		return nil, nil, usagef("--alg is required (ES256, EdDSA, RS256, PS256, HS256, ...)")
	}
	if !alg.Valid() {
		return nil, nil, usagef("unsupported algorithm %q", alg)
	}
	if asPEM && kid != "" {
		return nil, nil, usagef("a PEM file cannot hold a kid; guard uses the key's thumbprint (drop --kid or --pem)")
	}
	var priv crypto.Signer
	var err error
	switch alg {
	case guard.HS256, guard.HS384, guard.HS512:
		if asPEM {
			return nil, nil, usagef("an HMAC secret has no PEM form; omit --pem")
		}
		return generateHMAC(alg, kid)
	case guard.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case guard.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case guard.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case guard.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default: // RS*, PS*
		if bits < 2048 || bits > 16384 {
			return nil, nil, usagef("--bits %d: RSA keys must have 2048 to 16384 bits", bits)
		}
		priv, err = rsa.GenerateKey(rand.Reader, bits)
	}
	if err != nil {
		return nil, nil, err
	}
	k, err := guard.NewPrivateKey(alg, priv, kid)
	if err != nil {
		return nil, nil, err
	}
	if kid == "" {
		kid = k.Thumbprint()
		if k, err = guard.NewPrivateKey(alg, priv, kid); err != nil {
			return nil, nil, err
		}
	}
	if asPEM {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, nil, err
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if _, err := guard.ParsePEMKey(alg, data, kid); err != nil {
			return nil, nil, fmt.Errorf("internal error: the PEM key does not load: %w", err)
		}
		return k, data, nil
	}
	data, err := privateJWK(alg, kid, priv)
	if err != nil {
		return nil, nil, err
	}
	if _, err := guard.ParseJWK(alg, data); err != nil {
		return nil, nil, fmt.Errorf("internal error: the JWK does not load: %w", err)
	}
	return k, data, nil
}

func generateHMAC(alg guard.Algorithm, kid string) (*guard.Key, []byte, error) {
	size := map[guard.Algorithm]int{guard.HS256: 32, guard.HS384: 48, guard.HS512: 64}[alg]
	secret := make([]byte, size)
	rand.Read(secret)
	if kid == "" {
		kid = strings.ToLower(rand.Text()[:16])
	}
	k, err := guard.NewHMACKey(alg, secret, kid)
	if err != nil {
		return nil, nil, err
	}
	data, err := marshalJWK(jwkOut{Kty: "oct", Use: "sig", Alg: string(alg), Kid: kid, K: b64(secret)})
	return k, data, err
}

// jwkOut is the private JWK keygen writes (RFC 7517, RFC 7518 §6, RFC 8037).
type jwkOut struct {
	Kty string `json:"kty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	D   string `json:"d,omitempty"`
	P   string `json:"p,omitempty"`
	Q   string `json:"q,omitempty"`
	DP  string `json:"dp,omitempty"`
	DQ  string `json:"dq,omitempty"`
	QI  string `json:"qi,omitempty"`
	K   string `json:"k,omitempty"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// privateJWK encodes a generated private key as a JWK with its public members.
func privateJWK(alg guard.Algorithm, kid string, priv crypto.Signer) ([]byte, error) {
	j := jwkOut{Use: "sig", Alg: string(alg), Kid: kid}
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		point, err := p.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
		d, err := p.Bytes()
		if err != nil {
			return nil, err
		}
		size := (len(point) - 1) / 2
		j.Kty, j.Crv = "EC", p.Curve.Params().Name
		j.X, j.Y, j.D = b64(point[1:1+size]), b64(point[1+size:]), b64(d)
	case ed25519.PrivateKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X, j.D = b64(p.Public().(ed25519.PublicKey)), b64(p.Seed())
	case *rsa.PrivateKey:
		p.Precompute()
		j.Kty = "RSA"
		j.N, j.E = b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
		j.D, j.P, j.Q = b64(p.D.Bytes()), b64(p.Primes[0].Bytes()), b64(p.Primes[1].Bytes())
		j.DP, j.DQ, j.QI = b64(p.Precomputed.Dp.Bytes()), b64(p.Precomputed.Dq.Bytes()), b64(p.Precomputed.Qinv.Bytes())
	default:
		return nil, fmt.Errorf("internal error: unexpected key type %T", priv)
	}
	return marshalJWK(j)
}

func marshalJWK(j jwkOut) ([]byte, error) {
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
