package guard

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// allocBudget is the allocations of one successful HS256 request through
// RequireBearer + RequireRole (TestRequireBearerAllocs), the response writer
// reused. Set to the measured value; see the test for the breakdown.
const allocBudget = 2

// badSignatureAllocBudget is the allocations of an HS256 request refused
// for its signature (TestRequireBearerBadSignatureAllocs).
const badSignatureAllocBudget = 1

// testNow is the fixed clock of every test verifier and issuer.
var testNow = time.Unix(1_700_000_000, 0)

func testClock() time.Time { return testNow }

// testSecret is the HS256 secret of testHSKey and forgeHS256.
var testSecret = []byte("n7Ff2QxL9pKc4ZvT1mWb8RjH5sYd0GeA")

func testHSKey(t testing.TB) *Key {
	t.Helper()
	k, err := NewHMACKey(HS256, testSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestVerifier returns a verifier on the fixed clock; cfg.Keys defaults to testHSKey.
func newTestVerifier(t testing.TB, cfg VerifierConfig) *Verifier {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = []*Key{testHSKey(t)}
	}
	cfg.Now = testClock
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// issueToken mints a token with key k (testHSKey when nil) at testNow.
func issueToken(t testing.TB, k *Key, c Claims) string {
	t.Helper()
	if k == nil {
		k = testHSKey(t)
	}
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forgeHS256 signs an arbitrary header and payload (raw JSON) with testSecret.
func forgeHS256(header, payload string) string {
	enc := base64.RawURLEncoding
	si := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, testSecret)
	m.Write([]byte(si))
	return si + "." + enc.EncodeToString(m.Sum(nil))
}

// exp is testNow plus one hour, as a JSON number.
const validExp = "1700003600"

// nextHandler records whether it ran and the principal it saw.
type nextHandler struct {
	ran bool
	p   *Principal
	ok  bool
}

func (n *nextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.ran = true
	n.p, n.ok = PrincipalFrom(r.Context())
	w.WriteHeader(http.StatusOK)
}

// failingBody fails the test if the middleware reads the request body.
type failingBody struct{ t *testing.T }

func (b failingBody) Read([]byte) (int, error) {
	b.t.Error("the request body was read")
	return 0, io.EOF
}

// checkError asserts an error response as WriteError writes it: status, the
// one WWW-Authenticate value (none when challenge is ""), the fixed headers
// and the exact body.
func checkError(t *testing.T, rec *httptest.ResponseRecorder, status int, challenge, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status: got %d, want %d", rec.Code, status)
	}
	var want []string
	if challenge != "" {
		want = []string{challenge}
	}
	if got := rec.Header().Values("WWW-Authenticate"); !slices.Equal(got, want) {
		t.Errorf("WWW-Authenticate: got %q, want %q", got, want)
	}
	for h, v := range map[string]string{
		"Content-Type":           "application/json",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := rec.Header().Values(h); !slices.Equal(got, []string{v}) {
			t.Errorf("%s: got %q, want %q", h, got, v)
		}
	}
	// Pragma belongs to token-endpoint responses (RFC 6749 §5), not to RFC 6750 errors.
	if got := rec.Header().Values("Pragma"); got != nil {
		t.Errorf("Pragma: got %q, want none", got)
	}
	if got := rec.Body.String(); got != body {
		t.Errorf("body: got %s, want %s", got, body)
	}
}

// Wire values of the default verifier (realm "api").
const (
	bareChallenge    = `Bearer realm="api"`
	noCredsBody      = `{"error":"unauthorized","error_description":"authentication required"}` + "\n"
	malformedHdr     = `Bearer realm="api", error="invalid_request", error_description="malformed Authorization header"`
	malformedHdrBody = `{"error":"invalid_request","error_description":"malformed Authorization header"}` + "\n"
	twoCreds         = `Bearer realm="api", error="invalid_request", error_description="more than one credential"`
	twoCredsBody     = `{"error":"invalid_request","error_description":"more than one credential"}` + "\n"
)

func invalidToken(desc string) (challenge, body string) {
	return `Bearer realm="api", error="invalid_token", error_description="` + desc + `"`,
		`{"error":"invalid_token","error_description":"` + desc + `"}` + "\n"
}

func TestRequireBearer(t *testing.T) {
	tok := issueToken(t, nil, Claims{Subject: "alice", ID: "jti-1", Roles: []string{"admin"}, Scopes: []string{"read", "write"}})
	expired := issueToken(t, nil, Claims{Subject: "alice", ExpiresAt: testNow.Add(-time.Second), IssuedAt: testNow.Add(-time.Hour)})
	badSig := tok[:len(tok)-2] + "AA"
	if badSig == tok {
		badSig = tok[:len(tok)-2] + "BA"
	}
	malformedCh, malformedBody := invalidToken("malformed token")
	expiredCh, expiredBody := invalidToken("token expired")
	sigCh, sigBody := invalidToken("invalid signature")

	tests := []struct {
		name      string
		header    []string // Authorization values; nil: none
		target    string   // default "/"
		query     bool     // DangerouslyAllowQueryToken
		anon      bool     // served through OptionalAuth(v) instead of v.RequireBearer
		status    int
		challenge string // for error responses
		body      string // for error responses
		noStore   bool   // a 200 must carry Cache-Control: no-store
	}{
		{name: "valid", header: []string{"Bearer " + tok}, status: 200},
		{name: "lower-case scheme", header: []string{"bearer " + tok}, status: 200},
		{name: "upper-case scheme", header: []string{"BEARER " + tok}, status: 200},
		{name: "several spaces", header: []string{"Bearer    " + tok}, status: 200},

		{name: "no header", status: 401, challenge: bareChallenge, body: noCredsBody},
		{name: "empty header", header: []string{""}, status: 401, challenge: bareChallenge, body: noCredsBody},
		{name: "Basic scheme", header: []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, status: 401, challenge: bareChallenge, body: noCredsBody},
		{name: "Bearerx scheme", header: []string{"Bearerx " + tok}, status: 401, challenge: bareChallenge, body: noCredsBody},
		{name: "query token disabled by default", target: "/?access_token=" + tok, status: 401, challenge: bareChallenge, body: noCredsBody},

		{name: "scheme alone", header: []string{"Bearer"}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "scheme and spaces", header: []string{"Bearer   "}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "bad characters", header: []string{"Bearer abc$def"}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "two tokens", header: []string{"Bearer " + tok + " " + tok}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "tab separator", header: []string{"Bearer\t" + tok}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "space then tab", header: []string{"Bearer \t" + tok}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "padding inside", header: []string{"Bearer ab=cd"}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "only padding", header: []string{"Bearer =="}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "non-ASCII", header: []string{"Bearer é" + tok}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		// The b64token syntax is checked once a token has failed to verify:
		// the answer is the same as if it were checked first.
		{name: "bad character inside a token", header: []string{"Bearer " + tok[:20] + "$" + tok[21:]}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "bad character in the signature", header: []string{"Bearer " + tok[:len(tok)-1] + "!"}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "bad characters, query token too", header: []string{"Bearer abc$def"}, target: "/?access_token=" + tok, query: true, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "two Authorization headers", header: []string{"Bearer " + tok, "Bearer " + tok}, status: 400, challenge: twoCreds, body: twoCredsBody},
		{name: "Bearer and Basic headers", header: []string{"Bearer " + tok, "Basic YTpi"}, status: 400, challenge: twoCreds, body: twoCredsBody},

		{name: "b64token characters reach the verifier", header: []string{"Bearer a~b+c/d.e-f_g=="}, status: 401, challenge: malformedCh, body: malformedBody},
		{name: "garbage token", header: []string{"Bearer abc.def.ghi"}, status: 401, challenge: malformedCh, body: malformedBody},
		{name: "padded token", header: []string{"Bearer " + tok + "=="}, status: 401, challenge: malformedCh, body: malformedBody},
		{name: "expired", header: []string{"Bearer " + expired}, status: 401, challenge: expiredCh, body: expiredBody},
		{name: "bad signature", header: []string{"Bearer " + badSig}, status: 401, challenge: sigCh, body: sigBody},

		{name: "query token", target: "/?access_token=" + tok, query: true, status: 200, noStore: true},
		{name: "query token among others", target: "/?a=1&access_token=" + tok + "&b=2", query: true, status: 200, noStore: true},
		{name: "query token, encoded name", target: "/?access%5Ftoken=" + tok, query: true, status: 200, noStore: true},
		{name: "query enabled, none given", target: "/?a=1", query: true, status: 401, challenge: bareChallenge, body: noCredsBody},
		{name: "query and header", header: []string{"Bearer " + tok}, target: "/?access_token=" + tok, query: true, status: 400, challenge: twoCreds, body: twoCredsBody},
		{name: "two query tokens", target: "/?access_token=" + tok + "&access_token=" + tok, query: true, status: 400, challenge: twoCreds, body: twoCredsBody},
		{name: "empty query token", target: "/?access_token=", query: true, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "query token bad characters", target: "/?access_token=a%20b", query: true, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "query token invalid", target: "/?access_token=abc.def.ghi", query: true, status: 401, challenge: malformedCh, body: malformedBody},

		{name: "anonymous: no header", anon: true, status: 200},
		{name: "anonymous: Basic", anon: true, header: []string{"Basic YTpi"}, status: 200},
		{name: "anonymous: valid", anon: true, header: []string{"Bearer " + tok}, status: 200},
		{name: "anonymous: bad token", anon: true, header: []string{"Bearer " + badSig}, status: 401, challenge: sigCh, body: sigBody},
		{name: "anonymous: malformed header", anon: true, header: []string{"Bearer"}, status: 400, challenge: malformedHdr, body: malformedHdrBody},
		{name: "anonymous: two headers", anon: true, header: []string{"Bearer a", "Bearer b"}, status: 400, challenge: twoCreds, body: twoCredsBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerifier(t, VerifierConfig{DangerouslyAllowQueryToken: tt.query})
			target := tt.target
			if target == "" {
				target = "/"
			}
			req := httptest.NewRequest(http.MethodPost, target, failingBody{t})
			for _, h := range tt.header {
				req.Header.Add("Authorization", h)
			}
			rec := httptest.NewRecorder()
			next := &nextHandler{}
			mw := v.RequireBearer
			if tt.anon {
				mw = OptionalAuth(v)
			}
			mw(next).ServeHTTP(rec, req)

			if tt.status != http.StatusOK {
				checkError(t, rec, tt.status, tt.challenge, tt.body)
				if next.ran {
					t.Error("next ran, want it not to")
				}
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (body %s)", rec.Code, rec.Body)
			}
			if !next.ran {
				t.Fatal("next did not run")
			}
			if got := rec.Header().Values("WWW-Authenticate"); got != nil {
				t.Errorf("WWW-Authenticate: got %q, want none", got)
			}
			wantCC := []string(nil)
			if tt.noStore {
				wantCC = []string{"no-store"}
			}
			if got := rec.Header().Values("Cache-Control"); !slices.Equal(got, wantCC) {
				t.Errorf("Cache-Control: got %q, want %q", got, wantCC)
			}
			anonymous := tt.anon && len(tt.header) == 0 || tt.name == "anonymous: Basic"
			if anonymous {
				if next.ok || next.p != nil {
					t.Errorf("principal: got %+v, want none", next.p)
				}
				return
			}
			checkAlice(t, next.p)
		})
	}
}

// checkAlice checks the principal of the token TestRequireBearer issues.
func checkAlice(t *testing.T, p *Principal) {
	t.Helper()
	if p == nil {
		t.Fatal("no principal in the context")
	}
	if p.Method != MethodBearer {
		t.Errorf("Method: got %v, want %v", p.Method, MethodBearer)
	}
	if p.Subject != "alice" {
		t.Errorf("Subject: got %q, want %q", p.Subject, "alice")
	}
	if !slices.Equal(p.Roles, []string{"admin"}) {
		t.Errorf("Roles: got %q, want [admin]", p.Roles)
	}
	if !slices.Equal(p.Scopes, []string{"read", "write"}) {
		t.Errorf("Scopes: got %q, want [read write]", p.Scopes)
	}
	c := p.Claims
	if c == nil {
		t.Fatal("Claims: got nil")
	}
	if c.Subject != "alice" || c.ID != "jti-1" {
		t.Errorf("Claims sub, jti: got %q, %q, want alice, jti-1", c.Subject, c.ID)
	}
	if !c.ExpiresAt.Equal(testNow.Add(DefaultTokenTTL)) {
		t.Errorf("Claims.ExpiresAt: got %v, want %v", c.ExpiresAt, testNow.Add(DefaultTokenTTL))
	}
	if !c.IssuedAt.Equal(testNow) {
		t.Errorf("Claims.IssuedAt: got %v, want %v", c.IssuedAt, testNow)
	}
}

func TestRequireBearerCustomRealmAndErrorWriter(t *testing.T) {
	var gotErr error
	calls := 0
	v := newTestVerifier(t, VerifierConfig{
		Realm: "my \"realm\"\r\n",
		ErrorWriter: func(w http.ResponseWriter, r *http.Request, err error) {
			calls++
			gotErr = err
			WriteError(w, r, err)
		},
	})
	tests := []struct {
		name      string
		header    string
		status    int
		challenge string
		is        []error
	}{
		{name: "no credentials", status: 401, challenge: `Bearer realm="my ?realm???"`, is: []error{ErrNoCredentials}},
		{name: "malformed", header: "Bearer", status: 400, challenge: `Bearer realm="my ?realm???", error="invalid_request", error_description="malformed Authorization header"`, is: []error{ErrInvalidRequest}},
		{name: "invalid token", header: "Bearer a.b.c", status: 401, challenge: `Bearer realm="my ?realm???", error="invalid_token", error_description="malformed token"`, is: []error{ErrInvalidToken, ErrMalformedToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, gotErr = 0, nil
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			next := &nextHandler{}
			v.RequireBearer(next).ServeHTTP(rec, req)
			if calls != 1 {
				t.Errorf("ErrorWriter calls: got %d, want 1", calls)
			}
			if next.ran {
				t.Error("next ran, want it not to")
			}
			if rec.Code != tt.status {
				t.Errorf("status: got %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.challenge)
			}
			for _, target := range tt.is {
				if !errors.Is(gotErr, target) {
					t.Errorf("errors.Is(%v, %v): got false, want true", gotErr, target)
				}
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	tok := issueToken(t, nil, Claims{Subject: "alice", ID: "jti-1", Roles: []string{"admin"}, Scopes: []string{"read", "write"}})
	v := newTestVerifier(t, VerifierConfig{DangerouslyAllowQueryToken: true})
	tests := []struct {
		name   string
		header string
		target string
		is     []error
	}{
		{name: "valid", header: "Bearer " + tok, target: "/"},
		{name: "query", target: "/?access_token=" + tok},
		{name: "none", target: "/", is: []error{ErrNoCredentials}},
		{name: "malformed", header: "Bearer !", target: "/", is: []error{ErrInvalidRequest}},
		{name: "two", header: "Bearer " + tok, target: "/?access_token=" + tok, is: []error{ErrInvalidRequest}},
		{name: "invalid", header: "Bearer " + tok + "x", target: "/", is: []error{ErrInvalidToken, ErrInvalidSignature}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			p, err := v.Authenticate(req)
			if tt.is == nil {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
				checkAlice(t, p)
				return
			}
			if p != nil {
				t.Errorf("principal: got %+v, want nil", p)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v): got false, want true", err, target)
				}
			}
		})
	}
}

func TestParseBearer(t *testing.T) {
	tests := []struct {
		name   string
		header string
		token  string
		status bearerStatus
	}{
		{"plain", "Bearer abc", "abc", bearerOK},
		{"lower", "bearer abc", "abc", bearerOK},
		{"mixed", "bEaReR abc", "abc", bearerOK},
		{"spaces", "Bearer     abc", "abc", bearerOK},
		{"all b64token characters", "Bearer AZaz09-._~+/==", "AZaz09-._~+/==", bearerOK},
		{"jwt", "Bearer aaa.bbb.ccc", "aaa.bbb.ccc", bearerOK},
		{"empty", "", "", bearerAbsent},
		{"short", "Bear", "", bearerAbsent},
		{"Basic", "Basic abc", "", bearerAbsent},
		{"longer scheme", "Bearers abc", "", bearerAbsent},
		{"scheme alone", "Bearer", "", bearerMalformed},
		{"trailing space", "Bearer abc ", "", bearerMalformed},
		{"tab", "Bearer\tabc", "", bearerMalformed},
		{"comma", "Bearer,abc", "", bearerMalformed},
		{"padding only", "Bearer =", "", bearerMalformed},
		{"padding inside", "Bearer a=b", "", bearerMalformed},
		{"quote", `Bearer "abc"`, "", bearerMalformed},
		{"NUL", "Bearer a\x00b", "", bearerMalformed},
		{"CRLF", "Bearer a\r\nb", "", bearerMalformed},
		{"high byte", "Bearer a\xffb", "", bearerMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, status := parseBearer(tt.header)
			if token != tt.token || status != tt.status {
				t.Errorf("parseBearer(%q): got %q, %d, want %q, %d", tt.header, token, status, tt.token, tt.status)
			}
		})
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer abc", "bearer  a.b.c", "BEARER AZaz09-._~+/==", "Basic abc",
		"Bearer\tabc", "Bearer a=b", "Bearer é", "Bearers x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		token, status := parseBearer(h)
		switch status {
		case bearerOK:
			if !isB64Token(token) {
				t.Fatalf("parseBearer(%q) = %q, not a b64token", h, token)
			}
			if !strings.EqualFold(h[:6], "Bearer") || !strings.HasSuffix(h, token) ||
				strings.Trim(h[6:len(h)-len(token)], " ") != "" || h[6] != ' ' {
				t.Fatalf("parseBearer(%q) = %q: the header is not scheme 1*SP token", h, token)
			}
			// Round trip.
			if t2, s2 := parseBearer("Bearer " + token); t2 != token || s2 != bearerOK {
				t.Fatalf("round trip of %q: got %q, %d", token, t2, s2)
			}
		case bearerAbsent, bearerMalformed:
			if token != "" {
				t.Fatalf("parseBearer(%q): status %d with token %q", h, status, token)
			}
			if status == bearerMalformed && !(len(h) >= 6 && strings.EqualFold(h[:6], "Bearer")) {
				t.Fatalf("parseBearer(%q): malformed without the Bearer scheme", h)
			}
		default:
			t.Fatalf("parseBearer(%q): unknown status %d", h, status)
		}
	})
}

// rsaTestKey is generated once: RSA key generation is slow.
var rsaTestKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// badInputs are hostile Authorization values with the response the full
// middleware (RequireBearer + RequireRole("admin")) must give.
func badInputs(t testing.TB) []struct {
	name   string
	header string
	status int
	desc   string // error_description
} {
	const hs = `{"alg":"HS256","typ":"JWT"}`
	const good = `{"sub":"u","exp":` + validExp + `,"role":"admin"}`
	enc := base64.RawURLEncoding.EncodeToString
	var signedWith func(header string, secret []byte) string
	valid := forgeHS256(hs, good)
	dot := strings.LastIndexByte(valid, '.')
	unsigned := func(alg string) string { return enc([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + enc([]byte(good)) }

	// Algorithm confusion: HS256 with the RSA public key (PEM and DER) as the secret.
	rsaDER, err := x509.MarshalPKIXPublicKey(&rsaTestKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})
	confused := func(secret []byte) string { return signedWith(hs, secret) }
	signedWith = func(header string, secret []byte) string {
		si := enc([]byte(header)) + "." + enc([]byte(good))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(si))
		return si + "." + enc(m.Sum(nil))
	}
	attacker := []byte("attacker-secret-attacker-secret!")
	nested := strings.Repeat("[", 3000) + strings.Repeat("]", 3000)

	return []struct {
		name   string
		header string
		status int
		desc   string
	}{
		{"alg none, no signature", "Bearer " + unsigned("none") + ".", 401, "malformed token"},
		{"alg none, a signature", "Bearer " + unsigned("none") + ".c2ln", 401, "algorithm not allowed"},
		{"alg None", "Bearer " + unsigned("None") + ".c2ln", 401, "algorithm not allowed"},
		{"alg NONE", "Bearer " + unsigned("NONE") + ".c2ln", 401, "algorithm not allowed"},
		{"alg nOnE", "Bearer " + unsigned("nOnE") + ".c2ln", 401, "algorithm not allowed"},
		{"alg hs256 lower case", "Bearer " + unsigned("hs256") + valid[dot:], 401, "algorithm not allowed"},
		{"HS256 with the RSA public key PEM", "Bearer " + confused(rsaPEM), 401, "invalid signature"},
		{"HS256 with the RSA public key DER", "Bearer " + confused(rsaDER), 401, "invalid signature"},
		{"stripped signature", "Bearer " + valid[:dot+1], 401, "malformed token"},
		{"2 segments", "Bearer " + valid[:dot], 401, "malformed token"},
		{"4 segments", "Bearer " + valid + ".c2ln", 401, "malformed token"},
		{"5 segments (JWE shape)", "Bearer " + valid + ".c2ln.c2ln", 401, "malformed token"},
		{"empty header segment", "Bearer " + valid[strings.IndexByte(valid, '.'):], 401, "malformed token"},
		{"empty payload segment", "Bearer " + enc([]byte(hs)) + ".." + valid[dot+1:], 401, "malformed token"},
		{"padded signature", "Bearer " + valid + "=", 401, "malformed token"},
		{"standard base64 signature", "Bearer " + valid[:dot+1] + "ab+/" + valid[dot+5:], 401, "malformed token"},
		{"10 000 dots", "Bearer " + strings.Repeat(".", 10000), 401, "token too large"},
		{"8 KiB of dots", "Bearer " + strings.Repeat(".", 8<<10), 401, "malformed token"},
		{"near 1 MiB", "Bearer " + strings.Repeat("a", 1<<20-16), 401, "token too large"},
		{"near 1 MiB of bad characters", "Bearer " + strings.Repeat("a", 1<<20-16) + "!", 400, "malformed Authorization header"},
		{"nested JSON payload", "Bearer " + forgeHS256(hs, nested), 401, "malformed claims"},
		{"nested JSON header", "Bearer " + enc([]byte(nested)) + "." + enc([]byte(good)) + valid[dot:], 401, "malformed token"},
		{"exp as a string", "Bearer " + forgeHS256(hs, `{"sub":"u","exp":"`+validExp+`","role":"admin"}`), 401, "malformed claims"},
		{"exp 0", "Bearer " + forgeHS256(hs, `{"sub":"u","exp":0,"role":"admin"}`), 401, "token expired"},
		{"exp negative", "Bearer " + forgeHS256(hs, `{"sub":"u","exp":-1e300,"role":"admin"}`), 401, "token expired"},
		{"exp null", "Bearer " + forgeHS256(hs, `{"sub":"u","exp":null,"role":"admin"}`), 401, "malformed claims"},
		{"exp out of range", "Bearer " + forgeHS256(hs, `{"sub":"u","exp":1e400,"role":"admin"}`), 401, "malformed claims"},
		{"no exp", "Bearer " + forgeHS256(hs, `{"sub":"u","role":"admin"}`), 401, "exp claim required"},
		{"no sub", "Bearer " + forgeHS256(hs, `{"exp":`+validExp+`,"role":"admin"}`), 401, "sub claim required"},
		{"payload not an object", "Bearer " + forgeHS256(hs, `"admin"`), 401, "malformed claims"},
		{"duplicate role", "Bearer " + forgeHS256(hs, `{"sub":"u","exp":`+validExp+`,"role":"user","role":"admin"}`), 401, "malformed claims"},
		{"invalid UTF-8", "Bearer " + forgeHS256(hs, "{\"sub\":\"\xff\",\"exp\":"+validExp+",\"role\":\"admin\"}"), 401, "malformed claims"},
		{"crit header", "Bearer " + forgeHS256(`{"alg":"HS256","crit":["exp"],"exp":1}`, good), 401, "unsupported critical header"},
		{"unknown kid", "Bearer " + forgeHS256(`{"alg":"HS256","kid":"other"}`, good), 401, "unknown signing key"},
		{"typ not a JWT", "Bearer " + forgeHS256(`{"alg":"HS256","typ":"JOSE+JSON"}`, good), 401, "token type not accepted"},
		{"duplicate alg", "Bearer " + forgeHS256(`{"alg":"none","alg":"HS256"}`, good), 401, "malformed token"},
		{"embedded jwk is ignored", "Bearer " + signedWith(`{"alg":"HS256","jwk":{"kty":"oct","k":"`+enc(attacker)+`"}}`, attacker), 401, "invalid signature"},
		{"jku is ignored", "Bearer " + signedWith(`{"alg":"HS256","jku":"https://evil.example/jwks"}`, attacker), 401, "invalid signature"},
		{"NUL in header", "Bearer " + valid[:10] + "\x00" + valid[10:], 400, "malformed Authorization header"},
		{"CRLF in header", "Bearer " + valid + "\r\nX-Admin: 1", 400, "malformed Authorization header"},
		{"scheme alone", "Bearer", 400, "malformed Authorization header"},
	}
}

func TestBadInput(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	h := v.RequireBearer(RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("next ran")
	})))
	for _, tt := range badInputs(t) {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/admin", failingBody{t})
			req.Header.Set("Authorization", tt.header)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			code := "invalid_token"
			if tt.status == 400 {
				code = "invalid_request"
			}
			checkError(t, rec, tt.status,
				`Bearer realm="api", error="`+code+`", error_description="`+tt.desc+`"`,
				`{"error":"`+code+`","error_description":"`+tt.desc+`"}`+"\n")
		})
	}

	t.Run("deep nesting beyond the decoder's limit", func(t *testing.T) {
		big := newTestVerifier(t, VerifierConfig{MaxTokenBytes: 2 << 20})
		deep := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+forgeHS256(`{"alg":"HS256"}`, `{"sub":"u","exp":`+validExp+`,"x":`+deep+`}`))
		rec := httptest.NewRecorder()
		big.RequireBearer(RequireRole("admin")(&nextHandler{})).ServeHTTP(rec, req)
		ch, body := invalidToken("malformed claims")
		checkError(t, rec, 401, ch, body)
	})

	t.Run("nested extra claim in a signed token grants nothing", func(t *testing.T) {
		tok := forgeHS256(`{"alg":"HS256"}`, `{"sub":"u","exp":`+validExp+`,"x":`+strings.Repeat("[", 2000)+strings.Repeat("]", 2000)+`}`)
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		v.RequireBearer(RequireRole("admin")(&nextHandler{})).ServeHTTP(rec, req)
		ch, body := forbidden("admin")
		checkError(t, rec, 403, ch, body)
	})
}

// FuzzRequireBearer sends arbitrary Authorization values through
// RequireBearer + RequireRole("admin"). Properties: no panic; the status is
// 200, 400, 401 or 403; every non-200 carries a Bearer challenge; 200 only
// when the header holds a token that Verify accepts with role admin.
func FuzzRequireBearer(f *testing.F) {
	v := newTestVerifier(f, VerifierConfig{})
	for _, tt := range badInputs(f) {
		if len(tt.header) <= 16<<10 {
			f.Add(tt.header)
		}
	}
	f.Add("Bearer " + forgeHS256(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"u","exp":`+validExp+`,"role":"admin"}`))
	f.Add("bearer  " + forgeHS256(`{"alg":"HS256"}`, `{"sub":"u","exp":`+validExp+`,"roles":["user","admin"]}`))
	f.Add("Bearer " + forgeHS256(`{"alg":"HS256"}`, `{"sub":"u","exp":`+validExp+`,"role":"user"}`))
	f.Add("Bearer " + issueToken(f, nil, Claims{Subject: "alice", Roles: []string{"admin"}}))
	f.Add("Basic YTpi")
	f.Add("")

	ran := false
	h := v.RequireBearer(RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
	})))
	f.Fuzz(func(t *testing.T, header string) {
		ran = false
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case 200:
			if !ran {
				t.Fatalf("%q: 200 without next", header)
			}
			token, st := parseBearer(header)
			if st != bearerOK {
				t.Fatalf("%q: 200 for a header parseBearer rejects", header)
			}
			c, err := v.Verify(context.Background(), token)
			if err != nil {
				t.Fatalf("%q: 200 for a token Verify rejects: %v", header, err)
			}
			if !slices.Contains(c.Roles, "admin") {
				t.Fatalf("%q: 200 without role admin (roles %q)", header, c.Roles)
			}
			return
		case 400, 401, 403:
		default:
			t.Fatalf("%q: status %d", header, rec.Code)
		}
		if ran {
			t.Fatalf("%q: next ran on a %d", header, rec.Code)
		}
		ch := rec.Header().Values("WWW-Authenticate")
		if len(ch) != 1 || !strings.HasPrefix(ch[0], `Bearer realm="api"`) {
			t.Fatalf("%q: %d with challenges %q", header, rec.Code, ch)
		}
	})
}

// discardWriter is a reusable ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// TestRequireBearerAllocs holds the allocation budget of a successful HS256
// request through RequireBearer + RequireRole, with the claims of a usual
// access token (iss, sub, one aud, exp, iat, one role) checked against
// Issuers and Audiences.
func TestRequireBearerAllocs(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{Issuers: []string{"https://issuer.example"}, Audiences: []string{"api"}})
	tok := issueToken(t, nil, Claims{Issuer: "https://issuer.example", Subject: "alice", Audience: []string{"api"},
		ExpiresAt: testNow.Add(time.Hour), Roles: []string{"admin"}})
	ok := false
	h := v.RequireBearer(RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok = PrincipalFrom(r.Context())
	})))
	req := httptest.NewRequest(http.MethodGet, "/admin", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := &discardWriter{h: http.Header{}}

	got := measureAllocs(t, 100, func() { h.ServeHTTP(w, req) })
	if !ok {
		t.Fatal("the request did not reach the handler")
	}
	// Measured with Go 1.26 on linux/amd64: 2 per request. The principal,
	// its claims, the context node and the decoded claims set their strings
	// point into (one object, newPrincipalCtx, bearer.go), and the shallow
	// request copy of r.WithContext. The lone aud and role are held in
	// Claims; the MAC state and the signature's decoding are pooled
	// (jwt.go hmacState); the claims' wire form is on the stack.
	if got > allocBudget {
		t.Errorf("allocations per request: got %v, want at most %v", got, allocBudget)
	}
	t.Logf("allocations per request: %v (budget %v)", got, allocBudget)
}

// TestRequireBearerBadSignatureAllocs: a refused token costs no allocation
// of its own. The errors are built with the Verifier; the one allocation is
// WriteError's header values, which each response gets afresh so that no
// later layer can change another response's headers.
func TestRequireBearerBadSignatureAllocs(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	tok := issueToken(t, nil, Claims{Subject: "alice", Roles: []string{"admin"}})
	i := strings.LastIndexByte(tok, '.') + 1 // change the signature's first character
	bad := tok[:i] + map[bool]string{true: "B", false: "A"}[tok[i] == 'A'] + tok[i+1:]
	ran := 0
	h := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran++ }))
	good := httptest.NewRequest(http.MethodGet, "/", nil)
	good.Header.Set("Authorization", "Bearer "+tok)
	h.ServeHTTP(httptest.NewRecorder(), good) // the header's key is cached, as in a running service
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+bad)
	w := &discardWriter{h: http.Header{}}
	got := measureAllocs(t, 100, func() {
		clear(w.h)
		h.ServeHTTP(w, req)
	})
	if ch := w.h.Get("WWW-Authenticate"); ran != 1 || !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("next ran %d times, challenge %q; want once (the good token) and invalid_token", ran, ch)
	}
	if got > badSignatureAllocBudget {
		t.Errorf("allocations per refused request: got %v, want at most %v", got, badSignatureAllocBudget)
	}
	t.Logf("allocations per refused request: %v (budget %v)", got, badSignatureAllocBudget)
}

func BenchmarkRequireBearer(b *testing.B) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	keys := []struct {
		alg    Algorithm
		signer crypto.Signer
	}{{HS256, nil}, {ES256, ec}, {EdDSA, ed}, {RS256, rsaTestKey()}}
	for _, kk := range keys {
		b.Run(string(kk.alg), func(b *testing.B) {
			k := testHSKey(b)
			if kk.signer != nil {
				if k, err = NewPrivateKey(kk.alg, kk.signer, ""); err != nil {
					b.Fatal(err)
				}
			}
			v := newTestVerifier(b, VerifierConfig{Keys: []*Key{k}})
			tok := issueToken(b, k, Claims{Subject: "alice", Roles: []string{"admin"}})
			ran := false
			h := v.RequireBearer(RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran = true
			})))
			req := httptest.NewRequest(http.MethodGet, "/admin", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
			if !ran {
				b.Fatal("the request did not reach the handler")
			}
		})
	}
}

// TestPrincipalContextDelegates checks that the context RequireBearer builds
// behaves like context.WithValue: parent values, deadlines and cancellation
// pass through, and a principal set on top of it wins.
func TestPrincipalContextDelegates(t *testing.T) {
	type key struct{}
	v := newTestVerifier(t, VerifierConfig{})
	tok := issueToken(t, nil, Claims{Subject: "alice", ID: "jti-1", Roles: []string{"admin"}, Scopes: []string{"read", "write"}})
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	req := httptest.NewRequestWithContext(parent, http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	var ctx context.Context
	v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ctx = r.Context() })).ServeHTTP(httptest.NewRecorder(), req)
	if ctx == nil {
		t.Fatal("next did not run")
	}
	if got := ctx.Value(key{}); got != "v" {
		t.Errorf("parent value: got %v, want v", got)
	}
	p, ok := PrincipalFrom(ctx)
	if !ok {
		t.Fatal("no principal")
	}
	checkAlice(t, p)
	if c, ok := ClaimsFrom(ctx); !ok || c != p.Claims {
		t.Errorf("ClaimsFrom: got %p, %v, want %p, true", c, ok, p.Claims)
	}
	other := &Principal{Subject: "bob"}
	if got, _ := PrincipalFrom(NewContext(ctx, other)); got != other {
		t.Errorf("NewContext on top: got %v, want bob", got)
	}
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	if !strings.Contains(fmt.Sprint(ctx), "WithCancel") {
		t.Errorf("String: got %q, want it to name the parent", fmt.Sprint(ctx))
	}
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the request context did not reach a child context")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err: got %v, want context.Canceled", ctx.Err())
	}
}

func TestAuthenticateToken(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	good := issueToken(t, nil, Claims{Subject: "u", Roles: []string{"admin"}, Scopes: []string{"read"}, ExpiresAt: testNow.Add(time.Minute)})
	tests := []struct {
		name  string
		token string
		err   error
	}{
		{"valid", good, nil},
		{"empty", "", ErrNoCredentials},
		{"bad signature", good + "x", ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.AuthenticateToken(context.Background(), tt.token)
			if !errors.Is(err, tt.err) || (err == nil) != (p != nil) {
				t.Fatalf("got %v, %v; want error %v", p, err, tt.err)
			}
			if p != nil && (p.Subject != "u" || p.Method != MethodBearer || !p.HasRole("admin") || !p.HasScope("read")) {
				t.Errorf("principal: got %+v", p)
			}
		})
	}
}
