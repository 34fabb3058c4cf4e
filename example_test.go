package guard_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/guardkit/guard"
)

// The examples run at a fixed time so that their output is stable.
var exampleNow = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }

// exampleSecret is 32 bytes, the minimum for HS256. Real secrets are random.
var exampleSecret = []byte("example-secret-example-secret-32")

// exampleSetup returns a verifier and an issuer sharing one HS256 key.
func exampleSetup() (*guard.Verifier, *guard.TokenIssuer) {
	key, err := guard.NewHMACKey(guard.HS256, exampleSecret, "")
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

func exampleToken(iss *guard.TokenIssuer, sub string, roles ...string) string {
	tok, err := iss.Issue(context.Background(), guard.Claims{Subject: sub, Roles: roles})
	if err != nil {
		log.Fatal(err)
	}
	return tok
}

// get serves GET / with an optional bearer token and prints the outcome.
func get(h http.Handler, token string) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	if ch := rec.Header().Get("WWW-Authenticate"); ch != "" {
		fmt.Println("  WWW-Authenticate:", ch)
	}
}

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, _ := guard.PrincipalFrom(r.Context())
	fmt.Fprintf(w, "hello %s %v\n", p.Subject, p.Roles)
})

func ExampleNewVerifier() {
	key, err := guard.NewHMACKey(guard.HS256, exampleSecret, "")
	if err != nil {
		log.Fatal(err)
	}
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	_, iss := exampleSetup()

	mux := http.NewServeMux()
	mux.Handle("GET /", v.RequireBearer(hello))

	get(mux, exampleToken(iss, "alice", "admin"))
	get(mux, "")
	get(mux, "not-a-jwt")
	// Output:
	// 200 hello alice [admin]
	// 401 {"error":"unauthorized","error_description":"authentication required"}
	//   WWW-Authenticate: Bearer realm="api"
	// 401 {"error":"invalid_token","error_description":"malformed token"}
	//   WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="malformed token"
}

func ExampleVerifier_Verify() {
	v, iss := exampleSetup()
	claims, err := v.Verify(context.Background(), exampleToken(iss, "alice", "admin"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.Roles, claims.ExpiresAt)

	_, err = v.Verify(context.Background(), "a.b.c")
	fmt.Println(errors.Is(err, guard.ErrInvalidToken), errors.Is(err, guard.ErrMalformedToken))
	// Output:
	// alice [admin] 2025-01-02 03:19:05 +0000 UTC
	// true true
}

func ExampleRequireRole() {
	v, iss := exampleSetup()
	// Authentication outside, authorization inside.
	h := v.RequireBearer(guard.RequireRole("admin")(hello))

	get(h, exampleToken(iss, "alice", "admin"))
	get(h, exampleToken(iss, "bob", "user"))
	// Output:
	// 200 hello alice [admin]
	// 403 {"error":"insufficient_scope","error_description":"insufficient privileges","scope":"admin"}
	//   WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="insufficient privileges", scope="admin"
}

// Middleware order matters: RequireRole reads the principal that RequireBearer
// puts in the context, so it must run inside it. Wrapped the other way round,
// RequireRole finds no principal and answers 401 to everyone, even an admin.
func ExampleRequireRole_incorrect() {
	v, iss := exampleSetup()
	wrong := guard.RequireRole("admin")(v.RequireBearer(hello)) // wrong: role check first

	get(wrong, exampleToken(iss, "alice", "admin"))
	// Output:
	// 401 {"error":"unauthorized","error_description":"authentication required"}
	//   WWW-Authenticate: Bearer realm="api"
}

func ExampleRequireScope() {
	v, iss := exampleSetup()
	h := v.RequireBearer(guard.RequireScope("orders:read", "orders:write")(hello))

	both, _ := iss.Issue(context.Background(), guard.Claims{Subject: "svc", Scopes: []string{"orders:read", "orders:write"}})
	one, _ := iss.Issue(context.Background(), guard.Claims{Subject: "svc", Scopes: []string{"orders:read"}})
	get(h, both)
	get(h, one)
	// Output:
	// 200 hello svc []
	// 403 {"error":"insufficient_scope","error_description":"insufficient privileges","scope":"orders:read orders:write"}
	//   WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="insufficient privileges", scope="orders:read orders:write"
}

func ExampleNewTokenIssuer() {
	key, err := guard.NewHMACKey(guard.HS256, exampleSecret, "")
	if err != nil {
		log.Fatal(err)
	}
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, Issuer: "https://auth.example", Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	// ID is normally random; it is fixed here so that the token is too.
	tok, err := iss.Issue(context.Background(), guard.Claims{Subject: "alice", Roles: []string{"admin"}, ID: "example-1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok)
	// Output:
	// eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZSIsInN1YiI6ImFsaWNlIiwiZXhwIjoxNzM1Nzg3OTQ1LCJpYXQiOjE3MzU3ODcwNDUsImp0aSI6ImV4YW1wbGUtMSIsInJvbGUiOiJhZG1pbiJ9.WHIo15Yfh5DJge5ydCwGmrofawjXLH8oaH-V0BgR-7M
}

func ExampleNewAuthorizer() {
	authz, err := guard.NewAuthorizer(guard.AuthorizerConfig{
		// admin implies editor, editor implies user: admins pass every check.
		Implies: map[string][]string{"admin": {"editor"}, "editor": {"user"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	v, iss := exampleSetup()
	h := v.RequireBearer(authz.RequireRole("user")(hello))

	get(h, exampleToken(iss, "alice", "admin"))
	get(h, exampleToken(iss, "carol", "guest"))

	_, err = guard.NewAuthorizer(guard.AuthorizerConfig{Implies: map[string][]string{"a": {"b"}, "b": {"a"}}})
	fmt.Println(err)
	// Output:
	// 200 hello alice [admin]
	// 403 {"error":"insufficient_scope","error_description":"insufficient privileges","scope":"user"}
	//   WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="insufficient privileges", scope="user"
	// guard: role "a" implies itself through Implies
	// guard: role "b" implies itself through Implies
}

// Handlers behind the middleware can be tested without tokens: put a
// principal in the request context with NewContext.
func ExampleNewContext() {
	h := guard.RequireRole("admin")(hello)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(guard.NewContext(req.Context(), &guard.Principal{
		Subject: "key-1", Roles: []string{"admin"}, Method: guard.MethodAPIKey,
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 hello key-1 [admin]
}

func ExampleWriteError() {
	rec := httptest.NewRecorder()
	guard.WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), &guard.Error{
		Status:      http.StatusUnauthorized,
		Code:        "invalid_token",
		Description: "token expired",
		Challenges:  []string{`Bearer realm="api"`},
		Err:         errors.New("exp 1735786645 < now"), // for logs only; never written
	})
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Header().Get("Cache-Control"))
	fmt.Print(rec.Body.String())
	// Output:
	// 401 Bearer realm="api", error="invalid_token", error_description="token expired" no-store
	// {"error":"invalid_token","error_description":"token expired"}
}
