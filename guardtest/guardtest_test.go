package guardtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/guardkit/guard/guardtest"
)

// recordingTB records failures instead of failing, to test the assertions.
type recordingTB struct {
	testing.TB
	failures []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestAssertions(t *testing.T) {
	key := guardtest.HMACKey(t)
	iss := guardtest.Issuer(t, guard.TokenIssuerConfig{Key: key})
	v := guardtest.Verifier(t, guard.VerifierConfig{Keys: []*guard.Key{key}})
	h := v.RequireBearer(guard.RequireRole("admin")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	serve := func(token string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, guardtest.BearerRequest(http.MethodGet, "/admin", token))
		return rec
	}
	bob := guardtest.Token(t, iss, guard.Claims{Subject: "bob", Roles: []string{"user"}})
	alice := guardtest.Token(t, iss, guard.Claims{Subject: "alice", Roles: []string{"admin"}})

	guardtest.AssertNoCredentials(t, serve(""))
	guardtest.AssertInvalidToken(t, serve(bob+"x"))
	guardtest.AssertInsufficientScope(t, serve(bob), "admin")
	if rec := serve(alice); rec.Code != http.StatusOK {
		t.Errorf("alice: got %d, want 200", rec.Code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, guardtest.BearerRequest(http.MethodGet, "/admin", "a b"))
	guardtest.AssertInvalidRequest(t, rec)

	// Each assertion fails on the wrong response.
	for name, check := range map[string]func(testing.TB){
		"no credentials, given a 403":             func(tb testing.TB) { guardtest.AssertNoCredentials(tb, serve(bob)) },
		"invalid token, given a 401 without code": func(tb testing.TB) { guardtest.AssertInvalidToken(tb, serve("")) },
		"insufficient scope, wrong scope":         func(tb testing.TB) { guardtest.AssertInsufficientScope(tb, serve(bob), "root") },
		"invalid request, given a 200":            func(tb testing.TB) { guardtest.AssertInvalidRequest(tb, serve(alice)) },
	} {
		r := &recordingTB{TB: t}
		check(r)
		if len(r.failures) == 0 {
			t.Errorf("%s: the assertion passed", name)
		}
	}
}

// TestTokenRequestReachesTheEndpoint: httptest's default peer is not
// loopback; TokenRequest still reaches the endpoint's grant logic.
func TestTokenRequestReachesTheEndpoint(t *testing.T) {
	ctx := context.Background()
	key := guardtest.HMACKey(t)
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{BcryptCost: 10})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	te, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer: guardtest.Issuer(t, guard.TokenIssuerConfig{Key: key}), Hasher: hasher,
		Users: authserver.NewMemoryUsers(map[string]authserver.User{"alice": {PasswordHash: hash}}), EnablePasswordGrant: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	te.ServeHTTP(rec, guardtest.TokenRequest("/token", guardtest.PasswordForm("alice", "wonderland")))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"access_token"`) {
		t.Errorf("got %d %s, want a token", rec.Code, rec.Body)
	}
}

func TestClock(t *testing.T) {
	c := guardtest.NewClock(time.Unix(100, 0))
	c.Add(time.Minute)
	if got := c.Now(); !got.Equal(time.Unix(160, 0)) {
		t.Errorf("got %v, want 160s", got)
	}
	c.Set(time.Unix(5, 0))
	if got := c.Now(); !got.Equal(time.Unix(5, 0)) {
		t.Errorf("got %v", got)
	}
}

// TestMintedTokensThroughAnApp is the package documentation's example.
func TestMintedTokensThroughAnApp(t *testing.T) {
	key := guardtest.HMACKey(t)
	iss := guardtest.Issuer(t, guard.TokenIssuerConfig{Key: key})
	v := guardtest.Verifier(t, guard.VerifierConfig{Keys: []*guard.Key{key}})
	admin := v.RequireBearer(guard.RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		fmt.Fprint(w, "hello ", p.Subject)
	})))
	rec := httptest.NewRecorder()
	admin.ServeHTTP(rec, guardtest.BearerRequest(http.MethodGet, "/admin", guardtest.Token(t, iss, guard.Claims{Subject: "alice", Roles: []string{"admin"}})))
	if rec.Code != 200 || rec.Body.String() != "hello alice" {
		t.Errorf("alice: got %d %q", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	admin.ServeHTTP(rec, guardtest.BearerRequest(http.MethodGet, "/admin", guardtest.Token(t, iss, guard.Claims{Subject: "bob"})))
	guardtest.AssertInsufficientScope(t, rec, "admin")
}

// TestPostToken: PostToken decodes a token response, and fails the test on
// anything else.
func TestPostToken(t *testing.T) {
	ctx := context.Background()
	key := guardtest.HMACKey(t)
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{BcryptCost: 10})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	te, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer: guardtest.Issuer(t, guard.TokenIssuerConfig{Key: key}), Hasher: hasher,
		Users:               authserver.NewMemoryUsers(map[string]authserver.User{"alice": {PasswordHash: hash, Scopes: []string{"read"}}}),
		EnablePasswordGrant: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := guardtest.PostToken(t, te, guardtest.PasswordForm("alice", "wonderland"))
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.AccessToken == "" {
		t.Errorf("got %+v", tr)
	}
	c, err := guardtest.Verifier(t, guard.VerifierConfig{Keys: []*guard.Key{key}}).Verify(ctx, tr.AccessToken)
	if err != nil || c.Subject != "alice" {
		t.Errorf("the access token: %v %v", c, err)
	}
	r := &fatalTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		guardtest.PostToken(r, te, guardtest.PasswordForm("alice", "wrong"))
	}()
	if !strings.Contains(r.msg, "got 400") {
		t.Errorf("a refused login: got failure %q, want one naming the 400", r.msg)
	}
}

// fatalTB records Fatalf and stops the caller, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic("fatal")
}
