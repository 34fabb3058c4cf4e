package authserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
	"golang.org/x/crypto/bcrypt"
)

// Test fixture of the token endpoint. Hashing is kept cheap (Argon2id at
// OWASP's weakest listed cost, bcrypt cost 10) so the file runs in seconds.

var tokNow = time.Unix(1_700_000_000, 0)

const (
	tokAlicePW  = "wonderland"
	tokBobPW    = "builder" // bob is disabled
	tokCarolPW  = "legacy-pässword"
	tokSvcID    = "svc:reporting" // ':' in a client_id must be form-encoded in Basic
	tokSvcPW    = "s3:cr%t+é ü/=" // ':' '%' '+' non-ASCII, space
	tokWebID    = "web"
	tokWebPW    = "web-secret"
	tokHMACKey  = "token-endpoint-test-key-0123456789abcdef"
	tokTestHost = "https://auth.example/token"
)

var tokArgon2 = guard.Argon2Params{Memory: 7168, Time: 5}

// tokHashes are computed once: hashes are portable between hashers with the
// same policy.
var tokHashes = sync.OnceValue(func() map[string]string {
	h, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{Argon2: tokArgon2, BcryptCost: 10, QueueTimeout: testQueueTimeout})
	if err != nil {
		panic(err)
	}
	out := map[string]string{}
	for _, pw := range []string{tokAlicePW, tokBobPW, tokSvcPW, tokWebPW} {
		enc, err := h.Hash(context.Background(), pw)
		if err != nil {
			panic(err)
		}
		out[pw] = string(enc)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(tokCarolPW), 4) // legacy cost, below the policy's 10
	if err != nil {
		panic(err)
	}
	out[tokCarolPW] = string(b)
	return out
})

// tokUsers is a UserStore and PasswordHashUpdater.
type tokUsers struct {
	mu      sync.Mutex
	users   map[string]User
	err     error // returned by every lookup when set
	updates int
	block   chan struct{} // when set, LookupUser waits on it
}

func (s *tokUsers) LookupUser(ctx context.Context, name string) (User, error) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return User{}, s.err
	}
	u, ok := s.users[name]
	if !ok {
		return User{}, guard.ErrNotFound
	}
	return u, nil
}

func (s *tokUsers) UpdatePasswordHash(_ context.Context, name string, h guard.Secret) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[name]
	u.PasswordHash = h
	s.users[name] = u
	s.updates++
	return nil
}

func (s *tokUsers) get(name string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[name]
}

type tokClients map[string]Client

func (c tokClients) LookupClient(_ context.Context, id string) (Client, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return Client{}, guard.ErrNotFound
}

// tokCountingHasher records the hashing work of each request.
// tokCountingHasher counts the endpoint's calls to its hasher. Each call is
// one key-derivation run, whatever it answers: the root package's
// TestVerifyCostsOneKDF holds the hasher to that on every path, so counting
// calls here is counting hashing work.
type tokCountingHasher struct {
	h                          *guard.PasswordHasher
	hash, verify, verDum, runs atomic.Int32
}

func (c *tokCountingHasher) Hash(ctx context.Context, pw string) (guard.Secret, error) {
	c.hash.Add(1)
	c.runs.Add(1)
	return c.h.Hash(ctx, pw)
}

func (c *tokCountingHasher) Verify(ctx context.Context, pw string, enc guard.Secret) (bool, error) {
	c.verify.Add(1)
	c.runs.Add(1)
	return c.h.Verify(ctx, pw, enc)
}

func (c *tokCountingHasher) VerifyDummy(ctx context.Context, pw string) error {
	c.verDum.Add(1)
	c.runs.Add(1)
	return c.h.VerifyDummy(ctx, pw)
}

// kdfRuns returns the key-derivation runs since its last call.
func (c *tokCountingHasher) kdfRuns() int { return int(c.runs.Swap(0)) }

func (c *tokCountingHasher) counts() [3]int32 {
	return [3]int32{c.hash.Swap(0), c.verify.Swap(0), c.verDum.Swap(0)}
}

// tokClock is a settable clock for the limiters.
type tokClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tokClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *tokClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tokLockedBuffer is a log sink safe for concurrent writers.
type tokLockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *tokLockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *tokLockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type tokFixture struct {
	e        *TokenEndpoint
	hasher   *guard.PasswordHasher
	count    *tokCountingHasher
	kdf      func() int // key-derivation runs since the last call
	users    *tokUsers
	verifier *guard.Verifier
	clock    *tokClock
	logs     *tokLockedBuffer
}

// newTokFixture builds an endpoint with users alice (admin; read write),
// bob (disabled), carol (legacy bcrypt hash) and clients svc
// (client_credentials; read write) and web (password; read). mod may change
// the config before construction.
func newTokFixture(t testing.TB, hcfg guard.PasswordHasherConfig, mod func(*TokenEndpointConfig)) *tokFixture {
	t.Helper()
	hs := tokHashes()
	key, err := guard.NewHMACKey(guard.HS256, []byte(tokHMACKey), "k1")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return tokNow }
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, Issuer: "https://auth.example", TTL: 10 * time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Issuers: []string{"https://auth.example"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	hcfg.Argon2 = tokArgon2
	hcfg.BcryptCost = 10
	h, err := guard.NewPasswordHasher(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	users := &tokUsers{users: map[string]User{
		"alice": {Subject: "user-1", PasswordHash: guard.Secret(hs[tokAlicePW]), Roles: []string{"admin"}, Scopes: []string{"read", "write"}},
		"bob":   {PasswordHash: guard.Secret(hs[tokBobPW]), Roles: []string{"user"}, Disabled: true},
		"carol": {PasswordHash: guard.Secret(hs[tokCarolPW]), Roles: []string{"user"}, Scopes: []string{"read"}},
		"dave":  {Roles: []string{"user"}},                                                                  // single sign-on only: no password
		"erin":  {PasswordHash: "$2a$10$short", Roles: []string{"user"}},                                    // corrupt stored hash
		"frank": {PasswordHash: guard.Secret("$2b$31$" + strings.Repeat("A", 53)), Roles: []string{"user"}}, // cost above the ceiling
	}}
	clients := tokClients{
		tokSvcID: {SecretHash: guard.Secret(hs[tokSvcPW]), Roles: []string{"service"}, Scopes: []string{"read", "write"}},
		tokWebID: {SecretHash: guard.Secret(hs[tokWebPW]), Grants: []string{"password"}, Scopes: []string{"read"}},
		"off":    {SecretHash: guard.Secret(hs[tokWebPW]), Disabled: true},
	}
	clock := &tokClock{t: tokNow}
	logs := &tokLockedBuffer{}
	cfg := TokenEndpointConfig{
		Issuer:              iss,
		Hasher:              h,
		Users:               users,
		EnablePasswordGrant: true,
		Clients:             clients,
		Limiter:             MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second, Forget: time.Minute, Now: clock.Now}),
		IPLimiter:           MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 1000, Now: clock.Now}),
		AccountLimiter:      MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second, Forget: time.Minute, Now: clock.Now}),
		// Most tests log in without a client; TestTokenPasswordGrantClients
		// covers the default, which requires one while Clients is set.
		DangerouslyAllowPasswordGrantWithoutClient: true,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewTokenEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	count := &tokCountingHasher{h: h}
	e.hasher = count
	return &tokFixture{e: e, hasher: h, count: count, kdf: count.kdfRuns, users: users, verifier: ver, clock: clock, logs: logs}
}

// tokRequest is a token request over TLS from 192.0.2.1 unless changed by mods.
func tokRequest(body string, mods ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, tokTestHost, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, m := range mods {
		m(r)
	}
	return r
}

func (f *tokFixture) do(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, r)
	return rec
}

func withBasic(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

func withHeader(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Add(k, v) }
}

func withRemote(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

func plainHTTP(r *http.Request) { r.TLS = nil }

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

const tokBasicChallenge = `Basic realm="api", charset="UTF-8"`

// tokErrorHeaders are the headers of every error response; extra adds to them.
func tokErrorHeaders(extra ...string) http.Header {
	h := http.Header{
		"Content-Type":           {"application/json"},
		"Cache-Control":          {"no-store"},
		"Pragma":                 {"no-cache"},
		"X-Content-Type-Options": {"nosniff"},
	}
	for i := 0; i < len(extra); i += 2 {
		h.Add(extra[i], extra[i+1])
	}
	return h
}

func tokErrBody(code, desc string) string {
	if desc == "" {
		return `{"error":"` + code + `"}` + "\n"
	}
	return `{"error":"` + code + `","error_description":"` + desc + `"}` + "\n"
}

func checkTokResponse(t *testing.T, rec *httptest.ResponseRecorder, status int, hdr http.Header, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status: got %d, want %d (body %q)", rec.Code, status, rec.Body.String())
	}
	if got := rec.Header(); !maps.EqualFunc(got, hdr, slices.Equal) {
		t.Errorf("headers:\n got %v\nwant %v", got, hdr)
	}
	if got := rec.Body.String(); got != body {
		t.Errorf("body: got %q, want %q", got, body)
	}
}

// checkTokSuccess checks a 200 and returns the verified claims.
func (f *tokFixture) checkTokSuccess(t *testing.T, rec *httptest.ResponseRecorder, scope string) *guard.Claims {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (body %q)", rec.Code, rec.Body.String())
	}
	want := http.Header{
		"Content-Type":  {"application/json;charset=UTF-8"},
		"Cache-Control": {"no-store"},
		"Pragma":        {"no-cache"},
	}
	if got := rec.Header(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("headers:\n got %v\nwant %v", got, want)
	}
	var resp map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	tok, _ := resp["access_token"].(string)
	c, err := f.verifier.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("access_token does not verify: %v", err)
	}
	wantBody := `{"access_token":"` + tok + `","token_type":"Bearer","expires_in":600`
	if scope != "" {
		wantBody += `,"scope":"` + scope + `"`
	}
	wantBody += "}\n"
	if got := rec.Body.String(); got != wantBody {
		t.Errorf("body: got %q, want %q", got, wantBody)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt); got != 10*time.Minute {
		t.Errorf("token lifetime: got %v, want 10m", got)
	}
	return c
}

func TestNewTokenEndpointConfig(t *testing.T) {
	t.Parallel()
	_, err := NewTokenEndpoint(TokenEndpointConfig{EnablePasswordGrant: true, MaxBodyBytes: -1,
		TrustedProxies: []netip.Prefix{{}}})
	_, err2 := NewTokenEndpoint(TokenEndpointConfig{Users: &tokUsers{}})
	err = errors.Join(err, err2)
	for _, want := range []string{"Issuer is nil", "Hasher is nil", "needs Users", "MaxBodyBytes is negative", "invalid trusted proxy",
		"Users is set but neither EnablePasswordGrant nor AuthCodes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error mentioning %q", err, want)
		}
	}
}

func TestTokenPasswordGrant(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	cases := []struct {
		name      string
		req       *http.Request
		scope     string // the "scope" member expected in the response
		sub       string
		roles     []string
		scopes    []string
		client    string
		verifies  int32
		hashCalls int32
	}{
		{"no scope requested: all granted, listed", tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW)),
			"read write", "user-1", []string{"admin"}, []string{"read", "write"}, "", 1, 0},
		{"scope as requested: not listed", tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "scope", "read")),
			"", "user-1", []string{"admin"}, []string{"read"}, "", 1, 0},
		{"duplicate scope: granted once, listed", tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "scope", "write read write")),
			"write read", "user-1", []string{"admin"}, []string{"write", "read"}, "", 1, 0},
		{"unknown parameters ignored", tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "scope", "read write", "foo", "bar", "redirect_uri", "x")),
			"", "user-1", []string{"admin"}, []string{"read", "write"}, "", 1, 0},
		{"charset=UTF-8 accepted", tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "scope", "read"),
			func(r *http.Request) {
				r.Header.Set("Content-Type", "Application/X-WWW-Form-Urlencoded; charset=utf-8")
			}),
			"", "user-1", []string{"admin"}, []string{"read"}, "", 1, 0},
		{"confidential client via Basic: scopes intersected", tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW), withBasic(tokWebID, tokWebPW)),
			"read", "user-1", []string{"admin"}, []string{"read"}, tokWebID, 2, 0},
		{"confidential client in body", tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "client_id", tokWebID, "client_secret", tokWebPW, "scope", "read")),
			"", "user-1", []string{"admin"}, []string{"read"}, tokWebID, 2, 0},
		{"empty Basic (x/oauth2 public client) is no client", tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "scope", "read"), withBasic("", "")),
			"", "user-1", []string{"admin"}, []string{"read"}, "", 1, 0},
		{"subject defaults to the username", tokRequest(form("grant_type", "password", "username", "carol", "password", tokCarolPW)),
			"read", "carol", []string{"user"}, []string{"read"}, "", 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := f.do(c.req)
			claims := f.checkTokSuccess(t, rec, c.scope)
			if claims.Subject != c.sub || !slices.Equal(claims.Roles, c.roles) || !slices.Equal(claims.Scopes, c.scopes) || claims.ClientID != c.client {
				t.Errorf("claims: got sub %q roles %v scopes %v client %q, want %q %v %v %q",
					claims.Subject, claims.Roles, claims.Scopes, claims.ClientID, c.sub, c.roles, c.scopes, c.client)
			}
			if got := f.count.counts(); got[1] != c.verifies || got[2] != 0 {
				t.Errorf("hashing work: got %d Verify, %d VerifyDummy; want %d, 0", got[1], got[2], c.verifies)
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	pw := func(extra ...string) string {
		return form(append([]string{"grant_type", "password", "username", "alice", "password", tokAlicePW}, extra...)...)
	}
	cc := form("grant_type", "client_credentials")
	invReq := func(desc string) string { return tokErrBody("invalid_request", desc) }
	big := strings.Repeat("a", DefaultMaxTokenRequestBytes+1)
	cases := []struct {
		name   string
		mod    func(*TokenEndpointConfig)
		req    *http.Request
		status int
		hdr    http.Header
		body   string
		verify int32 // Verify + VerifyDummy calls
	}{
		{"GET", nil, httptest.NewRequest(http.MethodGet, tokTestHost, nil), 405, tokErrorHeaders("Allow", "POST"), invReq("POST required"), 0},
		{"PUT", nil, tokRequest(pw(), func(r *http.Request) { r.Method = http.MethodPut }), 405, tokErrorHeaders("Allow", "POST"), invReq("POST required"), 0},
		{"no Content-Type", nil, tokRequest(pw(), func(r *http.Request) { r.Header.Del("Content-Type") }), 400, tokErrorHeaders(), invReq("body must be application/x-www-form-urlencoded"), 0},
		{"JSON body", nil, tokRequest(`{"grant_type":"password"}`, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }), 400, tokErrorHeaders(), invReq("body must be application/x-www-form-urlencoded"), 0},
		{"multipart", nil, tokRequest(pw(), func(r *http.Request) { r.Header.Set("Content-Type", "multipart/form-data; boundary=x") }), 400, tokErrorHeaders(), invReq("body must be application/x-www-form-urlencoded"), 0},
		{"latin1 charset", nil, tokRequest(pw(), func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=iso-8859-1")
		}), 400, tokErrorHeaders(), invReq("body must be application/x-www-form-urlencoded"), 0},
		{"body over 16 KiB", nil, tokRequest(pw("pad", big)), 413, tokErrorHeaders(), invReq("request body too large"), 0},
		{"chunked body over 16 KiB", nil, tokRequest(pw("pad", big), func(r *http.Request) { r.ContentLength = -1 }), 413, tokErrorHeaders(), invReq("request body too large"), 0},
		{"repeated parameter", nil, tokRequest(pw("username", "bob")), 400, tokErrorHeaders(), invReq("repeated parameter"), 0},
		{"repeated unknown parameter", nil, tokRequest(pw("x", "1", "x", "2")), 400, tokErrorHeaders(), invReq("repeated parameter"), 0},
		{"repeated wins over empty", nil, tokRequest(pw("a", "", "b", "1", "b", "2")), 400, tokErrorHeaders(), invReq("repeated parameter"), 0},
		{"empty value", nil, tokRequest("grant_type=password&username=alice&password="), 400, tokErrorHeaders(), invReq("empty parameter"), 0},
		{"empty scope", nil, tokRequest(pw("scope", "")), 400, tokErrorHeaders(), invReq("empty parameter"), 0},
		{"invalid UTF-8", nil, tokRequest("grant_type=password&username=%ff&password=x"), 400, tokErrorHeaders(), invReq("malformed form body"), 0},
		{"invalid UTF-8 key", nil, tokRequest(pw() + "&%C3%28=x"), 400, tokErrorHeaders(), invReq("malformed form body"), 0},
		{"bad percent-encoding", nil, tokRequest("grant_type=password&username=%zzalice&password=x"), 400, tokErrorHeaders(), invReq("malformed form body"), 0},
		{"semicolon separator", nil, tokRequest("grant_type=password;username=alice"), 400, tokErrorHeaders(), invReq("malformed form body"), 0},
		{"password in query", nil, tokRequest(pw(), func(r *http.Request) { r.URL.RawQuery = "password=" + tokAlicePW }), 400, tokErrorHeaders(), invReq("credentials in the query string"), 0},
		{"client_secret in query", nil, tokRequest(cc, func(r *http.Request) { r.URL.RawQuery = "client_id=svc&client_secret=x" }), 400, tokErrorHeaders(), invReq("credentials in the query string"), 0},
		{"malformed query", nil, tokRequest(pw(), func(r *http.Request) { r.URL.RawQuery = "a=%zz" }), 400, tokErrorHeaders(), invReq("malformed form body"), 0},
		{"harmless query ignored", nil, tokRequest(form("grant_type", "nope"), func(r *http.Request) { r.URL.RawQuery = "x=1" }), 400, tokErrorHeaders(), tokErrBody("unsupported_grant_type", "grant type not supported"), 0},
		{"no grant_type", nil, tokRequest(form("username", "alice", "password", tokAlicePW)), 400, tokErrorHeaders(), invReq("grant_type required"), 0},
		{"unknown grant_type", nil, tokRequest(form("grant_type", "authorization_code", "code", "x")), 400, tokErrorHeaders(), tokErrBody("unsupported_grant_type", "grant type not supported"), 0},
		{"password grant disabled", func(c *TokenEndpointConfig) { c.EnablePasswordGrant, c.Users = false, nil }, tokRequest(pw()), 400, tokErrorHeaders(), tokErrBody("unsupported_grant_type", "grant type not supported"), 0},
		{"client_credentials without ClientStore", func(c *TokenEndpointConfig) { c.Clients = nil }, tokRequest(cc, withBasic(tokSvcID, tokSvcPW)), 400, tokErrorHeaders(), tokErrBody("unsupported_grant_type", "grant type not supported"), 0},
		{"no password", nil, tokRequest(form("grant_type", "password", "username", "alice")), 400, tokErrorHeaders(), invReq("username and password required"), 0},
		{"no username", nil, tokRequest(form("grant_type", "password", "password", "x")), 400, tokErrorHeaders(), invReq("username and password required"), 0},
		{"scope not allowed", nil, tokRequest(pw("scope", "read admin")), 400, tokErrorHeaders(), tokErrBody("invalid_scope", "requested scope not allowed"), 1},
		{"scope with two spaces", nil, tokRequest(pw("scope", "read  write")), 400, tokErrorHeaders(), tokErrBody("invalid_scope", "requested scope not allowed"), 0},
		{"scope with a quote", nil, tokRequest(pw("scope", `re"ad`)), 400, tokErrorHeaders(), tokErrBody("invalid_scope", "requested scope not allowed"), 0},
		{"scope beyond the client's", nil, tokRequest(pw("scope", "write"), withBasic(tokWebID, tokWebPW)), 400, tokErrorHeaders(), tokErrBody("invalid_scope", "requested scope not allowed"), 2},
		{"Basic and body credentials", nil, tokRequest(form("grant_type", "client_credentials", "client_id", tokSvcID), withBasic(tokSvcID, tokSvcPW)), 400, tokErrorHeaders(), invReq("more than one client authentication method"), 0},
		{"Basic and body secret", nil, tokRequest(form("grant_type", "client_credentials", "client_secret", "x"), withBasic(tokSvcID, tokSvcPW)), 400, tokErrorHeaders(), invReq("more than one client authentication method"), 0},
		{"two Authorization headers", nil, tokRequest(cc, withBasic(tokSvcID, tokSvcPW), withHeader("Authorization", "Basic eDp5")), 400, tokErrorHeaders(), invReq("more than one client authentication method"), 0},
		{"Bearer instead of Basic", nil, tokRequest(cc, withHeader("Authorization", "Bearer abc")), 400, tokErrorHeaders(), invReq("malformed Basic credentials"), 0},
		{"Basic not base64", nil, tokRequest(cc, withHeader("Authorization", "Basic !!!")), 400, tokErrorHeaders(), invReq("malformed Basic credentials"), 0},
		{"Basic without colon", nil, tokRequest(cc, withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("svc")))), 400, tokErrorHeaders(), invReq("malformed Basic credentials"), 0},
		{"Basic bad percent-encoding", nil, tokRequest(cc, withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("svc:%zz")))), 400, tokErrorHeaders(), invReq("malformed Basic credentials"), 0},
		{"Basic invalid UTF-8", nil, tokRequest(cc, withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("svc:%ff")))), 400, tokErrorHeaders(), invReq("malformed Basic credentials"), 0},
		{"Basic without id", nil, tokRequest(cc, withBasic("", "x")), 400, tokErrorHeaders(), invReq("malformed Basic credentials"), 0},
		{"client_secret without client_id", nil, tokRequest(form("grant_type", "client_credentials", "client_secret", tokSvcPW)), 400, tokErrorHeaders(), invReq("client_secret without client_id"), 0},
		{"client_credentials without a client", nil, tokRequest(cc), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), 0},
		{"client_credentials, empty Basic", nil, tokRequest(cc, withBasic("", "")), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), 0},
		{"wrong client secret via Basic", nil, tokRequest(cc, withBasic(tokSvcID, "nope")), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"secret form-decoded: raw '+' is a space", nil, tokRequest(cc, withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(tokSvcID)+":"+strings.ReplaceAll(url.QueryEscape(tokSvcPW), "%2B", "+"))))), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"unknown client via Basic", nil, tokRequest(cc, withBasic("ghost", "x")), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"disabled client", nil, tokRequest(cc, withBasic("off", tokWebPW)), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"wrong client secret in body: 400, no challenge", nil, tokRequest(form("grant_type", "client_credentials", "client_id", tokSvcID, "client_secret", "nope")), 400, tokErrorHeaders(), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"unknown client in body", nil, tokRequest(form("grant_type", "client_credentials", "client_id", "ghost", "client_secret", "nope")), 400, tokErrorHeaders(), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"client_id without secret", nil, tokRequest(form("grant_type", "client_credentials", "client_id", tokSvcID)), 400, tokErrorHeaders(), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"Basic with empty secret, confidential client", nil, tokRequest(cc, withBasic(tokSvcID, "")), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"client secret with no ClientStore", func(c *TokenEndpointConfig) { c.Clients = nil }, tokRequest(pw(), withBasic(tokWebID, tokWebPW)), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"client secret in body with no ClientStore", func(c *TokenEndpointConfig) { c.Clients = nil }, tokRequest(pw("client_id", tokWebID, "client_secret", tokWebPW)), 400, tokErrorHeaders(), tokErrBody("invalid_client", "client authentication failed"), 1},
		{"client_id over 256 bytes", nil, tokRequest(form("grant_type", "client_credentials", "client_id", strings.Repeat("c", 257), "client_secret", "x")), 400, tokErrorHeaders(), invReq("username or client_id too long"), 0},
		{"Basic client_id over 256 bytes", nil, tokRequest(cc, withBasic(strings.Repeat("c", 257), "x")), 400, tokErrorHeaders(), invReq("username or client_id too long"), 0},
		{"username over 256 bytes", nil, tokRequest(form("grant_type", "password", "username", strings.Repeat("u", 257), "password", "x")), 400, tokErrorHeaders(), invReq("username or client_id too long"), 0},
		{"password client wants client_credentials", nil, tokRequest(cc, withBasic(tokWebID, tokWebPW)), 400, tokErrorHeaders(), tokErrBody("unauthorized_client", "client not allowed this grant"), 1},
		{"client_credentials client wants password", nil, tokRequest(pw(), withBasic(tokSvcID, tokSvcPW)), 400, tokErrorHeaders(), tokErrBody("unauthorized_client", "client not allowed this grant"), 1},
		{"client scope not allowed", nil, tokRequest(form("grant_type", "client_credentials", "scope", "admin"), withBasic(tokSvcID, tokSvcPW)), 400, tokErrorHeaders(), tokErrBody("invalid_scope", "requested scope not allowed"), 1},
		{"plain HTTP from the network", nil, tokRequest(pw(), plainHTTP), 400, tokErrorHeaders(), invReq("TLS required"), 0},
		{"plain HTTP, spoofed X-Forwarded-Proto", nil, tokRequest(pw(), plainHTTP, withHeader("X-Forwarded-Proto", "https")), 400, tokErrorHeaders(), invReq("TLS required"), 0},
		{"plain HTTP via trusted proxy saying http", func(c *TokenEndpointConfig) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} },
			tokRequest(pw(), plainHTTP, withRemote("10.1.2.3:5555"), withHeader("X-Forwarded-Proto", "http")), 400, tokErrorHeaders(), invReq("TLS required"), 0},
		{"plain HTTP, unparsable RemoteAddr", nil, tokRequest(pw(), plainHTTP, withRemote("pipe")), 400, tokErrorHeaders(), invReq("TLS required"), 0},
		{"custom realm", func(c *TokenEndpointConfig) { c.Realm = `my "realm"` }, tokRequest(cc, withBasic(tokSvcID, "nope")), 401,
			tokErrorHeaders("WWW-Authenticate", `Basic realm="my ?realm?", charset="UTF-8"`), tokErrBody("invalid_client", "client authentication failed"), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTokFixture(t, guard.PasswordHasherConfig{}, c.mod)
			rec := f.do(c.req)
			checkTokResponse(t, rec, c.status, c.hdr, c.body)
			if got := f.count.counts(); got[1]+got[2] != c.verify || got[0] != 0 {
				t.Errorf("hashing work: got Hash %d, Verify %d, VerifyDummy %d; want %d verifications", got[0], got[1], got[2], c.verify)
			}
		})
	}
}

func TestTokenSentinels(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	cases := []struct {
		req  *http.Request
		want []error
	}{
		{tokRequest(form("grant_type", "password", "username", "alice", "password", "x")), []error{guard.ErrInvalidGrant}},
		{tokRequest(form("grant_type", "nope")), []error{guard.ErrUnsupportedGrantType}},
		{tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, "x")), []error{guard.ErrInvalidClient}},
		{tokRequest(form("grant_type", "client_credentials", "scope", "x"), withBasic(tokSvcID, tokSvcPW)), []error{guard.ErrInvalidScope}},
		{tokRequest(form("grant_type", "client_credentials"), withBasic(tokWebID, tokWebPW)), []error{guard.ErrUnauthorizedClient}},
		{tokRequest("a=%zz"), []error{guard.ErrInvalidRequest}},
	}
	for _, c := range cases {
		_, err := f.e.serve(httptest.NewRecorder(), c.req)
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("%v: got %v, want errors.Is %v", c.req.Header, err, w)
			}
		}
	}
	// The wire errors of throttling and a full pool match their sentinels.
	if err := error(errTokenBusy); !errors.Is(err, guard.ErrBusy) {
		t.Errorf("busy: got %v, want ErrBusy", err)
	}
	if err := error(errTokenThrottled); !errors.Is(err, guard.ErrThrottled) || !errors.Is(err, guard.ErrInvalidRequest) {
		t.Errorf("throttled: got %v, want ErrThrottled and ErrInvalidRequest", err)
	}
}

func TestTokenClientCredentials(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	basic := func(r *http.Request) {
		// Exactly what golang.org/x/oauth2 sends (AuthStyleInHeader).
		r.SetBasicAuth(url.QueryEscape(tokSvcID), url.QueryEscape(tokSvcPW))
	}
	cases := []struct {
		name   string
		req    *http.Request
		scope  string
		scopes []string
	}{
		{"Basic, form-encoded id and secret", tokRequest(form("grant_type", "client_credentials"), basic), "read write", []string{"read", "write"}},
		{"Basic, lower-case scheme, extra spaces", tokRequest(form("grant_type", "client_credentials", "scope", "read"), func(r *http.Request) {
			r.Header.Set("Authorization", "basic   "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(tokSvcID)+":"+url.QueryEscape(tokSvcPW))))
		}), "", []string{"read"}},
		{"in the body", tokRequest(form("grant_type", "client_credentials", "client_id", tokSvcID, "client_secret", tokSvcPW, "scope", "write")), "", []string{"write"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims := f.checkTokSuccess(t, f.do(c.req), c.scope)
			if claims.Subject != tokSvcID || claims.ClientID != tokSvcID || !slices.Equal(claims.Roles, []string{"service"}) || !slices.Equal(claims.Scopes, c.scopes) {
				t.Errorf("claims: got %+v", claims)
			}
			if got := f.count.counts(); got != [3]int32{0, 1, 0} {
				t.Errorf("hashing work: got %v, want one Verify", got)
			}
		})
	}
}

// TestTokenNoUserEnumeration: wrong password, unknown user and disabled user
// answer byte for byte the same and do the same hashing work.
func TestTokenNoUserEnumeration(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	cases := []struct {
		name, user, pw string
		dummy          bool
	}{
		{"wrong password", "alice", "not-it", false},
		{"unknown user", "mallory", tokAlicePW, true},
		{"disabled user, right password", "bob", tokBobPW, false},
		{"disabled user, wrong password", "bob", "not-it", false},
		{"legacy hash, wrong password", "carol", "not-it", false},
		{"legacy bcrypt hash, 73-byte password", "carol", strings.Repeat("a", 73), false},
		{"no password set", "dave", "anything", true},
		{"corrupt stored hash", "erin", "anything", false},
		{"stored hash above the cost ceiling", "frank", "anything", false},
	}
	var first *httptest.ResponseRecorder
	for i, c := range cases {
		// A fresh client IP for each, so the IP limiter plays no part.
		rec := f.do(tokRequest(form("grant_type", "password", "username", c.user, "password", c.pw), withRemote("192.0.2."+strconv.Itoa(i+1)+":1")))
		checkTokResponse(t, rec, 400, tokErrorHeaders(), tokErrBody("invalid_grant", "invalid username or password"))
		if first == nil {
			first = rec
		} else if !maps.EqualFunc(rec.Header(), first.Header(), slices.Equal) || !bytes.Equal(rec.Body.Bytes(), first.Body.Bytes()) || rec.Code != first.Code {
			t.Errorf("%s: response differs from %s", c.name, cases[0].name)
		}
		want := [3]int32{0, 1, 0}
		if c.dummy {
			want = [3]int32{0, 0, 1}
		}
		if got := f.count.counts(); got != want {
			t.Errorf("%s: hashing work got [Hash Verify VerifyDummy] %v, want %v", c.name, got, want)
		}
		// One key derivation, whatever the reason for the failure.
		if runs := f.kdf(); runs != 1 {
			t.Errorf("%s: key-derivation runs got %v, want 1", c.name, runs)
		}
	}
	if n := f.users.updates; n != 0 {
		t.Errorf("failed logins stored %d hashes, want 0", n)
	}
}

func TestTokenRehash(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	legacy := f.users.get("carol").PasswordHash
	if !strings.HasPrefix(string(legacy), "$2a$04$") {
		t.Fatalf("fixture: carol's hash is not bcrypt cost 4")
	}
	// A failed login changes nothing.
	rec := f.do(tokRequest(form("grant_type", "password", "username", "carol", "password", "wrong")))
	checkTokResponse(t, rec, 400, tokErrorHeaders(), tokErrBody("invalid_grant", "invalid username or password"))
	if got := f.users.get("carol").PasswordHash; got != legacy || f.users.updates != 0 {
		t.Fatalf("failed login changed the stored hash")
	}
	// A wrong scope after a right password changes nothing either.
	rec = f.do(tokRequest(form("grant_type", "password", "username", "carol", "password", tokCarolPW, "scope", "write")))
	checkTokResponse(t, rec, 400, tokErrorHeaders(), tokErrBody("invalid_scope", "requested scope not allowed"))
	if f.users.updates != 0 {
		t.Fatalf("refused login stored a hash")
	}
	f.count.counts()

	rec = f.do(tokRequest(form("grant_type", "password", "username", "carol", "password", tokCarolPW)))
	f.checkTokSuccess(t, rec, "read")
	if got := f.count.counts(); got != [3]int32{1, 1, 0} {
		t.Errorf("hashing work: got %v, want one Verify and one Hash", got)
	}
	upgraded := f.users.get("carol").PasswordHash
	if f.users.updates != 1 || !strings.HasPrefix(string(upgraded), "$2b$10$") {
		t.Fatalf("after login: %d updates, hash prefix %.7s; want 1 update to bcrypt cost 10", f.users.updates, upgraded)
	}
	needs, err := f.hasher.Verify(context.Background(), tokCarolPW, upgraded)
	if err != nil || needs {
		t.Errorf("upgraded hash: Verify got needsRehash %v, err %v; want false, nil", needs, err)
	}
	// The next login needs no rehash.
	f.checkTokSuccess(t, f.do(tokRequest(form("grant_type", "password", "username", "carol", "password", tokCarolPW))), "read")
	if f.users.updates != 1 {
		t.Errorf("second login: %d updates, want 1", f.users.updates)
	}
	// Alice's hash is current: no update.
	f.checkTokSuccess(t, f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "scope", "read"))), "")
	if f.users.updates != 1 {
		t.Errorf("current hash: %d updates, want 1", f.users.updates)
	}
}

func TestTokenTransport(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	body := form("grant_type", "password", "username", "alice", "password", tokAlicePW, "scope", "read")
	cases := []struct {
		name string
		mod  func(*TokenEndpointConfig)
		req  *http.Request
	}{
		{"TLS", nil, tokRequest(body)},
		{"loopback IPv4", nil, tokRequest(body, plainHTTP, withRemote("127.0.0.1:4000"))},
		{"loopback IPv6", nil, tokRequest(body, plainHTTP, withRemote("[::1]:4000"))},
		{"IPv4-mapped loopback", nil, tokRequest(body, plainHTTP, withRemote("[::ffff:127.0.0.1]:4000"))},
		{"trusted proxy says https", func(c *TokenEndpointConfig) { c.TrustedProxies = proxies },
			tokRequest(body, plainHTTP, withRemote("10.0.0.2:80"), withHeader("X-Forwarded-Proto", "HTTPS"))},
		{"dangerous option", func(c *TokenEndpointConfig) { c.DangerouslyAllowInsecureHTTP = true }, tokRequest(body, plainHTTP)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTokFixture(t, guard.PasswordHasherConfig{}, c.mod)
			f.checkTokSuccess(t, f.do(c.req), "")
		})
	}
}

// tokKeyRecorder is a LoginLimiter that records the keys it reserves.
type tokKeyRecorder struct {
	mu    sync.Mutex
	fails []string
}

func (l *tokKeyRecorder) Reserve(_ context.Context, key string) (Reservation, error) {
	l.mu.Lock()
	l.fails = append(l.fails, key)
	l.mu.Unlock()
	return Reservation{}, nil
}
func (l *tokKeyRecorder) Refund(context.Context, string) error  { return nil }
func (l *tokKeyRecorder) Succeed(context.Context, string) error { return nil }

func TestTokenClientIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct peer", "198.51.100.7:1234", nil, "198.51.100.7"},
		{"untrusted peer's XFF ignored", "198.51.100.7:1234", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted proxy", "10.0.0.2:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"rightmost untrusted wins over a spoofed left entry", "10.0.0.2:80", []string{"1.1.1.1, 203.0.113.9, 10.0.0.3"}, "203.0.113.9"},
		{"several XFF lines", "10.0.0.2:80", []string{"1.1.1.1", "203.0.113.9", "10.9.9.9"}, "203.0.113.9"},
		{"garbage stops at the last trusted hop", "10.0.0.2:80", []string{"1.1.1.1, junk, 10.0.0.3"}, "10.0.0.3"},
		{"all trusted", "10.0.0.2:80", []string{"10.0.0.1"}, "10.0.0.1"},
		{"trusted proxy, no XFF", "10.0.0.2:80", nil, "10.0.0.2"},
		{"IPv4-mapped peer", "[::ffff:198.51.100.7]:1", nil, "198.51.100.7"},
		{"IPv6 counted per /64", "[2001:db8:1:2:aaaa::1]:1", nil, "2001:db8:1:2::/64"},
		{"IPv6 via trusted proxy", "[fd00::1]:1", []string{"2001:db8:1:2::99"}, "2001:db8:1:2::/64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ipl := &tokKeyRecorder{}
			f := newTokFixture(t, guard.PasswordHasherConfig{}, func(cfg *TokenEndpointConfig) {
				cfg.TrustedProxies = proxies
				cfg.IPLimiter = ipl
			})
			r := tokRequest(form("grant_type", "password", "username", "alice", "password", "wrong"), withRemote(c.remote))
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			rec := f.do(r)
			checkTokResponse(t, rec, 400, tokErrorHeaders(), tokErrBody("invalid_grant", "invalid username or password"))
			if want := limiterKey("ip:", c.want); !slices.Equal(ipl.fails, []string{want}) {
				t.Errorf("IP limiter keys: got %q, want [%q] (the digest of %q)", ipl.fails, want, c.want)
			}
		})
	}
}

// TestTokenBruteForce drives the limiters with an injected clock.
func TestTokenBruteForce(t *testing.T) {
	t.Parallel()
	throttled := func(secs string) (http.Header, string) {
		return tokErrorHeaders("Retry-After", secs), tokErrBody("invalid_request", "too many failed attempts; retry later")
	}
	badLogin := tokErrBody("invalid_grant", "invalid username or password")

	for _, user := range []string{"alice", "nobody"} { // unknown usernames are throttled the same way
		t.Run(user, func(t *testing.T) {
			t.Parallel()
			f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
			ip := 0
			try := func(pw string) *httptest.ResponseRecorder {
				ip++ // a new IP each time: this is the per-username count
				return f.do(tokRequest(form("grant_type", "password", "username", user, "password", pw), withRemote("198.51.100."+strconv.Itoa(ip)+":1")))
			}
			for range 3 { // Threshold 3
				checkTokResponse(t, try("wrong"), 400, tokErrorHeaders(), badLogin)
			}
			f.count.counts()
			// Now throttled: even the right password is not checked.
			for _, want := range []struct {
				wait  time.Duration
				after string // Retry-After while waiting
			}{{time.Second, "1"}, {2 * time.Second, "2"}, {4 * time.Second, "4"}, {8 * time.Second, "8"}, {8 * time.Second, "8"}, {8 * time.Second, "8"}} {
				h, b := throttled(want.after)
				checkTokResponse(t, try(tokAlicePW), 429, h, b)
				f.clock.Add(want.wait - time.Millisecond)
				h, b = throttled("1")
				checkTokResponse(t, try("wrong"), 429, h, b)
				if got := f.count.counts(); got != [3]int32{} {
					t.Fatalf("throttled attempts hashed: %v", got)
				}
				f.clock.Add(time.Millisecond) // the wait is over: one more try
				checkTokResponse(t, try("wrong"), 400, tokErrorHeaders(), badLogin)
				f.count.counts()
			}
			// Capped at MaxDelay (8s): no permanent lockout.
			f.clock.Add(8 * time.Second)
			if user == "nobody" {
				checkTokResponse(t, try("wrong"), 400, tokErrorHeaders(), badLogin)
				// Forgotten after a quiet minute.
				f.clock.Add(time.Minute)
				for range 3 {
					checkTokResponse(t, try("wrong"), 400, tokErrorHeaders(), badLogin)
				}
				return
			}
			f.checkTokSuccess(t, try(tokAlicePW), "read write")
			good := "198.51.100." + strconv.Itoa(ip) + ":1"
			// A success does not wipe the account's count: from new
			// addresses, one more guess and the wait is back.
			checkTokResponse(t, try("wrong"), 400, tokErrorHeaders(), badLogin)
			h, b := throttled("8")
			checkTokResponse(t, try("wrong"), 429, h, b)
			// The address alice logged in from is counted on its own.
			for range 3 {
				rec := f.do(tokRequest(form("grant_type", "password", "username", user, "password", "wrong"), withRemote(good)))
				checkTokResponse(t, rec, 400, tokErrorHeaders(), badLogin)
			}
			h, b = throttled("1")
			checkTokResponse(t, f.do(tokRequest(form("grant_type", "password", "username", user, "password", tokAlicePW), withRemote(good))), 429, h, b)
		})
	}

	t.Run("per IP", func(t *testing.T) {
		t.Parallel()
		f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		})
		f.e.ipLimiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 4, BaseDelay: 30 * time.Second, Now: f.clock.Now})
		from := func(user, xff string) *httptest.ResponseRecorder {
			return f.do(tokRequest(form("grant_type", "password", "username", user, "password", "wrong"),
				withRemote("10.0.0.2:1"), withHeader("X-Forwarded-For", xff)))
		}
		for i := range 4 {
			checkTokResponse(t, from("user"+strconv.Itoa(i), "203.0.113.9"), 400, tokErrorHeaders(), badLogin)
		}
		h, b := throttled("30")
		checkTokResponse(t, from("fresh-user", "203.0.113.9"), 429, h, b)
		// The IP limiter also guards client authentication.
		rec := f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW),
			withRemote("10.0.0.2:1"), withHeader("X-Forwarded-For", "203.0.113.9")))
		checkTokResponse(t, rec, 429, h, b)
		// Another client behind the same proxy is not affected.
		checkTokResponse(t, from("fresh-user", "203.0.113.10"), 400, tokErrorHeaders(), badLogin)
		// A successful login does not reset the IP's count.
		f.clock.Add(30 * time.Second)
		f.checkTokSuccess(t, f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW),
			withRemote("10.0.0.2:1"), withHeader("X-Forwarded-For", "203.0.113.9"))), "read write")
		checkTokResponse(t, from("x", "203.0.113.9"), 400, tokErrorHeaders(), badLogin)
		h, b = throttled("60")
		checkTokResponse(t, from("y", "203.0.113.9"), 429, h, b)
	})

	t.Run("client", func(t *testing.T) {
		t.Parallel()
		f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
		for range 3 {
			rec := f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, "wrong")))
			checkTokResponse(t, rec, 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), tokErrBody("invalid_client", "client authentication failed"))
		}
		h, b := throttled("1")
		checkTokResponse(t, f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW))), 429, h, b)
		f.clock.Add(time.Second)
		f.checkTokSuccess(t, f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW))), "read write")
	})
}

// TestTokenBusy: while the hasher refuses work (every slot held), logins get
// 503 with Retry-After at once, before any wait; nothing is counted as a
// failure. The refusal is the real hasher's: tokBusyHasher hands it a
// context that has ended, which a pool with QueueTimeout < 0 refuses
// exactly as it refuses a full pool (the root package's TestBusy fills the
// pool itself).
func TestTokenBusy(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{MaxConcurrent: 1, QueueTimeout: -1}, nil)
	f.e.hasher = &tokBusyHasher{f.count}
	busy := tokErrBody("temporarily_unavailable", "server busy; retry later")
	reqs := map[string]func() *http.Request{
		"known user": func() *http.Request {
			return tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW))
		},
		"unknown user": func() *http.Request {
			return tokRequest(form("grant_type", "password", "username", "nobody", "password", "x"))
		},
		"client": func() *http.Request {
			return tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW))
		},
	}
	for range 5 { // more than the limiter threshold: a 503 is not a failure
		for name, r := range reqs {
			t.Run(name, func(t *testing.T) {
				checkTokResponse(t, f.do(r()), 503, tokErrorHeaders("Retry-After", "1"), busy)
			})
		}
	}
	f.e.hasher = f.count
	f.checkTokSuccess(t, f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW))), "read write")

	// A request whose client is gone also gets 503, not a failure.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW)).WithContext(ctx))
	checkTokResponse(t, rec, 503, tokErrorHeaders("Retry-After", "1"), busy)
	f.checkTokSuccess(t, f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW))), "read write")
}

// tokBusyHasher is the fixture's hasher at a moment when it has no free
// slot: every call reaches the real hasher with a context that has ended.
type tokBusyHasher struct{ *tokCountingHasher }

func ended() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func (b *tokBusyHasher) Hash(_ context.Context, pw string) (guard.Secret, error) {
	return b.tokCountingHasher.Hash(ended(), pw)
}

func (b *tokBusyHasher) Verify(_ context.Context, pw string, enc guard.Secret) (bool, error) {
	return b.tokCountingHasher.Verify(ended(), pw, enc)
}

func (b *tokBusyHasher) VerifyDummy(_ context.Context, pw string) error {
	return b.tokCountingHasher.VerifyDummy(ended(), pw)
}

// tokFailingUsers fails every lookup with an error whose text must not leak.
type tokFailingUsers struct{}

var errTokStoreDown = errors.New("user db 10.0.0.7:5432: password authentication failed for user \"svc\"")

func (tokFailingUsers) LookupUser(context.Context, string) (User, error) {
	return User{}, errTokStoreDown
}

type tokFailingClients struct{}

func (tokFailingClients) LookupClient(context.Context, string) (Client, error) {
	return Client{}, &guard.Error{Status: 401, Code: "invalid_token", Description: "leaky", Err: errTokStoreDown}
}

func TestTokenStoreError(t *testing.T) {
	t.Parallel()
	var seen []error
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		c.Users = tokFailingUsers{}
		c.Clients = tokFailingClients{}
		c.ErrorWriter = func(w http.ResponseWriter, r *http.Request, err error) {
			seen = append(seen, err)
			guard.WriteError(w, r, err)
		}
	})
	for _, r := range []*http.Request{
		tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW)),
		tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW)),
	} {
		rec := f.do(r)
		checkTokResponse(t, rec, 503, tokErrorHeaders("Retry-After", "5"), tokErrBody("temporarily_unavailable", "service unavailable; retry later"))
	}
	for _, err := range seen {
		if !errors.Is(err, errTokStoreDown) {
			t.Errorf("ErrorWriter got %v, want the store's error as the cause", err)
		}
	}
	if logs := f.logs.String(); !strings.Contains(logs, "10.0.0.7:5432") {
		t.Errorf("the store error is not logged: %s", logs)
	}
	if f.count.counts() != [3]int32{} {
		t.Errorf("hashing after a store error")
	}
}

// TestTokenSecretsNotLogged runs failures, successes and a rehash with a JSON
// logger and checks that no password, secret, hash or token is written.
func TestTokenSecretsNotLogged(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	wrongPW := "Tr0ub4dor&3-wrong"
	var tokens []string
	reqs := []*http.Request{
		tokRequest(form("grant_type", "password", "username", "alice", "password", wrongPW)),
		tokRequest(form("grant_type", "password", "username", "nobody", "password", wrongPW)),
		tokRequest(form("grant_type", "password", "username", "bob", "password", tokBobPW)),
		tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, wrongPW)),
		tokRequest(form("grant_type", "client_credentials", "client_id", tokSvcID, "client_secret", wrongPW)),
		tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW)),
		tokRequest(form("grant_type", "password", "username", "carol", "password", tokCarolPW)),
		tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW), withBasic(tokWebID, tokWebPW)),
	}
	for range 4 { // enough to get throttled too
		reqs = append(reqs, tokRequest(form("grant_type", "password", "username", "alice", "password", wrongPW)))
	}
	for _, r := range reqs {
		rec := f.do(r)
		if rec.Code == 200 {
			var resp struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, resp.AccessToken)
		}
		for _, s := range []string{wrongPW, tokAlicePW, tokSvcPW, tokWebPW, tokCarolPW, tokBobPW} {
			if strings.Contains(rec.Body.String(), s) {
				t.Errorf("response body contains a secret: %q", rec.Body.String())
			}
		}
	}
	if len(tokens) != 3 {
		t.Fatalf("got %d tokens, want 3", len(tokens))
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"login failed"`) || !strings.Contains(logs, `"login throttled"`) || !strings.Contains(logs, `"client authentication failed"`) {
		t.Errorf("expected failure lines in the log:\n%s", logs)
	}
	hs := tokHashes()
	secrets := []string{wrongPW, tokAlicePW, tokSvcPW, url.QueryEscape(tokSvcPW), tokWebPW, tokCarolPW, tokBobPW,
		hs[tokAlicePW], hs[tokCarolPW], hs[tokSvcPW], string(f.users.get("carol").PasswordHash)}
	secrets = append(secrets, tokens...)
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log contains secret %.12q…:\n%s", s, logs)
		}
	}
}

// tokNopLimiter never throttles.
type tokNopLimiter struct{}

func (tokNopLimiter) Reserve(context.Context, string) (Reservation, error) { return Reservation{}, nil }
func (tokNopLimiter) Refund(context.Context, string) error                 { return nil }
func (tokNopLimiter) Succeed(context.Context, string) error                { return nil }

func BenchmarkTokenEndpoint(b *testing.B) {
	f := newTokFixture(b, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		c.Limiter, c.IPLimiter, c.AccountLimiter, c.Logger = tokNopLimiter{}, tokNopLimiter{}, tokNopLimiter{}, nil
	})
	f.e.hasher = f.hasher
	for _, bc := range []struct {
		name, body string
		status     int
	}{
		{"password/success", form("grant_type", "password", "username", "alice", "password", tokAlicePW, "scope", "read"), 200},
		{"password/wrong", form("grant_type", "password", "username", "alice", "password", "wrong"), 400},
		{"password/unknown-user", form("grant_type", "password", "username", "nobody", "password", "wrong"), 400},
		{"client_credentials/success", form("grant_type", "client_credentials", "client_id", tokSvcID, "client_secret", tokSvcPW), 200},
		{"malformed", "grant_type=password&username=%zz", 400},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := tokRequest(bc.body)
				rec := httptest.NewRecorder()
				f.e.ServeHTTP(rec, r)
				if rec.Code != bc.status {
					b.Fatalf("got %d, want %d", rec.Code, bc.status)
				}
			}
		})
	}
}

// FuzzTokenEndpoint: any body, Content-Type and Authorization header. The
// endpoint never panics, never answers 500 with working stores, always sends
// Cache-Control: no-store and JSON, and answers 200 only for the right
// credentials.
func FuzzTokenEndpoint(f *testing.F) {
	pw := form("grant_type", "password", "username", "alice", "password", tokAlicePW)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(tokSvcID)+":"+url.QueryEscape(tokSvcPW)))
	ct := "application/x-www-form-urlencoded"
	for _, s := range [][3]string{
		{pw, ct, ""},
		{pw + "&scope=read", ct + "; charset=UTF-8", ""},
		{form("grant_type", "password", "username", "alice", "password", "x"), ct, ""},
		{form("grant_type", "password", "username", "nobody", "password", "x"), ct, ""},
		{form("grant_type", "password", "username", "bob", "password", tokBobPW), ct, ""},
		{form("grant_type", "client_credentials"), ct, basic},
		{form("grant_type", "client_credentials", "scope", "read write"), ct, "basic  " + basic[6:]},
		{form("grant_type", "client_credentials", "client_id", tokSvcID, "client_secret", tokSvcPW), ct, ""},
		{form("grant_type", "client_credentials", "client_id", tokSvcID), ct, basic},
		{form("grant_type", "password", "username", "alice", "password", tokAlicePW), ct, "Basic " + base64.StdEncoding.EncodeToString([]byte("web:web-secret"))},
		{"grant_type=password&username=%ff&password=x", ct, ""},
		{"grant_type=password&username=a&username=b", ct, ""},
		{"grant_type=password&username=&password=x", ct, ""},
		{"a=%zz", ct, ""},
		{"grant_type=client_credentials", ct, "Basic Og=="},
		{"grant_type=client_credentials", ct, "Basic !!"},
		{"grant_type=client_credentials", ct, "Bearer x"},
		{`{"grant_type":"password"}`, "application/json", ""},
		{"grant_type=password&scope=a%20%20b&username=alice&password=x", ct, ""},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	fx := newTokFixture(f, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		c.Limiter, c.IPLimiter, c.AccountLimiter, c.Logger = tokNopLimiter{}, tokNopLimiter{}, tokNopLimiter{}, nil
	})
	fx.e.hasher = fx.hasher
	f.Fuzz(func(t *testing.T, body, contentType, auth string) {
		r := httptest.NewRequest(http.MethodPost, tokTestHost, strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		rec := fx.do(r)
		if rec.Code == 500 || rec.Code < 200 || rec.Code > 599 || (rec.Code > 200 && rec.Code < 400) {
			t.Fatalf("status %d (body %q)", rec.Code, rec.Body.String())
		}
		if rec.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("headers %v", rec.Header())
		}
		if rec.Code == 401 && auth != "" && rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("401 after Basic without a challenge")
		}
		if rec.Code == 200 && !tokRightCredentials(body, auth) {
			t.Fatalf("200 without the right credentials: body %q, auth %q", body, auth)
		}
	})
}

// tokRightCredentials reports whether a request carries a known user's
// password or a client's secret, decoded independently of the endpoint.
func tokRightCredentials(body, auth string) bool {
	v, err := url.ParseQuery(body)
	if err != nil {
		return false
	}
	switch v.Get("grant_type") {
	case "password":
		u, p := v.Get("username"), v.Get("password")
		return (u == "alice" && p == tokAlicePW) || (u == "carol" && p == tokCarolPW)
	case "client_credentials":
		if v.Get("client_secret") == tokSvcPW {
			return true
		}
		scheme, cred, _ := strings.Cut(auth, " ")
		raw, err := base64.StdEncoding.DecodeString(strings.TrimLeft(cred, " "))
		if !strings.EqualFold(scheme, "basic") || err != nil {
			return false
		}
		id, secret, _ := strings.Cut(string(raw), ":")
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		return id == tokSvcID && secret == tokSvcPW
	}
	return false
}
