package guard

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	rsURL      = "https://api.example.com/orders"
	rsMetadata = "https://api.example.com/.well-known/oauth-protected-resource"
	rsAlgs     = `algs="ES256 ES384 ES512 EdDSA Ed25519 RS256 PS256"`
)

// dpopFixture is a resource server that accepts DPoP-bound ES256 tokens.
type dpopFixture struct {
	issuer *TokenIssuer
	v      *Verifier
	cache  *MemoryReplayCache
}

func newDPoPFixture(t testing.TB, mode DPoPMode, dcfg DPoPConfig, vcfg VerifierConfig) *dpopFixture {
	t.Helper()
	testProofKeys(t)
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{3}, 32)) // fixed: fuzz workers share it
	if err != nil {
		t.Fatal(err)
	}
	key := jwtMustPriv(t, ES256, priv, "k1")
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: key, Issuer: "https://as.example", Now: func() time.Time { return dpopNow }})
	if err != nil {
		t.Fatal(err)
	}
	f := &dpopFixture{issuer: iss, cache: NewMemoryReplayCache(0)}
	if dcfg.Replay == nil {
		dcfg.Replay = f.cache
	}
	vcfg.Keys = []*Key{key.Public()}
	vcfg.DPoP = newTestDPoP(t, dcfg)
	vcfg.DPoPMode = mode
	if vcfg.ResourceMetadata == "" {
		vcfg.ResourceMetadata = rsMetadata
	}
	vcfg.Now = func() time.Time { return dpopNow }
	f.v = jwtVerifier(t, vcfg)
	return f
}

func (f *dpopFixture) token(t testing.TB, jkt string) string {
	t.Helper()
	c := Claims{Subject: "alice", Scopes: []string{"orders"}}
	if jkt != "" {
		c.Confirmation = &Confirmation{JKT: jkt}
	}
	tok, err := f.issuer.Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// serve runs r through mw and reports the principal the handler saw.
func serve(mw func(http.Handler) http.Handler, r *http.Request) (*httptest.ResponseRecorder, *Principal) {
	var got *Principal
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = PrincipalFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec, got
}

func authRequest(method, target, auth string, proofs ...string) *http.Request {
	r := dpopRequest(method, target, proofs...)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func errorHeaders(challenges ...string) http.Header {
	return http.Header{"Www-Authenticate": challenges, "Content-Type": {"application/json"},
		"Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}}
}

func TestRequireBearerDPoP(t *testing.T) {
	f := newDPoPFixture(t, DPoPAllowed, DPoPConfig{}, VerifierConfig{})
	es, es2 := proofKeyES, proofKeyES2
	bound := f.token(t, es.key.Thumbprint())
	plain := f.token(t, "")
	meta := `, resource_metadata="` + rsMetadata + `"`
	bearerCh := `Bearer realm="api"` + meta
	dpopCh := `DPoP ` + rsAlgs + meta
	dpopErr := func(code, desc string) []string {
		return []string{bearerCh, dpopCh + `, error="` + code + `", error_description="` + desc + `"`}
	}
	body := func(code, desc string) string {
		return `{"error":"` + code + `","error_description":"` + desc + `"}` + "\n"
	}
	hsKey, _ := NewHMACKey(HS256, jwtSecret32, "")
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		ch     []string
		body   string
		bind   Binding
	}{
		{name: "DPoP-bound token with proof", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{}))
		}, status: 204, bind: BindingDPoP},
		{name: "unbound token as Bearer", req: func() *http.Request {
			return authRequest("GET", rsURL, "Bearer "+plain)
		}, status: 204, bind: BindingNone},
		{name: "no credentials", req: func() *http.Request { return authRequest("GET", rsURL, "") },
			status: 401, ch: []string{bearerCh, dpopCh}, body: `{"error":"unauthorized","error_description":"authentication required"}` + "\n"},
		{name: "token bound but presented as Bearer", req: func() *http.Request {
			return authRequest("GET", rsURL, "Bearer "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{}))
		}, status: 401, ch: []string{bearerCh + `, error="invalid_token", error_description="sender-constrained token presented as bearer"`, dpopCh},
			body: body("invalid_token", "sender-constrained token presented as bearer")},
		{name: "DPoP scheme without proof", req: func() *http.Request { return authRequest("GET", rsURL, "DPoP "+bound) },
			status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof required"), body: body("invalid_dpop_proof", "DPoP proof required")},
		{name: "DPoP scheme with an unbound token", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+plain, es.proof(t, "GET", rsURL, plain, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_token", "token is not DPoP-bound"), body: body("invalid_token", "token is not DPoP-bound")},
		{name: "proof key is not cnf.jkt", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es2.proof(t, "GET", rsURL, bound, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_token", "invalid DPoP key binding"), body: body("invalid_token", "invalid DPoP key binding")},
		{name: "ath mismatch", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, plain, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof access token hash mismatch"), body: body("invalid_dpop_proof", "DPoP proof access token hash mismatch")},
		{name: "two DPoP headers", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{}), es.proof(t, "GET", rsURL, bound, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "more than one DPoP proof"), body: body("invalid_dpop_proof", "more than one DPoP proof")},
		{name: "wrong typ", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{header: func(h map[string]any) { h["typ"] = "jwt" }}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof type not accepted"), body: body("invalid_dpop_proof", "DPoP proof type not accepted")},
		{name: "alg none", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{header: func(h map[string]any) { h["alg"] = "none" }}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof algorithm not allowed"), body: body("invalid_dpop_proof", "DPoP proof algorithm not allowed")},
		{name: "HS256", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{signer: hsKey, header: func(h map[string]any) {
				h["alg"] = "HS256"
				h["jwk"] = map[string]any{"kty": "oct", "k": b64.EncodeToString(jwtSecret32)}
			}}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof algorithm not allowed"), body: body("invalid_dpop_proof", "DPoP proof algorithm not allowed")},
		{name: "private key in jwk", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{header: func(h map[string]any) {
				j := map[string]any{"d": "AAAA"}
				for k, v := range es.jwk {
					j[k] = v
				}
				h["jwk"] = j
			}}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof key not acceptable"), body: body("invalid_dpop_proof", "DPoP proof key not acceptable")},
		{name: "jwk not matching the signature", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{signer: es2.key}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "invalid DPoP proof signature"), body: body("invalid_dpop_proof", "invalid DPoP proof signature")},
		{name: "htm other method", req: func() *http.Request {
			return authRequest("POST", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof method mismatch"), body: body("invalid_dpop_proof", "DPoP proof method mismatch")},
		{name: "htu other scheme", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", "http://api.example.com/orders", bound, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof URL mismatch"), body: body("invalid_dpop_proof", "DPoP proof URL mismatch")},
		{name: "htu other host", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", "https://other.example.com/orders", bound, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof URL mismatch"), body: body("invalid_dpop_proof", "DPoP proof URL mismatch")},
		{name: "htu other port", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", "https://api.example.com:444/orders", bound, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof URL mismatch"), body: body("invalid_dpop_proof", "DPoP proof URL mismatch")},
		{name: "htu other path", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", "https://api.example.com/admin", bound, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof URL mismatch"), body: body("invalid_dpop_proof", "DPoP proof URL mismatch")},
		{name: "iat too old", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{claims: func(c map[string]any) { c["iat"] = dpopNow.Unix() - 120 }}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof too old"), body: body("invalid_dpop_proof", "DPoP proof too old")},
		{name: "iat in the future", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{claims: func(c map[string]any) { c["iat"] = dpopNow.Unix() + 60 }}))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof issued in the future"), body: body("invalid_dpop_proof", "DPoP proof issued in the future")},
		{name: "oversized proof", req: func() *http.Request {
			return authRequest("GET", rsURL, "DPoP "+bound, strings.Repeat("a", DefaultMaxDPoPProofBytes+1))
		}, status: 401, ch: dpopErr("invalid_dpop_proof", "DPoP proof too large"), body: body("invalid_dpop_proof", "DPoP proof too large")},
		{name: "garbage proof", req: func() *http.Request { return authRequest("GET", rsURL, "DPoP "+bound, "not a jws") },
			status: 401, ch: dpopErr("invalid_dpop_proof", "malformed DPoP proof"), body: body("invalid_dpop_proof", "malformed DPoP proof")},
		{name: "DPoP scheme, malformed token", req: func() *http.Request { return authRequest("GET", rsURL, "DPoP a b") },
			status: 400, ch: dpopErr("invalid_request", "malformed Authorization header"), body: body("invalid_request", "malformed Authorization header")},
		{name: "DPoP scheme, bad signature on the token", req: func() *http.Request {
			bad := bound[:len(bound)-4] + "AAAA"
			return authRequest("GET", rsURL, "DPoP "+bad, es.proof(t, "GET", rsURL, bad, proofOpts{}))
		}, status: 401, ch: dpopErr("invalid_token", "invalid signature"), body: body("invalid_token", "invalid signature")},
		{name: "two Authorization headers", req: func() *http.Request {
			r := authRequest("GET", rsURL, "DPoP "+bound, es.proof(t, "GET", rsURL, bound, proofOpts{}))
			r.Header.Add("Authorization", "Bearer "+plain)
			return r
		}, status: 400, ch: dpopErr("invalid_request", "more than one credential"), body: body("invalid_request", "more than one credential")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, p := serve(f.v.RequireBearer, tt.req())
			if tt.status == 204 {
				if rec.Code != 204 || p == nil {
					t.Fatalf("got %d %q, want 204", rec.Code, rec.Body.String())
				}
				if p.Binding != tt.bind || p.Subject != "alice" {
					t.Errorf("principal: got %+v", p)
				}
				if tt.bind == BindingDPoP && p.KeyThumbprint != es.key.Thumbprint() {
					t.Errorf("thumbprint: got %q", p.KeyThumbprint)
				}
				return
			}
			if p != nil {
				t.Fatal("next ran")
			}
			checkResponse(t, rec, tt.status, errorHeaders(tt.ch...), tt.body)
		})
	}
}

func TestRequireBearerDPoPReplay(t *testing.T) {
	f := newDPoPFixture(t, DPoPAllowed, DPoPConfig{}, VerifierConfig{})
	bound := f.token(t, proofKeyES.key.Thumbprint())
	proof := proofKeyES.proof(t, "GET", rsURL, bound, proofOpts{})
	if rec, _ := serve(f.v.RequireBearer, authRequest("GET", rsURL, "DPoP "+bound, proof)); rec.Code != 204 {
		t.Fatalf("first: got %d", rec.Code)
	}
	rec, p := serve(f.v.RequireBearer, authRequest("GET", rsURL, "DPoP "+bound, proof))
	if p != nil || rec.Code != 401 || !strings.Contains(rec.Header().Values("WWW-Authenticate")[1], `error="invalid_dpop_proof", error_description="DPoP proof replayed"`) {
		t.Fatalf("replay: got %d %v", rec.Code, rec.Header())
	}
}

func TestRequireBearerDPoPStoreDown(t *testing.T) {
	f := newDPoPFixture(t, DPoPAllowed, DPoPConfig{Replay: brokenReplay{}}, VerifierConfig{})
	bound := f.token(t, proofKeyES.key.Thumbprint())
	rec, p := serve(f.v.RequireBearer, authRequest("GET", rsURL, "DPoP "+bound, proofKeyES.proof(t, "GET", rsURL, bound, proofOpts{})))
	if p != nil {
		t.Fatal("next ran")
	}
	checkResponse(t, rec, 503, http.Header{"Retry-After": {"5"}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}},
		`{"error":"temporarily_unavailable","error_description":"service unavailable; retry later"}`+"\n")
}

func TestRequireBearerDPoPNonce(t *testing.T) {
	now := dpopNow
	nonces, err := NewDPoPNonces(DPoPNoncesConfig{Secret: []byte(strings.Repeat("n", 32)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f := newDPoPFixture(t, DPoPAllowed, DPoPConfig{Nonces: nonces}, VerifierConfig{})
	bound := f.token(t, proofKeyES.key.Thumbprint())
	rec, _ := serve(f.v.RequireBearer, authRequest("GET", rsURL, "DPoP "+bound, proofKeyES.proof(t, "GET", rsURL, bound, proofOpts{})))
	nonce := rec.Header().Get("DPoP-Nonce")
	if rec.Code != 401 || !nonces.Valid(nonce) {
		t.Fatalf("got %d, nonce %q", rec.Code, nonce)
	}
	meta := `, resource_metadata="` + rsMetadata + `"`
	checkResponse(t, rec, 401, http.Header{"Dpop-Nonce": {nonce}, "Www-Authenticate": {`Bearer realm="api"` + meta,
		`DPoP ` + rsAlgs + meta + `, error="use_dpop_nonce", error_description="DPoP nonce required"`},
		"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}},
		`{"error":"use_dpop_nonce","error_description":"DPoP nonce required"}`+"\n")
	proof := proofKeyES.proof(t, "GET", rsURL, bound, proofOpts{claims: func(c map[string]any) { c["nonce"] = nonce }})
	if rec, p := serve(f.v.RequireBearer, authRequest("GET", rsURL, "DPoP "+bound, proof)); rec.Code != 204 || p.Binding != BindingDPoP {
		t.Fatalf("with nonce: got %d", rec.Code)
	}
}

func TestDPoPRequired(t *testing.T) {
	f := newDPoPFixture(t, DPoPRequired, DPoPConfig{}, VerifierConfig{})
	bound := f.token(t, proofKeyES.key.Thumbprint())
	plain := f.token(t, "")
	dpopCh := `DPoP ` + rsAlgs + `, resource_metadata="` + rsMetadata + `"`
	for _, mw := range []func(http.Handler) http.Handler{f.v.RequireBearer, f.v.RequireDPoP} {
		rec, _ := serve(mw, authRequest("GET", rsURL, ""))
		checkResponse(t, rec, 401, errorHeaders(dpopCh), `{"error":"unauthorized","error_description":"authentication required"}`+"\n")
		rec, _ = serve(mw, authRequest("GET", rsURL, "Bearer "+plain))
		checkResponse(t, rec, 401, errorHeaders(dpopCh+`, error="invalid_token", error_description="DPoP-bound token required"`),
			`{"error":"invalid_token","error_description":"DPoP-bound token required"}`+"\n")
		rec, p := serve(mw, authRequest("GET", rsURL, "DPoP "+bound, proofKeyES.proof(t, "GET", rsURL, bound, proofOpts{})))
		if rec.Code != 204 || p.Binding != BindingDPoP {
			t.Fatalf("DPoP: got %d", rec.Code)
		}
	}
	// Verify's own errors carry the DPoP challenge too.
	_, err := f.v.Verify(context.Background(), "x.y.z")
	if got := ErrorOf(err).WWWAuthenticate(); len(got) != 1 || !strings.HasPrefix(got[0], "DPoP algs=") || !strings.Contains(got[0], `error="invalid_token"`) {
		t.Errorf("Verify challenge: got %q", got)
	}
}

// TestRequireDPoPPerRoute: on a verifier that allows both, RequireDPoP
// admits only DPoP-bound tokens and challenges with DPoP alone.
func TestRequireDPoPPerRoute(t *testing.T) {
	f := newDPoPFixture(t, DPoPAllowed, DPoPConfig{}, VerifierConfig{})
	plain := f.token(t, "")
	rec, p := serve(f.v.RequireDPoP, authRequest("GET", rsURL, "Bearer "+plain))
	if p != nil || rec.Code != 401 || len(rec.Header().Values("WWW-Authenticate")) != 1 {
		t.Fatalf("got %d %v", rec.Code, rec.Header())
	}
	if rec, _ := serve(f.v.RequireBearer, authRequest("GET", rsURL, "Bearer "+plain)); rec.Code != 204 {
		t.Fatalf("RequireBearer: got %d", rec.Code)
	}
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{jwtMustHMAC(t, HS256, jwtSecret32, "")}})
	defer func() {
		if recover() == nil {
			t.Error("RequireDPoP without DPoP: no panic")
		}
	}()
	v.RequireDPoP(http.NotFoundHandler())
}

// TestBoundTokenAsBearerWithoutDPoP: a verifier without DPoP still refuses
// a token with a cnf as a bearer token, in every entry point.
func TestBoundTokenAsBearerWithoutDPoP(t *testing.T) {
	testProofKeys(t)
	key := jwtMustHMAC(t, HS256, jwtSecret32, "")
	iss, _ := NewTokenIssuer(TokenIssuerConfig{Key: key, Now: func() time.Time { return dpopNow }})
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{key}, Now: func() time.Time { return dpopNow }})
	bound, _ := iss.Issue(context.Background(), Claims{Subject: "a", Confirmation: &Confirmation{JKT: proofKeyES.key.Thumbprint()}})
	rec, p := serve(v.RequireBearer, authRequest("GET", rsURL, "Bearer "+bound))
	if p != nil {
		t.Fatal("next ran")
	}
	checkResponse(t, rec, 401, errorHeaders(`Bearer realm="api", error="invalid_token", error_description="sender-constrained token presented as bearer"`),
		`{"error":"invalid_token","error_description":"sender-constrained token presented as bearer"}`+"\n")
	if _, err := v.AuthenticateToken(context.Background(), bound); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, errBoundAsBearer) {
		t.Errorf("AuthenticateToken: got %v", err)
	}
	if _, err := v.Authenticate(authRequest("GET", rsURL, "Bearer "+bound)); !errors.Is(err, errBoundAsBearer) {
		t.Errorf("Authenticate: got %v", err)
	}
	// A DPoP scheme is not this verifier's: no credentials.
	rec, _ = serve(v.RequireBearer, authRequest("GET", rsURL, "DPoP "+bound))
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Errorf("DPoP scheme: got %d %v", rec.Code, rec.Header())
	}
	// A cnf guard cannot check (mTLS) is refused too.
	x5t := jwtSign(t, key, `{"alg":"HS256"}`, `{"sub":"a","exp":1700000600,"cnf":{"x5t#S256":"abc"}}`)
	if _, err := v.AuthenticateToken(context.Background(), x5t); !errors.Is(err, errBoundAsBearer) {
		t.Errorf("x5t#S256: got %v", err)
	}
}

func TestVerifierDPoPConfig(t *testing.T) {
	key := jwtMustHMAC(t, HS256, jwtSecret32, "")
	_, err := NewVerifier(VerifierConfig{Keys: []*Key{key}, DPoPMode: DPoPRequired, ResourceMetadata: "http://example.com/x"})
	if err == nil || !strings.Contains(err.Error(), "DPoPRequired but DPoP is nil") || !strings.Contains(err.Error(), "ResourceMetadata") {
		t.Errorf("got %v", err)
	}
	if _, err := NewVerifier(VerifierConfig{Keys: []*Key{key}, DPoP: &DPoP{}}); err == nil {
		t.Error("zero DPoP: got no error")
	}
	v, err := NewVerifier(VerifierConfig{Keys: []*Key{key}, ResourceMetadata: "http://localhost:8080/.well-known/oauth-protected-resource"})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Challenge(); got != `Bearer realm="api", resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource"` {
		t.Errorf("Challenge: got %q", got)
	}
}

// TestRequireBearerAllocsWithDPoP: configuring DPoP and resource metadata
// costs a plain bearer request no allocation.
func TestRequireBearerAllocsWithDPoP(t *testing.T) {
	tok := issueToken(t, nil, Claims{Subject: "alice", Roles: []string{"admin"}})
	measure := func(cfg VerifierConfig) float64 {
		v := newTestVerifier(t, cfg)
		h := v.RequireBearer(RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
		req := httptest.NewRequest(http.MethodGet, "/admin", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := &discardWriter{h: http.Header{}}
		return measureAllocs(t, 100, func() { h.ServeHTTP(w, req) })
	}
	plain := measure(VerifierConfig{})
	withDPoP := measure(VerifierConfig{DPoP: newTestDPoP(t, DPoPConfig{}), ResourceMetadata: rsMetadata})
	if withDPoP > plain {
		t.Errorf("allocations per bearer request: %v with DPoP configured, %v without", withDPoP, plain)
	}
}

// FuzzRequireBearerDPoP: whatever the Authorization and DPoP headers, a
// resource server with DPoP answers 204 (only for alice, the one subject
// whose tokens exist), 400 or 401 with a challenge, never a panic or a
// 500; a DPoP-bound principal's key is the client's.
func FuzzRequireBearerDPoP(f *testing.F) {
	fx := newDPoPFixture(f, DPoPAllowed, DPoPConfig{}, VerifierConfig{})
	bound := fx.token(f, proofKeyES.key.Thumbprint())
	plain := fx.token(f, "")
	f.Add("DPoP "+bound, proofKeyES.proof(f, "GET", rsURL, bound, proofOpts{}))
	f.Add("DPoP "+bound, proofKeyES2.proof(f, "GET", rsURL, bound, proofOpts{}))
	f.Add("Bearer "+bound, "")
	f.Add("Bearer "+plain, "")
	f.Add("DPoP "+plain, proofKeyES.proof(f, "GET", rsURL, plain, proofOpts{}))
	f.Add("DPoP", "x")
	f.Add("dpop  "+bound, "a.b.c")
	f.Fuzz(func(t *testing.T, auth, proof string) {
		r := httptest.NewRequest("GET", rsURL, nil)
		r.Header["Authorization"] = []string{auth}
		if proof != "" {
			r.Header["Dpop"] = []string{proof}
		}
		rec, p := serve(fx.v.RequireBearer, r)
		switch rec.Code {
		case 204:
			if p == nil || p.Subject != "alice" {
				t.Fatalf("204 for %+v", p)
			}
			if p.Binding == BindingDPoP && p.KeyThumbprint != proofKeyES.key.Thumbprint() {
				t.Fatalf("bound to %s", p.KeyThumbprint)
			}
		case 400, 401:
			if p != nil {
				t.Fatal("next ran")
			}
			if rec.Code == 401 && len(rec.Header().Values("WWW-Authenticate")) == 0 {
				t.Fatal("401 without a challenge")
			}
		default:
			t.Fatalf("status %d for %q / %q", rec.Code, auth, proof)
		}
	})
}

func TestVerifierSecuritySchemesDPoP(t *testing.T) {
	names := func(v *Verifier) (s []string) {
		for _, n := range v.SecuritySchemes() {
			s = append(s, n.Name+":"+n.Scheme.Type+"/"+n.Scheme.Scheme)
		}
		return s
	}
	allowed := newDPoPFixture(t, DPoPAllowed, DPoPConfig{}, VerifierConfig{}).v
	if got := strings.Join(names(allowed), " "); got != "HTTPBearer:http/bearer HTTPDPoP:http/dpop" {
		t.Errorf("allowed: got %s", got)
	}
	required := newDPoPFixture(t, DPoPRequired, DPoPConfig{}, VerifierConfig{}).v
	if got := strings.Join(names(required), " "); got != "HTTPDPoP:http/dpop" {
		t.Errorf("required: got %s", got)
	}
}
