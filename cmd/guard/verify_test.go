package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/guardkit/guard"
)

// idp is a test issuer: discovery metadata and a JWK Set over httptest.
type idp struct {
	*httptest.Server
	meta map[string]any // served at the OpenID Connect location when not nil
	// oauthMeta, when set, is served at the RFC 8414 location instead.
	oauthMeta bool
	jwks      string
	status    int // when not 0, every request gets it
}

func newIdP(t *testing.T, jwks string) *idp {
	t.Helper()
	p := &idp{jwks: jwks}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.status != 0 {
			w.WriteHeader(p.status)
			return
		}
		switch {
		case r.URL.Path == "/jwks.json":
			w.Header().Set("Content-Type", "application/jwk-set+json")
			w.Write([]byte(p.jwks))
		case r.URL.Path == "/.well-known/openid-configuration" && !p.oauthMeta && p.meta != nil,
			r.URL.Path == "/.well-known/oauth-authorization-server" && p.oauthMeta:
			json.NewEncoder(w).Encode(p.meta)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.Close)
	p.meta = map[string]any{
		"issuer":                                p.URL,
		"jwks_uri":                              p.URL + "/jwks.json",
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
	}
	return p
}

func TestTokenVerify(t *testing.T) {
	dir := t.TempDir()
	es, key := newKeyFile(t, dir, "ES256")
	other, _ := newKeyFile(t, dir, "ES256", "--kid", "other")
	hsFile, hsKey := newKeyFile(t, dir, "HS256")
	hsData, _ := os.ReadFile(hsFile)
	var hsJWK struct{ K string }
	_ = json.Unmarshal(hsData, &hsJWK)
	secret, _ := b64dec(hsJWK.K)

	c := guard.Claims{Subject: "alice", Issuer: "https://auth.example", Audience: []string{"api"}}
	tok := issue(t, key, t0, c)
	future := c
	future.IssuedAt = t0.Add(10 * time.Minute)
	futureTok := issue(t, key, t0, future)
	hsTok := issue(t, hsKey, t0, c)
	dot := strings.LastIndexByte(tok, '.')
	sig, _ := b64dec(tok[dot+1:])
	sig[10] ^= 1
	tampered := tok[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
	// An HS256 token naming the ES256 key's kid: the key does not allow HS256.
	algTok := hs256JWT(t, secret, key.KeyID(), jwt.MapClaims{"sub": "a", "exp": t0.Add(time.Minute).Unix()})
	typJWT := hs256JWT(t, secret, hsKey.KeyID(), jwt.MapClaims{"sub": "a", "exp": t0.Add(time.Minute).Unix()})
	noSub := hs256JWT(t, secret, hsKey.KeyID(), jwt.MapClaims{"exp": t0.Add(time.Minute).Unix()})

	ok := []string{"--key", es, "--aud", "api", "--iss", "https://auth.example"}
	tests := []struct {
		name   string
		now    time.Time
		stdin  string
		args   []string
		code   int
		stdout []string
	}{
		{"valid", t0.Add(time.Minute), "", append(ok, tok), 0, []string{`claims verified (sub "alice")`, `valid: signature (ES256, kid "` + key.KeyID() + `")`, "exp       2026-12-07 12:15:00 UTC (in 14m)"}},
		{"stdin", t0.Add(time.Minute), tok + "\n", append(ok, "-"), 0, []string{"valid"}},
		{"flags after the token", t0.Add(time.Minute), "", []string{"--key", es, tok, "--aud", "api"}, 0, []string{"valid"}},
		{"no checks of iss and aud", t0.Add(time.Minute), "", []string{"--key", es, tok}, 0, []string{"valid"}},
		{"expired", t0.Add(time.Hour), "", append(ok, tok), 1, []string{"INVALID: expired (token expired)"}},
		{"within the leeway", t0.Add(15*time.Minute + 10*time.Second), "", append(ok, "--leeway", "30s", tok), 0, []string{"valid"}},
		{"expired and wrong audience", t0.Add(time.Hour), "", []string{"--key", es, "--aud", "web", tok}, 1,
			[]string{"INVALID: expired", "also failed:\n  audience: aud \"api\" names none of [\"web\"]"}},
		{"not yet valid", t0.Add(time.Minute), "", append(ok, futureTok), 1, []string{"INVALID: not yet valid"}},
		{"audience", t0.Add(time.Minute), "", []string{"--key", es, "--aud", "web", tok}, 1, []string{"INVALID: audience (audience not accepted"}},
		{"issuer", t0.Add(time.Minute), "", []string{"--key", es, "--iss", "https://evil.example", tok}, 1, []string{`INVALID: issuer (issuer not accepted: got iss "https://auth.example", want one of ["https://evil.example"])`}},
		{"signature", t0.Add(time.Minute), "", append(ok, tampered), 1, []string{"INVALID: signature (invalid signature"}},
		{"kid", t0.Add(time.Minute), "", []string{"--key", other, tok}, 1, []string{"INVALID: kid (unknown signing key"}},
		{"kid of another key", t0.Add(time.Minute), "", []string{"--key", es, hsTok}, 1, []string{"INVALID: kid"}},
		{"alg", t0.Add(time.Minute), "", []string{"--key", es, algTok}, 1, []string{"INVALID: alg (algorithm not allowed"}},
		{"typ", t0, "", []string{"--key", hsFile, "--at-jwt", typJWT}, 1, []string{"INVALID: typ (token type not accepted"}},
		{"typ JWT accepted by default", t0, "", []string{"--key", hsFile, typJWT}, 0, []string{"valid"}},
		{"lifetime", t0.Add(time.Minute), "", append(ok, "--max-lifetime", "10m", tok), 1, []string{"INVALID: lifetime"}},
		{"no sub", t0, "", []string{"--key", hsFile, noSub}, 1, []string{"INVALID: missing claim (sub claim required"}},
		{"malformed", t0, "", []string{"--key", es, "a.b.c"}, 1, []string{"INVALID: malformed (malformed token"}},
		{"signature failure lists unverified claims", t0.Add(time.Hour), "", []string{"--key", es, "--aud", "web", tampered}, 1,
			[]string{"INVALID: signature", "also failed, in the unverified claims:", "expired: exp 2026-12-07 12:15:00 UTC (45m ago)", "audience:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmdAt(t, tt.now, tt.stdin, append([]string{"token", "verify"}, tt.args...)...).want(t, tt.code, tt.stdout, nil)
		})
	}

	r := cmdAt(t, t0.Add(time.Hour), "", "token", "verify", "--json", "--key", es, "--aud", "web", tok)
	r.want(t, 1, nil, nil)
	var res struct {
		Valid  bool
		Failed []check
		Claims map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Valid || len(res.Failed) != 2 ||
		res.Failed[0].Check != "expired" || res.Failed[1].Check != "audience" || res.Claims["sub"] != "alice" {
		t.Errorf("JSON %s: %+v, %v", r.stdout, res, err)
	}

	usage := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no key source", []string{tok}, "exactly one of --key, --jwks and --issuer"},
		{"two key sources", []string{"--key", es, "--jwks", "https://x.example/jwks", tok}, "exactly one of"},
		{"no token", []string{"--key", es}, "want one TOKEN argument"},
		{"missing key file", []string{"--key", dir + "/nope", tok}, "no such file"},
		{"leeway too large", []string{"--key", es, "--leeway", "10m", tok}, "Leeway 10m0s is outside"},
		{"http JWKS", []string{"--jwks", "http://auth.example/jwks.json", tok}, "needs --insecure"},
		{"http issuer", []string{"--issuer", "http://auth.example", tok}, "needs --insecure"},
		{"not a URL", []string{"--jwks", "auth.example/jwks.json", tok}, "insecure URL"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			r := cmd(t, "", append([]string{"token", "verify"}, tt.args...)...)
			r.want(t, 2, nil, []string{tt.stderr})
		})
	}
}

func TestTokenVerifyRemote(t *testing.T) {
	dir := t.TempDir()
	es, key := newKeyFile(t, dir, "ES256")
	p := newIdP(t, mustRun(t, "jwks", es))
	tok := issue(t, key, t0, guard.Claims{Subject: "alice", Issuer: p.URL, Audience: []string{"api"}})
	at := t0.Add(time.Minute)

	cmdAt(t, at, "", "token", "verify", "--jwks", p.URL+"/jwks.json", "--aud", "api", tok).want(t, 0, []string{"valid"}, nil)
	cmdAt(t, at, "", "token", "verify", "--issuer", p.URL, "--aud", "api", tok).want(t, 0, []string{"valid"}, nil)
	// --issuer makes iss required to be the issuer, unless --iss says otherwise.
	cmdAt(t, at, "", "token", "verify", "--issuer", p.URL, "--iss", "https://other.example", tok).want(t, 1, []string{"INVALID: issuer"}, nil)
	cmdAt(t, at, "", "token", "verify", "--jwks", p.URL+"/nope.json", tok).want(t, 1, nil, []string{"cannot load the keys", "status 404"})

	// RFC 8414 metadata is found when the OpenID Connect location answers 404.
	p.oauthMeta = true
	cmdAt(t, at, "", "token", "verify", "--issuer", p.URL, tok).want(t, 0, []string{"valid"}, nil)

	p.oauthMeta = false
	p.meta["issuer"] = "https://impostor.example"
	cmdAt(t, at, "", "token", "verify", "--issuer", p.URL, tok).want(t, 1, nil, []string{"cannot load the keys", "issuer"})

	// A JWK Set with a private member is refused whole, as guard refuses it.
	p.meta["issuer"] = p.URL
	p.jwks = `{"keys":[` + strings.TrimSpace(mustRead(t, es)) + `]}`
	cmdAt(t, at, "", "token", "verify", "--issuer", p.URL, tok).want(t, 1, nil, []string{"private member"})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func b64dec(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
