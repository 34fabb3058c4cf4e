package authserver_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

var exampleNow = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }

// exampleSetup returns a verifier and an issuer sharing one HS256 key. The
// 32-byte secret is the minimum for HS256; real secrets are random.
func exampleSetup() (*guard.Verifier, *guard.TokenIssuer) {
	key, err := guard.NewHMACKey(guard.HS256, []byte("example-secret-example-secret-32"), "")
	if err != nil {
		log.Fatal(err)
	}
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	return v, iss
}

// users is a UserStore over a map, for the examples.
type users map[string]authserver.User

func (u users) LookupUser(_ context.Context, name string) (authserver.User, error) {
	if user, ok := u[name]; ok {
		return user, nil
	}
	return authserver.User{}, guard.ErrNotFound
}

func ExampleNewTokenEndpoint() {
	ctx := context.Background()
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{})
	if err != nil {
		log.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "wonderland")
	if err != nil {
		log.Fatal(err)
	}
	_, issuer := exampleSetup()
	login, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer:              issuer,
		Hasher:              hasher,
		Users:               users{"alice": {PasswordHash: hash, Roles: []string{"admin"}}},
		EnablePasswordGrant: true,
	})
	if err != nil {
		log.Fatal(err)
	}

	for _, password := range []string{"wonderland", "guess"} {
		form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}}
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "127.0.0.1:40000" // plain HTTP is accepted from loopback only
		rec := httptest.NewRecorder()
		login.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code == http.StatusOK {
			body = body[:strings.Index(body, `"access_token":"`)+16] + "…"
		}
		fmt.Println(rec.Code, rec.Header().Get("Cache-Control"), body)
	}
	// Output:
	// 200 no-store {"access_token":"…
	// 400 no-store {"error":"invalid_grant","error_description":"invalid username or password"}
}

// An app's own sign-in page (here the login page of an [AuthorizeEndpoint])
// checks passwords with Login: the same store, throttling and timing as the
// password grant.
func ExampleTokenEndpoint_Login() {
	ctx := context.Background()
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{})
	if err != nil {
		log.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "wonderland")
	if err != nil {
		log.Fatal(err)
	}
	_, issuer := exampleSetup()
	tokens, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer: issuer,
		Hasher: hasher,
		Users:  users{"alice": {PasswordHash: hash, Roles: []string{"admin"}}},
		Limiter: authserver.MustNewMemoryLimiter(authserver.MemoryLimiterConfig{
			Threshold: 1, BaseDelay: time.Minute, MaxDelay: time.Minute,
			Now: func() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) }}),
		EnablePasswordGrant: true,
	})
	if err != nil {
		log.Fatal(err)
	}

	// In the login page's ServeHTTP, with the form already parsed:
	signIn := func(r *http.Request, username, password string) string {
		u, err := tokens.Login(r, username, password)
		switch {
		case err == nil:
			return "approve " + u.Username // authorize.Approve(w, r, u.Username)
		case errors.Is(err, guard.ErrThrottled): // first: it is also an invalid_request
			return fmt.Sprintf("429, retry in %v", guard.ErrorOf(err).RetryAfter)
		case errors.Is(err, guard.ErrInvalidGrant):
			return "401, wrong username or password"
		default:
			return fmt.Sprint(guard.ErrorOf(err).Status)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/authorize", nil)
	fmt.Println(signIn(r, "alice", "wonderland"))
	fmt.Println(signIn(r, "alice", "guess"))
	fmt.Println(signIn(r, "alice", "wonderland"))
	// Output:
	// approve alice
	// 401, wrong username or password
	// 429, retry in 1m0s
}
