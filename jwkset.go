package guard

import (
	"errors"
	"fmt"
	"slices"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Limits of [ParseJWKSet].
const (
	// MaxJWKSetBytes is the largest JWK Set document ParseJWKSet reads (1 MiB).
	MaxJWKSetBytes = 1 << 20
	// MaxJWKSetKeys is the most entries a JWK Set may hold, usable or not.
	MaxJWKSetKeys = 100
)

// privateJWKMembers are the JWK members that carry secret material (RFC
// 7518 §6.2.2, §6.3.2, §6.4.1, RFC 8037 §2).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseJWKSet parses a JWK Set (RFC 7517 §5) of public verification keys, as
// a JWKS URL serves it, and returns the keys it can use, each bound to its
// algorithm and kid.
//
// A key that cannot be used is skipped, and the reason reported in skipped
// (each matching [ErrUnsupportedKey]): an unsupported kty, crv or alg (HMAC
// algorithms included), "use" other than "sig", "key_ops" without
// "verify", a malformed member, and a key the checks of
// [NewPublicKey] refuse (RSA under 2048 bits, a point off the curve, an alg
// that contradicts the key).
//
// Every key is bound to one algorithm. A key without "alg" gets the one its
// type implies: EC keys the algorithm of their curve, Ed25519 keys EdDSA,
// and RSA keys RS256, the RSA algorithm JWA recommends and the one that
// identity providers omitting "alg" (Microsoft Entra ID, for one) sign
// with. Such an RSA key verifies RS256 tokens only; a PS256 or RS384 token
// naming it is refused ([ErrAlgorithm]). An RSA key without "alg" whose kid
// or key material another usable entry also has is skipped rather than
// refuse the set: it is a copy of a key published with its alg, or
// ambiguous.
//
// The whole set is refused, with an error matching [ErrInvalidKeySet], when
// data is larger than [MaxJWKSetBytes] or has more than [MaxJWKSetKeys]
// entries, is not a JSON object with a "keys" array (duplicate member
// names included), when any entry has a private member (d, p, q, dp, dq,
// qi, oth, or an oct key's k), or when two usable keys share a kid or a key
// material. A set where every key was skipped is not an error: keys is
// empty. ParseJWKSet is safe for concurrent use.
func ParseJWKSet(data []byte) (keys []*Key, skipped []error, err error) {
	if len(data) > MaxJWKSetBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidKeySet, len(data), MaxJWKSetBytes)
	}
	var doc struct {
		Keys []jsontext.Value `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidKeySet, err)
	}
	if doc.Keys == nil {
		return nil, nil, fmt.Errorf("%w: no \"keys\" array", ErrInvalidKeySet)
	}
	if len(doc.Keys) > MaxJWKSetKeys {
		return nil, nil, fmt.Errorf("%w: %d keys, more than %d", ErrInvalidKeySet, len(doc.Keys), MaxJWKSetKeys)
	}
	var implied []int // indexes into keys and at of RSA keys whose RS256 was implied
	var at []int      // each key's index in doc.Keys
	for i, raw := range doc.Keys {
		var members map[string]jsontext.Value
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, nil, fmt.Errorf("%w: keys[%d] is not a JSON object: %w", ErrInvalidKeySet, i, err)
		}
		for _, m := range privateJWKMembers {
			if _, ok := members[m]; ok {
				return nil, nil, fmt.Errorf("%w: keys[%d] has the private member %q", ErrInvalidKeySet, i, m)
			}
		}
		k, rsaNoAlg, err := parseSetJWK(raw)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("%w: keys[%d]: %w", ErrUnsupportedKey, i, err))
			continue
		}
		if rsaNoAlg {
			implied = append(implied, len(keys))
		}
		keys = append(keys, k)
		at = append(at, i)
	}
	keys, skipped = dropClashingRSANoAlg(keys, at, implied, skipped)
	kids := map[string]bool{}
	for _, k := range keys {
		if k.kid != "" {
			if kids[k.kid] {
				return nil, nil, fmt.Errorf("%w: kid %q is used by two keys", ErrInvalidKeySet, k.kid)
			}
			kids[k.kid] = true
		}
	}
	if _, err := NewKeySnapshot(keys...); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidKeySet, err)
	}
	return slices.Clip(keys), skipped, nil
}

// dropClashingRSANoAlg skips the RSA keys without "alg" (keys[implied])
// that share a kid or a key material with another usable entry: before RS256
// was implied for them such entries were skipped, and a set that publishes
// a key twice, once with its alg and once without, must keep loading rather
// than be refused as a whole. at gives each key's index in the document,
// for the skip reason.
func dropClashingRSANoAlg(keys []*Key, at, implied []int, skipped []error) ([]*Key, []error) {
	if len(implied) == 0 {
		return keys, skipped
	}
	drop := map[int]bool{}
	for _, i := range implied {
		k := keys[i]
		for j, o := range keys {
			if j != i && ((k.kid != "" && k.kid == o.kid) || sameMaterial(k, o)) {
				drop[i] = true
				skipped = append(skipped, fmt.Errorf("%w: keys[%d]: kid %q, kty \"RSA\": no alg, and its kid or key is also keys[%d]'s",
					ErrUnsupportedKey, at[i], k.kid, at[j]))
				break
			}
		}
	}
	if len(drop) == 0 {
		return keys, skipped
	}
	kept := make([]*Key, 0, len(keys)-len(drop))
	for i, k := range keys {
		if !drop[i] {
			kept = append(kept, k)
		}
	}
	return kept, skipped
}

// parseSetJWK parses one public entry of a set; the caller has checked that
// it has no private members. rsaNoAlg reports an RSA key without "alg",
// bound to RS256.
func parseSetJWK(raw []byte) (_ *Key, rsaNoAlg bool, _ error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, false, fmt.Errorf("malformed JWK: %w", err)
	}
	desc := fmt.Sprintf("kid %q, kty %q", j.Kid, j.Kty)
	if j.Use != "" && j.Use != "sig" {
		return nil, false, fmt.Errorf("%s: use %q is not sig", desc, j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, false, fmt.Errorf("%s: key_ops %q does not allow verify", desc, j.KeyOps)
	}
	alg := Algorithm(j.Alg)
	if alg == "" {
		switch {
		case j.Kty == "EC" && j.Crv == "P-256":
			alg = ES256
		case j.Kty == "EC" && j.Crv == "P-384":
			alg = ES384
		case j.Kty == "EC" && j.Crv == "P-521":
			alg = ES512
		case j.Kty == "OKP" && j.Crv == "Ed25519":
			alg = EdDSA
		case j.Kty == "RSA":
			alg, rsaNoAlg = RS256, true
		default:
			return nil, false, fmt.Errorf("%s: no alg, and none follows from the key", desc)
		}
	}
	if !alg.Valid() || alg.isHMAC() {
		return nil, false, fmt.Errorf("%s: unsupported alg %q", desc, alg)
	}
	// key_ops "sign" beside "verify" is harmless in a public set: the key
	// has no private part, so it can only verify.
	j.KeyOps = nil
	k, err := j.key(alg)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", desc, err)
	}
	if k.CanSign() {
		return nil, false, errors.New("guard: internal error: a public JWK made a signing key")
	}
	return k, rsaNoAlg, nil
}
