package guard

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var apiKeyTestNow = time.Unix(1_700_000_000, 0)

// apiKeyFixture is a store with one key in each interesting state.
type apiKeyFixture struct {
	store                                      *MemoryAPIKeys
	good, rotated, revoked, expired, later, bo string
}

const demoKey = "demo-secret-key" // a FastAPI-tutorial-style key, not in our format

func newAPIKeyFixture(t testing.TB) *apiKeyFixture {
	t.Helper()
	f := &apiKeyFixture{store: new(MemoryAPIKeys)}
	gen := func(rec APIKeyRecord) string {
		key, digest, err := GenerateAPIKey("gk")
		if err != nil {
			t.Fatal(err)
		}
		f.store.Add(digest, rec)
		return string(key)
	}
	alice := APIKeyRecord{Subject: "alice", Roles: []string{"admin"}, Scopes: []string{"read", "write"}}
	f.good = gen(alice)
	f.rotated = gen(alice)
	f.revoked = gen(alice)
	f.store.Revoke(APIKeyDigest(f.revoked))
	f.expired = gen(APIKeyRecord{Subject: "carol", ExpiresAt: apiKeyTestNow})
	f.later = gen(APIKeyRecord{Subject: "dave", ExpiresAt: apiKeyTestNow.Add(time.Second)})
	f.store.Add(APIKeyDigest(demoKey), APIKeyRecord{Subject: "bob", Roles: []string{"user"}})
	f.bo = "gk_" + strings.Repeat("A", apiKeyBodyLen) // our prefix, bad checksum
	return f
}

type failingStore struct{}

var errStoreDown = errors.New("store down: 10.0.0.7:5432 refused")

func (failingStore) LookupAPIKey(context.Context, [32]byte) (APIKeyRecord, error) {
	return APIKeyRecord{}, errStoreDown
}

// countingStore records lookups, to prove a request never reached the store.
type countingStore struct {
	APIKeyStore
	mu sync.Mutex
	n  int
}

func (s *countingStore) LookupAPIKey(ctx context.Context, d [32]byte) (APIKeyRecord, error) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return s.APIKeyStore.LookupAPIKey(ctx, d)
}

const (
	challengeBare      = `ApiKey realm="api", header="X-API-Key"`
	challengeInvalid   = `ApiKey realm="api", header="X-API-Key", error="invalid_token"`
	challengeMalformed = `ApiKey realm="api", header="X-API-Key", error="invalid_request"`
	bodyMissing        = `{"error":"unauthorized","error_description":"API key required"}` + "\n"
	bodyInvalid        = `{"error":"invalid_token","error_description":"invalid API key"}` + "\n"
	bodyExpired        = `{"error":"invalid_token","error_description":"API key expired"}` + "\n"
	bodyMultiple       = `{"error":"invalid_request","error_description":"more than one API key"}` + "\n"
	bodyEmpty          = `{"error":"invalid_request","error_description":"empty API key"}` + "\n"
	bodyUnavailable    = `{"error":"temporarily_unavailable","error_description":"service unavailable; retry later"}` + "\n"
)

func TestRequireAPIKey(t *testing.T) {
	f := newAPIKeyFixture(t)
	base := APIKeyAuthConfig{Store: f.store, Prefix: "gk", Now: func() time.Time { return apiKeyTestNow }}
	withQuery := base
	withQuery.DangerouslyAllowQuery = true
	withCookie := base
	withCookie.DangerouslyAllowCookie = true
	withCookie.CookieName = "session_key"
	failing := base
	failing.Store = failingStore{}
	small := base
	small.MaxKeyLength = 8

	type req struct {
		header []string // X-API-Key values
		query  string   // raw query
		cookie string   // Cookie header
	}
	errorHeaders := func(challenge string) map[string]string {
		return map[string]string{
			"WWW-Authenticate": challenge,
			"Content-Type":     "application/json",
			"Cache-Control":    "no-store",
		}
	}
	tests := []struct {
		name        string
		cfg         APIKeyAuthConfig
		req         req
		wantStatus  int
		wantHeaders map[string]string // "" means absent
		wantBody    string
		wantSubject string // non-empty: next ran with this principal
	}{
		{name: "generated key", cfg: base, req: req{header: []string{f.good}}, wantStatus: 200,
			wantHeaders: map[string]string{"WWW-Authenticate": "", "Cache-Control": ""}, wantBody: "ok", wantSubject: "alice"},
		{name: "second active key of the same principal", cfg: base, req: req{header: []string{f.rotated}}, wantStatus: 200, wantBody: "ok", wantSubject: "alice"},
		{name: "key registered by digest, not our format", cfg: base, req: req{header: []string{demoKey}}, wantStatus: 200, wantBody: "ok", wantSubject: "bob"},
		{name: "expires one second later", cfg: base, req: req{header: []string{f.later}}, wantStatus: 200, wantBody: "ok", wantSubject: "dave"},
		{name: "missing", cfg: base, wantStatus: 401, wantHeaders: errorHeaders(challengeBare), wantBody: bodyMissing},
		{name: "unknown", cfg: base, req: req{header: []string{"nope"}}, wantStatus: 401, wantHeaders: errorHeaders(challengeInvalid), wantBody: bodyInvalid},
		{name: "bad checksum", cfg: base, req: req{header: []string{f.bo}}, wantStatus: 401, wantHeaders: errorHeaders(challengeInvalid), wantBody: bodyInvalid},
		{name: "truncated generated key", cfg: base, req: req{header: []string{f.good[:len(f.good)-1]}}, wantStatus: 401, wantHeaders: errorHeaders(challengeInvalid), wantBody: bodyInvalid},
		{name: "revoked", cfg: base, req: req{header: []string{f.revoked}}, wantStatus: 401, wantHeaders: errorHeaders(challengeInvalid), wantBody: bodyInvalid},
		{name: "expired at the instant", cfg: base, req: req{header: []string{f.expired}}, wantStatus: 401, wantHeaders: errorHeaders(challengeInvalid), wantBody: bodyExpired},
		{name: "whitespace is not trimmed", cfg: base, req: req{header: []string{demoKey + "\t"}}, wantStatus: 401, wantHeaders: errorHeaders(challengeInvalid), wantBody: bodyInvalid},
		{name: "empty header", cfg: base, req: req{header: []string{""}}, wantStatus: 400, wantHeaders: errorHeaders(challengeMalformed), wantBody: bodyEmpty},
		{name: "same key twice in the header", cfg: base, req: req{header: []string{f.good, f.good}}, wantStatus: 400, wantHeaders: errorHeaders(challengeMalformed), wantBody: bodyMultiple},
		{name: "two keys in the header", cfg: base, req: req{header: []string{f.good, demoKey}}, wantStatus: 400, wantHeaders: errorHeaders(challengeMalformed), wantBody: bodyMultiple},
		{name: "over the size cap", cfg: small, req: req{header: []string{demoKey}}, wantStatus: 401, wantHeaders: errorHeaders(challengeInvalid), wantBody: bodyInvalid},
		{name: "store failure: 503, fail closed", cfg: failing, req: req{header: []string{demoKey}}, wantStatus: 503,
			wantHeaders: map[string]string{"WWW-Authenticate": "", "Content-Type": "application/json", "Retry-After": "5"}, wantBody: bodyUnavailable},

		{name: "query ignored unless enabled", cfg: base, req: req{query: "api_key=" + demoKey}, wantStatus: 401,
			wantHeaders: map[string]string{"WWW-Authenticate": challengeBare, "Referrer-Policy": ""}, wantBody: bodyMissing},
		{name: "query", cfg: withQuery, req: req{query: "x=1&api_key=" + demoKey}, wantStatus: 200,
			wantHeaders: map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}, wantBody: "ok", wantSubject: "bob"},
		{name: "query with escaped name", cfg: withQuery, req: req{query: "api%5Fkey=" + url.QueryEscape(f.good)}, wantStatus: 200,
			wantHeaders: map[string]string{"Cache-Control": "no-store"}, wantBody: "ok", wantSubject: "alice"},
		{name: "unknown query key still no-store", cfg: withQuery, req: req{query: "api_key=nope"}, wantStatus: 401,
			wantHeaders: map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "WWW-Authenticate": challengeInvalid}, wantBody: bodyInvalid},
		{name: "bad escape in query", cfg: withQuery, req: req{query: "api_key=%zz"}, wantStatus: 400,
			wantHeaders: map[string]string{"Cache-Control": "no-store", "WWW-Authenticate": challengeMalformed},
			wantBody:    `{"error":"invalid_request","error_description":"malformed API key parameter"}` + "\n"},
		{name: "header and query", cfg: withQuery, req: req{header: []string{demoKey}, query: "api_key=" + demoKey}, wantStatus: 400,
			wantHeaders: map[string]string{"Cache-Control": "no-store", "WWW-Authenticate": challengeMalformed}, wantBody: bodyMultiple},
		{name: "query twice", cfg: withQuery, req: req{query: "api_key=a&api_key=" + demoKey}, wantStatus: 400,
			wantHeaders: map[string]string{"Cache-Control": "no-store", "WWW-Authenticate": challengeMalformed}, wantBody: bodyMultiple},
		{name: "header only with query enabled", cfg: withQuery, req: req{header: []string{demoKey}}, wantStatus: 200,
			wantHeaders: map[string]string{"Cache-Control": "", "Referrer-Policy": ""}, wantBody: "ok", wantSubject: "bob"},

		{name: "cookie", cfg: withCookie, req: req{cookie: "theme=dark; session_key=" + demoKey}, wantStatus: 200, wantBody: "ok", wantSubject: "bob"},
		{name: "cookie ignored unless enabled", cfg: base, req: req{cookie: "session_key=" + demoKey}, wantStatus: 401,
			wantHeaders: errorHeaders(challengeBare), wantBody: bodyMissing},
		{name: "cookie and header", cfg: withCookie, req: req{header: []string{demoKey}, cookie: "session_key=" + demoKey}, wantStatus: 400,
			wantHeaders: errorHeaders(challengeMalformed), wantBody: bodyMultiple},
		{name: "cookie twice", cfg: withCookie, req: req{cookie: "session_key=a; session_key=" + demoKey}, wantStatus: 400,
			wantHeaders: errorHeaders(challengeMalformed), wantBody: bodyMultiple},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAPIKeyAuth(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got *Principal
			ran := false
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran = true
				got, _ = PrincipalFrom(r.Context())
				_, _ = w.Write([]byte("ok"))
			})
			r := httptest.NewRequest(http.MethodGet, "/secure?"+tt.req.query, nil)
			for _, v := range tt.req.header {
				r.Header.Add("X-API-Key", v)
			}
			if tt.req.cookie != "" {
				r.Header.Set("Cookie", tt.req.cookie)
			}
			w := httptest.NewRecorder()
			a.RequireAPIKey(next).ServeHTTP(w, r)

			if w.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d", w.Code, tt.wantStatus)
			}
			for k, want := range tt.wantHeaders {
				if got := strings.Join(w.Header().Values(k), " | "); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("body: got %q, want %q", got, tt.wantBody)
			}
			for _, secret := range tt.req.header {
				if secret != "" && strings.Contains(w.Body.String(), secret) && w.Code != 200 {
					t.Errorf("body leaks the key: %q", w.Body.String())
				}
			}
			if wantRan := tt.wantSubject != ""; ran != wantRan {
				t.Fatalf("next ran: got %v, want %v", ran, wantRan)
			}
			if ran {
				if got == nil || got.Subject != tt.wantSubject || got.Method != MethodAPIKey || got.Claims != nil {
					t.Fatalf("principal: got %+v, want subject %q method api_key", got, tt.wantSubject)
				}
			}
		})
	}
}

func TestAPIKeyAuthenticateErrors(t *testing.T) {
	f := newAPIKeyFixture(t)
	now := func() time.Time { return apiKeyTestNow }
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: f.store, Prefix: "gk", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: failingStore{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		auth       *APIKeyAuth
		keys       []string
		wantStatus int
		err        []error // every one must match
		notErr     []error // none may match
	}{
		{name: "ok", auth: a, keys: []string{f.good}},
		{name: "missing", auth: a, wantStatus: 401, err: []error{ErrNoCredentials}, notErr: []error{ErrInvalidAPIKey, ErrInvalidToken, ErrInvalidRequest}},
		{name: "unknown", auth: a, keys: []string{"x"}, wantStatus: 401, err: []error{ErrInvalidAPIKey, ErrInvalidToken}, notErr: []error{ErrNoCredentials, ErrNotFound}},
		{name: "checksum", auth: a, keys: []string{f.bo}, wantStatus: 401, err: []error{ErrInvalidAPIKey, ErrInvalidToken}},
		{name: "revoked", auth: a, keys: []string{f.revoked}, wantStatus: 401, err: []error{ErrInvalidAPIKey, ErrInvalidToken}},
		{name: "expired", auth: a, keys: []string{f.expired}, wantStatus: 401, err: []error{ErrInvalidAPIKey, ErrInvalidToken}},
		{name: "two", auth: a, keys: []string{"x", "y"}, wantStatus: 400, err: []error{ErrInvalidRequest}, notErr: []error{ErrNoCredentials, ErrInvalidAPIKey}},
		{name: "store down", auth: broken, keys: []string{"x"}, wantStatus: 503, err: []error{errStoreDown}, notErr: []error{ErrInvalidAPIKey, ErrNoCredentials}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, k := range tt.keys {
				r.Header.Add("X-API-Key", k)
			}
			p, err := tt.auth.Authenticate(r)
			if tt.wantStatus == 0 {
				if err != nil || p == nil || p.Subject != "alice" || !p.HasRole("admin") || !p.HasScope("write") {
					t.Fatalf("got (%+v, %v), want alice", p, err)
				}
				return
			}
			if p != nil {
				t.Errorf("principal: got %+v, want nil", p)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			if e.Status != tt.wantStatus {
				t.Errorf("status: got %d, want %d", e.Status, tt.wantStatus)
			}
			for _, target := range tt.err {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false, want true", err, target)
				}
			}
			for _, target := range tt.notErr {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = true, want false", err, target)
				}
			}
			for _, k := range tt.keys {
				if len(k) > 2 && strings.Contains(err.Error(), k) {
					t.Errorf("error text leaks the key: %v", err)
				}
			}
		})
	}
}

func TestRevokeTakesEffectOnNextRequest(t *testing.T) {
	f := newAPIKeyFixture(t)
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: f.store})
	if err != nil {
		t.Fatal(err)
	}
	h := a.RequireAPIKey(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func(key string) int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if got := do(f.good); got != 200 {
		t.Fatalf("before revoke: got %d, want 200", got)
	}
	if !f.store.Revoke(APIKeyDigest(f.good)) {
		t.Fatal("Revoke: got false, want true")
	}
	if got := do(f.good); got != 401 {
		t.Fatalf("after revoke: got %d, want 401", got)
	}
	if got := do(f.rotated); got != 200 {
		t.Fatalf("rotated key after revoking the old one: got %d, want 200", got)
	}
	if !f.store.Delete(APIKeyDigest(f.rotated)) || f.store.Delete(APIKeyDigest(f.rotated)) {
		t.Fatal("Delete: want true then false")
	}
	if got := do(f.rotated); got != 401 {
		t.Fatalf("after delete: got %d, want 401", got)
	}
	if f.store.Revoke(APIKeyDigest("never added")) {
		t.Fatal("Revoke of unknown key: got true, want false")
	}
}

func TestAPIKeyChecksumBeforeLookup(t *testing.T) {
	f := newAPIKeyFixture(t)
	cs := &countingStore{APIKeyStore: f.store}
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: cs, Prefix: "gk", MaxKeyLength: 64})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{f.bo, "gk_", "gk_short", f.good + "x", strings.Repeat("k", 65)} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", key)
		if _, err := a.Authenticate(r); !errors.Is(err, ErrInvalidAPIKey) {
			t.Errorf("%q: got %v, want ErrInvalidAPIKey", key, err)
		}
	}
	if cs.n != 0 {
		t.Fatalf("store lookups: got %d, want 0", cs.n)
	}
}

func TestMemoryAPIKeysCopiesRecord(t *testing.T) {
	var s MemoryAPIKeys // zero value is usable
	roles := []string{"admin"}
	d := APIKeyDigest("k")
	s.Add(d, APIKeyRecord{Subject: "a", Roles: roles})
	roles[0] = "root"
	rec, err := s.LookupAPIKey(context.Background(), d)
	if err != nil || rec.Roles[0] != "admin" {
		t.Fatalf("got (%+v, %v), want roles [admin]", rec, err)
	}
	if cap(rec.Roles) != len(rec.Roles) {
		t.Fatalf("roles not clipped: len %d cap %d; an append could write into the stored record", len(rec.Roles), cap(rec.Roles))
	}
	if _, err := s.LookupAPIKey(context.Background(), APIKeyDigest("other")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown digest: got %v, want ErrNotFound", err)
	}
}

func TestMemoryAPIKeysConcurrent(t *testing.T) {
	var s MemoryAPIKeys
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				d := APIKeyDigest(fmt.Sprint(g, i))
				s.Add(d, APIKeyRecord{Subject: "s"})
				if _, err := s.LookupAPIKey(context.Background(), d); err != nil {
					t.Error(err)
					return
				}
				s.Revoke(d)
				if rec, _ := s.LookupAPIKey(context.Background(), d); !rec.Revoked {
					t.Error("not revoked")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewAPIKeyAuthConfigErrors(t *testing.T) {
	_, err := NewAPIKeyAuth(APIKeyAuthConfig{
		Header: "X API Key", QueryParam: "k", CookieName: "a;b", Prefix: "GK", Realm: `a"b`, MaxKeyLength: -1,
	})
	if err == nil {
		t.Fatal("got nil error, want every problem reported")
	}
	for _, want := range []string{"Store is required", "Header", "DangerouslyAllowQuery", "Cookie", "prefix", "Realm", "MaxKeyLength"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: new(MemoryAPIKeys), DangerouslyAllowQuery: true, QueryParam: "a b"}); err == nil {
		t.Error("bad QueryParam: got nil error")
	}
}

func TestAPIKeyCustomHeaderAndRealm(t *testing.T) {
	s := new(MemoryAPIKeys)
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: s, Header: "x-service-token", Realm: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	a.RequireAPIKey(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if got, want := w.Header().Get("WWW-Authenticate"), `ApiKey realm="billing", header="x-service-token"`; got != want {
		t.Fatalf("challenge: got %q, want %q", got, want)
	}
}

func TestGenerateAPIKey(t *testing.T) {
	seen := make(map[string]bool)
	for range 200 {
		secret, digest, err := GenerateAPIKey("gk")
		if err != nil {
			t.Fatal(err)
		}
		key := string(secret)
		if len(key) != len("gk_")+apiKeyBodyLen || !strings.HasPrefix(key, "gk_") {
			t.Fatalf("key %q: wrong shape", key)
		}
		if digest != sha256.Sum256([]byte(key)) || digest != APIKeyDigest(key) {
			t.Fatalf("digest of %q is not its SHA-256", key)
		}
		if ours, valid := apiKeyFormat("gk", key); !ours || !valid {
			t.Fatalf("apiKeyFormat(%q) = %v, %v; want true, true", key, ours, valid)
		}
		if seen[key] {
			t.Fatalf("duplicate key %q", key)
		}
		seen[key] = true
	}
	for _, bad := range []string{"", "GK", "g_k", "g-k", "abcdefghijklmnopq", "ключ"} {
		if _, _, err := GenerateAPIKey(bad); err == nil {
			t.Errorf("GenerateAPIKey(%q): got nil error", bad)
		}
	}
}

// TestAPIKeyChecksumDetectsEverySubstitution: CRC-32 catches every
// single-character error, including in the checksum itself.
func TestAPIKeyChecksumDetectsEverySubstitution(t *testing.T) {
	key, _, err := GenerateAPIKey("gk")
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(key)
	for i := len("gk_"); i < len(b); i++ {
		orig := b[i]
		for j := 0; j < len(base62Alphabet); j++ {
			if c := base62Alphabet[j]; c != orig {
				b[i] = c
				if _, valid := apiKeyFormat("gk", string(b)); valid {
					t.Fatalf("%q passes the checksum", b)
				}
			}
		}
		b[i] = orig
	}
}

func TestGeneratedAPIKeyRedacted(t *testing.T) {
	k, _, err := GenerateAPIKey("gk")
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("auth", "key", k)
	out := buf.String() + fmt.Sprintf("%v %s %+v %#v %q", k, k, k, k, k)
	if strings.Contains(out, string(k)[3:]) || !strings.Contains(out, "REDACTED") {
		t.Fatalf("output leaks or lacks REDACTED: %s", out)
	}
}

// FuzzAPIKeyFormat checks the key parser: it never panics, it accepts only
// keys of exactly our shape whose checksum is right, and it leaves keys
// without our prefix to the store.
func FuzzAPIKeyFormat(f *testing.F) {
	f.Add("gk", "gk_"+strings.Repeat("A", apiKeyBodyLen))
	f.Add("gk", "gk_")
	f.Add("gk", "demo-secret-key")
	f.Add("", "gk_x")
	f.Add("gk", "gk_0000000000000000000000000000000zzzzzz")
	for range 3 {
		key, _, _ := GenerateAPIKey("gk")
		f.Add("gk", string(key))
	}
	f.Fuzz(func(t *testing.T, prefix, key string) {
		ours, valid := apiKeyFormat(prefix, key)
		if valid && !ours {
			t.Fatal("valid but not ours")
		}
		if ours != (prefix != "" && strings.HasPrefix(key, prefix+"_")) {
			t.Fatalf("ours = %v for prefix %q key %q", ours, prefix, key)
		}
		if !valid {
			return
		}
		body := key[len(prefix)+1:]
		if len(body) != apiKeyBodyLen || strings.Trim(body, base62Alphabet) != "" {
			t.Fatalf("accepted malformed body %q", body)
		}
		head := key[:len(key)-apiKeyChecksumLen]
		if want := string(appendBase62Checksum(nil, crc32.ChecksumIEEE([]byte(head)))); body[apiKeyRandomLen:] != want {
			t.Fatalf("accepted checksum %q, want %q", body[apiKeyRandomLen:], want)
		}
	})
}

// FuzzRequireAPIKey drives the middleware with arbitrary header and query
// values: it never panics, every 401 carries a challenge, no error response
// echoes the key, and 200 happens only for the registered key.
func FuzzRequireAPIKey(f *testing.F) {
	f.Add(demoKey, "")
	f.Add("", "api_key="+demoKey)
	f.Add(demoKey, "api_key="+demoKey)
	f.Add("gk_AAAA", "api_key=%")
	f.Add("", "api%5fkey=x&api_key=y")
	store := new(MemoryAPIKeys)
	store.Add(APIKeyDigest(demoKey), APIKeyRecord{Subject: "bob"})
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: store, Prefix: "gk", DangerouslyAllowQuery: true})
	if err != nil {
		f.Fatal(err)
	}
	h := a.RequireAPIKey(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	f.Fuzz(func(t *testing.T, header, query string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = query
		if header != "" {
			r.Header["X-Api-Key"] = []string{header}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200:
			qv, qn, _ := queryValue(query, "api_key")
			if !(header == demoKey && qn == 0) && !(header == "" && qn == 1 && qv == demoKey) {
				t.Fatalf("200 for header %q query %q", header, query)
			}
		case 401:
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without a challenge")
			}
		case 400:
		default:
			t.Fatalf("unexpected status %d", w.Code)
		}
		if w.Code != 200 && len(header) > 3 && strings.Contains(w.Body.String(), header) {
			t.Fatalf("body echoes the key: %q", w.Body.String())
		}
	})
}

// apiKeyStores caches the big benchmark stores across benchmarks.
var apiKeyStores sync.Map // int -> *MemoryAPIKeys

func benchStore(n int) *MemoryAPIKeys {
	if s, ok := apiKeyStores.Load(n); ok {
		return s.(*MemoryAPIKeys)
	}
	s := new(MemoryAPIKeys)
	rec := APIKeyRecord{Subject: "svc", Roles: []string{"user"}}
	var seed [8]byte
	for i := range n - 1 {
		binary.LittleEndian.PutUint64(seed[:], uint64(i))
		s.Add(sha256.Sum256(seed[:]), rec)
	}
	s.Add(APIKeyDigest(benchKey), rec)
	apiKeyStores.Store(n, s)
	return s
}

const benchKey = "gk_4pT1qXb9ZsWm2LkR8vNc0YhJd7GaEu3bYd0Q" // format irrelevant: no Prefix set

// benchWriter is a minimal ResponseWriter whose header map is cleared per
// request, so benchmarks measure the middleware, not httptest.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

func BenchmarkRequireAPIKey(b *testing.B) {
	for _, n := range []int{1, 10_000, 1_000_000} {
		store := benchStore(n)
		a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: store})
		if err != nil {
			b.Fatal(err)
		}
		h := a.RequireAPIKey(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for _, c := range []struct {
			name, key string
			want      int
		}{{"hit", benchKey, 0}, {"miss", benchKey[:len(benchKey)-1] + "R", 401}} {
			b.Run(fmt.Sprintf("%s/keys=%d", c.name, n), func(b *testing.B) {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("X-API-Key", c.key)
				w := &benchWriter{h: make(http.Header)}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					w.code = 0
					h.ServeHTTP(w, r)
				}
				if w.code != c.want {
					b.Fatalf("status: got %d, want %d", w.code, c.want)
				}
			})
		}
	}
}

func BenchmarkRequireAPIKeyParallel(b *testing.B) {
	store := benchStore(10_000)
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	h := a.RequireAPIKey(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", benchKey)
		w := &benchWriter{h: make(http.Header)}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
		if w.code != 0 {
			b.Errorf("status: got %d, want 0", w.code)
		}
	})
}

func BenchmarkGenerateAPIKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := GenerateAPIKey("gk"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAPIKeyPrincipalOwnsItsLists: a handler that writes to the principal's
// roles or scopes changes nothing for the next request with the same key.
func TestAPIKeyPrincipalOwnsItsLists(t *testing.T) {
	t.Parallel()
	f := newAPIKeyFixture(t)
	a, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: f.store})
	if err != nil {
		t.Fatal(err)
	}
	var seen [][]string
	h := a.RequireAPIKey(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		seen = append(seen, slices.Concat(p.Roles, p.Scopes))
		p.Roles[0], p.Scopes[0] = "root", "everything"
		p.Roles = append(p.Roles, "grown") // must not write into Scopes
	}))
	for range 2 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", f.good)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	want := []string{"admin", "read", "write"}
	if len(seen) != 2 || !slices.Equal(seen[0], want) || !slices.Equal(seen[1], want) {
		t.Errorf("roles+scopes seen by two requests: got %q, want %q twice", seen, want)
	}
}
