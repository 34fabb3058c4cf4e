package guard_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/guardkit/guard"
)

// A service that trusts another's tokens knows only its issuer URL: the
// remote key set reads the issuer's discovery document and JWK Set, and the
// verifier reads the key set. (Here the issuer is an in-process test server.)
func ExampleNewRemoteKeySet() {
	// The other service (any OpenID provider): a key set, its JWKS and a
	// discovery document naming them.
	keys, err := guard.NewKeySet(guard.KeySetConfig{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	idp := httptest.NewServer(mux)
	defer idp.Close()
	jwks, _ := keys.JWKSHandler(0)
	mux.Handle("GET /jwks", jwks)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, idp.URL, idp.URL+"/jwks")
	})
	issuer, _ := guard.NewTokenIssuer(guard.TokenIssuerConfig{Keys: keys, Issuer: idp.URL, Audience: []string{"api"}})
	token, _ := issuer.Issue(context.Background(), guard.Claims{Subject: "alice"})

	// This service.
	remote, err := guard.NewRemoteKeySet(guard.RemoteKeySetConfig{Issuer: idp.URL})
	if err != nil {
		log.Fatal(err)
	}
	remote.Start()
	defer remote.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := remote.Ready(ctx); err != nil { // optional: until then, 503
		log.Fatal(err)
	}
	v, err := guard.NewVerifier(guard.VerifierConfig{KeySource: remote, Issuers: []string{idp.URL}, Audiences: []string{"api"}})
	if err != nil {
		log.Fatal(err)
	}
	claims, err := v.Verify(ctx, token)
	fmt.Println(claims.Subject, err)
	// Output: alice <nil>
}
