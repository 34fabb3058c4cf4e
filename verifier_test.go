package guard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// jwtExp is an exp one hour after jwtNow.
var jwtExp = strconv.FormatInt(jwtNow.Add(time.Hour).Unix(), 10)

// jwtClaims is a minimal valid claims set followed by extra members.
func jwtClaims(extra string) string {
	return `{"sub":"alice","exp":` + jwtExp + extra + `}`
}

// hs256Raw signs header.payload with crypto/hmac directly, independent of Key.
func hs256Raw(secret []byte, header, payload string) string {
	si := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(si))
	return si + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func jwtVerifier(t testing.TB, cfg VerifierConfig) *Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = jwtClock(jwtNow)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestNewVerifierRefuses(t *testing.T) {
	hs := jwtMustHMAC(t, HS256, jwtSecret64, "h")
	tests := []struct {
		name    string
		cfg     VerifierConfig
		wantMsg []string // substrings of the joined error
	}{
		{"no keys", VerifierConfig{}, []string{"Keys is empty"}},
		{"nil key", VerifierConfig{Keys: []*Key{hs, nil}}, []string{"Keys[1] is nil"}},
		{"duplicate kid", VerifierConfig{Keys: []*Key{hs, jwtMustHMAC(t, HS256, jwtSecret32, "h")}}, []string{`kid "h"`}},
		{"HMAC secret as HS256 and HS384", VerifierConfig{Keys: []*Key{
			jwtMustHMAC(t, HS256, jwtSecret64, "a"), jwtMustHMAC(t, HS384, jwtSecret64, "b")}}, []string{"both HS256 and HS384"}},
		{"HMAC secret as HS256 and HS512", VerifierConfig{Keys: []*Key{
			jwtMustHMAC(t, HS256, jwtSecret64, "a"), jwtMustHMAC(t, HS512, jwtSecret64, "b")}}, []string{"both HS256 and HS512"}},
		{"same EC key twice", VerifierConfig{Keys: []*Key{
			jwtMustPriv(t, ES256, jwtP256(), "a"), jwtMustPriv(t, ES256, jwtP256(), "b")}}, []string{"configured twice"}},
		{"same EC key private and public", VerifierConfig{Keys: []*Key{
			jwtMustPriv(t, ES256, jwtP256(), "a"), jwtMustPriv(t, ES256, jwtP256(), "b").Public()}}, []string{"configured twice"}},
		{"RSA key as RS256 and PS256", VerifierConfig{Keys: []*Key{
			jwtMustPriv(t, RS256, jwtRSA(), "a"), jwtMustPriv(t, PS256, jwtRSA(), "b")}}, []string{"both RS256 and PS256"}},
		{"leeway over 5m", VerifierConfig{Keys: []*Key{hs}, Leeway: MaxLeeway + time.Nanosecond}, []string{"Leeway"}},
		{"negative leeway", VerifierConfig{Keys: []*Key{hs}, Leeway: -time.Second}, []string{"Leeway"}},
		{"negative size cap", VerifierConfig{Keys: []*Key{hs}, MaxTokenBytes: -1}, []string{"MaxTokenBytes"}},
		{"negative max lifetime", VerifierConfig{Keys: []*Key{hs}, MaxTokenLifetime: -time.Second}, []string{"MaxTokenLifetime"}},
		{"empty issuer", VerifierConfig{Keys: []*Key{hs}, Issuers: []string{"a", ""}}, []string{"empty issuer"}},
		{"empty audience", VerifierConfig{Keys: []*Key{hs}, Audiences: []string{""}}, []string{"empty audience"}},
		{"two HS256 keys without kids", VerifierConfig{Keys: []*Key{
			jwtMustHMAC(t, HS256, jwtSecret32, ""), jwtMustHMAC(t, HS256, jwtSecret64, "")}},
			[]string{`guard: VerifierConfig.Keys[0] and [1] are both HS256 without a kid: give each key a kid (NewHMACKey(alg, secret, "2026-01")) so tokens can name theirs`}},
		{"two ES256 keys without kids", VerifierConfig{Keys: []*Key{
			jwtMustPriv(t, ES256, jwtP256(), ""), jwtMustPriv(t, ES256, jwtP256b(), "").Public()}},
			[]string{`Keys[0] and [1] are both ES256 without a kid`, `NewPrivateKey(alg, priv, "2026-01")`}},
		{"kid-less key beside a kid key of its algorithm", VerifierConfig{Keys: []*Key{
			jwtMustHMAC(t, HS256, jwtSecret32, "a"), jwtMustHMAC(t, HS256, jwtSecret64, "")}},
			[]string{`VerifierConfig.Keys[1] is HS256 without a kid beside VerifierConfig.Keys[0], so no token can choose it: give it a kid (NewHMACKey(alg, secret, "2026-01"))`}},
		{"three kid-less keys reported as pairs", VerifierConfig{Keys: []*Key{
			jwtMustHMAC(t, HS256, jwtSecret32, ""), jwtMustHMAC(t, HS256, jwtSecret48, ""), jwtMustHMAC(t, HS256, jwtSecret64, "")}},
			[]string{"Keys[0] and [1] are both HS256", "Keys[0] and [2] are both HS256"}},
		{"all at once", VerifierConfig{Keys: []*Key{nil}, Leeway: time.Hour, MaxTokenBytes: -5},
			[]string{"Keys[0] is nil", "Leeway", "MaxTokenBytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if err == nil {
				t.Fatalf("got verifier and nil error, want an error")
			}
			if v != nil {
				t.Errorf("got a verifier with the error, want nil")
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q: want it to mention %q", err, m)
				}
			}
		})
	}
}

func TestNewVerifierAccepts(t *testing.T) {
	tests := []struct {
		name string
		cfg  VerifierConfig
	}{
		{"leeway exactly 5m", VerifierConfig{Keys: []*Key{jwtMustHMAC(t, HS256, jwtSecret32, "")}, Leeway: MaxLeeway}},
		{"two HS256 secrets", VerifierConfig{Keys: []*Key{jwtMustHMAC(t, HS256, jwtSecret32, "a"), jwtMustHMAC(t, HS256, jwtSecret64, "b")}}},
		{"mixed families", VerifierConfig{Keys: []*Key{jwtMustHMAC(t, HS256, jwtSecret32, ""), jwtMustPriv(t, ES256, jwtP256(), ""), jwtMustPriv(t, EdDSA, jwtEd(), "")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(tt.cfg); err != nil {
				t.Errorf("got %v, want nil", err)
			}
		})
	}
}

func TestVerifierConfigIsCopied(t *testing.T) {
	k := jwtMustHMAC(t, HS256, jwtSecret32, "")
	cfg := VerifierConfig{Keys: []*Key{k}, Issuers: []string{"iss-a"}, Audiences: []string{"aud-a"}, Now: jwtClock(jwtNow)}
	v := jwtVerifier(t, cfg)
	cfg.Keys[0] = jwtMustHMAC(t, HS256, jwtSecret64, "")
	cfg.Issuers[0] = "iss-b"
	cfg.Audiences[0] = "aud-b"
	tok := jwtSign(t, k, `{"alg":"HS256"}`, jwtClaims(`,"iss":"iss-a","aud":"aud-a"`))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("after mutating the config: got %v, want nil", err)
	}
}

// TestVerifyKeySelection covers rotation: a token's kid picks the key, an
// unknown kid or a missing kid with several candidates is refused, and there
// is never a fallback key.
func TestVerifyKeySelection(t *testing.T) {
	hsA := jwtMustHMAC(t, HS256, jwtSecret32, "a")
	hsB := jwtMustHMAC(t, HS256, jwtSecret64, "b")
	esE := jwtMustPriv(t, ES256, jwtP256(), "e")
	esF := jwtMustPriv(t, ES256, jwtP256b(), "f")
	ed := jwtMustPriv(t, EdDSA, jwtEd(), "")
	p := jwtClaims("")
	tests := []struct {
		name  string
		keys  []*Key
		token string
		want  []error
	}{
		{"kid a picks a", []*Key{hsA, hsB}, jwtSign(t, hsA, `{"alg":"HS256","kid":"a"}`, p), nil},
		{"kid b picks b", []*Key{hsA, hsB}, jwtSign(t, hsB, `{"alg":"HS256","kid":"b"}`, p), nil},
		{"kid a signed by b", []*Key{hsA, hsB}, jwtSign(t, hsB, `{"alg":"HS256","kid":"a"}`, p), []error{ErrInvalidSignature}},
		{"unknown kid", []*Key{hsA, hsB}, jwtSign(t, hsA, `{"alg":"HS256","kid":"c"}`, p), []error{ErrUnknownKey}},
		{"empty kid, two candidates", []*Key{hsA, hsB}, jwtSign(t, hsA, `{"alg":"HS256","kid":""}`, p), []error{ErrUnknownKey}},
		{"no kid, two candidates", []*Key{hsA, hsB}, jwtSign(t, hsA, `{"alg":"HS256"}`, p), []error{ErrUnknownKey}},
		{"no kid, single candidate", []*Key{hsA}, jwtSign(t, hsA, `{"alg":"HS256"}`, p), nil},
		{"no kid, single candidate among other algs", []*Key{hsA, esE, ed}, jwtSign(t, hsA, `{"alg":"HS256"}`, p), nil},
		{"unknown kid, single key: no fallback", []*Key{hsA}, jwtSign(t, hsA, `{"alg":"HS256","kid":"zzz"}`, p), []error{ErrUnknownKey}},
		{"kid of a key with another alg", []*Key{hsA, esE}, jwtSign(t, esE, `{"alg":"ES256","kid":"a"}`, p), []error{ErrAlgorithm}},
		{"alg with no key", []*Key{hsA}, jwtSign(t, esE, `{"alg":"ES256"}`, p), []error{ErrAlgorithm}},
		{"ES kid e", []*Key{esE, esF}, jwtSign(t, esE, `{"alg":"ES256","kid":"e"}`, p), nil},
		{"ES kid f signed by e", []*Key{esE, esF}, jwtSign(t, esE, `{"alg":"ES256","kid":"f"}`, p), []error{ErrInvalidSignature}},
		{"ES no kid, two keys", []*Key{esE, esF}, jwtSign(t, esE, `{"alg":"ES256"}`, p), []error{ErrUnknownKey}},
		{"kid case differs", []*Key{hsA, hsB}, jwtSign(t, hsA, `{"alg":"HS256","kid":"A"}`, p), []error{ErrUnknownKey}},
		{"kid wrong type", []*Key{hsA}, jwtSign(t, hsA, `{"alg":"HS256","kid":1}`, p), []error{ErrMalformedToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := jwtVerifier(t, VerifierConfig{Keys: tt.keys})
			c, err := v.Verify(context.Background(), tt.token)
			jwtCheckErr(t, err, tt.want...)
			if err == nil && c.Subject != "alice" {
				t.Errorf("Subject: got %q, want alice", c.Subject)
			}
			if err != nil && c != nil {
				t.Errorf("got claims %+v with an error, want nil", c)
			}
		})
	}
}

// verifyCase is one row of the bad-input table. Unless cfg says otherwise the
// verifier holds jwtBadInputKey (HS256) and runs at jwtNow with no leeway.
type verifyCase struct {
	name  string
	token string
	cfg   func(*VerifierConfig)
	want  []error // empty: must verify
}

var (
	jwtBadInputKey = sync.OnceValue(func() *Key {
		k, err := NewHMACKey(HS256, jwtSecret32, "")
		if err != nil {
			panic(err)
		}
		return k
	})
)

func withLeeway(d time.Duration) func(*VerifierConfig) {
	return func(c *VerifierConfig) { c.Leeway = d }
}

// flipTrailingBits changes the last character of a base64url segment so
// that its unused low bits are no longer zero.
func flipTrailingBits(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[i|1])
}

func badInputCases(t testing.TB) []verifyCase {
	k := jwtBadInputKey()
	h := `{"alg":"HS256","typ":"JWT"}`
	sign := func(header, payload string) string { return jwtSign(t, k, header, payload) }
	valid := sign(h, jwtClaims(""))
	hSeg, rest, _ := strings.Cut(valid, ".")
	pSeg, sSeg, _ := strings.Cut(rest, ".")
	now := jwtNow.Unix()
	num := func(d int64) string { return strconv.FormatInt(now+d, 10) }
	atExp := func(exp string, extra string) string { return sign(h, `{"sub":"alice","exp":`+exp+extra+`}`) }
	enc := func(s string) string { return b64.EncodeToString([]byte(s)) }

	rsaDER, err := x509.MarshalPKIXPublicKey(&jwtRSA().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := jwtPEM(t, "PUBLIC KEY", rsaDER)
	ecDER, err := x509.MarshalPKIXPublicKey(&jwtP256().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	asymKeys := func(c *VerifierConfig) {
		c.Keys = []*Key{jwtMustPriv(t, RS256, jwtRSA(), "").Public(), jwtMustPriv(t, ES256, jwtP256(), "ec").Public()}
	}
	bigCap := func(c *VerifierConfig) { c.MaxTokenBytes = 4 << 20 }

	cases := []verifyCase{
		{name: "valid", token: valid},

		// alg none and unknown algs, with and without a signature.
		{name: "alg none, no signature", token: enc(`{"alg":"none"}`) + "." + pSeg + ".", want: []error{ErrMalformedToken}},
		{name: "alg none, two segments", token: enc(`{"alg":"none"}`) + "." + pSeg, want: []error{ErrMalformedToken}},
		{name: "alg none, with signature", token: hs256Raw(jwtSecret32, `{"alg":"none"}`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "alg None, with signature", token: hs256Raw(jwtSecret32, `{"alg":"None"}`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "alg NONE, with signature", token: hs256Raw(jwtSecret32, `{"alg":"NONE"}`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "alg nOnE, with signature", token: hs256Raw(jwtSecret32, `{"alg":"nOnE"}`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "alg NONE, no signature", token: enc(`{"alg":"NONE"}`) + "." + pSeg + ".", want: []error{ErrMalformedToken}},
		{name: "alg hs256 lower case", token: hs256Raw(jwtSecret32, `{"alg":"hs256"}`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "alg missing", token: hs256Raw(jwtSecret32, `{"typ":"JWT"}`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "alg empty", token: hs256Raw(jwtSecret32, `{"alg":""}`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "alg number", token: hs256Raw(jwtSecret32, `{"alg":256}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "alg array", token: hs256Raw(jwtSecret32, `{"alg":["HS256"]}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "header null", token: hs256Raw(jwtSecret32, `null`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "header array", token: hs256Raw(jwtSecret32, `[]`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "header not JSON", token: hs256Raw(jwtSecret32, `alg=HS256`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "header trailing data", token: hs256Raw(jwtSecret32, `{"alg":"HS256"}{}`, jwtClaims("")), want: []error{ErrMalformedToken}},

		// Algorithm confusion: HS256 keyed with the public key's bytes.
		{name: "HS256 keyed with RSA PEM", token: hs256Raw(rsaPEM, `{"alg":"HS256"}`, jwtClaims("")), cfg: asymKeys, want: []error{ErrAlgorithm}},
		{name: "HS256 keyed with RSA DER", token: hs256Raw(rsaDER, `{"alg":"HS256"}`, jwtClaims("")), cfg: asymKeys, want: []error{ErrAlgorithm}},
		{name: "HS256 keyed with EC DER", token: hs256Raw(ecDER, `{"alg":"HS256"}`, jwtClaims("")), cfg: asymKeys, want: []error{ErrAlgorithm}},
		{name: "HS256 keyed with EC DER, kid of the EC key", token: hs256Raw(ecDER, `{"alg":"HS256","kid":"ec"}`, jwtClaims("")), cfg: asymKeys, want: []error{ErrAlgorithm}},

		// Segments and signature.
		{name: "empty token", token: "", want: []error{ErrMalformedToken}},
		{name: "one segment", token: hSeg, want: []error{ErrMalformedToken}},
		{name: "two segments (stripped signature)", token: hSeg + "." + pSeg, want: []error{ErrMalformedToken}},
		{name: "empty signature", token: hSeg + "." + pSeg + ".", want: []error{ErrMalformedToken}},
		{name: "empty payload", token: hSeg + ".." + sSeg, want: []error{ErrMalformedToken}},
		{name: "empty header", token: "." + pSeg + "." + sSeg, want: []error{ErrMalformedToken}},
		{name: "four segments", token: valid + "." + sSeg, want: []error{ErrMalformedToken}},
		{name: "five segments (JWE shape)", token: hSeg + "." + pSeg + "." + sSeg + "." + sSeg + "." + sSeg, want: []error{ErrMalformedToken}},
		{name: "trailing dot", token: valid + ".", want: []error{ErrMalformedToken}},
		{name: "only dots", token: "..", want: []error{ErrMalformedToken}},
		{name: "truncated signature", token: valid[:len(valid)-3], want: []error{ErrInvalidSignature}},
		{name: "signature of other payload", token: hSeg + "." + enc(jwtClaims(`,"role":"admin"`)) + "." + sSeg, want: []error{ErrInvalidSignature}},
		{name: "signature zeroed", token: hSeg + "." + pSeg + "." + enc(string(make([]byte, 32))), want: []error{ErrInvalidSignature}},
		{name: "signature too long for any key", token: hSeg + "." + pSeg + "." + strings.Repeat("A", 1000), want: []error{ErrInvalidSignature}},

		// Strict base64url.
		{name: "padding on signature", token: valid + "=", want: []error{ErrMalformedToken}},
		{name: "padding on header", token: hSeg + "=." + pSeg + "." + sSeg, want: []error{ErrMalformedToken}},
		{name: "plus and slash", token: hSeg + "." + pSeg + "." + strings.NewReplacer("-", "+", "_", "/").Replace(sSeg) + "+/", want: []error{ErrMalformedToken}},
		{name: "standard alphabet header", token: base64.StdEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}>>`)) + "." + pSeg + "." + sSeg, want: []error{ErrMalformedToken}},
		{name: "non-zero trailing bits in signature", token: hSeg + "." + pSeg + "." + flipTrailingBits(sSeg), want: []error{ErrMalformedToken}},
		{name: "non-zero trailing bits in header", token: flipTrailingBits(enc(`{"alg":"HS256"}`)) + "." + pSeg + "." + sSeg, want: []error{ErrInvalidToken}},
		{name: "newline in signature", token: hSeg + "." + pSeg + "." + sSeg[:10] + "\n" + sSeg[10:], want: []error{ErrMalformedToken}},
		{name: "CR in payload", token: hSeg + "." + pSeg[:10] + "\r" + pSeg[10:] + "." + sSeg, want: []error{ErrMalformedToken}},
		{name: "CRLF at end", token: valid + "\r\n", want: []error{ErrMalformedToken}},
		// The signature is checked over the raw segments before the payload
		// is decoded, so a stray character there fails the signature first.
		{name: "space inside", token: hSeg + ". " + pSeg + "." + sSeg, want: []error{ErrInvalidSignature}},
		{name: "leading space", token: " " + valid, want: []error{ErrMalformedToken}},
		{name: "tab", token: valid[:5] + "\t" + valid[5:], want: []error{ErrMalformedToken}},
		{name: "NUL byte", token: valid + "\x00", want: []error{ErrMalformedToken}},
		{name: "non-ASCII", token: valid[:5] + "é" + valid[5:], want: []error{ErrMalformedToken}},
		{name: "segment of length 1 mod 4", token: valid + "AA", want: []error{ErrMalformedToken}},

		// Size and shape bombs.
		{name: "over the 8 KiB cap", token: valid + "." + strings.Repeat("A", 8<<10), want: []error{ErrTokenTooLarge}},
		{name: "near 1 MiB", token: strings.Repeat("A", 1<<20-7) + ".AA.AA", want: []error{ErrTokenTooLarge}},
		{name: "10000 dots", token: strings.Repeat(".", 10000), want: []error{ErrTokenTooLarge}},
		{name: "10000 dots, large cap", token: strings.Repeat(".", 10000), cfg: bigCap, want: []error{ErrMalformedToken}},
		{name: "near 1 MiB, large cap", token: hSeg + "." + enc(jwtClaims(`,"x":"`+strings.Repeat("y", 1<<19)+`"`)) + "." + sSeg, cfg: bigCap, want: []error{ErrInvalidSignature}},
		{name: "near 1 MiB signed, large cap", token: sign(h, jwtClaims(`,"x":"`+strings.Repeat("y", 3<<18)+`"`)), cfg: bigCap},
		{name: "10000 nested arrays, large cap", token: sign(h, jwtClaims(`,"x":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000))), cfg: bigCap, want: []error{ErrMalformedToken}},
		{name: "unterminated nesting, large cap", token: sign(h, `{"sub":"alice","exp":`+jwtExp+`,"x":`+strings.Repeat("[", 100000)), cfg: bigCap, want: []error{ErrMalformedToken}},
		{name: "nested objects in role, large cap", token: sign(h, jwtClaims(`,"role":`+strings.Repeat(`{"a":`, 20000)+"1"+strings.Repeat("}", 20000))), cfg: bigCap, want: []error{ErrMalformedToken}},
		{name: "1000 nested arrays in role", token: sign(h, jwtClaims(`,"role":`+strings.Repeat("[", 1000)+strings.Repeat("]", 1000))), cfg: bigCap},
		{name: "nested header", token: hs256Raw(jwtSecret32, `{"alg":"HS256","x":`+strings.Repeat("[", 10001)+strings.Repeat("]", 10001)+`}`, jwtClaims("")), cfg: bigCap, want: []error{ErrMalformedToken}},

		// exp.
		{name: "exp as string", token: atExp(`"9999999999"`, ""), want: []error{ErrMalformedToken}},
		{name: "exp as numeric string of now+1h", token: atExp(`"`+jwtExp+`"`, ""), want: []error{ErrMalformedToken}},
		{name: "exp 0", token: atExp("0", ""), want: []error{ErrTokenExpired}},
		{name: "exp negative", token: atExp("-1", ""), want: []error{ErrTokenExpired}},
		{name: "exp missing", token: sign(h, `{"sub":"alice"}`), want: []error{ErrMissingClaim}},
		{name: "exp null", token: atExp("null", ""), want: []error{ErrMalformedToken}},
		{name: "exp true", token: atExp("true", ""), want: []error{ErrMalformedToken}},
		{name: "exp array", token: atExp("["+jwtExp+"]", ""), want: []error{ErrMalformedToken}},
		{name: "exp 1e400", token: atExp("1e400", ""), want: []error{ErrMalformedToken}},
		{name: "exp float in the future", token: atExp(num(60)+".5", "")},
		{name: "exp exponent form in the future", token: atExp(fmt.Sprintf("%.9e", float64(now+3600)), "")},
		{name: "exp float just past", token: atExp(num(-1)+".5", ""), want: []error{ErrTokenExpired}},
		{name: "exp now", token: atExp(num(0), ""), want: []error{ErrTokenExpired}},
		{name: "exp now+1", token: atExp(num(1), "")},
		{name: "exp huge", token: atExp("1e300", ""), want: []error{ErrTokenLifetime}},
		{name: "exp past within leeway", token: atExp(num(-30), ""), cfg: withLeeway(time.Minute)},
		{name: "exp past beyond leeway", token: atExp(num(-61), ""), cfg: withLeeway(time.Minute), want: []error{ErrTokenExpired}},
		{name: "exp duplicate", token: sign(h, `{"sub":"alice","exp":`+jwtExp+`,"exp":`+jwtExp+`}`), want: []error{ErrMalformedToken}},

		// nbf and iat.
		{name: "nbf past", token: atExp(jwtExp, `,"nbf":`+num(-10))},
		{name: "nbf now", token: atExp(jwtExp, `,"nbf":`+num(0))},
		{name: "nbf future", token: atExp(jwtExp, `,"nbf":`+num(10)), want: []error{ErrTokenNotYetValid}},
		{name: "nbf future within leeway", token: atExp(jwtExp, `,"nbf":`+num(30)), cfg: withLeeway(time.Minute)},
		{name: "nbf future beyond leeway", token: atExp(jwtExp, `,"nbf":`+num(61)), cfg: withLeeway(time.Minute), want: []error{ErrTokenNotYetValid}},
		{name: "nbf string", token: atExp(jwtExp, `,"nbf":"0"`), want: []error{ErrMalformedToken}},
		{name: "iat past", token: atExp(jwtExp, `,"iat":`+num(-10))},
		{name: "iat future", token: atExp(jwtExp, `,"iat":`+num(10)), want: []error{ErrTokenNotYetValid}},
		// guard's issuer writes iat to the millisecond; a verifier a few
		// milliseconds behind it takes the token (iat is compared at its second).
		{name: "iat later in the current second", token: atExp(jwtExp, `,"iat":`+num(0)+`.999`)},
		{name: "iat in the next second", token: atExp(jwtExp, `,"iat":`+num(1)+`.001`), want: []error{ErrTokenNotYetValid}},
		{name: "iat future within leeway", token: atExp(jwtExp, `,"iat":`+num(299)), cfg: withLeeway(MaxLeeway)},
		{name: "iat future beyond leeway", token: atExp(jwtExp, `,"iat":`+num(301)), cfg: withLeeway(MaxLeeway), want: []error{ErrTokenNotYetValid}},
		{name: "iat string", token: atExp(jwtExp, `,"iat":"`+num(0)+`"`), want: []error{ErrMalformedToken}},

		// sub.
		{name: "sub missing", token: sign(h, `{"exp":`+jwtExp+`}`), want: []error{ErrMissingClaim}},
		{name: "sub empty", token: sign(h, `{"sub":"","exp":`+jwtExp+`}`), want: []error{ErrMissingClaim}},
		{name: "sub null", token: sign(h, `{"sub":null,"exp":`+jwtExp+`}`), want: []error{ErrMissingClaim}},
		{name: "sub number", token: sign(h, `{"sub":42,"exp":`+jwtExp+`}`), want: []error{ErrMalformedToken}},
		{name: "sub array", token: sign(h, `{"sub":["alice"],"exp":`+jwtExp+`}`), want: []error{ErrMalformedToken}},
		{name: "sub duplicate", token: sign(h, `{"sub":"a","sub":"b","exp":`+jwtExp+`}`), want: []error{ErrMalformedToken}},
		{name: "SUB only", token: sign(h, `{"SUB":"alice","exp":`+jwtExp+`}`), want: []error{ErrMissingClaim}},

		// Claims set shape.
		{name: "claims array", token: sign(h, `[]`), want: []error{ErrMalformedToken}},
		{name: "claims not JSON", token: sign(h, `sub=alice`), want: []error{ErrMalformedToken}},
		{name: "claims trailing data", token: sign(h, jwtClaims("")+`{}`), want: []error{ErrMalformedToken}},
		{name: "claims trailing whitespace", token: sign(h, jwtClaims("")+" \r\n")},
		{name: "duplicate extra claim", token: sign(h, jwtClaims(`,"x":1,"x":2`)), want: []error{ErrMalformedToken}},
		{name: "invalid UTF-8 in sub", token: sign(h, `{"sub":"al`+"\xff"+`ice","exp":`+jwtExp+`}`), want: []error{ErrMalformedToken}},
		{name: "invalid UTF-8 in extra", token: sign(h, jwtClaims(`,"x":"`+"\xc3\x28"+`"`)), want: []error{ErrMalformedToken}},
		{name: "invalid UTF-8 in a name", token: sign(h, jwtClaims(`,"`+"\xed\xa0\x80"+`":1`)), want: []error{ErrMalformedToken}},
		{name: "invalid UTF-8 in role", token: sign(h, jwtClaims(`,"role":"`+"\xff"+`"`)), want: []error{ErrMalformedToken}},
		{name: "escaped lone surrogate", token: sign(h, jwtClaims(`,"x":"\ud800"`)), want: []error{ErrMalformedToken}},

		// Header members.
		{name: "duplicate alg", token: hs256Raw(jwtSecret32, `{"alg":"HS256","alg":"HS256"}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "duplicate alg, second none", token: hs256Raw(jwtSecret32, `{"alg":"HS256","alg":"none"}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "duplicate unknown header", token: hs256Raw(jwtSecret32, `{"alg":"HS256","x":1,"x":1}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "ALG upper-case name", token: hs256Raw(jwtSecret32, `{"ALG":"HS256"}`, jwtClaims("")), want: []error{ErrAlgorithm}},
		{name: "invalid UTF-8 in header", token: hs256Raw(jwtSecret32, `{"alg":"HS256","x":"`+"\xff"+`"}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "crit with exp", token: sign(`{"alg":"HS256","crit":["exp"],"exp":1}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "crit empty", token: sign(`{"alg":"HS256","crit":[]}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "crit b64", token: sign(`{"alg":"HS256","b64":false,"crit":["b64"]}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "unknown non-critical header", token: sign(`{"alg":"HS256","x-custom":{"a":[1]}}`, jwtClaims(""))},
		{name: "cty JWT ignored", token: sign(`{"alg":"HS256","cty":"JWT"}`, jwtClaims(""))},

		// typ.
		{name: "typ absent", token: sign(`{"alg":"HS256"}`, jwtClaims(""))},
		{name: "typ JWT", token: sign(`{"alg":"HS256","typ":"JWT"}`, jwtClaims(""))},
		{name: "typ jwt", token: sign(`{"alg":"HS256","typ":"jwt"}`, jwtClaims(""))},
		{name: "typ application/jwt", token: sign(`{"alg":"HS256","typ":"application/jwt"}`, jwtClaims(""))},
		{name: "typ at+jwt", token: sign(`{"alg":"HS256","typ":"at+jwt"}`, jwtClaims(""))},
		{name: "typ AT+JWT", token: sign(`{"alg":"HS256","typ":"AT+JWT"}`, jwtClaims(""))},
		{name: "typ application/at+jwt", token: sign(`{"alg":"HS256","typ":"application/at+jwt"}`, jwtClaims(""))},
		{name: "typ JOSE+JSON", token: sign(`{"alg":"HS256","typ":"JOSE+JSON"}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "typ JOSE", token: sign(`{"alg":"HS256","typ":"JOSE"}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "typ JWE-ish", token: sign(`{"alg":"HS256","typ":"secevent+jwt"}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "typ number", token: sign(`{"alg":"HS256","typ":1}`, jwtClaims("")), want: []error{ErrMalformedToken}},
		{name: "strict: typ at+jwt", token: sign(`{"alg":"HS256","typ":"at+jwt"}`, jwtClaims("")), cfg: strictTyp},
		{name: "strict: typ application/at+jwt", token: sign(`{"alg":"HS256","typ":"application/at+jwt"}`, jwtClaims("")), cfg: strictTyp},
		{name: "strict: typ JWT", token: sign(`{"alg":"HS256","typ":"JWT"}`, jwtClaims("")), cfg: strictTyp, want: []error{ErrMalformedToken}},
		{name: "strict: typ absent", token: sign(`{"alg":"HS256"}`, jwtClaims("")), cfg: strictTyp, want: []error{ErrMalformedToken}},

		// Key-carrying headers are ignored: only configured keys verify.
		{name: "jku ignored", token: sign(`{"alg":"HS256","jku":"https://evil.example/jwks.json"}`, jwtClaims(""))},
		{name: "x5u ignored", token: sign(`{"alg":"HS256","x5u":"https://evil.example/cert.pem"}`, jwtClaims(""))},
		{name: "x5c ignored", token: sign(`{"alg":"HS256","x5c":["MIIB"]}`, jwtClaims(""))},
		{name: "jwk ignored", token: sign(`{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}`, jwtClaims(""))},
	}
	cases = append(cases, embeddedKeyCases(t)...)
	return cases
}

func strictTyp(c *VerifierConfig) { c.RequireAccessTokenType = true }

// embeddedKeyCases are tokens signed by an attacker's key that carry that key
// (or a link to it) in the header; the verifier holds only its own ES256 key.
func embeddedKeyCases(t testing.TB) []verifyCase {
	ours := jwtMustPriv(t, ES256, jwtP256(), "ours")
	attacker := jwtMustPriv(t, ES256, jwtP256b(), "ours")
	j, _ := attacker.publicJWK()
	jwkJSON := fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":%q,"y":%q}`, j.X, j.Y)
	onlyOurs := func(c *VerifierConfig) { c.Keys = []*Key{ours.Public()} }
	return []verifyCase{
		{name: "embedded jwk of attacker", token: jwtSign(t, attacker, `{"alg":"ES256","kid":"ours","jwk":`+jwkJSON+`}`, jwtClaims("")), cfg: onlyOurs, want: []error{ErrInvalidSignature}},
		{name: "jku of attacker", token: jwtSign(t, attacker, `{"alg":"ES256","jku":"https://evil.example/k"}`, jwtClaims("")), cfg: onlyOurs, want: []error{ErrInvalidSignature}},
		{name: "x5c of attacker", token: jwtSign(t, attacker, `{"alg":"ES256","x5c":["MIIBIjAN"]}`, jwtClaims("")), cfg: onlyOurs, want: []error{ErrInvalidSignature}},
		{name: "embedded jwk, our key signed", token: jwtSign(t, ours, `{"alg":"ES256","kid":"ours","jwk":`+jwkJSON+`}`, jwtClaims("")), cfg: onlyOurs},
	}
}

func TestVerifyBadInput(t *testing.T) {
	for _, tt := range badInputCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			cfg := VerifierConfig{Keys: []*Key{jwtBadInputKey()}}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			v := jwtVerifier(t, cfg)
			c, err := v.Verify(context.Background(), tt.token)
			jwtCheckErr(t, err, tt.want...)
			if err != nil {
				if c != nil {
					t.Errorf("got claims with an error, want nil")
				}
				var e *Error
				if !errors.As(err, &e) || e.Status != 401 || len(e.Challenges) == 0 {
					t.Errorf("got %#v, want an *Error with status 401 and a challenge", err)
				}
				return
			}
			if c.Subject != "alice" {
				t.Errorf("Subject: got %q, want alice", c.Subject)
			}
		})
	}
}

// TestVerifySizeCap checks the cap to the byte: a token of exactly
// MaxTokenBytes verifies, one byte more is refused before decoding.
func TestVerifySizeCap(t *testing.T) {
	k := jwtBadInputKey()
	for _, limit := range []int{0, 600, 4096} {
		want := limit
		if limit == 0 {
			want = DefaultMaxTokenBytes
		}
		t.Run(strconv.Itoa(want), func(t *testing.T) {
			v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}, MaxTokenBytes: limit})
			// Grow a padding claim until the token is exactly want bytes; the
			// header's optional space adjusts odd steps of base64.
			var tok string
			for pad := max(0, (want-400)*3/4); pad < want && len(tok) != want; pad++ {
				for _, h := range []string{`{"alg":"HS256"}`, `{"alg":"HS256" }`, `{"alg":"HS256"  }`} {
					tok = jwtSign(t, k, h, jwtClaims(`,"p":"`+strings.Repeat("x", pad)+`"`))
					if len(tok) == want {
						break
					}
				}
			}
			if len(tok) != want {
				t.Fatalf("could not build a token of %d bytes", want)
			}
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Errorf("token of exactly %d bytes: got %v, want nil", want, err)
			}
			_, err := v.Verify(context.Background(), tok+"A")
			jwtCheckErr(t, err, ErrTokenTooLarge)
			// Over the cap, even garbage is refused as too large: nothing was decoded.
			_, err = v.Verify(context.Background(), strings.Repeat("!", want+1))
			jwtCheckErr(t, err, ErrTokenTooLarge)
		})
	}
}

// TestVerifyMaxTokenLifetime: exp may lie at most MaxTokenLifetime (default
// 24h) plus the leeway ahead of now, and exp - iat may not exceed it, so a
// mis-issued token with exp in year 9999 is refused rather than valid forever.
func TestVerifyMaxTokenLifetime(t *testing.T) {
	k := jwtBadInputKey()
	now := jwtNow.Unix()
	in := func(d time.Duration) string { return strconv.FormatInt(now+int64(d/time.Second), 10) }
	tests := []struct {
		name     string
		exp, iat string // iat "" means absent
		max      time.Duration
		leeway   time.Duration
		want     []error
	}{
		{name: "1h", exp: in(time.Hour)},
		{name: "exactly 24h", exp: in(24 * time.Hour)},
		{name: "24h and 1s", exp: in(24*time.Hour + time.Second), want: []error{ErrTokenLifetime}},
		{name: "24h and a fraction", exp: in(24*time.Hour) + ".5", want: []error{ErrTokenLifetime}},
		{name: "year 9999", exp: "253402300799", want: []error{ErrTokenLifetime}},
		{name: "2^63-1", exp: "9223372036854775807", want: []error{ErrTokenLifetime}},
		{name: "1e300", exp: "1e300", want: []error{ErrTokenLifetime}},
		{name: "24h and 30s within a 1m leeway", exp: in(24*time.Hour + 30*time.Second), leeway: time.Minute},
		{name: "24h and 61s beyond a 1m leeway", exp: in(24*time.Hour + 61*time.Second), leeway: time.Minute, want: []error{ErrTokenLifetime}},
		{name: "raised to 30 days", exp: in(29 * 24 * time.Hour), max: 30 * 24 * time.Hour},
		{name: "raised to 30 days, 31 asked", exp: in(31 * 24 * time.Hour), max: 30 * 24 * time.Hour, want: []error{ErrTokenLifetime}},
		{name: "lowered to 5m", exp: in(10 * time.Minute), max: 5 * time.Minute, want: []error{ErrTokenLifetime}},
		{name: "exp-iat exactly 24h", exp: in(time.Hour), iat: in(-23 * time.Hour)},
		{name: "exp-iat 25h", exp: in(time.Hour), iat: in(-24 * time.Hour), want: []error{ErrTokenLifetime}},
		{name: "exp-iat 25h, leeway does not stretch it", exp: in(time.Hour), iat: in(-24 * time.Hour), leeway: MaxLeeway, want: []error{ErrTokenLifetime}},
		{name: "exp-iat of a year, iat long ago", exp: in(time.Hour), iat: in(-365 * 24 * time.Hour), want: []error{ErrTokenLifetime}},
		{name: "exp-iat 25h with a 48h cap", exp: in(time.Hour), iat: in(-24 * time.Hour), max: 48 * time.Hour},
		{name: "expired wins over lifetime", exp: in(-time.Second), iat: in(-48 * time.Hour), want: []error{ErrTokenExpired}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}, MaxTokenLifetime: tt.max, Leeway: tt.leeway})
			extra := ""
			if tt.iat != "" {
				extra = `,"iat":` + tt.iat
			}
			_, err := v.Verify(context.Background(), jwtSign(t, k, `{"alg":"HS256"}`, `{"sub":"a","exp":`+tt.exp+extra+`}`))
			jwtCheckErr(t, err, tt.want...)
		})
	}

	// Over HTTP the answer is 401 invalid_token.
	bv := newTestVerifier(t, VerifierConfig{})
	tok := forgeHS256(`{"alg":"HS256"}`, `{"sub":"u","exp":253402300799,"role":"admin"}`)
	next := &nextHandler{}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	bv.RequireBearer(next).ServeHTTP(rec, req)
	ch, body := invalidToken("token lifetime too long")
	checkError(t, rec, http.StatusUnauthorized, ch, body)
	if next.ran {
		t.Error("next ran")
	}

	// Tokens from a default TokenIssuer are well within the default cap.
	if DefaultTokenTTL > DefaultMaxTokenLifetime/4 {
		t.Errorf("DefaultTokenTTL %v is not well within DefaultMaxTokenLifetime %v", DefaultTokenTTL, DefaultMaxTokenLifetime)
	}
}

func TestVerifyIssuerAudience(t *testing.T) {
	k := jwtBadInputKey()
	h := `{"alg":"HS256"}`
	tests := []struct {
		name      string
		issuers   []string
		audiences []string
		extra     string
		want      []error
	}{
		{"nothing configured, nothing present", nil, nil, "", nil},
		{"nothing configured, iss and aud present", nil, nil, `,"iss":"x","aud":"y"`, nil},
		{"issuer matches", []string{"https://a", "https://b"}, nil, `,"iss":"https://b"`, nil},
		{"issuer mismatch", []string{"https://a"}, nil, `,"iss":"https://evil"`, []error{ErrInvalidIssuer}},
		{"issuer case differs", []string{"https://a"}, nil, `,"iss":"https://A"`, []error{ErrInvalidIssuer}},
		{"issuer trailing slash", []string{"https://a"}, nil, `,"iss":"https://a/"`, []error{ErrInvalidIssuer}},
		{"issuer missing", []string{"https://a"}, nil, "", []error{ErrInvalidIssuer}},
		{"issuer wrong type", []string{"https://a"}, nil, `,"iss":["https://a"]`, []error{ErrMalformedToken}},
		{"aud string matches", nil, []string{"api"}, `,"aud":"api"`, nil},
		{"aud array matches", nil, []string{"api"}, `,"aud":["web","api"]`, nil},
		{"aud any of configured", nil, []string{"api", "admin"}, `,"aud":["admin"]`, nil},
		{"aud string mismatch", nil, []string{"api"}, `,"aud":"web"`, []error{ErrInvalidAudience}},
		{"aud array mismatch", nil, []string{"api"}, `,"aud":["web","apis"]`, []error{ErrInvalidAudience}},
		{"aud empty array", nil, []string{"api"}, `,"aud":[]`, []error{ErrInvalidAudience}},
		{"aud missing", nil, []string{"api"}, "", []error{ErrInvalidAudience}},
		{"aud number", nil, []string{"api"}, `,"aud":1`, []error{ErrMalformedToken}},
		{"aud object", nil, []string{"api"}, `,"aud":{"api":true}`, []error{ErrMalformedToken}},
		{"aud array with number", nil, []string{"api"}, `,"aud":["api",1]`, []error{ErrMalformedToken}},
		{"aud null", nil, []string{"api"}, `,"aud":null`, []error{ErrMalformedToken}},
		{"aud wrong type, not configured", nil, nil, `,"aud":1`, []error{ErrMalformedToken}},
		{"both match", []string{"i"}, []string{"a"}, `,"iss":"i","aud":"a"`, nil},
		{"iss ok, aud wrong", []string{"i"}, []string{"a"}, `,"iss":"i","aud":"b"`, []error{ErrInvalidAudience}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}, Issuers: tt.issuers, Audiences: tt.audiences})
			_, err := v.Verify(context.Background(), jwtSign(t, k, h, jwtClaims(tt.extra)))
			jwtCheckErr(t, err, tt.want...)
		})
	}
}

// TestVerifyFastAPIToken checks migration compatibility with the FastAPI tutorial app:
// an HS256 token of its exact shape, made here with crypto/hmac (not with
// our issuer), verifies when no issuer or audience is configured.
func TestVerifyFastAPIToken(t *testing.T) {
	secret := []byte("3f9c27a1e84b6d05c2f7a9e13b58d4c60a7e2f91d3b84c56e07a19f2c6d83b4e") // openssl rand -hex 32
	tok := hs256Raw(secret, `{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","role":"admin","exp":`+jwtExp+`}`)
	k, err := NewHMACKey(HS256, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify FastAPI token: %v", err)
	}
	if c.Subject != "alice" {
		t.Errorf("Subject: got %q, want alice", c.Subject)
	}
	if got := strings.Join(c.Roles, ","); got != "admin" {
		t.Errorf("Roles: got %q, want admin", got)
	}
	if got, want := c.ExpiresAt, jwtNow.Add(time.Hour); !got.Equal(want) {
		t.Errorf("ExpiresAt: got %v, want %v", got, want)
	}
	if c.Issuer != "" || c.Audience != nil || c.Extra != nil {
		t.Errorf("got iss %q aud %v extra %s, want none", c.Issuer, c.Audience, c.Extra)
	}
	// The same token is refused once an issuer or audience is required.
	for _, cfg := range []VerifierConfig{{Keys: []*Key{k}, Issuers: []string{"seed"}}, {Keys: []*Key{k}, Audiences: []string{"api"}}} {
		_, err := jwtVerifier(t, cfg).Verify(context.Background(), tok)
		jwtCheckErr(t, err, ErrInvalidToken)
	}
}

// TestVerifyHeaderCache checks that only headers of verified tokens are
// cached, so forged tokens cannot fill the cache.
func TestVerifyHeaderCache(t *testing.T) {
	k := jwtBadInputKey()
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	size := func() int {
		m := v.static.headers.m.Load()
		if m == nil {
			return 0
		}
		return len(*m)
	}
	for i := range 2 * headerCacheSize {
		forged := hs256Raw(jwtSecret64, fmt.Sprintf(`{"alg":"HS256","n":%d}`, i), jwtClaims(""))
		_, err := v.Verify(context.Background(), forged)
		jwtCheckErr(t, err, ErrInvalidSignature)
	}
	if got := size(); got != 0 {
		t.Fatalf("after forged tokens: cache holds %d headers, want 0", got)
	}
	for i := range 2 * headerCacheSize {
		tok := jwtSign(t, k, fmt.Sprintf(`{"alg":"HS256","n":%d}`, i), jwtClaims(""))
		for range 2 { // the second pass is served from the cache
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("token %d: %v", i, err)
			}
		}
	}
	if got := size(); got != headerCacheSize {
		t.Errorf("after %d valid headers: cache holds %d, want %d", 2*headerCacheSize, got, headerCacheSize)
	}
	// A cached header still needs a valid signature and valid claims.
	tok := jwtSign(t, k, `{"alg":"HS256","n":0}`, jwtClaims(""))
	_, err := v.Verify(context.Background(), tok[:len(tok)-2]+"AA")
	jwtCheckErr(t, err, ErrInvalidSignature)
	_, err = v.Verify(context.Background(), jwtSign(t, k, `{"alg":"HS256","n":0}`, `{"sub":"a","exp":1}`))
	jwtCheckErr(t, err, ErrTokenExpired)
}

func TestVerifyConcurrent(t *testing.T) {
	keys := []*Key{jwtMustHMAC(t, HS256, jwtSecret32, "h"), jwtMustPriv(t, EdDSA, jwtEd(), "e")}
	v := jwtVerifier(t, VerifierConfig{Keys: keys})
	toks := []string{
		jwtSign(t, keys[0], `{"alg":"HS256","kid":"h"}`, jwtClaims("")),
		jwtSign(t, keys[1], `{"alg":"EdDSA","kid":"e"}`, jwtClaims("")),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16*len(toks))
	for i := range 16 {
		wg.Go(func() {
			for range 50 {
				if _, err := v.Verify(context.Background(), toks[i%len(toks)]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Verify: %v", err)
	}
}

// verifyAllocBudget is the measured allocation count of a successful HS256
// Verify with a cached header and a "role" claim (go1.26.8, linux/amd64):
// one object holding the Claims and the decoded claims set its strings point
// into (newPrincipalCtx). MAC states are pooled, the claims' wire form is on
// the stack, and "role" is held in Claims. golang-jwt's ParseWithClaims into
// a typed struct takes several times more. Raise it only with a reason.
const verifyAllocBudget = 1

func TestVerifyAllocs(t *testing.T) {
	k := jwtBadInputKey()
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	tok := jwtSign(t, k, `{"alg":"HS256","typ":"JWT"}`, jwtClaims(`,"role":"admin"`))
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got := measureAllocs(t, 200, func() {
		if _, err := v.Verify(ctx, tok); err != nil {
			panic(err)
		}
	})
	t.Logf("Verify HS256: %.0f allocs/op", got)
	if got > verifyAllocBudget {
		t.Errorf("Verify HS256: got %.0f allocs/op, want <= %d", got, verifyAllocBudget)
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	keys := []*Key{
		jwtMustHMAC(b, HS256, jwtSecret32, ""),
		jwtMustPriv(b, ES256, jwtP256(), ""),
		jwtMustPriv(b, EdDSA, jwtEd(), ""),
		jwtMustPriv(b, RS256, jwtRSA(), ""),
	}
	for _, k := range keys {
		b.Run(string(k.Algorithm()), func(b *testing.B) {
			v := jwtVerifier(b, VerifierConfig{Keys: []*Key{k}})
			iss, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Now: jwtClock(jwtNow)})
			if err != nil {
				b.Fatal(err)
			}
			tok, err := iss.Issue(context.Background(), Claims{Subject: "alice", Roles: []string{"admin"}, Scopes: []string{"read", "write"}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzVerify checks Verify on arbitrary strings: it never panics, every
// error matches ErrInvalidToken, and a nil error happens only for a token
// whose HS256 MAC, recomputed here with crypto/hmac, is right and whose
// claims are acceptable.
func FuzzVerify(f *testing.F) {
	for _, tt := range badInputCases(f) {
		if tt.cfg == nil && len(tt.token) <= DefaultMaxTokenBytes+100 {
			f.Add(tt.token)
		}
	}
	k := jwtBadInputKey()
	v := jwtVerifier(f, VerifierConfig{Keys: []*Key{k}, Leeway: time.Minute})
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not match ErrInvalidToken", err)
			}
			if c != nil {
				t.Fatalf("claims with an error")
			}
			return
		}
		i := strings.LastIndexByte(token, '.')
		m := hmac.New(sha256.New, jwtSecret32)
		m.Write([]byte(token[:i]))
		sig, derr := base64.RawURLEncoding.Strict().DecodeString(token[i+1:])
		if derr != nil || !hmac.Equal(sig, m.Sum(nil)) {
			t.Fatalf("Verify accepted %q but its HS256 MAC is wrong", token)
		}
		if strings.Count(token, ".") != 2 || len(token) > DefaultMaxTokenBytes {
			t.Fatalf("Verify accepted %q of bad shape", token)
		}
		if c.Subject == "" || !c.ExpiresAt.After(jwtNow.Add(-time.Minute)) {
			t.Fatalf("Verify accepted %q with claims %+v", token, c)
		}
	})
}

// TestVerifyKeyBoundToIssuers: a key bound with ForIssuers verifies only
// tokens whose iss it is bound to, so in a multi-tenant verifier tenant A's
// key cannot vouch for iss=B. Unbound keys keep verifying any iss.
func TestVerifyKeyBoundToIssuers(t *testing.T) {
	const issA, issB = "https://a.example", "https://b.example"
	kA := jwtMustPriv(t, ES256, jwtP256(), "a")
	kB := jwtMustPriv(t, EdDSA, jwtEd(), "b")
	kC := jwtMustHMAC(t, HS256, jwtSecret32, "c")
	kAB := jwtMustHMAC(t, HS256, jwtSecret64, "ab")
	bound := []*Key{kA.ForIssuers(issA), kB.ForIssuers(issB), kC, kAB.ForIssuers(issA, issB)}
	tok := func(k *Key, iss string) string {
		claims := jwtClaims("")
		if iss != "" {
			claims = jwtClaims(`,"iss":"` + iss + `"`)
		}
		return jwtSign(t, k, `{"alg":"`+string(k.Algorithm())+`","kid":"`+k.KeyID()+`"}`, claims)
	}
	tests := []struct {
		name    string
		issuers []string // VerifierConfig.Issuers
		token   string
		want    []error
	}{
		{"A signs for A", []string{issA, issB}, tok(kA, issA), nil},
		{"B signs for B", []string{issA, issB}, tok(kB, issB), nil},
		{"A signs for B", []string{issA, issB}, tok(kA, issB), []error{ErrInvalidIssuer}},
		{"B signs for A", []string{issA, issB}, tok(kB, issA), []error{ErrInvalidIssuer}},
		{"unbound key, any accepted iss", []string{issA, issB}, tok(kC, issB), nil},
		{"key bound to both, A", []string{issA, issB}, tok(kAB, issA), nil},
		{"key bound to both, B", []string{issA, issB}, tok(kAB, issB), nil},
		{"no Issuers: A signs for B", nil, tok(kA, issB), []error{ErrInvalidIssuer}},
		{"no Issuers: A signs for another", nil, tok(kA, "https://evil.example"), []error{ErrInvalidIssuer}},
		{"no Issuers: A signs without iss", nil, tok(kA, ""), []error{ErrInvalidIssuer}},
		{"no Issuers: A signs for A", nil, tok(kA, issA), nil},
		{"no Issuers: unbound key, any iss", nil, tok(kC, "https://evil.example"), nil},
		{"no Issuers: unbound key, no iss", nil, tok(kC, ""), nil},
	}
	for _, tt := range tests {
		for _, cache := range []int{0, 16} {
			t.Run(fmt.Sprintf("%s/cache %d", tt.name, cache), func(t *testing.T) {
				v := jwtVerifier(t, VerifierConfig{Keys: bound, Issuers: tt.issuers, CacheSize: cache})
				for range 2 {
					_, err := v.Verify(context.Background(), tt.token)
					jwtCheckErr(t, err, tt.want...)
				}
			})
		}
	}

	// Over HTTP: 401 invalid_token, issuer not accepted.
	v := jwtVerifier(t, VerifierConfig{Keys: bound})
	next := &nextHandler{}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok(kA, issB))
	v.RequireBearer(next).ServeHTTP(rec, req)
	ch, body := invalidToken("issuer not accepted")
	checkError(t, rec, http.StatusUnauthorized, ch, body)
	if next.ran {
		t.Error("next ran")
	}

	// ForIssuers returns a copy: the original stays unbound, and the
	// arguments are copied.
	list := []string{issA}
	kA2 := kA.ForIssuers(list...)
	list[0] = issB
	if _, err := jwtVerifier(t, VerifierConfig{Keys: []*Key{kA}}).Verify(context.Background(), tok(kA, issB)); err != nil {
		t.Errorf("original key after ForIssuers: got %v, want nil", err)
	}
	_, err := jwtVerifier(t, VerifierConfig{Keys: []*Key{kA2}}).Verify(context.Background(), tok(kA, issB))
	jwtCheckErr(t, err, ErrInvalidIssuer)
	if _, err := jwtVerifier(t, VerifierConfig{Keys: []*Key{kA2.Public()}}).Verify(context.Background(), tok(kA, issA)); err != nil {
		t.Errorf("Public of a bound key, its issuer: got %v, want nil", err)
	}
	_, err = jwtVerifier(t, VerifierConfig{Keys: []*Key{kA2.Public()}}).Verify(context.Background(), tok(kA, issB))
	jwtCheckErr(t, err, ErrInvalidIssuer)
	if got := kA2.String(); !strings.Contains(got, issA) {
		t.Errorf("String of a bound key: got %q, want it to name %q", got, issA)
	}
}

func TestNewVerifierRefusesBadIssuerBinding(t *testing.T) {
	k := jwtMustHMAC(t, HS256, jwtSecret32, "")
	tests := []struct {
		name string
		cfg  VerifierConfig
		msg  string
	}{
		{"bound to no issuer", VerifierConfig{Keys: []*Key{k.ForIssuers()}}, "bound to no issuer"},
		{"bound to an empty issuer", VerifierConfig{Keys: []*Key{k.ForIssuers("https://a", "")}}, "empty issuer"},
		{"bound to an issuer Issuers does not accept", VerifierConfig{Keys: []*Key{k.ForIssuers("https://a")}, Issuers: []string{"https://b"}}, `"https://a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if err == nil || v != nil {
				t.Fatalf("got %v, %v; want an error", v, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q: want it to mention %q", err, tt.msg)
			}
		})
	}
	if (*Key)(nil).ForIssuers("https://a") != nil {
		t.Error("ForIssuers on a nil key: want nil")
	}
}

// TestVerifyIssuerAudienceDetail checks that a refused iss or aud names the
// received and the expected values in err.Error(), for logs, while the
// response keeps the fixed description.
func TestVerifyIssuerAudienceDetail(t *testing.T) {
	k := jwtBadInputKey()
	const issA, issB = "https://a.example", "https://b.example"
	bound := jwtMustHMAC(t, HS256, jwtSecret64, "bound").ForIssuers(issA)
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name      string
		key       *Key
		issuers   []string
		audiences []string
		extra     string
		want      error
		detail    []string // substrings of err.Error()
		notDetail string   // must not be in err.Error()
		desc      string   // the response's error_description
	}{
		{name: "issuer mismatch", key: k, issuers: []string{issA, issB}, extra: `,"iss":"https://evil"`, want: ErrInvalidIssuer,
			detail: []string{`got iss "https://evil", want one of ["https://a.example" "https://b.example"]`}, desc: "issuer not accepted"},
		{name: "issuer missing", key: k, issuers: []string{issA}, want: ErrInvalidIssuer,
			detail: []string{`got no iss, want one of ["https://a.example"]`}, desc: "issuer not accepted"},
		{name: "issuer capped", key: k, issuers: []string{issA}, extra: `,"iss":"` + long + `"`, want: ErrInvalidIssuer,
			detail: []string{`got iss "` + long[:256] + `"…`}, notDetail: long[:257], desc: "issuer not accepted"},
		{name: "issuer with quotes and newline", key: k, issuers: []string{issA}, extra: `,"iss":"a\"b\nc"`, want: ErrInvalidIssuer,
			detail: []string{`got iss "a\"b\nc"`}, desc: "issuer not accepted"},
		{name: "key bound to another issuer", key: bound, extra: `,"iss":"` + issB + `"`, want: ErrInvalidIssuer,
			detail: []string{`got iss "https://b.example", want one of ["https://a.example"] (the issuers of key kid "bound")`}, desc: "issuer not accepted"},
		{name: "audience mismatch", key: k, audiences: []string{"api"}, extra: `,"aud":["web","apis"]`, want: ErrInvalidAudience,
			detail: []string{`got aud ["web" "apis"], want one of ["api"]`}, desc: "audience not accepted"},
		{name: "audience missing", key: k, audiences: []string{"api", "admin"}, want: ErrInvalidAudience,
			detail: []string{`got no aud, want one of ["api" "admin"]`}, desc: "audience not accepted"},
		{name: "audience capped", key: k, audiences: []string{"api"},
			extra: `,"aud":["` + long + `","b","c","d","e","f","g","h","i","j","k","l"]`, want: ErrInvalidAudience,
			detail: []string{`got aud ["` + long[:256] + `"… "b"`, `"h" …4 more], want one of ["api"]`}, notDetail: long[:257], desc: "audience not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := jwtVerifier(t, VerifierConfig{Keys: []*Key{tt.key}, Issuers: tt.issuers, Audiences: tt.audiences})
			tok := jwtSign(t, tt.key, `{"alg":"HS256","kid":"`+tt.key.KeyID()+`"}`, jwtClaims(tt.extra))
			_, err := v.Verify(context.Background(), tok)
			jwtCheckErr(t, err, tt.want)
			for _, d := range tt.detail {
				if !strings.Contains(err.Error(), d) {
					t.Errorf("err.Error() = %q\nwant it to contain %q", err, d)
				}
			}
			if tt.notDetail != "" && strings.Contains(err.Error(), tt.notDetail) {
				t.Errorf("err.Error() holds the uncapped value (%d bytes)", len(err.Error()))
			}

			// Over HTTP, nothing of the detail reaches the client.
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			next := &nextHandler{}
			v.RequireBearer(next).ServeHTTP(rec, req)
			ch, body := invalidToken(tt.desc)
			checkError(t, rec, http.StatusUnauthorized, ch, body)
			if next.ran {
				t.Error("next ran")
			}
		})
	}
}

// TestClaimsAcrossRoomSizes: claims sets on either side of each room size of
// newPrincipalCtx (where a verified payload and the strings of its claims
// live) decode to the same claims, and keep them while later tokens are
// verified and the collector runs.
func TestClaimsAcrossRoomSizes(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{MaxTokenBytes: 64 << 10})
	exp := strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10)
	var (
		kept []*Claims
		subs []string
	)
	for _, room := range []int{len(principalCtx512{}.room), len(principalCtx640{}.room), len(principalCtx1K{}.room), len(principalCtx2K{}.room), len(principalCtx4K{}.room)} {
		for _, size := range []int{room - 1, room, room + 1} {
			frame := `{"sub":"","exp":` + exp + `,"role":"r"}`
			sub := strings.Repeat(strconv.Itoa(size%10), size-len(frame))
			payload := `{"sub":"` + sub + `","exp":` + exp + `,"role":"r"}`
			if len(payload) != size {
				t.Fatalf("payload of %d bytes, want %d", len(payload), size)
			}
			c, err := v.Verify(context.Background(), forgeHS256(`{"alg":"HS256"}`, payload))
			if err != nil {
				t.Fatalf("payload of %d bytes: %v", size, err)
			}
			kept, subs = append(kept, c), append(subs, sub)
		}
	}
	runtime.GC()
	for i, c := range kept {
		if c.Subject != subs[i] || !slices.Equal(c.Roles, []string{"r"}) {
			t.Errorf("claims %d: got sub of %d bytes, roles %q; want %d bytes, [r]", i, len(c.Subject), c.Roles, len(subs[i]))
		}
	}
}
