package claimsjson

import (
	"bytes"
	"encoding/base64"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// claimsSeeds are payloads around every rule of the decoder.
var claimsSeeds = []string{
	`{"sub":"alice","exp":1700003600,"role":"admin"}`,
	`{"iss":"https://issuer.example","sub":"a","aud":["x","y"],"exp":1.5,"nbf":0,"iat":-1,"jti":"j","client_id":"c","roles":["a","b"],"scope":"r w","scp":["s"]}`,
	`{"sub":"a","aud":"x","exp":1}`, `{}`, ` { } `, `{"exp":1}  `, `{"exp":1} x`, `[]`, `"x"`, ``, `{`, `{"exp":1,}`, `{,"exp":1}`,
	`{"sub":null,"exp":1}`, `{"exp":null}`, `{"aud":null,"exp":1}`, `{"role":null,"exp":1}`, `{"roles":null,"exp":1}`,
	`{"exp":1,"x":"\ud800"}`, `{"exp":1,"sub":"\ud83d\ude00"}`, `{"exp":1,"sub":"\udc00"}`, `{"exp":1,"sub":"\ud800\u0041"}`,
	`{"exp":1e400}`, `{"exp":-0}`, `{"exp":01}`, `{"exp":1.}`, `{"exp":1E5}`, `{"exp":1e+5}`, `{"exp":-}`, `{"exp":"1"}`, `{"exp":true}`, `{"exp":[1]}`,
	`{"exp":1,"x":1,"x":2}`, `{"exp":1,"sub":"x","\u0073ub":"y"}`, `{"exp":1,"\u0073ub":"x"}`, `{"exp":1,"x":{"a":1,"a":2}}`, `{"exp":1,"x":{"a":{"b":1},"b":[{"a":1,"a":1}]}}`,
	`{"role":"user","ROLE":"admin","exp":1}`, `{"role":["admin"],"exp":1}`, `{"role":5,"exp":1}`, `{"roles":"admin","exp":1}`, `{"roles":["a",1],"exp":1}`,
	`{"scope":{"a":1},"exp":1}`, `{"scp":[null],"exp":1}`, `{"aud":["a",1],"exp":1}`, `{"aud":5,"exp":1}`, `{"aud":[],"exp":1}`, `{"roles":[],"exp":1}`,
	"{\"exp\":1,\"x\":\"\xff\"}", "{\"exp\":1,\"\xff\":1}", "{\"sub\":\"a\x01\",\"exp\":1}", `{"sub":"a\u0000b","exp":1}`, `{"sub":"\/\b\f\n\r\t\"\\","exp":1}`, `{"sub":"\x","exp":1}`, `{"sub":"\u12","exp":1}`,
	`{"exp":1,"x":[1,2,{"y":[true,false,null]}],"z":-1.5e-3}`, `{"exp":1,"x":tru}`, `{"exp":1,"x":nul}`, "{\t\"exp\"\r\n:\n1}",
	`{"sub":"a","sub":"b","exp":1}`, `{"exp":1,"exp":2}`, `{"iss":1,"exp":1}`, `{"client_id":[],"exp":1}`,
	`{"sub":"a","exp":1,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`, `{"exp":1,"cnf":{}}`, `{"exp":1,"cnf":{"x5t#S256":"x"}}`,
	`{"exp":1,"cnf":{"jkt":1}}`, `{"exp":1,"cnf":{"jkt":null}}`, `{"exp":1,"cnf":"x"}`, `{"exp":1,"cnf":null}`, `{"exp":1,"cnf":[]}`,
	`{"exp":1,"cnf":{"jkt":"a","jkt":"b"}}`, `{"exp":1,"cnf":{"jkt":"a"},"cnf":{"jkt":"b"}}`, `{"exp":1,"cnf":{"jkt":"a","x":{"y":[1,{"z":2,"z":3}]}}}`,
	`{"exp":1,"cnf":{"jkt":"\u0061"}}`, `{"exp":1,"cnf":{"jkt":"a",}}`, `{"exp":1,"cnf":{"jkt" "a"}}`, `{"exp":1,"cnf":{"jkt":1,"jkt":2}}`,
	strings.Repeat("[", 100) + strings.Repeat("]", 100), `{"exp":1,"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
}

// decodeReference is what the decoder must agree with: JSON v2, strict by default.
func decodeReference(data []byte) (Wire, error) {
	var w Wire
	err := json.Unmarshal(data, &w)
	return w, err
}

func sameDate(a, b NumericDate) bool {
	return a.set == b.set && (a.sec == b.sec || math.IsNaN(a.sec) && math.IsNaN(b.sec))
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// compareClaims reports how got (ours) differs from want (JSON v2).
func compareClaims(t *testing.T, data []byte, got, want Wire) {
	t.Helper()
	if got.Iss != want.Iss || got.Sub != want.Sub || got.Jti != want.Jti || got.ClientID != want.ClientID ||
		got.Role != want.Role || got.Scope != want.Scope || got.Cnf != want.Cnf {
		t.Fatalf("%q: strings differ:\n ours %+v\n v2   %+v", data, got, want)
	}
	if !sameDate(got.Exp, want.Exp) || !sameDate(got.Nbf, want.Nbf) || !sameDate(got.Iat, want.Iat) {
		t.Fatalf("%q: dates differ: ours %v %v %v, v2 %v %v %v", data, got.Exp, got.Nbf, got.Iat, want.Exp, want.Nbf, want.Iat)
	}
	if !sameStrings(got.Aud, want.Aud) || !sameStrings(got.Roles, want.Roles) || !sameStrings(got.Scp, want.Scp) {
		t.Fatalf("%q: lists differ: ours %q %q %q, v2 %q %q %q", data, got.Aud, got.Roles, got.Scp, want.Aud, want.Roles, want.Scp)
	}
	if len(got.Extra) == 0 || len(want.Extra) == 0 {
		if len(got.Extra) != len(want.Extra) {
			t.Fatalf("%q: extra: ours %s, v2 %s", data, got.Extra, want.Extra)
		}
		return
	}
	gc, wc := jsontext.Value(bytes.Clone(got.Extra)), jsontext.Value(bytes.Clone(want.Extra))
	if gc.Compact() == nil && wc.Compact() == nil && bytes.Equal(gc, wc) {
		return
	}
	var ge, we any
	if err := json.Unmarshal(got.Extra, &ge); err != nil {
		t.Fatalf("%q: our Extra %s does not parse: %v", data, got.Extra, err)
	}
	if err := json.Unmarshal(want.Extra, &we); err != nil {
		t.Fatalf("%q: v2 Extra %s does not parse: %v", data, want.Extra, err)
	}
	if !reflect.DeepEqual(ge, we) {
		t.Fatalf("%q: extra: ours %s, v2 %s", data, got.Extra, want.Extra)
	}
}

func checkDecodeClaims(t *testing.T, data []byte) {
	t.Helper()
	var got Wire
	errGot := Decode(data, &got)
	want, errWant := decodeReference(data)
	if errGot != nil && errWant == nil && string(bytes.Trim(data, " \t\r\n")) == "null" {
		return // JSON v2 takes a top-level null as "no change"; a claims set must be an object
	}
	if (errGot == nil) != (errWant == nil) {
		t.Fatalf("%q: ours err=%v, JSON v2 err=%v", data, errGot, errWant)
	}
	if errGot == nil {
		compareClaims(t, data, got, want)
	}
}

func TestDecodeClaimsMatchesJSONv2(t *testing.T) {
	for _, s := range claimsSeeds {
		checkDecodeClaims(t, []byte(s))
	}
}

func TestDecodeClaimsDeepAndWide(t *testing.T) {
	deep := `{"exp":1,"x":` + strings.Repeat("[", maxClaimsDepth+1) + strings.Repeat("]", maxClaimsDepth+1) + `}`
	checkDecodeClaims(t, []byte(deep))
	var b strings.Builder
	b.WriteString(`{"exp":1`)
	for i := range 5000 {
		b.WriteString(`,"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(`":0`)
	}
	b.WriteString(`}`)
	checkDecodeClaims(t, []byte(b.String())) // names repeat: both must reject
	b.Reset()
	b.WriteString(`{"exp":1,"x":{`)
	for i := range 5000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(`":0`)
	}
	b.WriteString(`}}`)
	checkDecodeClaims(t, []byte(b.String())) // 5000 distinct names in a nested object: both accept
}

// FuzzDecodeClaims: the hand-written decoder and JSON v2 accept the same
// payloads and decode them to the same claims. Seeds: claimsSeeds, the
// corpus in testdata/fuzz/FuzzDecodeClaims, and the payloads of package
// guard's FuzzVerify corpus (../../testdata/fuzz/FuzzVerify).
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range claimsSeeds {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "fuzz", "FuzzVerify", "*"))
	if len(files) == 0 {
		f.Fatal("no FuzzVerify corpus in ../../testdata/fuzz/FuzzVerify")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			tok, ok := strings.CutPrefix(line, "string(")
			if !ok {
				continue
			}
			parts := strings.Split(strings.Trim(tok, `)"`), ".")
			if len(parts) == 3 {
				if payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1]); err == nil {
					f.Add(payload)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeClaims(t, data)
	})
}

func TestDecodeClaimsDepthLimit(t *testing.T) {
	for _, n := range []int{maxClaimsDepth - 2, maxClaimsDepth - 1, maxClaimsDepth, maxClaimsDepth + 1} {
		checkDecodeClaims(t, []byte(`{"exp":1,"x":`+strings.Repeat("[", n)+strings.Repeat("]", n)+`}`))
	}
}
