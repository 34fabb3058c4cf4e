package redisstore

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

// instance is one service instance: a token endpoint, its revocation
// endpoint, and a bearer- and API-key-protected resource, on its own
// httptest server, with every store on the shared Redis.
type instance struct {
	srv *httptest.Server
}

type users map[string]authserver.User

func (u users) LookupUser(_ context.Context, name string) (authserver.User, error) {
	if v, ok := u[name]; ok {
		return v, nil
	}
	return authserver.User{}, guard.ErrNotFound
}

var (
	hashOnce  sync.Once
	aliceHash guard.Secret
)

func testHasher(t testing.TB) *guard.PasswordHasher {
	h, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{BcryptCost: 10, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	hashOnce.Do(func() {
		aliceHash, err = h.Hash(context.Background(), "wonderland")
		if err != nil {
			t.Fatal(err)
		}
	})
	return h
}

const apiKey = "demo_key_for_tests"

// newInstance builds an instance; mods change the token endpoint's config.
func newInstance(t testing.TB, st *Store, key *guard.Key, mods ...func(*authserver.TokenEndpointConfig)) *instance {
	t.Helper()
	h := testHasher(t)
	lim := func(name string, threshold int) authserver.LoginLimiter {
		l, err := st.Limiter(LimiterConfig{Name: name, Threshold: threshold, BaseDelay: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	revs, err := st.Revocations(RevocationsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, Issuer: "https://auth.test"})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Issuers: []string{"https://auth.test"}, Revocations: revs})
	if err != nil {
		t.Fatal(err)
	}
	cfg := authserver.TokenEndpointConfig{
		Issuer: iss, Hasher: h, EnablePasswordGrant: true,
		Users:          users{"alice": {PasswordHash: aliceHash, Roles: []string{"admin"}}},
		Limiter:        lim("pair", 5),
		IPLimiter:      lim("ip", 10_000),
		AccountLimiter: lim("account", 50),
		Refresh:        &authserver.RefreshConfig{Store: st.RefreshTokens()},
		Revocations:    revs, AccessTokenVerifier: ver,
	}
	for _, m := range mods {
		m(&cfg)
	}
	te, err := authserver.NewTokenEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: st.APIKeys()})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux := http.NewServeMux()
	mux.Handle("POST /token", te)
	mux.Handle("POST /revoke", te.RevocationEndpoint())
	mux.Handle("GET /protected", ver.RequireBearer(ok))
	mux.Handle("GET /secure", keys.RequireAPIKey(ok))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &instance{srv: srv}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	took   time.Duration
}

func (in *instance) post(t testing.TB, path string, form url.Values) reply {
	t.Helper()
	start := time.Now()
	resp, err := http.PostForm(in.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header, took: time.Since(start)}
	_ = json.NewDecoder(resp.Body).Decode(&r.body)
	return r
}

func (in *instance) get(t testing.TB, path, header, value string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.srv.URL+path, nil)
	req.Header.Set(header, value)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header, took: time.Since(start)}
	_ = json.NewDecoder(resp.Body).Decode(&r.body)
	return r
}

func login(t testing.TB, in *instance) (access, refresh string) {
	t.Helper()
	r := in.post(t, "/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}})
	if r.status != 200 {
		t.Fatalf("login: %d %v", r.status, r.body)
	}
	return r.body["access_token"].(string), r.body["refresh_token"].(string)
}

func testKey(t testing.TB) *guard.Key {
	k, err := guard.NewHMACKey(guard.HS256, []byte("redisstore-test-key-0123456789abcdef"), "k1")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wantError(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Errorf("%s: got %d %v, want %d %s", what, r.status, r.body, status, code)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", what, r.header.Get("Cache-Control"))
	}
	if status == 503 && r.header.Get("Retry-After") == "" {
		t.Errorf("%s: 503 without Retry-After", what)
	}
}

func TestTwoInstances(t *testing.T) {
	// On standalone and cluster; the stores on Sentinel and Ring are
	// covered by the store tests.
	forEachBackend(t, testTwoInstances, standalone, cluster)
}

func testTwoInstances(t *testing.T, srv *backend) {
	key := testKey(t)
	st := srv.store(t, "app:")
	noGrace := func(c *authserver.TokenEndpointConfig) { c.Refresh.GraceWindow = -1 }
	a, b := newInstance(t, st, key, noGrace), newInstance(t, srv.store(t, "app:"), key, noGrace)

	t.Run("a revocation on A is refused on B", func(t *testing.T) {
		at, _ := login(t, a)
		if r := b.get(t, "/protected", "Authorization", "Bearer "+at); r.status != 200 {
			t.Fatalf("before: %d", r.status)
		}
		if r := a.post(t, "/revoke", url.Values{"token": {at}}); r.status != 200 {
			t.Fatalf("revoke: %d %v", r.status, r.body)
		}
		r := b.get(t, "/protected", "Authorization", "Bearer "+at)
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error_description="token revoked"`) {
			t.Errorf("after: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("refresh on A, replay on B revokes the family", func(t *testing.T) {
		_, rt := login(t, a)
		r := a.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if r.status != 200 {
			t.Fatalf("refresh on A: %d %v", r.status, r.body)
		}
		next := r.body["refresh_token"].(string)
		wantError(t, "replay on B", b.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}), 400, "invalid_grant")
		wantError(t, "successor on A", a.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}}), 400, "invalid_grant")
	})
	t.Run("refresh token replayed from 50 goroutines", func(t *testing.T) {
		_, rt := login(t, b)
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := range 50 {
			in := []*instance{a, b}[i%2]
			wg.Go(func() {
				r := in.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				mu.Lock()
				codes[r.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if codes[200] != 1 || codes[400] != 49 {
			t.Errorf("statuses: %v, want one 200 and 49 400", codes)
		}
	})
	t.Run("24 concurrent refreshes over two instances: one rotation", func(t *testing.T) {
		st2, err := New(srv.client(t), Config{Prefix: st.prefix}) // another instance's client, the same keys
		if err != nil {
			t.Fatal(err)
		}
		c, d := newInstance(t, st, key), newInstance(t, st2, key)
		_, rt := login(t, c)
		var mu sync.Mutex
		successors := map[string]int{}
		refused := 0
		var wg sync.WaitGroup
		for i := range 24 {
			in := []*instance{c, d}[i%2]
			wg.Go(func() {
				r := in.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				mu.Lock()
				defer mu.Unlock()
				switch r.status {
				case 200:
					successors[r.body["refresh_token"].(string)]++
				case 400:
					refused++
				default:
					t.Errorf("status %d %v", r.status, r.body)
				}
			})
		}
		wg.Wait()
		// One rotation: every 200 carries the same successor. With the
		// default config the winner's answer closes the retry window, so
		// requests after it are reuse and end the family.
		if len(successors) != 1 {
			t.Fatalf("successors: %v, want exactly one", successors)
		}
		for next := range successors {
			r := c.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}})
			if want := map[bool]int{true: 400, false: 200}[refused > 0]; r.status != want {
				t.Errorf("the successor after %d reuses: got %d %v, want %d", refused, r.status, r.body, want)
			}
		}
	})
	t.Run("bad refresh tokens", func(t *testing.T) {
		for name, tok := range map[string]string{
			"not base64": strings.Repeat("*", 43), "wrong length": "abc", "unknown": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		} {
			wantError(t, name, a.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}), 400, "invalid_grant")
		}
		wantError(t, "1 MiB", a.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("A", 1<<20)}}), 413, "invalid_request")
	})
	t.Run("usernames with injection attempts", func(t *testing.T) {
		for _, u := range []string{"*", "a\r\nFLUSHALL\r\n", "alice*", strings.Repeat("x", 256)} {
			wantError(t, "username "+u[:1], a.post(t, "/token", url.Values{"grant_type": {"password"}, "username": {u}, "password": {"x"}}), 400, "invalid_grant")
		}
		wantError(t, "16 KiB username", a.post(t, "/token", url.Values{"grant_type": {"password"}, "username": {strings.Repeat("x", 16<<10)}, "password": {"x"}}), 413, "invalid_request")
		checkKeys(t, st, -1)
	})
}

// TestFailedLoginsAcrossInstances: 1000 concurrent failed logins for one
// account, spread over two instances, are evaluated (hashed and answered
// invalid_grant) at most Threshold times in total; the rest are throttled
// before any hashing.
func TestFailedLoginsAcrossInstances(t *testing.T) {

	// On standalone and cluster; the stores on Sentinel and Ring are
	// covered by the store tests.
	forEachBackend(t, testFailedLoginsAcrossInstances, standalone, cluster)

}

func testFailedLoginsAcrossInstances(t *testing.T, srv *backend) {
	key := testKey(t)
	a, b := newInstance(t, srv.store(t, "app:"), key), newInstance(t, srv.store(t, "app:"), key)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100) // 100 in flight: the test client's own limit
	for i := range 1000 {
		in := []*instance{a, b}[i%2]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := in.post(t, "/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"guess"}})
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("statuses: %v", codes)
	if codes[400] > 5 || codes[400] == 0 {
		t.Errorf("evaluated (400 invalid_grant): %d, want 1..5 (the pair limiter's threshold)", codes[400])
	}
	if codes[400]+codes[429]+codes[503] != 1000 {
		t.Errorf("statuses: %v", codes)
	}
}

// TestRedisDown stops Redis (every node of a cluster) mid-run: every path that needs it answers
// 503 temporarily_unavailable with Retry-After, quickly; once it is back the
// same instance serves again.
func TestRedisDown(t *testing.T) {
	t.Parallel() // on private backends, waiting on timeouts and restarts
	for _, k := range []backendKind{standalone, cluster} {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			testRedisDown(t, privateBackend(t, k))
		})
	}
}

func testRedisDown(t *testing.T, srv *backend) {
	st := srv.store(t, "app:")
	in := newInstance(t, st, testKey(t))
	ctx := context.Background()
	if err := st.APIKeys().Add(ctx, guard.APIKeyDigest(apiKey), guard.APIKeyRecord{Subject: "svc"}); err != nil {
		t.Fatal(err)
	}
	at, rt := login(t, in)
	if r := in.get(t, "/secure", "X-API-Key", apiKey); r.status != 200 {
		t.Fatalf("api key before: %d", r.status)
	}

	checks := []struct {
		name string
		do   func() reply
	}{
		{"password login", func() reply {
			return in.post(t, "/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}})
		}},
		{"refresh", func() reply {
			return in.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		}},
		{"revoke", func() reply { return in.post(t, "/revoke", url.Values{"token": {rt}}) }},
		{"bearer revocation check", func() reply { return in.get(t, "/protected", "Authorization", "Bearer "+at) }},
		{"api key", func() reply { return in.get(t, "/secure", "X-API-Key", apiKey) }},
	}
	run := func(phase string) {
		for _, c := range checks {
			r := c.do()
			wantError(t, phase+": "+c.name, r, 503, "temporarily_unavailable")
			if r.took > 3*time.Second {
				t.Errorf("%s: %s: took %v", phase, c.name, r.took)
			}
		}
	}
	// Frozen: connections stay open and nothing answers; only timeouts help.
	srv.signal(t, syscall.SIGSTOP)
	run("frozen")
	srv.signal(t, syscall.SIGCONT)
	// Stopped: connections refused.
	srv.stop()
	run("stopped")

	srv.start(t) // an empty Redis: nothing was persisted
	if err := st.APIKeys().Add(ctx, guard.APIKeyDigest(apiKey), guard.APIKeyRecord{Subject: "svc"}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if r := in.get(t, "/secure", "X-API-Key", apiKey); r.status != 200 {
		t.Errorf("api key after restart: %d", r.status)
	}
	if r := in.get(t, "/protected", "Authorization", "Bearer "+at); r.status != 200 {
		t.Errorf("bearer after restart: %d", r.status)
	}
	login(t, in)
}
