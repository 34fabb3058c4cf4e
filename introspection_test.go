package guard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIssuer is an introspection endpoint whose answer a test sets; it
// counts requests and records the last one.
type fakeIssuer struct {
	srv   *httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	last  *http.Request
	form  url.Values
	serve http.HandlerFunc
}

func newFakeIssuer(t testing.TB, serve http.HandlerFunc) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{serve: serve}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		_ = r.ParseForm()
		f.mu.Lock()
		f.last, f.form = r, r.PostForm
		h := f.serve
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) set(h http.HandlerFunc) { f.mu.Lock(); f.serve = h; f.mu.Unlock() }

// answer serves body as application/json.
func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

const introTestSecret = Secret("resource-secret")

func newTestChecker(t testing.TB, cfg IntrospectionCheckerConfig) *IntrospectionChecker {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = "resource-api"
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = introTestSecret
	}
	if cfg.Now == nil {
		cfg.Now = testClock
	}
	ic, err := NewIntrospectionChecker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

// serveBearer sends tok through v.RequireBearer and returns the recorder
// and whether the protected handler ran.
func serveBearer(v *Verifier, tok string) (*httptest.ResponseRecorder, bool) {
	ran := false
	h := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran = true; _, _ = w.Write([]byte("ok")) }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, ran
}

var (
	hdrOK          = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	hdrRevoked     = http.Header{"Www-Authenticate": {`Bearer realm="api", error="invalid_token", error_description="token revoked"`}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}}
	hdrUnavailable = http.Header{"Retry-After": {"5"}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}}
)

// bodyRevoked is the revoked token's body; bodyUnavailable (apikey_test.go) the 503's.
const bodyRevoked = `{"error":"invalid_token","error_description":"token revoked"}` + "\n"

// TestIntrospectionCheckerFaults: what the client of a protected route sees
// for each answer of the issuer. Only "active": true lets it through;
// "active": false is 401 revoked; every fault is 503 with Retry-After.
func TestIntrospectionCheckerFaults(t *testing.T) {
	t.Parallel()
	tok := issueToken(t, nil, Claims{Subject: "alice", ID: "jti-1"})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	cases := []struct {
		name    string
		serve   http.HandlerFunc
		url     string // instead of the fake issuer's
		timeout time.Duration
		status  int
		hdr     http.Header
		body    string
		err     []error
	}{
		{name: "active", serve: answer(`{"active":true,"sub":"alice","jti":"jti-1","extra":{"x":[1]}}`), status: 200, hdr: hdrOK, body: "ok"},
		{name: "active, charset", serve: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = io.WriteString(w, `{"active":true}`)
		}, status: 200, hdr: hdrOK, body: "ok"},
		{name: "inactive", serve: answer(`{"active":false}`), status: 401, hdr: hdrRevoked, body: bodyRevoked, err: []error{ErrInvalidToken, ErrTokenRevoked}},
		{name: "server error", serve: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
			status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "client refused", serve: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		},
			status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "redirect not followed", serve: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "HTML", serve: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, `<html>{"active":true}</html>`)
		}, status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "no content type", serve: func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = io.WriteString(w, `{"active":true}`)
		}, status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "not JSON", serve: answer(`active=true`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "trailing garbage", serve: answer(`{"active":true} {"active":false}`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "duplicate active", serve: answer(`{"active":false,"active":true}`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "active missing", serve: answer(`{"sub":"alice"}`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "active null", serve: answer(`{"active":null}`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "active a string", serve: answer(`{"active":"true"}`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "active a number", serve: answer(`{"active":1}`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "an array", serve: answer(`[{"active":true}]`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "another token's answer", serve: answer(`{"active":true,"jti":"jti-2"}`), status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
		{name: "huge body, declared", serve: answer(`{"active":true,"pad":"` + strings.Repeat("a", MaxIntrospectionResponseBytes) + `"}`),
			status: 503, hdr: hdrUnavailable, body: bodyUnavailable, err: []error{ErrResponseTooLarge}},
		{name: "huge body, streamed", serve: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"active":true,"pad":"`)
			w.(http.Flusher).Flush() // chunked: no Content-Length
			for range 70 {
				_, _ = io.WriteString(w, strings.Repeat("a", 1<<10))
			}
			_, _ = io.WriteString(w, `"}`)
		}, status: 503, hdr: hdrUnavailable, body: bodyUnavailable, err: []error{ErrResponseTooLarge}},
		{name: "slow", serve: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}, timeout: 50 * time.Millisecond, status: 503, hdr: hdrUnavailable, body: bodyUnavailable, err: []error{context.DeadlineExceeded}},
		{name: "unreachable", url: gone.URL, status: 503, hdr: hdrUnavailable, body: bodyUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			endpoint := c.url
			if endpoint == "" {
				endpoint = newFakeIssuer(t, c.serve).srv.URL + "/introspect"
			}
			ic := newTestChecker(t, IntrospectionCheckerConfig{Endpoint: endpoint, Timeout: c.timeout})
			var got error
			v := newTestVerifier(t, VerifierConfig{Revocations: ic,
				ErrorWriter: func(w http.ResponseWriter, r *http.Request, err error) { got = err; WriteError(w, r, err) }})
			for range 2 { // an answer is cached; a failure is not, and fails again
				rec, ran := serveBearer(v, tok)
				checkResponse(t, rec, c.status, c.hdr, c.body)
				if ran != (c.status == 200) {
					t.Errorf("next ran: %v", ran)
				}
				for _, want := range c.err {
					if !errors.Is(got, want) {
						t.Errorf("error %v does not match %v", got, want)
					}
				}
			}
			if got != nil && strings.Contains(got.Error(), tok) {
				t.Errorf("error %q holds the token", got)
			}
		})
	}
}

func TestIntrospectionCheckerRequest(t *testing.T) {
	t.Parallel()
	iss := newFakeIssuer(t, answer(`{"active":true}`))
	ic := newTestChecker(t, IntrospectionCheckerConfig{Endpoint: iss.srv.URL + "/introspect?tenant=a", ClientID: "rs:1", ClientSecret: "p%ss wörd"})
	tok := issueToken(t, nil, Claims{Subject: "alice", ID: "jti-1"})
	c := &Claims{Subject: "alice", ID: "jti-1", ExpiresAt: testNow.Add(time.Hour)}
	if revoked, err := ic.RevokedToken(context.Background(), tok, c); err != nil || revoked {
		t.Fatalf("got %v, %v; want false, nil", revoked, err)
	}
	r := iss.last
	if r.Method != http.MethodPost || r.URL.Path != "/introspect" || r.URL.RawQuery != "tenant=a" {
		t.Errorf("request: %s %s", r.Method, r.URL)
	}
	for k, want := range map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	id, secret, ok := r.BasicAuth()
	if id, _ = url.QueryUnescape(id); true {
		secret, _ = url.QueryUnescape(secret)
	}
	if !ok || id != "rs:1" || secret != "p%ss wörd" {
		t.Errorf("Basic: got %q %q %v", id, secret, ok)
	}
	if got := iss.form; len(got) != 2 || got.Get("token") != tok || got.Get("token_type_hint") != "access_token" {
		t.Errorf("form: got %v", got)
	}
	if s := fmt.Sprintf("%v %+v %#v", ic, ic, ic); strings.Contains(s, "p%ss") {
		t.Errorf("the checker prints its secret: %s", s)
	}
}

func TestIntrospectionCheckerCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss := newFakeIssuer(t, answer(`{"active":true}`))
	clock := &ksClock{t: testNow}
	ic := newTestChecker(t, IntrospectionCheckerConfig{Endpoint: iss.srv.URL, CacheFor: 10 * time.Second, Now: clock.Now})
	c := &Claims{Issuer: "https://a.example", ID: "jti-1", ExpiresAt: testNow.Add(time.Hour)}
	check := func(c *Claims, wantRevoked bool, wantCalls int32) {
		t.Helper()
		revoked, err := ic.RevokedToken(ctx, "tok", c)
		if err != nil || revoked != wantRevoked {
			t.Errorf("got %v, %v; want %v", revoked, err, wantRevoked)
		}
		if n := iss.calls.Load(); n != wantCalls {
			t.Errorf("requests: got %d, want %d", n, wantCalls)
		}
	}
	check(c, false, 1)
	clock.Add(10*time.Second - time.Nanosecond)
	check(c, false, 1) // within CacheFor: the cached answer
	if revoked, err := ic.Revoked(ctx, c); err != nil || revoked {
		t.Errorf("Revoked from the cache: got %v, %v", revoked, err)
	}
	iss.set(answer(`{"active":false}`)) // revoked at the issuer
	check(c, false, 1)                  // still within the staleness bound
	clock.Add(time.Nanosecond)
	check(c, true, 2) // CacheFor has passed: asked again
	clock.Add(30 * time.Minute)
	check(c, true, 2) // a revoked answer stays until the token expires
	// Another issuer's token with the same jti is another entry.
	check(&Claims{Issuer: "https://b.example", ID: "jti-1", ExpiresAt: testNow.Add(time.Hour)}, true, 3)
	// An active answer never outlives its token.
	iss.set(answer(`{"active":true}`))
	short := &Claims{ID: "jti-short", ExpiresAt: clock.Now().Add(time.Second)}
	check(short, false, 4)
	clock.Add(time.Second)
	check(short, false, 5)
	// A token without jti is asked about every time.
	nojti := &Claims{ExpiresAt: testNow.Add(2 * time.Hour)}
	check(nojti, false, 6)
	check(nojti, false, 7)
	if _, err := ic.Revoked(ctx, nojti); !errors.Is(err, errIntrospectionNoToken) {
		t.Errorf("Revoked without jti: got %v, want errIntrospectionNoToken", err)
	}
	if _, err := ic.Revoked(ctx, &Claims{ID: "unseen"}); !errors.Is(err, errIntrospectionNoToken) {
		t.Errorf("Revoked not cached: got %v, want errIntrospectionNoToken", err)
	}
	// A failure is not cached.
	iss.set(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	fresh := &Claims{ID: "jti-fresh", ExpiresAt: clock.Now().Add(time.Hour)}
	for range 2 {
		if _, err := ic.RevokedToken(ctx, "tok", fresh); err == nil {
			t.Error("issuer down: got nil error")
		}
	}
	if n := iss.calls.Load(); n != 9 {
		t.Errorf("requests after two failures: got %d, want 9", n)
	}
}

func TestIntrospectionCheckerBounded(t *testing.T) {
	t.Parallel()
	iss := newFakeIssuer(t, answer(`{"active":true}`))
	ic := newTestChecker(t, IntrospectionCheckerConfig{Endpoint: iss.srv.URL, MaxEntries: 8})
	for i := range 50 {
		c := &Claims{ID: "jti-" + strconv.Itoa(i), ExpiresAt: testNow.Add(time.Hour)}
		if _, err := ic.RevokedToken(context.Background(), "tok", c); err != nil {
			t.Fatal(err)
		}
		ic.mu.RLock()
		n := len(ic.cache)
		ic.mu.RUnlock()
		if n > 8 {
			t.Fatalf("after %d tokens: %d entries, want at most 8", i+1, n)
		}
	}
}

// TestIntrospectionCheckerSingleFlight: concurrent checks of one token share
// one request; a caller that gives up does not end it for the others.
func TestIntrospectionCheckerSingleFlight(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}), make(chan struct{})
	iss := newFakeIssuer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		answer(`{"active":false}`)(w, r)
	})
	ic := newTestChecker(t, IntrospectionCheckerConfig{Endpoint: iss.srv.URL})
	const n = 20
	var joined sync.WaitGroup
	joined.Add(n - 1)
	ic.joined = joined.Done
	c := &Claims{ID: "jti-1", ExpiresAt: testNow.Add(time.Hour)}
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	results := make(chan error, n)
	go func() {
		_, err := ic.RevokedToken(leaderCtx, "tok", &Claims{ID: "jti-1", ExpiresAt: testNow.Add(time.Hour)})
		results <- err
	}()
	<-arrived // the leader's request is at the issuer
	for range n - 1 {
		go func() {
			revoked, err := ic.RevokedToken(context.Background(), "tok", c)
			if err == nil && !revoked {
				err = errors.New("not revoked")
			}
			results <- err
		}()
	}
	joined.Wait()
	cancelLeader() // the leader stops waiting; the request goes on
	if err := <-results; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: got %v, want context.Canceled", err)
	}
	close(release)
	for range n - 1 {
		if err := <-results; err != nil {
			t.Errorf("follower: %v", err)
		}
	}
	if got := iss.calls.Load(); got != 1 {
		t.Errorf("requests: got %d, want 1", got)
	}
}

// metadataIssuer serves a discovery document with the given
// introspection_endpoint ("{ISS}" is replaced) and an endpoint that answers
// active at /introspect.
func metadataIssuer(t *testing.T, endpoint string, status int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var fetches atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			fetches.Add(1)
			if status != 200 {
				http.Error(w, "no", status)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			ep := strings.ReplaceAll(endpoint, "{ISS}", srv.URL)
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"introspection_endpoint":%q}`, srv.URL, srv.URL+"/jwks", ep)
		case "/introspect":
			answer(`{"active":true}`)(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &fetches
}

func TestIntrospectionCheckerDiscovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &Claims{ID: "jti-1", ExpiresAt: testNow.Add(time.Hour)}
	t.Run("found", func(t *testing.T) {
		t.Parallel()
		srv, fetches := metadataIssuer(t, "{ISS}/introspect", 200)
		ic := newTestChecker(t, IntrospectionCheckerConfig{Issuer: srv.URL})
		for i := range 2 {
			c := &Claims{ID: "jti-" + strconv.Itoa(i), ExpiresAt: testNow.Add(time.Hour)}
			if revoked, err := ic.RevokedToken(ctx, "tok", c); err != nil || revoked {
				t.Fatalf("got %v, %v", revoked, err)
			}
		}
		if n := fetches.Load(); n != 1 {
			t.Errorf("discovery fetches: got %d, want 1", n)
		}
	})
	for _, tc := range []struct {
		name, endpoint string
		status         int
		msg            string
	}{
		{"no introspection_endpoint", "", 200, "no introspection_endpoint"},
		{"plain http elsewhere", "http://auth.example/introspect", 200, "plain http"},
		{"no document", "", 500, "status 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, fetches := metadataIssuer(t, tc.endpoint, tc.status)
			clock := &ksClock{t: testNow}
			ic := newTestChecker(t, IntrospectionCheckerConfig{Issuer: srv.URL, Now: clock.Now})
			for range 3 {
				if _, err := ic.RevokedToken(ctx, "tok", c); err == nil || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("got %v, want an error with %q", err, tc.msg)
				}
			}
			if n := fetches.Load(); n != 1 {
				t.Errorf("fetches within a second: got %d, want 1", n)
			}
			clock.Add(time.Second)
			_, _ = ic.RevokedToken(ctx, "tok", c)
			if n := fetches.Load(); n != 2 {
				t.Errorf("fetches a second later: got %d, want 2", n)
			}
		})
	}
	t.Run("issuer mismatch", func(t *testing.T) {
		t.Parallel()
		srv, _ := metadataIssuer(t, "{ISS}/introspect", 200)
		ic := newTestChecker(t, IntrospectionCheckerConfig{Issuer: srv.URL + "/"})
		if _, err := ic.RevokedToken(ctx, "tok", c); !errors.Is(err, ErrIssuerMismatch) {
			t.Errorf("got %v, want ErrIssuerMismatch", err)
		}
	})
}

func TestIntrospectionCheckerConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  IntrospectionCheckerConfig
		want []string
	}{
		{"empty", IntrospectionCheckerConfig{}, []string{"needs Issuer or Endpoint", "ClientID is empty", "ClientSecret is empty"}},
		{"both", IntrospectionCheckerConfig{Issuer: "https://a.example", Endpoint: "https://a.example/i", ClientID: "x", ClientSecret: "y"},
			[]string{"not both"}},
		{"plain http endpoint", IntrospectionCheckerConfig{Endpoint: "http://a.example/i", ClientID: "x", ClientSecret: "y"}, []string{"Endpoint", "plain http"}},
		{"plain http issuer", IntrospectionCheckerConfig{Issuer: "http://a.example", ClientID: "x", ClientSecret: "y"}, []string{"Issuer", "plain http"}},
		{"issuer with a query", IntrospectionCheckerConfig{Issuer: "https://a.example?x", ClientID: "x", ClientSecret: "y"}, []string{"has a query"}},
		{"bounds", IntrospectionCheckerConfig{Endpoint: "https://a.example/i", ClientID: "x", ClientSecret: "y", CacheFor: 31 * time.Second, Timeout: -1, MaxEntries: -1},
			[]string{"CacheFor 31s is outside [0, 30s]", "Timeout -1ns is negative", "MaxEntries -1 is negative"}},
		{"negative CacheFor", IntrospectionCheckerConfig{Endpoint: "https://a.example/i", ClientID: "x", ClientSecret: "y", CacheFor: -1}, []string{"CacheFor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewIntrospectionChecker(tc.cfg)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want %q", err, w)
				}
			}
		})
	}
	ic, err := NewIntrospectionChecker(IntrospectionCheckerConfig{Endpoint: "http://127.0.0.1:1/i", ClientID: "x", ClientSecret: "y"})
	if err != nil || ic.cacheFor != DefaultIntrospectionCacheFor || ic.timeout != DefaultIntrospectionTimeout || ic.maxEntries != DefaultIntrospectionMaxEntries {
		t.Errorf("defaults: got %v %v %v, %v", ic.cacheFor, ic.timeout, ic.maxEntries, err)
	}
	var zero IntrospectionChecker
	if _, err := zero.RevokedToken(context.Background(), "t", &Claims{ID: "a"}); !errors.Is(err, errIntrospectionZero) {
		t.Errorf("zero RevokedToken: got %v", err)
	}
	if _, err := zero.Revoked(context.Background(), &Claims{ID: "a"}); !errors.Is(err, errIntrospectionZero) {
		t.Errorf("zero Revoked: got %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustNewIntrospectionChecker did not panic")
		}
	}()
	MustNewIntrospectionChecker(IntrospectionCheckerConfig{})
}

// BenchmarkIntrospectionCacheHit is the check a verifier makes with a
// remote checker whose answer is cached, beside the in-memory
// MemoryRevocations check of BenchmarkMemoryRevoked (1000 jtis and 1000
// subjects revoked, none of them this token's).
func BenchmarkIntrospectionCacheHit(b *testing.B) {
	ctx := context.Background()
	c := &Claims{Issuer: "https://auth.example", ID: "live-jti", Subject: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	b.Run("introspection-hit", func(b *testing.B) {
		iss := newFakeIssuer(b, answer(`{"active":true}`))
		ic := newTestChecker(b, IntrospectionCheckerConfig{Endpoint: iss.srv.URL})
		for i := range 1000 {
			_, _ = ic.RevokedToken(ctx, "tok", &Claims{ID: "jti-" + strconv.Itoa(i), ExpiresAt: testNow.Add(time.Hour)})
		}
		if _, err := ic.RevokedToken(ctx, "tok", c); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if revoked, err := ic.RevokedToken(ctx, "tok", c); revoked || err != nil {
				b.Fatal(revoked, err)
			}
		}
		if n := iss.calls.Load(); n != 1001 {
			b.Fatalf("requests: got %d, want 1001", n)
		}
	})
	b.Run("memory", func(b *testing.B) {
		m := MustNewMemoryRevocations(MemoryRevocationsConfig{Now: testClock})
		for i := range 1000 {
			_ = m.RevokeToken(ctx, "jti-"+strconv.Itoa(i), testNow.Add(time.Hour))
			_ = m.RevokeSubject(ctx, "user-"+strconv.Itoa(i), testNow)
		}
		b.ReportAllocs()
		for b.Loop() {
			if revoked, _ := m.Revoked(ctx, c); revoked {
				b.Fatal("revoked")
			}
		}
	})
}
