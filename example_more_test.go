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

func ExampleNewAPIKeyAuth() {
	keys := new(guard.MemoryAPIKeys)
	// A key made by GenerateAPIKey is shown to its owner once; only its digest is stored.
	key, digest, err := guard.GenerateAPIKey("demo")
	if err != nil {
		log.Fatal(err)
	}
	keys.Add(digest, guard.APIKeyRecord{Subject: "billing-service", Roles: []string{"user"}})

	auth, err := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: keys, Prefix: "demo"})
	if err != nil {
		log.Fatal(err)
	}
	h := auth.RequireAPIKey(hello)

	for _, k := range []string{string(key), "demo_wrong", ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if k != "" {
			req.Header.Set("X-API-Key", k)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	fmt.Println(key) // a Secret prints as REDACTED
	// Output:
	// 200 hello billing-service [user]
	// 401 {"error":"invalid_token","error_description":"invalid API key"}
	// 401 {"error":"unauthorized","error_description":"API key required"}
	// REDACTED
}

func ExampleRequireAuth() {
	v, iss := exampleSetup()
	keys := new(guard.MemoryAPIKeys)
	keys.Add(guard.APIKeyDigest("legacy-key"), guard.APIKeyRecord{Subject: "cron"})
	apiKeys, err := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: keys})
	if err != nil {
		log.Fatal(err)
	}
	h := guard.RequireAuth(v, apiKeys)(hello)

	try := func(bearer, apiKey string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if apiKey != "" {
			req.Header.Set("X-API-Key", apiKey)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
		for _, ch := range rec.Header().Values("WWW-Authenticate") {
			fmt.Println("  WWW-Authenticate:", ch)
		}
	}
	try(exampleToken(iss, "alice", "admin"), "")
	try("", "legacy-key")
	try("", "")
	try(exampleToken(iss, "alice"), "legacy-key")
	// Output:
	// 200 hello alice [admin]
	// 200 hello cron []
	// 401 {"error":"unauthorized","error_description":"authentication required"}
	//   WWW-Authenticate: Bearer realm="api"
	//   WWW-Authenticate: ApiKey realm="api", header="X-API-Key"
	// 400 {"error":"invalid_request","error_description":"more than one credential"}
	//   WWW-Authenticate: Bearer realm="api", error="invalid_request", error_description="more than one credential"
	//   WWW-Authenticate: ApiKey realm="api", header="X-API-Key"
}

func ExampleNewCORS() {
	v, _ := exampleSetup()
	cors, err := guard.NewCORS(guard.CORSConfig{
		AllowedOrigins:   []string{"https://app.example.com"},
		AllowCredentials: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	// CORS outside authentication: the preflight never needs a token, and a
	// 401 still carries the CORS headers the browser needs to read it.
	h := cors.Handler(v.RequireBearer(hello))

	pre := httptest.NewRequest(http.MethodOptions, "/", nil)
	pre.Header.Set("Origin", "https://app.example.com")
	pre.Header.Set("Access-Control-Request-Method", "GET")
	pre.Header.Set("Access-Control-Request-Headers", "authorization")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	fmt.Println(rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), rec.Header().Get("Access-Control-Allow-Headers"))

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Origin", "https://app.example.com")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), rec.Header().Get("Access-Control-Expose-Headers"))
	// Output:
	// 204 https://app.example.com authorization
	// 401 https://app.example.com Www-Authenticate
}

func ExampleNewCORS_refused() {
	_, err := guard.NewCORS(guard.CORSConfig{
		AllowedOrigins:   []string{"*", "https://*.example.com", "h*"},
		AllowCredentials: true,
	})
	fmt.Println(err != nil)
	// Output:
	// true
}

func ExamplePasswordHasher_Verify() {
	ctx := context.Background()
	hasher, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{})
	if err != nil {
		log.Fatal(err)
	}
	// A bcrypt hash of "secret" at cost 10, as passlib or an older app wrote it.
	legacy, err := (func() (guard.Secret, error) {
		old, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{Schemes: []guard.Scheme{guard.SchemeBcrypt}, BcryptCost: 10})
		if err != nil {
			return "", err
		}
		return old.Hash(ctx, "secret")
	})()
	if err != nil {
		log.Fatal(err)
	}
	needsRehash, err := hasher.Verify(ctx, "secret", legacy)
	fmt.Println(needsRehash, err)
	_, err = hasher.Verify(ctx, "wrong", legacy)
	fmt.Println(errors.Is(err, guard.ErrPasswordMismatch))
	// Output:
	// true <nil>
	// true
}

func ExampleJWKSHandler() {
	key, err := guard.ParseJWK(guard.EdDSA, []byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"2025-01"}`))
	if err != nil {
		log.Fatal(err)
	}
	h, err := guard.JWKSHandler(10*time.Minute, key)
	if err != nil {
		log.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	fmt.Println(rec.Header().Get("Cache-Control"))
	fmt.Println(rec.Body.String())
	// Output:
	// public, max-age=600
	// {"keys":[{"kty":"OKP","use":"sig","alg":"EdDSA","kid":"2025-01","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}
}
