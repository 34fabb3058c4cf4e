package guard

import (
	"errors"
	"fmt"
	"math/big"
	"testing"
)

// TestParseJWKSetAlgLessRSADuplicate: since an RSA key without "alg" is
// bound to RS256, such an entry that repeats another entry's key material
// or kid must not make the whole set unusable. Before the RS256 default
// these sets loaded (the alg-less entry was skipped); refusing them now would
// turn a working identity provider's JWKS into a 503 for every token.
func TestParseJWKSetAlgLessRSADuplicate(t *testing.T) {
	n, e := b64Big(jwtRSA().N), b64Big(big.NewInt(int64(jwtRSA().E)))
	n2 := b64Big(jwtRSA2().N)
	set := func(keys ...[]byte) []byte {
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = string(k)
		}
		return rawJWKS(s...)
	}
	tests := []struct {
		name     string
		data     []byte
		wantKids []string
		wantAlgs []Algorithm
		skipped  int
	}{
		{"same key with RS256 and without alg",
			set(jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "n", n, "e", e), jwkOf("kty", "RSA", "kid", "r2", "n", n, "e", e)),
			[]string{"r1"}, []Algorithm{RS256}, 1},
		{"alg-less copy listed first",
			set(jwkOf("kty", "RSA", "kid", "r2", "n", n, "e", e), jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "n", n, "e", e)),
			[]string{"r1"}, []Algorithm{RS256}, 1},
		{"same key with PS256 and without alg",
			set(jwkOf("kty", "RSA", "alg", "PS256", "kid", "r1", "n", n, "e", e), jwkOf("kty", "RSA", "kid", "r2", "n", n, "e", e)),
			[]string{"r1"}, []Algorithm{PS256}, 1},
		{"alg-less key reusing another entry's kid",
			set(jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "n", n, "e", e), jwkOf("kty", "RSA", "kid", "r1", "n", n2, "e", e)),
			[]string{"r1"}, []Algorithm{RS256}, 1},
		// Without a clash the alg-less key is used, bound to RS256.
		{"distinct alg-less key",
			set(jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "n", n, "e", e), jwkOf("kty", "RSA", "kid", "r2", "n", n2, "e", e)),
			[]string{"r1", "r2"}, []Algorithm{RS256, RS256}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := ParseJWKSet(tt.data)
			if err != nil {
				t.Fatalf("ParseJWKSet: %v", err)
			}
			var kids []string
			var algs []Algorithm
			for _, k := range keys {
				kids = append(kids, k.KeyID())
				algs = append(algs, k.Algorithm())
			}
			if fmt.Sprint(kids) != fmt.Sprint(tt.wantKids) || fmt.Sprint(algs) != fmt.Sprint(tt.wantAlgs) {
				t.Errorf("keys: got %v %v, want %v %v", kids, algs, tt.wantKids, tt.wantAlgs)
			}
			if len(skipped) != tt.skipped {
				t.Errorf("skipped: got %v, want %d", skipped, tt.skipped)
			}
			for _, s := range skipped {
				if !errors.Is(s, ErrUnsupportedKey) {
					t.Errorf("skipped %v does not match ErrUnsupportedKey", s)
				}
			}
		})
	}
}
