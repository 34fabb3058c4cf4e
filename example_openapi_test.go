package guard_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/guardkit/guard"
)

// A Registrar mounts each route behind its Policy and describes the same
// Policy in the OpenAPI document: the docs show what is enforced.
func ExampleRegistrar() {
	v, _ := exampleSetup()
	mux := http.NewServeMux()
	routes, err := guard.NewRegistrar(guard.RegistrarConfig{Mux: mux, Title: "demo", Version: "1"})
	if err != nil {
		log.Fatal(err)
	}
	ok := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }
	routes.HandleFunc("GET /health", nil, ok) // public
	routes.HandleFunc("GET /admin", &guard.Policy{Authenticators: []guard.Authenticator{v}, Roles: []string{"admin"}}, ok)
	doc, err := routes.OpenAPI()
	if err != nil {
		log.Fatal(err) // e.g. an authenticator that cannot describe itself, with its route
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.Contains(line, `"security"`) || strings.Contains(line, `"x-guard-roles"`) || strings.Contains(line, `"HTTPBearer": {`) {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin", nil))
	fmt.Println("GET /admin without a token:", rec.Code)
	// Output:
	// "HTTPBearer": {
	// "security": [
	// "x-guard-roles": [
	// "security": []
	// GET /admin without a token: 401
}

// Two API-key authenticators reading different headers both describe
// themselves as "APIKeyHeader": the document refuses to guess. Rename one
// with guard.Described.
func ExampleRegistrar_incorrect() {
	keys := new(guard.MemoryAPIKeys)
	a, _ := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: keys, Header: "X-Key-A"})
	b, _ := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: keys, Header: "X-Key-B"})
	routes, _ := guard.NewRegistrar(guard.RegistrarConfig{Mux: http.NewServeMux()})
	routes.Handle("GET /a", &guard.Policy{Authenticators: []guard.Authenticator{a}}, http.NotFoundHandler())
	routes.Handle("GET /b", &guard.Policy{Authenticators: []guard.Authenticator{b}}, http.NotFoundHandler())
	_, err := routes.OpenAPI()
	fmt.Println(errors.Is(err, guard.ErrSchemeConflict))
	// Output: true
}
