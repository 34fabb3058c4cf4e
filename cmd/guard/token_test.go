package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/guardkit/guard"
)

func TestTokenMint(t *testing.T) {
	dir := t.TempDir()
	es, esKey := newKeyFile(t, dir, "ES256")
	r := cmd(t, "", "token", "mint", "--key", es, "--sub", "alice", "--aud", "api,web", "--iss", "https://auth.example",
		"--ttl", "5m", "--claims", `{"role":"admin","scope":"read write","tenant":"acme"}`)
	r.want(t, 0, nil, nil)
	tok := strings.TrimSpace(r.stdout)
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{esKey.Public()}, Issuers: []string{"https://auth.example"},
		Audiences: []string{"web"}, RequireAccessTokenType: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("guard.Verifier refuses the minted token: %v", err)
	}
	var extra struct {
		Tenant string `json:"tenant"`
	}
	_ = c.DecodeExtra(&extra)
	if c.Subject != "alice" || len(c.Audience) != 2 || c.Roles[0] != "admin" || len(c.Scopes) != 2 || extra.Tenant != "acme" ||
		c.ExpiresAt.Sub(c.IssuedAt) != 5*time.Minute || c.ID == "" {
		t.Errorf("claims %+v, extra %+v", c, extra)
	}

	// An HS256 oct JWK signs too; the subject may come from --claims.
	hs, hsKey := newKeyFile(t, dir, "HS256")
	r = cmd(t, "", "token", "mint", "--key", hs, "--claims", `{"sub":"bob","roles":["a","b"]}`)
	r.want(t, 0, nil, nil)
	v, _ = guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{hsKey}})
	if c, err := v.Verify(context.Background(), strings.TrimSpace(r.stdout)); err != nil || c.Subject != "bob" || len(c.Roles) != 2 {
		t.Errorf("HS256 token: %+v, %v", c, err)
	}

	// A PEM RSA key minted as PS256 with --alg.
	ps, _ := newKeyFile(t, dir, "PS256", "--pem")
	r = cmd(t, "", "token", "mint", "--key", ps, "--alg", "PS256", "--sub", "svc")
	r.want(t, 0, nil, nil)
	if d, err := decodeToken(strings.TrimSpace(r.stdout)); err != nil || !strings.Contains(string(d.Header), `"PS256"`) {
		t.Errorf("PS256 header: %s, %v", d.Header, err)
	}

	cmd(t, "", "token", "mint", "--key", es, "--sub", "a", "--ttl", "48h").want(t, 0, nil, []string{"longer than 24h0m0s"})

	pub := writeFile(t, dir, "pub.json", mustRun(t, "jwks", es))
	bad := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no key", []string{"--sub", "a"}, "--key is required"},
		{"no subject", []string{"--key", es}, "a subject is required"},
		{"public key", []string{"--key", pub, "--sub", "a"}, "is a public key"},
		{"missing key file", []string{"--key", dir + "/nope", "--sub", "a"}, "no such file"},
		{"claims not JSON", []string{"--key", es, "--sub", "a", "--claims", "{role:admin}"}, "not a JSON object"},
		{"claims an array", []string{"--key", es, "--sub", "a", "--claims", "[1]"}, "not a JSON object"},
		{"claims with a duplicate", []string{"--key", es, "--sub", "a", "--claims", `{"role":"a","role":"b"}`}, "without duplicate names"},
		{"claims with trailing data", []string{"--key", es, "--sub", "a", "--claims", `{"role":"a"} {}`}, "not a JSON object"},
		{"claims sets exp", []string{"--key", es, "--sub", "a", "--claims", `{"exp":1}`}, `may not set "exp"`},
		{"sub twice", []string{"--key", es, "--sub", "a", "--claims", `{"sub":"b"}`}, `"sub" is given both`},
		{"aud twice", []string{"--key", es, "--sub", "a", "--aud", "x", "--claims", `{"aud":"y"}`}, `"aud" is given both`},
		{"role not a string", []string{"--key", es, "--sub", "a", "--claims", `{"role":1}`}, `"role" is not a string`},
		{"loose registered name", []string{"--key", es, "--sub", "a", "--claims", `{"Sub":"x"}`}, "registered claim"},
		{"negative ttl", []string{"--key", es, "--sub", "a", "--ttl", "-1m"}, "not positive"},
		{"bad scope", []string{"--key", es, "--sub", "a", "--claims", `{"scp":["a\"b"]}`}, "not a scope token"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := cmd(t, "", append([]string{"token", "mint"}, tt.args...)...)
			r.want(t, 2, nil, []string{tt.stderr})
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := cmd(t, "", args...)
	if r.code != 0 {
		t.Fatalf("%v: %d %s", args, r.code, r.stderr)
	}
	return r.stdout
}

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func TestTokenInspect(t *testing.T) {
	_, key := newKeyFile(t, t.TempDir(), "ES256")
	tok := issue(t, key, t0, guard.Claims{Subject: "alice", Issuer: "https://auth.example", Extra: []byte(`{"auth_time":1796630400}`)})
	later := t0.Add(3*time.Hour + 10*time.Minute)

	r := cmdAt(t, t0.Add(time.Minute), "", "token", "inspect", tok)
	r.want(t, 0, []string{`"sub": "alice"`, `"typ": "at+jwt"`, `"kid": "` + key.KeyID() + `"`,
		"iat       2026-12-07 12:00:00 UTC (1m ago)", "exp       2026-12-07 12:15:00 UTC (in 14m)",
		"auth_time 2026-12-07 08:00:00 UTC (4h ago)", "signature: 64 bytes, not checked"}, nil)
	if first, _, _ := strings.Cut(r.stdout, "\n"); !strings.HasPrefix(first, "NOT VERIFIED") {
		t.Errorf("first line %q does not say the token is not verified", first)
	}
	// An expired token inspects all the same (no check is made).
	cmdAt(t, later, "", "token", "inspect", tok).want(t, 0, []string{"(2h ago)", "(3h ago)"}, nil)
	// From stdin, with a Bearer prefix and a newline.
	cmdAt(t, t0, "Bearer "+tok+"\n", "token", "inspect", "-").want(t, 0, []string{`"sub": "alice"`, "(now)"}, nil)

	r = cmdAt(t, t0.Add(time.Minute), "", "token", "inspect", "--json", tok)
	r.want(t, 0, nil, nil)
	var res struct {
		Verified bool
		Header   map[string]any
		Claims   map[string]any
		Times    map[string]claimTime
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if res.Verified || res.Claims["sub"] != "alice" || res.Header["alg"] != "ES256" || res.Times["exp"].Relative != "in 14m" || res.Times["exp"].Unix != t0.Add(15*time.Minute).Unix() {
		t.Errorf("JSON: %+v", res)
	}

	enc := base64.RawURLEncoding.EncodeToString
	bad := []struct {
		name, token, stderr string
	}{
		{"one part", "abc", "three dot-separated parts, this has 1"},
		{"JWE", "a.b.c.d.e", "encrypted token (JWE"},
		{"padding", enc([]byte(`{"alg":"ES256"}`)) + "=." + enc([]byte(`{}`)) + ".AA", "header is not base64url"},
		{"not JSON", enc([]byte(`alg`)) + "." + enc([]byte(`{}`)) + ".AA", "header is not valid JSON"},
		{"not an object", enc([]byte(`"alg"`)) + "." + enc([]byte(`{}`)) + ".AA", "header is not a JSON object"},
		{"invalid UTF-8", enc([]byte("{\"a\":\"\xff\"}")) + "." + enc([]byte(`{}`)) + ".AA", "invalid UTF-8"},
		{"claims array", enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`[1]`)) + ".AA", "claims is not a JSON object"},
		{"duplicate claim", enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{"sub":"a","sub":"b"}`)) + ".AA", "claims is not valid JSON"},
		{"empty claims", enc([]byte(`{"alg":"ES256"}`)) + "..AA", "claims is empty"},
		{"bad signature encoding", enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{}`)) + ".A", "signature is not base64url"},
		{"whitespace", " ", "empty token"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := cmd(t, "", "token", "inspect", tt.token)
			r.want(t, 2, nil, []string{tt.stderr})
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
	}
	cmd(t, "", "token", "inspect").want(t, 2, nil, []string{"want one TOKEN argument, got 0"})
	cmd(t, "", "token", "inspect", tok, tok).want(t, 2, nil, []string{"got 2"})
}

func TestAgo(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "now"}, {400 * time.Millisecond, "now"}, {30 * time.Second, "in 30s"}, {-30 * time.Second, "30s ago"},
		{14*time.Minute + 59*time.Second, "in 14m"}, {-3*time.Hour - 59*time.Minute, "3h ago"},
		{47 * time.Hour, "in 47h"}, {-72 * time.Hour, "3d ago"},
	} {
		if got := ago(t0.Add(tt.d), t0); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// hs256JWT signs claims with golang-jwt, whose header says typ "JWT".
func hs256JWT(t *testing.T, secret []byte, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzDecodeToken: the inspect decoder never panics, and what it accepts
// has a JSON object as header and as claims.
func FuzzDecodeToken(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.AA")
	f.Add("a.b.c.d.e")
	f.Add(enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{"sub":"a","sub":"b"}`)) + ".AA")
	f.Add(enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(`{"exp":1e400,"iat":-1,"nbf":"x"}`)) + ".")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		d, err := decodeToken(tok)
		if err != nil {
			return
		}
		if d.Header.Kind() != '{' || !d.Header.IsValid() || d.Claims.Kind() != '{' || !d.Claims.IsValid() {
			t.Fatalf("accepted %q with header %s, claims %s", tok, d.Header, d.Claims)
		}
		_ = d.times(t0)
	})
}
