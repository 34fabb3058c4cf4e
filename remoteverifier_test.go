package guard

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// remoteIssue mints a token with k for iss and sub at the clock's time.
func remoteIssue(t testing.TB, k *Key, iss, sub string, now func() time.Time) string {
	t.Helper()
	i, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Issuer: iss, Audience: []string{"api"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := i.Issue(context.Background(), Claims{Subject: sub})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRemoteVerifierRequests drives RequireBearer on a remote key set found
// by discovery: 503 with Retry-After until the keys load (next never runs),
// then 200 for the issuer's tokens, 401 for others, and a key added later
// picked up on its first token.
func TestRemoteVerifierRequests(t *testing.T) {
	checkNoLeak(t)
	clock := newRemoteClock()
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	k2 := jwtMustPriv(t, ES256, jwtP256b(), "k2")
	rsaKey := jwtMustPriv(t, RS256, jwtRSA(), "r1")
	hmacKey := jwtMustHMAC(t, HS256, jwtSecret32, "h1")

	var mu sync.Mutex
	published := []*Key{k1, rsaKey}
	loaded := make(chan struct{})
	var loadOnce sync.Once
	mux := http.NewServeMux()
	var issuer string
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, issuer, issuer+"/jwks")
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		<-loaded
		mu.Lock()
		keys := published
		mu.Unlock()
		serveJSON(jwksOf(t, keys...), "max-age=300")(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	issuer = srv.URL

	rs := startRemote(t, RemoteKeySetConfig{Issuer: issuer, Now: clock.Now, RefetchInterval: 10 * time.Second}, false)
	v, err := NewVerifier(VerifierConfig{KeySource: rs, Issuers: []string{issuer}, Audiences: []string{"api"}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var ran bool
	h := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		p, _ := PrincipalFrom(r.Context())
		_, _ = io.WriteString(w, p.Subject)
	}))

	tok1 := remoteIssue(t, k1, issuer, "alice", clock.Now)
	tokRSA := remoteIssue(t, rsaKey, issuer, "bob", clock.Now)
	tok2 := remoteIssue(t, k2, issuer, "carol", clock.Now)
	tokHMAC := remoteIssue(t, hmacKey, issuer, "mallory", clock.Now)
	tokOtherIss := remoteIssue(t, k1, "https://other.example", "eve", clock.Now)

	type row struct {
		name      string
		token     string
		status    int
		challenge string // a substring of WWW-Authenticate; "" means none
		retry     string // Retry-After
		body      string // a substring
		next      bool
	}
	run := func(t *testing.T, rows []row) {
		t.Helper()
		for _, tt := range rows {
			t.Run(tt.name, func(t *testing.T) {
				ran = false
				req := httptest.NewRequest(http.MethodGet, "/hello", nil)
				req.Header.Set("Authorization", "Bearer "+tt.token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.status {
					t.Errorf("status: got %d, want %d (%s)", rec.Code, tt.status, rec.Body)
				}
				if got := rec.Header().Get("WWW-Authenticate"); tt.challenge == "" && got != "" || !strings.Contains(got, tt.challenge) {
					t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.challenge)
				}
				if got := rec.Header().Get("Retry-After"); got != tt.retry {
					t.Errorf("Retry-After: got %q, want %q", got, tt.retry)
				}
				if !strings.Contains(rec.Body.String(), tt.body) {
					t.Errorf("body: got %q, want it to contain %q", rec.Body, tt.body)
				}
				if ran != tt.next {
					t.Errorf("next ran: got %v, want %v", ran, tt.next)
				}
			})
		}
	}

	t.Run("before the keys load", func(t *testing.T) {
		run(t, []row{
			{name: "good token", token: tok1, status: 503, retry: "5", body: `"error":"temporarily_unavailable"`},
			// A well-formed token might verify once keys load: retry later.
			{name: "well-formed token of another key", token: remoteIssue(t, k2, "", "alice", clock.Now), status: 503, retry: "5", body: `"error":"temporarily_unavailable"`},
			// One that never could gets its 401 at once.
			{name: "malformed token", token: "a.b.c", status: 401, challenge: `error="invalid_token"`, body: `"malformed token"`},
			{name: "alg none", token: b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(`{"sub":"x"}`)) + ".",
				status: 401, challenge: `error="invalid_token"`, body: `"error":"invalid_token"`},
		})
		_, err := v.Verify(context.Background(), tok1)
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("Verify: got %v, want ErrKeysUnavailable", err)
		}
	})
	loadOnce.Do(func() { close(loaded) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rs.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("loaded", func(t *testing.T) {
		run(t, []row{
			{name: "ES256", token: tok1, status: 200, body: "alice", next: true},
			{name: "RS256", token: tokRSA, status: 200, body: "bob", next: true},
			{name: "HMAC never from a remote set", token: tokHMAC, status: 401, challenge: `error="invalid_token"`, body: "unknown signing key"},
			{name: "other issuer", token: tokOtherIss, status: 401, challenge: `error="invalid_token"`, body: "issuer not accepted"},
			{name: "unpublished key, refetch too soon", token: tok2, status: 401, challenge: `error="invalid_token"`, body: "unknown signing key"},
		})
	})
	mu.Lock()
	published = []*Key{k1, k2}
	mu.Unlock()
	clock.Advance(10 * time.Second)
	t.Run("key added", func(t *testing.T) {
		run(t, []row{
			{name: "new key picked up on its first token", token: tok2, status: 200, body: "carol", next: true},
			{name: "old key still there", token: tok1, status: 200, body: "alice", next: true},
			{name: "dropped key refused", token: tokRSA, status: 401, challenge: `error="invalid_token"`, body: "unknown signing key"},
		})
	})
	_ = rs.Close()
	srv.CloseClientConnections()
}

// TestRemoteVerifierKidMissFlood: 10 000 requests through RequireBearer,
// each a token with a random kid, cost at most one JWKS fetch per
// RefetchInterval; every one gets 401.
func TestRemoteVerifierKidMissFlood(t *testing.T) {
	checkNoLeak(t)
	clock := newRemoteClock()
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1), "max-age=3600"))
	rs := startRemote(t, RemoteKeySetConfig{URL: srv.URL, Now: clock.Now, RefetchInterval: time.Minute}, true)
	v, err := NewVerifier(VerifierConfig{KeySource: rs, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("next ran") }))
	// The kid is looked up before any signature check, so the tokens need
	// no real signature: a well-formed one of the right size will do.
	payload := b64.EncodeToString([]byte(`{"sub":"x","exp":9999999999}`))
	sig := b64.EncodeToString(make([]byte, 64))
	tokens := make([]string, 10_000)
	for i := range tokens {
		header := b64.EncodeToString(fmt.Appendf(nil, `{"alg":"ES256","kid":"random-%d-%s"}`, i, rand.Text()))
		tokens[i] = header + "." + payload + "." + sig
	}
	flood := func() (statuses map[int]int) {
		statuses = map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		work := make(chan string)
		for range 32 {
			wg.Go(func() {
				for tok := range work {
					req := httptest.NewRequest(http.MethodGet, "/", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					mu.Lock()
					statuses[rec.Code]++
					mu.Unlock()
				}
			})
		}
		for _, tok := range tokens {
			work <- tok
		}
		close(work)
		wg.Wait()
		return statuses
	}
	for round, advance := range []time.Duration{0, 30 * time.Second, 30 * time.Second, time.Minute} {
		clock.Advance(advance)
		before := srv.hits.Load()
		st := flood()
		if st[401] != len(tokens) {
			t.Errorf("round %d: statuses %v, want all 401", round, st)
		}
		// Round 0 is within a minute of the first fetch, round 1 too;
		// rounds 2 and 3 each start one interval after the last fetch.
		want := int64(0)
		if round >= 2 {
			want = 1
		}
		if got := srv.hits.Load() - before; got != want {
			t.Errorf("round %d: fetches: got %d, want %d", round, got, want)
		}
	}
	_ = rs.Close()
	srv.CloseClientConnections()
}

func TestRemoteDiscovery(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	jwks := jwksOf(t, k1)
	tests := []struct {
		name string
		// handler serves the issuer's paths; {ISS} in bodies becomes the issuer.
		routes map[string]string
		path   string // the issuer's path
		err    error
		msg    string
	}{
		{name: "openid-configuration", routes: map[string]string{
			"/.well-known/openid-configuration": `{"issuer":"{ISS}","jwks_uri":"{ISS}/keys"}`, "/keys": string(jwks)}},
		{name: "issuer with a path", path: "/tenant", routes: map[string]string{
			"/tenant/.well-known/openid-configuration": `{"issuer":"{ISS}","jwks_uri":"{ISS}/keys"}`, "/tenant/keys": string(jwks)}},
		{name: "RFC 8414 fallback", path: "/tenant", routes: map[string]string{
			"/.well-known/oauth-authorization-server/tenant": `{"issuer":"{ISS}","jwks_uri":"{ISS}/keys"}`, "/tenant/keys": string(jwks)}},
		{name: "another issuer", routes: map[string]string{
			"/.well-known/openid-configuration": `{"issuer":"https://evil.example","jwks_uri":"{ISS}/keys"}`, "/keys": string(jwks)},
			err: ErrIssuerMismatch},
		{name: "issuer with a trailing slash", routes: map[string]string{
			"/.well-known/openid-configuration": `{"issuer":"{ISS}/","jwks_uri":"{ISS}/keys"}`, "/keys": string(jwks)},
			err: ErrIssuerMismatch},
		{name: "jwks_uri over http elsewhere", routes: map[string]string{
			"/.well-known/openid-configuration": `{"issuer":"{ISS}","jwks_uri":"http://idp.example/keys"}`},
			err: ErrInsecureURL},
		{name: "no jwks_uri", routes: map[string]string{
			"/.well-known/openid-configuration": `{"issuer":"{ISS}"}`}, msg: "no jwks_uri"},
		{name: "duplicate issuer member", routes: map[string]string{
			"/.well-known/openid-configuration": `{"issuer":"{ISS}","issuer":"{ISS}","jwks_uri":"{ISS}/keys"}`}, msg: "malformed discovery document"},
		{name: "no document", routes: map[string]string{}, msg: "status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			var iss string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, ok := tt.routes[r.URL.Path]
				if !ok {
					http.NotFound(w, r)
					return
				}
				_, _ = io.WriteString(w, strings.ReplaceAll(body, "{ISS}", iss))
			}))
			defer srv.Close()
			iss = srv.URL + tt.path
			errc := make(chan error, 16)
			onError := func(err error) {
				select {
				case errc <- err:
				default:
				}
			}
			rs := startRemote(t, RemoteKeySetConfig{Issuer: iss, OnError: onError}, false)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tt.err == nil && tt.msg == "" {
				if err := rs.Ready(ctx); err != nil {
					t.Fatalf("Ready: %v", err)
				}
				if snap, err := rs.VerificationKeys(ctx); err != nil || snap.byKID["k1"] == nil {
					t.Errorf("keys: got %v, %v; want k1", snap, err)
				}
				return
			}
			var got error
			select {
			case got = <-errc:
			case <-ctx.Done():
				t.Fatal("no error reported")
			}
			if tt.err != nil && !errors.Is(got, tt.err) {
				t.Errorf("error: got %v, want %v", got, tt.err)
			}
			if tt.msg != "" && !strings.Contains(got.Error(), tt.msg) {
				t.Errorf("error: got %v, want it to mention %q", got, tt.msg)
			}
			if _, err := rs.VerificationKeys(ctx); !errors.Is(err, ErrKeysUnavailable) {
				t.Errorf("keys: got %v, want ErrKeysUnavailable", err)
			}
			_ = rs.Close()
		})
	}
}

func TestDiscoveryURLs(t *testing.T) {
	tests := []struct{ issuer, oidc, oauth string }{
		{"https://idp.example", "https://idp.example/.well-known/openid-configuration", "https://idp.example/.well-known/oauth-authorization-server"},
		{"https://idp.example/", "https://idp.example/.well-known/openid-configuration", "https://idp.example/.well-known/oauth-authorization-server"},
		{"https://idp.example/t/1", "https://idp.example/t/1/.well-known/openid-configuration", "https://idp.example/.well-known/oauth-authorization-server/t/1"},
		{"http://localhost:9000", "http://localhost:9000/.well-known/openid-configuration", "http://localhost:9000/.well-known/oauth-authorization-server"},
	}
	for _, tt := range tests {
		oidc, oauth, err := discoveryURLs(tt.issuer, false)
		if err != nil || oidc != tt.oidc || oauth != tt.oauth {
			t.Errorf("discoveryURLs(%q): got %q, %q, %v; want %q, %q", tt.issuer, oidc, oauth, err, tt.oidc, tt.oauth)
		}
	}
}

// FuzzParseProviderMetadata: the discovery-document parser never panics, and
// accepts only documents whose issuer is exactly the one asked for and whose
// jwks_uri passes the URL rule.
func FuzzParseProviderMetadata(f *testing.F) {
	const iss = "https://idp.example"
	for _, s := range []string{
		`{"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys"}`,
		`{"issuer":"https://idp.example/","jwks_uri":"https://idp.example/keys"}`,
		`{"issuer":"https://idp.example","jwks_uri":"http://idp.example/keys"}`,
		`{"issuer":"https://idp.example","jwks_uri":"http://127.0.0.1/keys","token_endpoint":"x"}`,
		`{"issuer":"https://idp.example","issuer":"https://idp.example","jwks_uri":"https://a/b"}`,
		`{"issuer":"https://idp.exam\u0070le","jwks_uri":"https://a/b"}`,
		`{"issuer":null}`, `[]`, ``, `{"issuer":"https://idp.example","jwks_uri":"https://u:p@a/b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseProviderMetadata(data, iss, false)
		if err != nil {
			if m != (providerMetadata{}) {
				t.Fatalf("error %v with metadata %+v", err, m)
			}
			return
		}
		if m.Issuer != iss {
			t.Fatalf("accepted issuer %q", m.Issuer)
		}
		if _, err := checkRemoteURL(m.JWKSURI, false); err != nil {
			t.Fatalf("accepted jwks_uri %q: %v", m.JWKSURI, err)
		}
	})
}

// BenchmarkRemoteVerifier compares one request through RequireBearer on a
// static key with the same on a remote key set holding that key: the
// remote set adds an atomic load and a clock read per request. The cached
// rows use VerifierConfig.CacheSize, where the signature check is skipped
// and the difference shows most.
func BenchmarkRemoteVerifier(b *testing.B) {
	k1 := jwtMustPriv(b, ES256, jwtP256(), "k1")
	srv := httptest.NewServer(http.HandlerFunc(serveJSON(jwksOf(b, k1), "max-age=3600")))
	defer srv.Close()
	rs, err := NewRemoteKeySet(RemoteKeySetConfig{URL: srv.URL, Logger: quietLogger(nil)})
	if err != nil {
		b.Fatal(err)
	}
	rs.Start()
	defer rs.Close()
	if err := rs.Ready(context.Background()); err != nil {
		b.Fatal(err)
	}
	tok := remoteIssue(b, k1, "https://idp.example", "alice", time.Now)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, cache := range []int{0, 1024} {
		for _, src := range []string{"static", "remote"} {
			cfg := VerifierConfig{Issuers: []string{"https://idp.example"}, CacheSize: cache}
			if src == "static" {
				cfg.Keys = []*Key{k1}
			} else {
				cfg.KeySource = rs
			}
			v, err := NewVerifier(cfg)
			if err != nil {
				b.Fatal(err)
			}
			h := v.RequireBearer(ok)
			name := src
			if cache > 0 {
				name += "_cached"
			}
			b.Run(name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(w, req)
				}
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			})
		}
	}
}

// TestRemoteVerifierAllocs: a request on a remote key set allocates what
// the same request on a static key does.
func TestRemoteVerifierAllocs(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1), ""))
	rs := startRemote(t, RemoteKeySetConfig{URL: srv.URL}, true)
	tok := remoteIssue(t, k1, "", "alice", time.Now)
	allocs := map[string]float64{}
	for _, src := range []string{"static", "remote"} {
		cfg := VerifierConfig{Keys: []*Key{k1}}
		if src == "remote" {
			cfg = VerifierConfig{KeySource: rs}
		}
		v, err := NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		allocs[src] = measureAllocs(t, 50, func() {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		})
	}
	if allocs["remote"] != allocs["static"] {
		t.Errorf("allocs per Verify: remote %v, static %v; want equal", allocs["remote"], allocs["static"])
	}
}

// TestVerifierNoKeysHeaderCheck: before a KeySource has keys, a token that
// no key could ever verify gets its 401 with its own sentinel, cache or no
// cache, and never the 503; a well-formed one gets the 503.
func TestVerifierNoKeysHeaderCheck(t *testing.T) {
	hdr := func(h string) string {
		return b64.EncodeToString([]byte(h)) + "." + b64.EncodeToString([]byte(jwtClaims(""))) + ".c2ln"
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"alg none", hdr(`{"alg":"none"}`), ErrAlgorithm},
		{"unknown alg", hdr(`{"alg":"ES256K","kid":"k1"}`), ErrAlgorithm},
		{"crit", hdr(`{"alg":"ES256","kid":"k1","crit":["b64"]}`), ErrMalformedToken},
		{"header not JSON", b64.EncodeToString([]byte(`{"alg"`)) + ".e30.c2ln", ErrMalformedToken},
		{"header not base64url", "***.e30.c2ln", ErrMalformedToken},
		{"well-formed", hdr(`{"alg":"ES256","kid":"k1"}`), ErrKeysUnavailable},
	}
	for _, size := range []int{0, 16} {
		v := jwtVerifier(t, VerifierConfig{KeySource: &swappableKeySource{}, CacheSize: size})
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/cache %d", tt.name, size), func(t *testing.T) {
				_, err := v.Verify(context.Background(), tt.token)
				e := ErrorOf(err)
				if !errors.Is(err, tt.want) || e == nil {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				wantStatus := http.StatusUnauthorized
				if tt.want == ErrKeysUnavailable {
					wantStatus = http.StatusServiceUnavailable
				}
				if e.Status != wantStatus {
					t.Errorf("status: got %d, want %d", e.Status, wantStatus)
				}
			})
		}
	}
}
