package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

// dpopFlow is a code flow whose token endpoint takes DPoP proofs.
type dpopFlow struct {
	*codeFlow
	dpop   *guard.DPoP
	nonces *guard.DPoPNonces
}

// newDPoPFlow builds the flow; replay, when set, replaces the memory
// replay cache, and nonces makes proofs carry a server nonce.
func newDPoPFlow(t *testing.T, replay guard.ReplayCache, nonces bool) *dpopFlow {
	t.Helper()
	// Proofs are made and checked on the real clock (tokens are still
	// issued at tokNow).
	df := &dpopFlow{}
	if replay == nil {
		replay = guard.NewMemoryReplayCache(0)
	}
	cfg := guard.DPoPConfig{Replay: replay}
	if nonces {
		n, err := guard.NewDPoPNonces(guard.DPoPNoncesConfig{Secret: []byte(strings.Repeat("n", 32))})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Nonces, df.nonces = n, n
	}
	d, err := guard.NewDPoP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	df.dpop = d
	df.codeFlow = newCodeFlow(t, func(c *TokenEndpointConfig) { c.DPoP = d })
	return df
}

// proof is a fresh proof of k for a token request.
func (df *dpopFlow) proof(t *testing.T, k *dpopKey, o ...proofOpts) func(*http.Request) {
	t.Helper()
	var opt proofOpts
	if len(o) > 0 {
		opt = o[0]
	}
	if opt.IssuedAt.IsZero() {
		opt.IssuedAt = time.Now()
	}
	p := k.Proof(t, http.MethodPost, tokTestHost, opt)
	return func(r *http.Request) { r.Header.Set("DPoP", p) }
}

// authorize runs spa's (or client's) authorization request with extra
// query parameters and returns the code, or the redirect on error.
func (df *dpopFlow) authorize(t *testing.T, client string, kv ...string) (code string, rec *httptest.ResponseRecorder) {
	t.Helper()
	q, _ := url.ParseQuery(azQuery(append([]string{"client_id", client, "scope", "read"}, kv...)...))
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/authorize?"+q.Encode(), strings.NewReader("username=alice"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	rec = httptest.NewRecorder()
	df.login.user = "alice"
	df.az.ServeHTTP(rec, r)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	return loc.Query().Get("code"), rec
}

// dpopSuccess checks a 200 with token_type typ (status, every header, the
// body's members) and returns the verified claims and the refresh token.
func dpopSuccess(t *testing.T, rec *httptest.ResponseRecorder, v *guard.Verifier, typ string, wantRefresh bool) (*guard.Claims, string) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (body %q)", rec.Code, rec.Body)
	}
	want := http.Header{"Content-Type": {"application/json;charset=UTF-8"}, "Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}
	if got := rec.Header(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("headers:\n got %v\nwant %v", got, want)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body["token_type"] != typ || body["expires_in"] != 600.0 {
		t.Errorf("body %s: want token_type %s", rec.Body, typ)
	}
	if _, ok := body["refresh_token"]; ok != wantRefresh {
		t.Errorf("body %s: refresh_token present %v, want %v", rec.Body, ok, wantRefresh)
	}
	for k := range body {
		if !slices.Contains([]string{"access_token", "token_type", "expires_in", "refresh_token", "scope"}, k) {
			t.Errorf("body member %q", k)
		}
	}
	c, err := v.Verify(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	rt, _ := body["refresh_token"].(string)
	return c, rt
}

func jktOf(c *guard.Claims) string {
	if c.Confirmation == nil {
		return ""
	}
	return c.Confirmation.JKT
}

var (
	dpopRequiredBody = tokErrBody("invalid_dpop_proof", "DPoP proof required")
	badCodeBody      = tokErrBody("invalid_grant", "invalid authorization code")
	badRefreshBody   = tokErrBody("invalid_grant", "invalid refresh token")
)

// TestDPoPCodeAndRefresh: a public client's code exchange with a proof
// gets a DPoP-bound access token and a refresh family bound to the key;
// a refresh without a proof or with another key is refused and changes
// nothing (RFC 9449 §5).
func TestDPoPCodeAndRefresh(t *testing.T) {
	t.Parallel()
	df := newDPoPFlow(t, nil, false)
	k1, k2 := newDPoPKey(t), newDPoPKey(t)
	code, _ := df.authorize(t, "spa")
	claims, rt := dpopSuccess(t, df.f.do(tokRequest(codeForm(code), df.proof(t, k1))), df.check, "DPoP", true)
	if jktOf(claims) != k1.Thumbprint() {
		t.Fatalf("cnf.jkt: got %q, want the proof's %q", jktOf(claims), k1.Thumbprint())
	}
	refresh := func(mods ...func(*http.Request)) *httptest.ResponseRecorder {
		return df.f.do(tokRequest(form("grant_type", "refresh_token", "refresh_token", rt, "client_id", "spa"), mods...))
	}
	checkTokResponse(t, refresh(), 400, tokErrorHeaders(), dpopRequiredBody)
	checkTokResponse(t, refresh(df.proof(t, k2)), 400, tokErrorHeaders(), badRefreshBody)
	// The family was not touched: the holder of the key refreshes.
	claims, rt = dpopSuccess(t, refresh(df.proof(t, k1)), df.check, "DPoP", true)
	if jktOf(claims) != k1.Thumbprint() {
		t.Errorf("refreshed cnf.jkt: got %q", jktOf(claims))
	}
	claims, _ = dpopSuccess(t, refresh(df.proof(t, k1)), df.check, "DPoP", true)
	if jktOf(claims) != k1.Thumbprint() {
		t.Errorf("second refresh cnf.jkt: got %q", jktOf(claims))
	}
}

// TestDPoPConfidentialNotBound: a confidential client's family is not
// bound (RFC 9449 §5); its access tokens are bound to whatever key each
// request proves.
func TestDPoPConfidentialNotBound(t *testing.T) {
	t.Parallel()
	df := newDPoPFlow(t, nil, false)
	cl := df.f.e.cfg.Clients.(tokClients)
	web := cl["web"]
	web.Grants = append(slices.Clone(web.Grants), "refresh_token")
	cl["web"] = web
	k1, k2 := newDPoPKey(t), newDPoPKey(t)
	code, _ := df.authorize(t, "web")
	claims, rt := dpopSuccess(t, df.f.do(tokRequest(codeForm(code, "client_id", "\x00"), withBasic("web", tokWebPW), df.proof(t, k1))), df.check, "DPoP", true)
	if jktOf(claims) != k1.Thumbprint() {
		t.Fatalf("cnf.jkt: got %q", jktOf(claims))
	}
	refresh := func(mods ...func(*http.Request)) *httptest.ResponseRecorder {
		return df.f.do(tokRequest(form("grant_type", "refresh_token", "refresh_token", rt), append(mods, withBasic("web", tokWebPW))...))
	}
	claims, rt = dpopSuccess(t, refresh(), df.check, "Bearer", true)
	if jktOf(claims) != "" {
		t.Errorf("a refresh without a proof got a bound token: %q", jktOf(claims))
	}
	claims, _ = dpopSuccess(t, refresh(df.proof(t, k2)), df.check, "DPoP", true)
	if jktOf(claims) != k2.Thumbprint() {
		t.Errorf("a refresh with another key: cnf.jkt %q, want %q", jktOf(claims), k2.Thumbprint())
	}
}

// TestDPoPAuthorizationCodeBinding: dpop_jkt binds the code (RFC 9449
// §10); the exchange must prove that key, and refusals leave the code
// usable.
func TestDPoPAuthorizationCodeBinding(t *testing.T) {
	t.Parallel()
	df := newDPoPFlow(t, nil, false)
	k1, k2 := newDPoPKey(t), newDPoPKey(t)
	code, _ := df.authorize(t, "spa", "dpop_jkt", k1.Thumbprint())
	if code == "" {
		t.Fatal("no code")
	}
	if rec, err := df.codes.LookupAuthCode(context.Background(), sha256Sum(code)); err != nil || rec.KeyThumbprint != k1.Thumbprint() {
		t.Fatalf("stored code: %+v, %v", rec, err)
	}
	checkTokResponse(t, df.f.do(tokRequest(codeForm(code))), 400, tokErrorHeaders(), dpopRequiredBody)
	checkTokResponse(t, df.f.do(tokRequest(codeForm(code), df.proof(t, k2))), 400, tokErrorHeaders(), badCodeBody)
	claims, _ := dpopSuccess(t, df.f.do(tokRequest(codeForm(code), df.proof(t, k1))), df.check, "DPoP", true)
	if jktOf(claims) != k1.Thumbprint() {
		t.Errorf("cnf.jkt: got %q", jktOf(claims))
	}

	// Malformed dpop_jkt values are redirected as invalid_request.
	for _, jkt := range []string{"", "short", strings.Repeat("A", 42) + "=", k1.Thumbprint() + "A", strings.Repeat("+", 43)} {
		_, rec := df.authorize(t, "spa", "dpop_jkt", jkt)
		want := azRedirect + "?" + url.Values{"error": {"invalid_request"}, "error_description": {"malformed dpop_jkt"}, "iss": {azIssuer}, "state": {"xyz"}}.Encode()
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
			t.Errorf("dpop_jkt %q: got %d %q, want 303 %q", jkt, rec.Code, rec.Header().Get("Location"), want)
		}
	}
	// Repeated: refused too.
	q := azQuery("dpop_jkt", k1.Thumbprint()) + "&dpop_jkt=" + k2.Thumbprint()
	rec := httptest.NewRecorder()
	df.az.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://auth.example/authorize?"+q, nil))
	if loc, _ := url.Parse(rec.Header().Get("Location")); rec.Code != http.StatusFound || loc.Query().Get("error_description") != "repeated parameter dpop_jkt" {
		t.Errorf("repeated dpop_jkt: got %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// TestDPoPProofRefusals: proofs that fail are answered 400
// invalid_dpop_proof (or use_dpop_nonce with DPoP-Nonce), 503 when the
// replay cache is down; never 500.
func TestDPoPProofRefusals(t *testing.T) {
	t.Parallel()
	k := newDPoPKey(t)
	cases := []struct {
		name   string
		replay guard.ReplayCache
		nonces bool
		mods   func(df *dpopFlow) []func(*http.Request)
		status int
		hdr    http.Header
		body   string
	}{
		{"GET proof for a POST", nil, false, func(df *dpopFlow) []func(*http.Request) {
			p := k.Proof(t, http.MethodGet, tokTestHost, proofOpts{IssuedAt: time.Now()})
			return []func(*http.Request){withHeader("DPoP", p)}
		}, 400, tokErrorHeaders(), tokErrBody("invalid_dpop_proof", "DPoP proof method mismatch")},
		{"proof for another URL", nil, false, func(df *dpopFlow) []func(*http.Request) {
			p := k.Proof(t, http.MethodPost, "https://auth.example/other", proofOpts{IssuedAt: time.Now()})
			return []func(*http.Request){withHeader("DPoP", p)}
		}, 400, tokErrorHeaders(), tokErrBody("invalid_dpop_proof", "DPoP proof URL mismatch")},
		{"old proof", nil, false, func(df *dpopFlow) []func(*http.Request) {
			return []func(*http.Request){df.proof(t, k, proofOpts{IssuedAt: time.Now().Add(-time.Hour)})}
		}, 400, tokErrorHeaders(), tokErrBody("invalid_dpop_proof", "DPoP proof too old")},
		{"garbage", nil, false, func(*dpopFlow) []func(*http.Request) {
			return []func(*http.Request){withHeader("DPoP", "not.a.proof")}
		}, 400, tokErrorHeaders(), tokErrBody("invalid_dpop_proof", "malformed DPoP proof")},
		{"two proofs", nil, false, func(df *dpopFlow) []func(*http.Request) {
			return []func(*http.Request){df.proof(t, k), withHeader("DPoP", k.Proof(t, http.MethodPost, tokTestHost, proofOpts{IssuedAt: time.Now()}))}
		}, 400, tokErrorHeaders(), tokErrBody("invalid_dpop_proof", "more than one DPoP proof")},
		{"replay cache down", tokFailingReplay{}, false, func(df *dpopFlow) []func(*http.Request) {
			return []func(*http.Request){df.proof(t, k)}
		}, 503, tokErrorHeaders("Retry-After", "5"), tokErrBody("temporarily_unavailable", "service unavailable; retry later")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			df := newDPoPFlow(t, c.replay, c.nonces)
			code, _ := df.authorize(t, "spa")
			checkTokResponse(t, df.f.do(tokRequest(codeForm(code), c.mods(df)...)), c.status, c.hdr, c.body)
			// The code was not used up: the exchange with a good proof works.
			if c.replay == nil {
				dpopSuccess(t, df.f.do(tokRequest(codeForm(code), df.proof(t, k))), df.check, "DPoP", true)
			}
		})
	}
	t.Run("replayed proof", func(t *testing.T) {
		t.Parallel()
		df := newDPoPFlow(t, nil, false)
		p := df.proof(t, k)
		code, _ := df.authorize(t, "spa")
		dpopSuccess(t, df.f.do(tokRequest(codeForm(code), p)), df.check, "DPoP", true)
		code, _ = df.authorize(t, "spa")
		checkTokResponse(t, df.f.do(tokRequest(codeForm(code), p)), 400, tokErrorHeaders(), tokErrBody("invalid_dpop_proof", "DPoP proof replayed"))
	})
	t.Run("nonce required", func(t *testing.T) {
		t.Parallel()
		df := newDPoPFlow(t, nil, true)
		code, _ := df.authorize(t, "spa")
		rec := df.f.do(tokRequest(codeForm(code), df.proof(t, k)))
		nonce := rec.Header().Get("DPoP-Nonce")
		if !df.nonces.Valid(nonce) {
			t.Fatalf("DPoP-Nonce %q is not a valid nonce", nonce)
		}
		checkTokResponse(t, rec, 400, tokErrorHeaders("Dpop-Nonce", nonce), tokErrBody("use_dpop_nonce", "DPoP nonce required"))
		claims, _ := dpopSuccess(t, df.f.do(tokRequest(codeForm(code), df.proof(t, k, proofOpts{Nonce: nonce}))), df.check, "DPoP", true)
		if jktOf(claims) != k.Thumbprint() {
			t.Errorf("cnf.jkt %q", jktOf(claims))
		}
	})
}

type tokFailingReplay struct{}

func (tokFailingReplay) Remember(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("replay store down")
}

// TestDPoPOtherGrants: client_credentials and the password grant bind
// their tokens too; without TokenEndpointConfig.DPoP a DPoP header is
// ignored and a dpop_jkt-bound code is refused.
func TestDPoPOtherGrants(t *testing.T) {
	t.Parallel()
	k := newDPoPKey(t)
	replay := guard.NewMemoryReplayCache(0)
	d, err := guard.NewDPoP(guard.DPoPConfig{Replay: replay})
	if err != nil {
		t.Fatal(err)
	}
	f := newTokFixture(t, guard.PasswordHasherConfig{QueueTimeout: testQueueTimeout}, func(c *TokenEndpointConfig) { c.DPoP = d })
	proof := func() func(*http.Request) {
		return withHeader("DPoP", k.Proof(t, http.MethodPost, tokTestHost, proofOpts{IssuedAt: time.Now()}))
	}
	claims, _ := dpopSuccess(t, f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW), proof())), f.verifier, "DPoP", false)
	if jktOf(claims) != k.Thumbprint() {
		t.Errorf("client_credentials cnf.jkt %q", jktOf(claims))
	}
	claims, _ = dpopSuccess(t, f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW), proof())), f.verifier, "DPoP", false)
	if jktOf(claims) != k.Thumbprint() {
		t.Errorf("password cnf.jkt %q", jktOf(claims))
	}

	// Without DPoP at the endpoint.
	cf := newCodeFlow(t)
	rec := cf.f.do(tokRequest(codeForm(cf.code(t, "spa", "alice")), proof()))
	claims, _ = dpopSuccess(t, rec, cf.check, "Bearer", true)
	if jktOf(claims) != "" {
		t.Errorf("a token endpoint without DPoP bound a token: %q", jktOf(claims))
	}
	q, _ := url.ParseQuery(azQuery("client_id", "spa", "scope", "read", "dpop_jkt", k.Thumbprint()))
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/authorize?"+q.Encode(), strings.NewReader("username=alice"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	arec := httptest.NewRecorder()
	cf.az.ServeHTTP(arec, r)
	loc, _ := url.Parse(arec.Header().Get("Location"))
	checkTokResponse(t, cf.f.do(tokRequest(codeForm(loc.Query().Get("code")), proof())), 400, tokErrorHeaders(), badCodeBody)
}

// TestDPoPDiscovery: the token endpoint's proof algorithms are published.
func TestDPoPDiscovery(t *testing.T) {
	t.Parallel()
	df := newDPoPFlow(t, nil, false)
	cfg := Discovery("https://auth.example", df.f.e, nil, nil)
	if got, want := cfg.DPoPSigningAlgValuesSupported, df.dpop.AlgorithmNames(); !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("DPoPSigningAlgValuesSupported: got %q, want %q", got, want)
	}
	h, err := DiscoveryHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://auth.example"+PathOAuthMetadata, nil))
	if !strings.Contains(rec.Body.String(), `"dpop_signing_alg_values_supported":["ES256","ES384","ES512","EdDSA","Ed25519","RS256","PS256"]`) {
		t.Errorf("metadata %s", rec.Body)
	}
	if cfg := Discovery("https://auth.example", newCodeFlow(t).f.e, nil, nil); cfg.DPoPSigningAlgValuesSupported != nil {
		t.Errorf("without DPoP: %q", cfg.DPoPSigningAlgValuesSupported)
	}
}

func sha256Sum(code string) [32]byte { return sha256.Sum256([]byte(code)) }

// dpopKey is a client's ES256 DPoP key. (guardtest has one, but it imports
// this package.)
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]string
	jkt  string
	n    atomic.Uint64
}

type proofOpts struct {
	Nonce    string
	IssuedAt time.Time
}

func newDPoPKey(t testing.TB) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	point, _ := priv.PublicKey.Bytes()
	x, y := b64.EncodeToString(point[1:33]), b64.EncodeToString(point[33:])
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`)) // RFC 7638
	return &dpopKey{priv: priv, jwk: map[string]string{"kty": "EC", "crv": "P-256", "x": x, "y": y}, jkt: b64.EncodeToString(sum[:])}
}

func (k *dpopKey) Thumbprint() string { return k.jkt }

// Proof is a proof for method and htu (RFC 9449 §4.2).
func (k *dpopKey) Proof(t testing.TB, method, htu string, o proofOpts) string {
	t.Helper()
	claims := map[string]any{"jti": strconv.FormatUint(k.n.Add(1), 10) + "-" + rand.Text(), "htm": method, "htu": htu, "iat": o.IssuedAt.Unix()}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	h, err1 := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk})
	c, err2 := json.Marshal(claims)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	b64 := base64.RawURLEncoding
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig)
}

// TestDPoPIntrospection: a DPoP-bound access token introspects with
// token_type DPoP and its cnf.jkt (RFC 9449 §6.2).
func TestDPoPIntrospection(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	jkt := newDPoPKey(t).Thumbprint()
	tok := f.issue(t, guard.Claims{Confirmation: &guard.Confirmation{JKT: jkt}})
	want := strings.Replace(f.activeAccess(t, tok, "", ""), `"token_type":"Bearer","jti":"`, `"token_type":"DPoP","jti":"`, 1)
	want = strings.TrimSuffix(want, "}\n") + `,"cnf":{"jkt":"` + jkt + `"}}` + "\n"
	checkTokResponse(t, f.doIntrospect(introRequest(form("token", tok), asRS)), 200, introOK, want)
}
