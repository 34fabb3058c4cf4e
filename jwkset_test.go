package guard

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

func TestParseJWKSet(t *testing.T) {
	n, e := b64Big(jwtRSA().N), b64Big(big.NewInt(int64(jwtRSA().E)))
	small := b64Big(jwtRSA1024().N)
	x, y := ecCoords(t, &jwtP256().PublicKey)
	x2, y2 := ecCoords(t, &jwtP256b().PublicKey)
	x521, y521 := ecCoords(t, &jwtP521().PublicKey)
	yb, _ := b64.DecodeString(y)
	yb[len(yb)-1] ^= 1
	yOff := b64.EncodeToString(yb)
	rsaPub := string(jwkOf("kty", "RSA", "alg", "RS256", "kid", "r1", "use", "sig", "n", n, "e", e))
	ecPub := string(jwkOf("kty", "EC", "crv", "P-256", "kid", "e1", "x", x, "y", y))
	set := func(keys ...string) []byte { return []byte(`{"keys":[` + strings.Join(keys, ",") + `]}`) }

	tests := []struct {
		name     string
		data     []byte
		wantKids []string
		skipped  int
		err      error
	}{
		{"RSA and EC", set(rsaPub, ecPub), []string{"r1", "e1"}, 0, nil},
		{"empty set", set(), nil, 0, nil},
		{"EC alg from the curve", set(ecPub), []string{"e1"}, 0, nil},
		{"P-521 is ES512", set(string(jwkOf("kty", "EC", "crv", "P-521", "kid", "p5", "x", x521, "y", y521))), []string{"p5"}, 0, nil},
		{"extra members ignored", []byte(`{"keys":[` + rsaPub + `],"extra":1}`), []string{"r1"}, 0, nil},
		{"use enc skipped", set(rsaPub, string(jwkOf("kty", "RSA", "alg", "RSA-OAEP", "use", "enc", "kid", "r1", "n", n, "e", e))), []string{"r1"}, 1, nil},
		{"unsupported kty skipped", set(ecPub, `{"kty":"OKP","crv":"X25519","kid":"x","x":"AAAA"}`), []string{"e1"}, 1, nil},
		{"unsupported alg skipped", set(ecPub, string(jwkOf("kty", "EC", "alg", "ES256K", "crv", "secp256k1", "kid", "k", "x", x, "y", y))), []string{"e1"}, 1, nil},
		{"RSA without alg is RS256", set(ecPub, string(jwkOf("kty", "RSA", "kid", "r", "n", n, "e", e))), []string{"e1", "r"}, 0, nil},
		{"small RSA skipped", set(ecPub, string(jwkOf("kty", "RSA", "alg", "RS256", "kid", "s", "n", small, "e", e))), []string{"e1"}, 1, nil},
		{"point off the curve skipped", set(ecPub, string(jwkOf("kty", "EC", "crv", "P-256", "kid", "off", "x", x, "y", yOff))), []string{"e1"}, 1, nil},
		{"alg contradicts key skipped", set(ecPub, string(jwkOf("kty", "EC", "alg", "ES384", "crv", "P-256", "kid", "c", "x", x2, "y", y2))), []string{"e1"}, 1, nil},
		{"HMAC alg on RSA skipped", set(ecPub, string(jwkOf("kty", "RSA", "alg", "HS256", "kid", "h", "n", n, "e", e))), []string{"e1"}, 1, nil},
		{"key_ops without verify skipped", set(ecPub, string(jwkOf("kty", "RSA", "alg", "RS256", "kid", "o", "key_ops", `["encrypt"]`, "n", n, "e", e))), []string{"e1"}, 1, nil},
		{"malformed member skipped", set(ecPub, `{"kty":"RSA","alg":"RS256","kid":"m","n":5,"e":"AQAB"}`), []string{"e1"}, 1, nil},
		{"all skipped", set(`{"kty":"oops"}`), nil, 1, nil},
		{"duplicate kid", set(ecPub, string(jwkOf("kty", "EC", "crv", "P-256", "kid", "e1", "x", x2, "y", y2))), nil, 0, ErrInvalidKeySet},
		{"same key twice", set(ecPub, string(jwkOf("kty", "EC", "crv", "P-256", "kid", "e2", "x", x, "y", y))), nil, 0, ErrInvalidKeySet},
		{"private d", set(string(jwkOf("kty", "EC", "crv", "P-256", "kid", "e1", "x", x, "y", y, "d", "AAAA"))), nil, 0, ErrInvalidKeySet},
		{"private RSA dp", set(string(jwkOf("kty", "RSA", "alg", "RS256", "n", n, "e", e, "dp", "AAAA"))), nil, 0, ErrInvalidKeySet},
		{"oct key", set(`{"kty":"oct","alg":"HS256","k":"` + b64.EncodeToString(jwtSecret32) + `"}`), nil, 0, ErrInvalidKeySet},
		{"private member in a skipped key", set(ecPub, `{"kty":"RSA","use":"enc","d":"AAAA"}`), nil, 0, ErrInvalidKeySet},
		{"not JSON", []byte(`{"keys":[`), nil, 0, ErrInvalidKeySet},
		{"no keys member", []byte(`{"key":[]}`), nil, 0, ErrInvalidKeySet},
		{"keys is null", []byte(`{"keys":null}`), nil, 0, ErrInvalidKeySet},
		{"keys not an array", []byte(`{"keys":{}}`), nil, 0, ErrInvalidKeySet},
		{"entry not an object", set(`"x"`), nil, 0, ErrInvalidKeySet},
		{"duplicate member", []byte(`{"keys":[],"keys":[]}`), nil, 0, ErrInvalidKeySet},
		{"too many keys", set(strings.Split(strings.Repeat(`{"kty":"x"},`, MaxJWKSetKeys+1), ",")[:MaxJWKSetKeys+1]...), nil, 0, ErrInvalidKeySet},
		{"too large", append(set(ecPub), make([]byte, MaxJWKSetBytes)...), nil, 0, ErrInvalidKeySet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, skipped, err := ParseJWKSet(tc.data)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || keys != nil {
					t.Fatalf("got %v, %v; want no keys and %v", keys, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			var kids []string
			for _, k := range keys {
				kids = append(kids, k.KeyID())
				if k.CanSign() || k.hmac != nil {
					t.Errorf("%v: a public set gave a signing or HMAC key", k)
				}
			}
			if strings.Join(kids, ",") != strings.Join(tc.wantKids, ",") {
				t.Errorf("kids: got %q, want %q", kids, tc.wantKids)
			}
			if len(skipped) != tc.skipped {
				t.Errorf("skipped: got %d (%v), want %d", len(skipped), skipped, tc.skipped)
			}
			for _, s := range skipped {
				if !errors.Is(s, ErrUnsupportedKey) {
					t.Errorf("skipped %v: want it to match ErrUnsupportedKey", s)
				}
			}
		})
	}
}

// FuzzParseJWKSet: never panics; an accepted set holds only public,
// non-HMAC keys with distinct kids, and every entry is either a key or a
// reported skip.
func FuzzParseJWKSet(f *testing.F) {
	x, y := ecCoords(f, &jwtP256().PublicKey)
	f.Add([]byte(`{"keys":[` + string(jwkOf("kty", "EC", "crv", "P-256", "kid", "e1", "x", x, "y", y)) + `]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","use":"enc"},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, skipped, err := ParseJWKSet(data)
		if err != nil {
			if keys != nil || skipped != nil {
				t.Fatalf("error %v with keys or skips", err)
			}
			return
		}
		kids := map[string]bool{}
		for _, k := range keys {
			if k == nil || k.CanSign() || k.hmac != nil || !k.usable() {
				t.Fatalf("unacceptable key %v", k)
			}
			if k.kid != "" && kids[k.kid] {
				t.Fatalf("kid %q twice", k.kid)
			}
			kids[k.kid] = true
		}
		if _, err := NewKeySnapshot(keys...); err != nil {
			t.Fatalf("accepted keys make no snapshot: %v", err)
		}
	})
}

// TestParseJWKSetRSAWithoutAlg: an RSA key published without "alg" verifies
// RS256 tokens and nothing else.
func TestParseJWKSetRSAWithoutAlg(t *testing.T) {
	priv := jwtRSA2()
	set := []byte(`{"keys":[` + string(jwkOf("kty", "RSA", "kid", "entra", "use", "sig",
		"n", b64Big(priv.N), "e", b64Big(big.NewInt(int64(priv.E))))) + `]}`)
	keys, skipped, err := ParseJWKSet(set)
	if err != nil || len(skipped) != 0 || len(keys) != 1 {
		t.Fatalf("ParseJWKSet: %v, skipped %v, %d keys", err, skipped, len(keys))
	}
	v := jwtVerifier(t, VerifierConfig{Keys: keys})
	ctx := context.Background()
	rs := jwtSign(t, jwtMustPriv(t, RS256, priv, "entra"), `{"alg":"RS256","kid":"entra"}`, jwtClaims(""))
	if _, err := v.Verify(ctx, rs); err != nil {
		t.Errorf("RS256 token: %v", err)
	}
	for _, alg := range []Algorithm{PS256, RS384, RS512, PS512} {
		tok := jwtSign(t, jwtMustPriv(t, alg, priv, "entra"), `{"alg":"`+string(alg)+`","kid":"entra"}`, jwtClaims(""))
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%s token on the alg-less RSA key: got %v, want ErrAlgorithm", alg, err)
		}
	}
}

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
