package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

// interopAlgs are the asymmetric algorithms every stack here speaks.
var interopAlgs = []guard.Algorithm{guard.ES256, guard.EdDSA, guard.RS256, guard.PS256}

// guardIssuer is an issuer made of guard's parts: one key per algorithm
// (RS256 and PS256 on different RSA keys), their JWK Set, a discovery
// document, and a token of each key.
type guardIssuer struct {
	url    string
	tokens map[guard.Algorithm]string
}

func newGuardIssuer(t *testing.T) *guardIssuer {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	var keys []*guard.Key
	gi := &guardIssuer{url: srv.URL, tokens: map[guard.Algorithm]string{}}
	for _, alg := range interopAlgs {
		var k *guard.Key
		var err error
		kid := "guard-" + string(alg)
		switch alg {
		case guard.ES256:
			p, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			k, err = guard.NewPrivateKey(alg, p, kid)
		case guard.EdDSA:
			_, p, _ := ed25519.GenerateKey(rand.Reader)
			k, err = guard.NewPrivateKey(alg, p, kid)
		default:
			p, _ := rsa.GenerateKey(rand.Reader, 2048)
			k, err = guard.NewPrivateKey(alg, p, kid)
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: k, Issuer: srv.URL, Audience: []string{"api"}})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.Issue(context.Background(), guard.Claims{Subject: "guard-" + string(alg), Roles: []string{"admin"}})
		if err != nil {
			t.Fatal(err)
		}
		gi.tokens[alg] = tok
	}
	jwks, err := guard.JWKSHandler(time.Minute, keys...)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := authserver.DiscoveryHandler(authserver.DiscoveryConfig{
		Issuer: srv.URL, JWKSURI: srv.URL + "/jwks", SigningAlgorithms: interopAlgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /jwks", jwks)
	mux.Handle("GET /.well-known/openid-configuration", disc)
	return gi
}

func (gi *guardIssuer) stdin() string {
	var b strings.Builder
	for _, alg := range interopAlgs {
		fmt.Fprintf(&b, "%s %s\n", alg, gi.tokens[alg])
	}
	return b.String()
}

func checkVerdicts(t *testing.T, got map[string]verdict) {
	t.Helper()
	for _, alg := range interopAlgs {
		v, ok := got[string(alg)]
		if !ok || !v.OK || v.Sub != "guard-"+string(alg) {
			t.Errorf("%s: got %+v, want ok with sub guard-%s", alg, v, alg)
		}
	}
}

// guard's tokens verify with npm jose's createRemoteJWKSet on guard's JWKS URL.
func TestInteropJoseVerifiesGuard(t *testing.T) {
	node := nodeJose(t)
	gi := newGuardIssuer(t)
	out := runDriver(t, gi.stdin(), node, "node/interop.mjs", "verify", gi.url+"/jwks", gi.url, "api")
	t.Logf("jose: %s", out)
	checkVerdicts(t, parseVerdicts(t, out))
}

// guard's tokens verify with PyJWT's PyJWKClient on guard's JWKS URL.
func TestInteropPyJWTVerifiesGuard(t *testing.T) {
	py := debianPython(t)
	gi := newGuardIssuer(t)
	out := runDriver(t, gi.stdin(), py, "python/interop.py", "verify", gi.url+"/jwks", gi.url, "api")
	t.Logf("PyJWT: %s", out)
	checkVerdicts(t, parseVerdicts(t, out))
}

// guard's tokens verify with go-oidc, found by discovery (NewProvider).
func TestInteropGoOIDCVerifiesGuard(t *testing.T) {
	gi := newGuardIssuer(t)
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, gi.url)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Verifier(&oidc.Config{ClientID: "api"})
	for _, alg := range interopAlgs {
		tok, err := v.Verify(ctx, gi.tokens[alg])
		if err != nil {
			t.Errorf("%s: %v", alg, err)
			continue
		}
		if tok.Subject != "guard-"+string(alg) || tok.Issuer != gi.url {
			t.Errorf("%s: got sub %q iss %q", alg, tok.Subject, tok.Issuer)
		}
	}
}

// foreignIssuer serves, under discovery, the JWK Set of tokens signed by
// another stack; it knows its URL before the tokens are made.
type foreignIssuer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	jwks []byte
}

func newForeignIssuer(t *testing.T) *foreignIssuer {
	t.Helper()
	f := &foreignIssuer{}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	disc, err := authserver.DiscoveryHandler(authserver.DiscoveryConfig{Issuer: f.srv.URL, JWKSURI: f.srv.URL + "/jwks", SigningAlgorithms: interopAlgs})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /.well-known/openid-configuration", disc)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(f.jwks)
	})
	return f
}

// verifyForeign has guard verify the tokens of out through discovery of f.
func verifyForeign(t *testing.T, f *foreignIssuer, out []byte, subPrefix string) {
	t.Helper()
	var s signed
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("driver output: %v\n%s", err, out)
	}
	f.mu.Lock()
	f.jwks = s.JWKS
	f.mu.Unlock()
	keys, err := guard.NewRemoteKeySet(guard.RemoteKeySetConfig{Issuer: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	keys.Start()
	defer keys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := keys.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := guard.NewVerifier(guard.VerifierConfig{KeySource: keys, Issuers: []string{f.srv.URL}, Audiences: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tok := range s.Tokens {
		seen[tok.Alg] = true
		c, err := v.Verify(ctx, tok.Token)
		if err != nil {
			t.Errorf("%s: %v", tok.Alg, err)
			continue
		}
		if c.Subject != subPrefix+tok.Alg || !strings.Contains(strings.Join(c.Roles, ","), "admin") {
			t.Errorf("%s: got sub %q roles %q", tok.Alg, c.Subject, c.Roles)
		}
		// The same token with a changed claim does not pass.
		bad := tamper(tok.Token)
		if _, err := v.Verify(ctx, bad); !errors.Is(err, guard.ErrInvalidToken) {
			t.Errorf("%s with a foreign signature: got %v, want ErrInvalidToken", tok.Alg, err)
		}
	}
	for _, alg := range interopAlgs {
		if !seen[string(alg)] {
			t.Errorf("no %s token", alg)
		}
	}
}

// tamper changes the subject of a token, keeping its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	_ = json.Unmarshal(raw, &claims)
	claims["sub"] = "mallory"
	raw, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func algArgs() []string {
	var a []string
	for _, alg := range interopAlgs {
		a = append(a, string(alg))
	}
	return a
}

// Tokens signed by npm jose verify with guard, which finds the keys by discovery.
func TestInteropGuardVerifiesJose(t *testing.T) {
	node := nodeJose(t)
	f := newForeignIssuer(t)
	out := runDriver(t, "", node, append([]string{"node/interop.mjs", "sign", f.srv.URL, "api"}, algArgs()...)...)
	verifyForeign(t, f, out, "jose-")
}

// Tokens signed by PyJWT verify with guard, which finds the keys by discovery.
func TestInteropGuardVerifiesPyJWT(t *testing.T) {
	py := debianPython(t)
	f := newForeignIssuer(t)
	out := runDriver(t, "", py, append([]string{"python/interop.py", "sign", f.srv.URL, "api"}, algArgs()...)...)
	verifyForeign(t, f, out, "pyjwt-")
}
