package authserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/guardkit/guard/authserver"
)

// An MCP client registers itself (RFC 7591) and gets a public client that
// may ask tokens for the app's MCP server (RFC 8707). Give the token and
// authorization endpoints the same registry as their Clients.
func ExampleNewRegistrationEndpoint() {
	clients := &authserver.MemoryClients{}
	reg, err := authserver.NewRegistrationEndpoint(authserver.RegistrationConfig{
		Clients:   clients,
		Scopes:    []string{"mcp:tools"},
		Resources: []string{"https://mcp.example/mcp"},
		Now:       exampleNow,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+authserver.PathRegister, reg)

	body := `{"redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none",
		"grant_types":["authorization_code","refresh_token"],"client_name":"Example MCP client"}`
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/register", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, r)

	var resp struct {
		ClientID string `json:"client_id"`
		Method   string `json:"token_endpoint_auth_method"`
		Scope    string `json:"scope"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	c, _ := clients.LookupClient(context.Background(), resp.ClientID)
	fmt.Println(rec.Code, resp.Method, resp.Scope)
	fmt.Println(c.Public, c.Name, c.Grants, c.Resources)
	// Output:
	// 201 none mcp:tools
	// true Example MCP client [authorization_code refresh_token] [https://mcp.example/mcp]
}
