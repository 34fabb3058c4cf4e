package guard

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

var dpopNow = time.Unix(1_700_000_000, 0)

// proofKey signs DPoP proofs in tests.
type proofKey struct {
	key *Key
	jwk map[string]any
}

var (
	proofKeysOnce sync.Once
	proofKeyES    *proofKey
	proofKeyES2   *proofKey
	proofKeyEd    *proofKey
	proofKeyRS    *proofKey
)

func testProofKeys(t testing.TB) {
	t.Helper()
	proofKeysOnce.Do(func() {
		// Fixed EC and Ed25519 keys, so that every fuzz worker knows the
		// keys of the seed proofs.
		ec := func(fill byte) *proofKey {
			priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{fill}, 32))
			if err != nil {
				panic(err)
			}
			k, _ := NewPrivateKey(ES256, priv, "")
			return newProofKey(k)
		}
		proofKeyES, proofKeyES2 = ec(7), ec(9)
		k, _ := NewPrivateKey(EdDSA, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)), "")
		proofKeyEd = newProofKey(k)
		rk, _ := rsa.GenerateKey(rand.Reader, 2048)
		k, _ = NewPrivateKey(PS256, rk, "")
		proofKeyRS = newProofKey(k)
	})
}

func newProofKey(k *Key) *proofKey {
	j, _ := k.publicJWK()
	m := map[string]any{"kty": j.Kty}
	for name, v := range map[string]string{"crv": j.Crv, "x": j.X, "y": j.Y, "n": j.N, "e": j.E} {
		if v != "" {
			m[name] = v
		}
	}
	return &proofKey{key: k, jwk: m}
}

// proofOpts changes a proof before it is signed.
type proofOpts struct {
	header func(h map[string]any)
	claims func(c map[string]any)
	signer *Key // signs instead of the key in jwk
}

var proofCounter int

// proof makes a proof for method and htu, with ath for token when set.
func (pk *proofKey) proof(t testing.TB, method, htu, token string, o proofOpts) string {
	t.Helper()
	proofCounter++
	h := map[string]any{"typ": "dpop+jwt", "alg": string(pk.key.alg), "jwk": pk.jwk}
	c := map[string]any{"jti": fmt.Sprintf("jti-%d", proofCounter),
		"htm": method, "htu": htu, "iat": dpopNow.Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c["ath"] = b64.EncodeToString(sum[:])
	}
	if o.header != nil {
		o.header(h)
	}
	if o.claims != nil {
		o.claims(c)
	}
	hb, err := json.Marshal(h, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(c, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	signer := pk.key
	if o.signer != nil {
		signer = o.signer
	}
	if signer == nil {
		return input + "."
	}
	sig, err := signer.sign([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// brokenReplay is a ReplayCache whose store is down.
type brokenReplay struct{}

func (brokenReplay) Remember(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

func newTestDPoP(t testing.TB, cfg DPoPConfig) *DPoP {
	t.Helper()
	if cfg.Replay == nil {
		cfg.Replay = NewMemoryReplayCache(0)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return dpopNow }
	}
	d, err := NewDPoP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dpopRequest(method, target string, proofs ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

func TestDPoPCheck(t *testing.T) {
	testProofKeys(t)
	const htu = "https://api.example.com/orders"
	const token = "the.access.token"
	es, es2 := proofKeyES, proofKeyES2
	hsKey, _ := NewHMACKey(HS256, []byte("a very secret HMAC key for tests, 32+ bytes"), "")
	privJWK := func(h map[string]any) {
		j := map[string]any{}
		for k, v := range es.jwk {
			j[k] = v
		}
		priv := es.key.priv.(*ecdsa.PrivateKey)
		d, _ := priv.Bytes()
		j["d"] = b64.EncodeToString(d)
		h["jwk"] = j
	}
	tests := []struct {
		name    string
		req     func() *http.Request
		token   string
		cause   error // nil: accepted
		wantKey *proofKey
	}{
		{name: "ES256 ok", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{}))
		}, wantKey: es},
		{name: "EdDSA ok", req: func() *http.Request {
			return dpopRequest("POST", htu, proofKeyEd.proof(t, "POST", htu, "", proofOpts{}))
		}, wantKey: proofKeyEd},
		{name: "Ed25519 (RFC 9864 name) ok", req: func() *http.Request {
			return dpopRequest("POST", htu, proofKeyEd.proof(t, "POST", htu, "", proofOpts{header: func(h map[string]any) {
				h["alg"] = "Ed25519"
				j := map[string]any{"alg": "Ed25519"}
				for k, v := range proofKeyEd.jwk {
					j[k] = v
				}
				h["jwk"] = j
			}}))
		}, wantKey: proofKeyEd},
		{name: "PS256 ok with ath", token: token, req: func() *http.Request {
			return dpopRequest("GET", htu, proofKeyRS.proof(t, "GET", htu, token, proofOpts{}))
		}, wantKey: proofKeyRS},
		{name: "query and fragment in htu ignored", req: func() *http.Request {
			return dpopRequest("GET", htu+"?a=b", es.proof(t, "GET", htu+"?x=y#f", "", proofOpts{}))
		}, wantKey: es},
		{name: "default port, case of scheme and host, percent-encoding", req: func() *http.Request {
			return dpopRequest("GET", "https://api.example.com/a~b/%2f", es.proof(t, "GET", "HTTPS://API.Example.COM:443/a%7Eb/%2F", "", proofOpts{}))
		}, wantKey: es},
		{name: "ath ignored without token", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "other", proofOpts{}))
		}, wantKey: es},

		{name: "no proof", req: func() *http.Request { return dpopRequest("GET", htu) }, cause: errDPoPMissing},
		{name: "two DPoP headers", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{}), es.proof(t, "GET", htu, "", proofOpts{}))
		}, cause: errDPoPMultiple},
		{name: "oversized proof", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["pad"] = strings.Repeat("x", 4096) }}))
		}, cause: errDPoPTooLarge},
		{name: "not a JWS", req: func() *http.Request { return dpopRequest("GET", htu, "a.b") }, cause: errDPoPMalformed},
		{name: "wrong typ", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{header: func(h map[string]any) { h["typ"] = "JWT" }}))
		}, cause: errDPoPTyp},
		{name: "typ in other case", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{header: func(h map[string]any) { h["typ"] = "DPoP+JWT" }}))
		}, cause: errDPoPTyp},
		{name: "alg none", req: func() *http.Request {
			p := es.proof(t, "GET", htu, "", proofOpts{header: func(h map[string]any) { h["alg"] = "none" }})
			return dpopRequest("GET", htu, p[:strings.LastIndexByte(p, '.')+1])
		}, cause: errDPoPMalformed}, // no signature at all
		{name: "alg none with a signature", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{header: func(h map[string]any) { h["alg"] = "none" }}))
		}, cause: errDPoPAlg},
		{name: "HS256 with an oct jwk", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{signer: hsKey, header: func(h map[string]any) {
				h["alg"] = "HS256"
				h["jwk"] = map[string]any{"kty": "oct", "k": b64.EncodeToString([]byte("a very secret HMAC key for tests, 32+ bytes"))}
			}}))
		}, cause: errDPoPAlg},
		{name: "oct jwk with ES256", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{header: func(h map[string]any) {
				h["jwk"] = map[string]any{"kty": "oct", "k": b64.EncodeToString([]byte("a very secret HMAC key for tests, 32+ bytes"))}
			}}))
		}, cause: errDPoPJWK},
		{name: "private key in jwk", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{header: privJWK}))
		}, cause: errDPoPJWK},
		{name: "no jwk", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{header: func(h map[string]any) { delete(h, "jwk") }}))
		}, cause: errDPoPJWK},
		{name: "jwk for another alg", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{header: func(h map[string]any) { h["alg"] = "ES384" }}))
		}, cause: errDPoPJWK},
		{name: "jwk not matching the signature", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{signer: es2.key}))
		}, cause: errDPoPSignature},
		{name: "crit", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{header: func(h map[string]any) { h["crit"] = []string{"x"} }}))
		}, cause: errDPoPMalformed},
		{name: "iat a string", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["iat"] = "1700000000" }}))
		}, cause: errDPoPMalformed},
		{name: "no jti", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { delete(c, "jti") }}))
		}, cause: errDPoPClaims},
		{name: "no iat", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { delete(c, "iat") }}))
		}, cause: errDPoPClaims},
		{name: "jti too long", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["jti"] = strings.Repeat("j", 257) }}))
		}, cause: errDPoPJTI},
		{name: "htm other method", req: func() *http.Request {
			return dpopRequest("POST", htu, es.proof(t, "GET", htu, "", proofOpts{}))
		}, cause: errDPoPMethod},
		{name: "htm lower case", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "get", htu, "", proofOpts{}))
		}, cause: errDPoPMethod},
		{name: "htu other scheme", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", "http://api.example.com/orders", "", proofOpts{}))
		}, cause: errDPoPURL},
		{name: "htu other host", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", "https://evil.example.com/orders", "", proofOpts{}))
		}, cause: errDPoPURL},
		{name: "htu other port", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", "https://api.example.com:8443/orders", "", proofOpts{}))
		}, cause: errDPoPURL},
		{name: "htu other path", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", "https://api.example.com/orders/", "", proofOpts{}))
		}, cause: errDPoPURL},
		{name: "htu path case", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", "https://api.example.com/Orders", "", proofOpts{}))
		}, cause: errDPoPURL},
		{name: "htu with userinfo", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", "https://u:p@api.example.com/orders", "", proofOpts{}))
		}, cause: errDPoPURL},
		{name: "htu relative", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", "/orders", "", proofOpts{}))
		}, cause: errDPoPURL},
		{name: "iat too old", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["iat"] = dpopNow.Add(-61 * time.Second).Unix() }}))
		}, cause: errDPoPOld},
		{name: "iat in the future", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["iat"] = dpopNow.Add(6 * time.Second).Unix() }}))
		}, cause: errDPoPFuture},
		{name: "iat huge", req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["iat"] = 1e300 }}))
		}, cause: errDPoPFuture},
		{name: "ath mismatch", token: token, req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "other", proofOpts{}))
		}, cause: errDPoPATH},
		{name: "ath missing", token: token, req: func() *http.Request {
			return dpopRequest("GET", htu, es.proof(t, "GET", htu, "", proofOpts{}))
		}, cause: errDPoPATH},
	}
	d := newTestDPoP(t, DPoPConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := d.Check(tt.req(), tt.token)
			if tt.cause == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				if p.Thumbprint != tt.wantKey.key.Thumbprint() || p.Key.Thumbprint() != p.Thumbprint || p.ID == "" || !p.IssuedAt.Equal(dpopNow) {
					t.Errorf("proof: got %+v", p)
				}
				return
			}
			if p != nil {
				t.Errorf("got a proof with error %v", err)
			}
			if !errors.Is(err, ErrInvalidDPoPProof) || !errors.Is(err, tt.cause) {
				t.Fatalf("got %v, want invalid_dpop_proof caused by %v", err, tt.cause)
			}
			e := ErrorOf(err)
			if e.Status != http.StatusBadRequest || e.Code != "invalid_dpop_proof" || len(e.Challenges) != 0 {
				t.Errorf("got status %d code %q challenges %q; want 400 invalid_dpop_proof, none", e.Status, e.Code, e.Challenges)
			}
		})
	}
}

func TestDPoPReplay(t *testing.T) {
	testProofKeys(t)
	const htu = "https://api.example.com/x"
	cache := NewMemoryReplayCache(0)
	now := dpopNow
	start := time.Now()
	wall := func() time.Time { return start.Add(now.Sub(dpopNow)) } // the wall clock, moved as the test's clock moves
	cache.now = wall
	d := newTestDPoP(t, DPoPConfig{Replay: cache, Now: func() time.Time { return now }})
	d.wall = wall
	proof := proofKeyES.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["jti"] = "same" }})
	if _, err := d.Check(dpopRequest("GET", htu, proof), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Check(dpopRequest("GET", htu, proof), ""); !errors.Is(err, errDPoPReplay) || !errors.Is(err, ErrInvalidDPoPProof) {
		t.Fatalf("replay: got %v, want invalid_dpop_proof (replayed)", err)
	}
	// The same jti from another key is another proof.
	other := proofKeyES2.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["jti"] = "same" }})
	if _, err := d.Check(dpopRequest("GET", htu, other), ""); err != nil {
		t.Fatalf("same jti, other key: got %v, want success", err)
	}
	// Remembered until iat + MaxAge + Leeway: the proof is refused as too old before it is forgotten.
	now = dpopNow.Add(60 * time.Second)
	if _, err := d.Check(dpopRequest("GET", htu, proof), ""); !errors.Is(err, errDPoPReplay) {
		t.Fatalf("at iat+MaxAge: got %v, want replayed", err)
	}
	now = dpopNow.Add(61 * time.Second)
	if _, err := d.Check(dpopRequest("GET", htu, proof), ""); !errors.Is(err, errDPoPOld) {
		t.Fatalf("after MaxAge: got %v, want too old", err)
	}
	now = dpopNow.Add(66 * time.Second)
	fresh := proofKeyES.proof(t, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["iat"] = now.Unix() }})
	if _, err := d.Check(dpopRequest("GET", htu, fresh), ""); err != nil {
		t.Fatal(err)
	}
	if n := cache.Len(); n != 1 {
		t.Errorf("cache holds %d keys after expiry, want 1", n)
	}
}

func TestMemoryReplayCacheFull(t *testing.T) {
	c := NewMemoryReplayCache(2)
	now := dpopNow
	c.now = func() time.Time { return now }
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if first, err := c.Remember(ctx, k, now.Add(time.Minute)); !first || err != nil {
			t.Fatalf("%s: got %v %v", k, first, err)
		}
	}
	if first, err := c.Remember(ctx, "a", now.Add(time.Minute)); first || err != nil {
		t.Fatalf("a again: got %v %v, want false nil", first, err)
	}
	if _, err := c.Remember(ctx, "c", now.Add(time.Minute)); err == nil {
		t.Fatal("full cache: got no error, want one (fail closed)")
	}
	now = now.Add(time.Minute)
	if first, err := c.Remember(ctx, "c", now.Add(time.Minute)); !first || err != nil {
		t.Fatalf("after expiry: got %v %v", first, err)
	}
	if first, _ := c.Remember(ctx, "a", now.Add(time.Minute)); !first {
		t.Fatal("expired key a: got not first")
	}
}

func TestDPoPStoreDownFailsClosed(t *testing.T) {
	testProofKeys(t)
	const htu = "https://api.example.com/x"
	d := newTestDPoP(t, DPoPConfig{Replay: brokenReplay{}})
	_, err := d.Check(dpopRequest("GET", htu, proofKeyES.proof(t, "GET", htu, "", proofOpts{})), "")
	rec := httptest.NewRecorder()
	WriteError(rec, nil, err)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(rec.Body.String(), "temporarily_unavailable") || strings.Contains(rec.Body.String(), "refused") {
		t.Fatalf("got %d %v %q, want 503 with Retry-After", rec.Code, rec.Header(), rec.Body.String())
	}
}

func TestDPoPNonces(t *testing.T) {
	testProofKeys(t)
	const htu = "https://api.example.com/token"
	now := dpopNow
	clock := func() time.Time { return now }
	nonces, err := NewDPoPNonces(DPoPNoncesConfig{Secret: []byte(strings.Repeat("s", 32)), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDPoP(t, DPoPConfig{Nonces: nonces, Now: clock})

	_, err = d.Check(dpopRequest("POST", htu, proofKeyES.proof(t, "POST", htu, "", proofOpts{})), "")
	nonce, ok := DPoPNonce(err)
	if !errors.Is(err, ErrUseDPoPNonce) || !ok || !nonces.Valid(nonce) {
		t.Fatalf("no nonce: got %v (nonce %q %v), want use_dpop_nonce with a valid nonce", err, nonce, ok)
	}
	rec := httptest.NewRecorder()
	WriteError(rec, nil, err)
	checkResponse(t, rec, http.StatusBadRequest, http.Header{
		"Dpop-Nonce": {nonce}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"},
	}, `{"error":"use_dpop_nonce","error_description":"DPoP nonce required"}`+"\n")

	withNonce := func(n string) string {
		return proofKeyES.proof(t, "POST", htu, "", proofOpts{claims: func(c map[string]any) { c["nonce"] = n; c["iat"] = now.Unix() }})
	}
	if p, err := d.Check(dpopRequest("POST", htu, withNonce(nonce)), ""); err != nil || p.Nonce != nonce {
		t.Fatalf("with nonce: got %v %v", p, err)
	}
	if _, err := d.Check(dpopRequest("POST", htu, withNonce("bogus")), ""); !errors.Is(err, ErrUseDPoPNonce) {
		t.Fatalf("bogus nonce: got %v", err)
	}
	now = now.Add(DefaultDPoPNonceLifetime + time.Second)
	if _, err := d.Check(dpopRequest("POST", htu, withNonce(nonce)), ""); !errors.Is(err, ErrUseDPoPNonce) {
		t.Fatalf("stale nonce: got %v", err)
	}
	other, _ := NewDPoPNonces(DPoPNoncesConfig{Secret: []byte(strings.Repeat("t", 32)), Now: clock})
	if nonces.Valid(other.Nonce()) {
		t.Error("a nonce of another secret is valid")
	}
}

func TestDPoPOrigin(t *testing.T) {
	testProofKeys(t)
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	tests := []struct {
		name   string
		cfg    DPoPConfig
		target string
		setup  func(r *http.Request)
		htu    string
		ok     bool
	}{
		{"plain http from request", DPoPConfig{}, "http://svc.internal:8080/a", nil, "http://svc.internal:8080/a", true},
		{"http request, https htu", DPoPConfig{}, "http://svc.internal/a", nil, "https://svc.internal/a", false},
		{"TLS", DPoPConfig{}, "https://svc.internal/a", nil, "https://svc.internal/a", true},
		{"BaseURL", DPoPConfig{BaseURL: "https://API.example.com:443"}, "http://10.1.2.3:8080/a", nil, "https://api.example.com/a", true},
		{"BaseURL refuses the inner host", DPoPConfig{BaseURL: "https://api.example.com"}, "http://10.1.2.3:8080/a", nil, "http://10.1.2.3:8080/a", false},
		{"trusted proxy", DPoPConfig{TrustedProxies: []netip.Prefix{proxy}}, "http://10.1.2.3:8080/a", func(r *http.Request) {
			r.RemoteAddr = "10.9.9.9:1234"
			r.Header.Set("X-Forwarded-Proto", "https")
			r.Header.Set("X-Forwarded-Host", "api.example.com")
		}, "https://api.example.com/a", true},
		{"untrusted proxy headers ignored", DPoPConfig{TrustedProxies: []netip.Prefix{proxy}}, "http://10.1.2.3:8080/a", func(r *http.Request) {
			r.RemoteAddr = "192.0.2.1:1234"
			r.Header.Set("X-Forwarded-Proto", "https")
			r.Header.Set("X-Forwarded-Host", "api.example.com")
		}, "https://api.example.com/a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDPoP(t, tt.cfg)
			r := dpopRequest("GET", tt.target, proofKeyES.proof(t, "GET", tt.htu, "", proofOpts{}))
			if tt.setup != nil {
				tt.setup(r)
			}
			_, err := d.Check(r, "")
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, errDPoPURL) {
				t.Fatalf("got %v, want htu mismatch", err)
			}
		})
	}
}

func TestNewDPoPConfig(t *testing.T) {
	cache := NewMemoryReplayCache(0)
	if _, err := NewDPoP(DPoPConfig{Replay: cache}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	_, err := NewDPoP(DPoPConfig{
		Algorithms: []Algorithm{HS256, "none", ES256}, MaxAge: time.Hour, Leeway: -1, MaxProofBytes: -1,
		BaseURL: "https://api.example.com/path", TrustedProxies: []netip.Prefix{{}},
	})
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"Replay is nil", "HS256 is symmetric", `"none"`, "MaxAge", "Leeway", "MaxProofBytes", "BaseURL", "trusted proxy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	for _, bad := range []string{"ftp://x", "https://", "https://a/?q", "https://a#f", "https://u@a", "//a"} {
		if _, err := NewDPoP(DPoPConfig{Replay: cache, BaseURL: bad}); err == nil {
			t.Errorf("BaseURL %q: got no error", bad)
		}
	}
	d, _ := NewDPoP(DPoPConfig{Replay: cache, Algorithms: []Algorithm{ES256, EdDSA, ES256}})
	if got := strings.Join(d.AlgorithmNames(), " "); got != "ES256 EdDSA Ed25519" {
		t.Errorf("AlgorithmNames: got %q", got)
	}
	if _, err := NewDPoPNonces(DPoPNoncesConfig{Secret: []byte("short"), Lifetime: 2 * time.Hour}); err == nil ||
		!strings.Contains(err.Error(), "Secret") || !strings.Contains(err.Error(), "Lifetime") {
		t.Errorf("nonces: got %v", err)
	}
	var zero *DPoP
	if _, err := zero.Check(dpopRequest("GET", "/"), ""); ErrorOf(err).Status != http.StatusInternalServerError {
		t.Errorf("nil DPoP: got %v, want 500", err)
	}
}

// TestConfirmationRoundTrip: the issuer writes cnf.jkt, the verifier reads
// it into Claims.Confirmation; tokens without cnf have none.
func TestConfirmationRoundTrip(t *testing.T) {
	testProofKeys(t)
	key, _ := NewHMACKey(HS256, jwtSecret32, "")
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: key, Issuer: "https://as.example", Now: func() time.Time { return dpopNow }})
	if err != nil {
		t.Fatal(err)
	}
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{key}, Now: func() time.Time { return dpopNow }})
	jkt := proofKeyES.key.Thumbprint()
	tok, err := iss.Issue(context.Background(), Claims{Subject: "alice", Confirmation: &Confirmation{JKT: jkt}})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := b64.DecodeString(strings.Split(tok, ".")[1])
	if !strings.Contains(string(payload), `"cnf":{"jkt":"`+jkt+`"}`) {
		t.Errorf("payload %s has no cnf.jkt", payload)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil || c.Confirmation == nil || c.Confirmation.JKT != jkt {
		t.Fatalf("Verify: got %+v, %v; want cnf.jkt %s", c, err, jkt)
	}
	plain, _ := iss.Issue(context.Background(), Claims{Subject: "alice"})
	if c, err := v.Verify(context.Background(), plain); err != nil || c.Confirmation != nil {
		t.Fatalf("unbound: got %+v, %v", c, err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 44)} {
		if _, err := iss.Issue(context.Background(), Claims{Subject: "a", Confirmation: &Confirmation{JKT: bad}}); err == nil {
			t.Errorf("JKT %q: got no error", bad)
		}
	}
	if _, err := iss.Issue(context.Background(), Claims{Subject: "a", Extra: []byte(`{"cnf":{"jkt":"x"}}`)}); err == nil {
		t.Error("cnf in Extra: got no error")
	}
}

// FuzzDPoPProof: Check never panics or hangs on any DPoP header; every
// failure is a 400 invalid_dpop_proof; a success is a proof by one of the
// fixed test keys (the fuzzer cannot sign with a key of its own). Seeds: the
// proofs below and testdata/fuzz/FuzzDPoPProof.
func FuzzDPoPProof(f *testing.F) {
	testProofKeys(f)
	const htu = "https://api.example.com/r"
	for _, pk := range []*proofKey{proofKeyES, proofKeyEd} {
		f.Add(pk.proof(f, "GET", htu, "", proofOpts{}))
		f.Add(pk.proof(f, "GET", htu, "", proofOpts{header: func(h map[string]any) { h["typ"] = "jwt" }}))
		f.Add(pk.proof(f, "GET", htu, "", proofOpts{claims: func(c map[string]any) { c["htu"] = "https://API.example.com:443/r?q" }}))
	}
	f.Add("e30.e30.e30")
	f.Add("..")
	known := map[string]bool{proofKeyES.key.Thumbprint(): true, proofKeyEd.key.Thumbprint(): true}
	f.Fuzz(func(t *testing.T, proof string) {
		d := newTestDPoP(t, DPoPConfig{Leeway: time.Minute})
		r := httptest.NewRequest("GET", htu, nil)
		r.Header["Dpop"] = []string{proof}
		p, err := d.Check(r, "")
		if err != nil {
			if e := ErrorOf(err); e.Status != http.StatusBadRequest || !errors.Is(err, ErrInvalidDPoPProof) || p != nil {
				t.Fatalf("got %v (status %d), want 400 invalid_dpop_proof", err, e.Status)
			}
			return
		}
		if !known[p.Thumbprint] {
			t.Fatalf("accepted a proof by an unknown key %s: %q", p.Thumbprint, proof)
		}
	})
}

// TestDPoPRFC9449Example checks the proof of RFC 9449 §4.1 (Figure 2, a
// token request), the specification's own example, and the thumbprint
// §6.1 gives for its key.
func TestDPoPRFC9449Example(t *testing.T) {
	const proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19" +
		".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ" +
		".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	d := newTestDPoP(t, DPoPConfig{Now: func() time.Time { return time.Unix(1562262616, 0) }})
	p, err := d.Check(dpopRequest("POST", "https://server.example.com/token", proof), "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Thumbprint != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" || p.ID != "-BwC3ESc6acc2lTc" {
		t.Errorf("got thumbprint %s, jti %s", p.Thumbprint, p.ID)
	}
	if _, err := d.Check(dpopRequest("POST", "https://server.example.com/token", proof), ""); !errors.Is(err, errDPoPReplay) {
		t.Errorf("again: got %v, want replayed", err)
	}
	if _, err := d.Check(dpopRequest("POST", "https://server.example.com/token", proof[:len(proof)-2]+"Lh"), ""); !errors.Is(err, errDPoPSignature) {
		t.Errorf("changed signature: got %v", err)
	}
}
