package guard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryRevocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &ksClock{t: testNow}
	m := MustNewMemoryRevocations(MemoryRevocationsConfig{Now: clock.Now, MaxEntries: 3, MaxTokenLifetime: time.Hour})
	tok := func(jti, sub string, iat time.Time) *Claims { return &Claims{ID: jti, Subject: sub, IssuedAt: iat} }
	check := func(c *Claims, want bool) {
		t.Helper()
		got, err := m.Revoked(ctx, c)
		if err != nil || got != want {
			t.Errorf("Revoked(%q, %q, %v): got %v, %v; want %v", c.ID, c.Subject, c.IssuedAt, got, err, want)
		}
	}
	check(tok("a", "alice", testNow), false)
	if err := m.RevokeToken(ctx, "a", testNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	check(tok("a", "alice", testNow), true)
	check(tok("b", "alice", testNow), false)
	if err := m.RevokeToken(ctx, "old", testNow); err != nil { // already expired: not stored
		t.Fatal(err)
	}
	check(tok("old", "alice", testNow), false)

	if err := m.RevokeSubject(ctx, "bob", testNow.Add(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	check(tok("x", "bob", testNow.Add(-time.Hour)), true)
	check(tok("x", "bob", testNow), true) // same second
	check(tok("x", "bob", testNow.Add(time.Second)), false)
	check(tok("x", "bob", time.Time{}), true) // no iat: cannot be placed after
	// An earlier instant does not move it back.
	if err := m.RevokeSubject(ctx, "bob", testNow.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	check(tok("x", "bob", testNow), true)

	// Full with live entries: refused, never a silent drop.
	if err := m.RevokeToken(ctx, "c", testNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeToken(ctx, "d", testNow.Add(time.Minute)); !errors.Is(err, errRevocationsFull) {
		t.Errorf("full: got %v, want errRevocationsFull", err)
	}
	// Once they expire, room is made.
	clock.Add(2 * time.Hour)
	if err := m.RevokeToken(ctx, "d", clock.Now().Add(time.Minute)); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	if n := m.n.Load(); n != 1 {
		t.Errorf("entries after pruning: got %d, want 1", n)
	}

	var zero MemoryRevocations
	if _, err := zero.Revoked(ctx, tok("a", "b", testNow)); err == nil {
		t.Error("zero value: no error")
	}
}

// countingChecker counts calls and answers from its fields.
type countingChecker struct {
	calls   atomic.Int32
	revoked bool
	err     error
}

func (c *countingChecker) Revoked(context.Context, *Claims) (bool, error) {
	c.calls.Add(1)
	return c.revoked, c.err
}

func TestVerifierRevocation(t *testing.T) {
	t.Parallel()
	tok := issueToken(t, nil, Claims{Subject: "alice", ID: "jti-1", Roles: []string{"admin"}})
	bearer := `Bearer realm="api"`
	cases := []struct {
		name    string
		checker *countingChecker
		status  int
		hdr     http.Header
		body    string
		err     []error
	}{
		{"not revoked", &countingChecker{}, 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "ok", nil},
		{"revoked", &countingChecker{revoked: true}, 401,
			http.Header{"Www-Authenticate": {bearer + `, error="invalid_token", error_description="token revoked"`}, "Content-Type": {"application/json"},
				"Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}},
			`{"error":"invalid_token","error_description":"token revoked"}` + "\n", []error{ErrInvalidToken, ErrTokenRevoked}},
		{"checker down: fail closed", &countingChecker{err: errStoreDown}, 503,
			http.Header{"Retry-After": {"5"}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}},
			`{"error":"temporarily_unavailable","error_description":"service unavailable; retry later"}` + "\n", []error{errStoreDown}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got error
			v := newTestVerifier(t, VerifierConfig{Revocations: c.checker, CacheSize: 8,
				ErrorWriter: func(w http.ResponseWriter, r *http.Request, err error) { got = err; WriteError(w, r, err) }})
			ran := false
			h := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran = true; _, _ = w.Write([]byte("ok")) }))
			for range 2 { // the second request is a cache hit for cached algorithms; the check still runs
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				ran = false
				h.ServeHTTP(rec, req)
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
			if n := c.checker.calls.Load(); n != 2 {
				t.Errorf("checker calls: got %d, want 2", n)
			}
			_, err := v.Verify(context.Background(), tok)
			if (err == nil) != (c.status == 200) {
				t.Errorf("Verify: got %v", err)
			}
		})
	}
}

// BenchmarkBearerRevocation compares a bearer request without a revocation
// check, with the in-memory one holding nothing, and with one holding 1000
// revoked jtis and 1000 revoked subjects (none of them this token's).
func BenchmarkBearerRevocation(b *testing.B) {
	full := MustNewMemoryRevocations(MemoryRevocationsConfig{Now: testClock})
	for i := range 1000 {
		_ = full.RevokeToken(context.Background(), "jti-"+strconv.Itoa(i), testNow.Add(time.Hour))
		_ = full.RevokeSubject(context.Background(), "user-"+strconv.Itoa(i), testNow)
	}
	for _, c := range []struct {
		name string
		rc   RevocationChecker
	}{{"none", nil}, {"memory-empty", MustNewMemoryRevocations(MemoryRevocationsConfig{Now: testClock})}, {"memory-2000", full},
		// The issuer's answer cached (IntrospectionChecker): a request after the first.
		{"introspection-hit", newTestChecker(b, IntrospectionCheckerConfig{Endpoint: newFakeIssuer(b, answer(`{"active":true}`)).srv.URL})}} {
		b.Run(c.name, func(b *testing.B) {
			v := newTestVerifier(b, VerifierConfig{Revocations: c.rc})
			tok := issueToken(b, nil, Claims{Subject: "alice", ID: "live-jti", Roles: []string{"admin"}})
			h := v.RequireBearer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkMemoryRevoked is the check alone, the cost the in-memory
// revocation list adds to each bearer request.
func BenchmarkMemoryRevoked(b *testing.B) {
	m := MustNewMemoryRevocations(MemoryRevocationsConfig{Now: testClock})
	for i := range 1000 {
		_ = m.RevokeToken(context.Background(), "jti-"+strconv.Itoa(i), testNow.Add(time.Hour))
		_ = m.RevokeSubject(context.Background(), "user-"+strconv.Itoa(i), testNow)
	}
	c := &Claims{ID: "live-jti", Subject: "alice", IssuedAt: testNow}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if revoked, _ := m.Revoked(ctx, c); revoked {
			b.Fatal("revoked")
		}
	}
}

func TestMemoryRevocationsConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := NewMemoryRevocations(MemoryRevocationsConfig{MaxTokenLifetime: -1, MaxEntries: -1})
	for _, field := range []string{"MaxTokenLifetime", "MaxEntries"} {
		if err == nil || !strings.Contains(err.Error(), "MemoryRevocationsConfig."+field+" is negative") {
			t.Errorf("negative %s: got %v", field, err)
		}
	}
	m, err := NewMemoryRevocations(MemoryRevocationsConfig{})
	if err != nil || m.cfg.MaxEntries != 1_000_000 || m.cfg.MaxTokenLifetime != DefaultMaxTokenLifetime {
		t.Errorf("defaults: got %+v, %v", m.cfg, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustNewMemoryRevocations did not panic on a bad config")
		}
	}()
	MustNewMemoryRevocations(MemoryRevocationsConfig{MaxEntries: -1})
}
