package guard

import (
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DefaultMaxRemoteKeys caps the keys of a fetched JWK Set when
// RemoteKeySetConfig.MaxKeys is zero. Identity providers publish a handful.
const DefaultMaxRemoteKeys = 100

// parseRemoteJWKSet reads a JWK Set fetched from another party. The set as a
// whole is refused (ErrMalformedJWKS) when it is not strict JSON, has no
// "keys" array, has more than maxKeys keys, two keys with one kid, or no
// usable key. Single keys are skipped, each with a reason in skipped: a
// secret ("oct") key, which a published set must never supply; a key with
// private members; "use" other than "sig"; an unsupported kty, curve or alg;
// an alg that contradicts the key; RSA under 2048 bits; an EC point off its
// curve. A key without "alg" gets the one algorithm its type allows (RS256
// for RSA).
func parseRemoteJWKSet(data []byte, maxKeys int) (keys []*Key, skipped []error, err error) {
	var set struct {
		Keys *[]jsontext.Value `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformedJWKS, err)
	}
	if set.Keys == nil {
		return nil, nil, fmt.Errorf("%w: no \"keys\" array", ErrMalformedJWKS)
	}
	if n := len(*set.Keys); n > maxKeys {
		return nil, nil, fmt.Errorf("%w: %d keys; at most %d are accepted", ErrMalformedJWKS, n, maxKeys)
	}
	kids := map[string]bool{}
	for i, raw := range *set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: malformed: %v", i, err))
			continue
		}
		if j.Kid != "" {
			if kids[j.Kid] {
				return nil, nil, fmt.Errorf("%w: kid %q is used by two keys", ErrMalformedJWKS, j.Kid)
			}
			kids[j.Kid] = true
		}
		k, err := j.remoteKey()
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): %v", i, j.Kid, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("%w: no usable key among %d", ErrMalformedJWKS, len(*set.Keys))
	}
	return keys, skipped, nil
}

// remoteKey is jwk.key for a key published by someone else: public
// asymmetric keys only.
func (j *jwk) remoteKey() (*Key, error) {
	switch {
	case j.Kty == "oct":
		return nil, fmt.Errorf("secret (oct) keys are never taken from a remote set")
	case j.D != "" || j.P != "" || j.Q != "" || j.K != "":
		return nil, fmt.Errorf("a published key has private members")
	}
	alg := Algorithm(j.Alg)
	if alg == "" {
		switch {
		case j.Kty == "RSA":
			alg = RS256
		case j.Kty == "EC" && j.Crv == "P-256":
			alg = ES256
		case j.Kty == "EC" && j.Crv == "P-384":
			alg = ES384
		case j.Kty == "OKP" && j.Crv == "Ed25519":
			alg = EdDSA
		}
	}
	if alg.isHMAC() {
		return nil, fmt.Errorf("%s is a secret-key algorithm", alg)
	}
	k, err := j.key(alg)
	if err != nil {
		return nil, err
	}
	return k.Public(), nil
}
