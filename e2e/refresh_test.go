package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"golang.org/x/oauth2"
)

// TestTokenSourceRefreshes: x/oauth2's TokenSource refreshes on its own with
// guard's refresh tokens, rotation included, for a public and a confidential
// client; the token it rotated away is then refused as reuse.
func TestTokenSourceRefreshes(t *testing.T) {
	ctx := context.Background()
	h, hash := testHasher(t)
	key := testKey(t)
	// Access tokens shorter than x/oauth2's 10 s expiry margin: every
	// Token() call refreshes.
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	grants := []string{"password", "refresh_token"}
	te, err := authserver.NewTokenEndpoint(authserver.TokenEndpointConfig{
		Issuer: iss, Hasher: h, EnablePasswordGrant: true,
		Users: authserver.NewMemoryUsers(map[string]authserver.User{"alice": {PasswordHash: hash(alicePW), Roles: []string{"admin"}, Scopes: []string{"read", "write"}}}),
		Clients: authserver.NewMemoryClients(map[string]authserver.Client{
			webID: {SecretHash: hash(webPW), Grants: grants, Scopes: []string{"read", "write"}},
			spaID: {Public: true, Grants: grants, Scopes: []string{"read", "write"}},
		}),
		Refresh: &authserver.RefreshConfig{Store: authserver.MustNewMemoryRefreshStore(authserver.MemoryRefreshStoreConfig{})},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/token", te)
	mux.Handle("/me", ver.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })))
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	cctx := context.WithValue(ctx, oauth2.HTTPClient, srv.Client())

	for _, c := range []struct {
		name, id, secret string
		style            oauth2.AuthStyle
	}{
		{"public client", spaID, "", oauth2.AuthStyleInParams},
		{"confidential client", webID, webPW, oauth2.AuthStyleInHeader},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := &oauth2.Config{ClientID: c.id, ClientSecret: c.secret,
				Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: c.style}}
			first, err := conf.PasswordCredentialsToken(cctx, "alice", alicePW)
			if err != nil {
				t.Fatal(err)
			}
			if first.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			ts := conf.TokenSource(cctx, first)
			seen := map[string]bool{first.RefreshToken: true}
			for range 3 {
				tok, err := ts.Token()
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if seen[tok.RefreshToken] || tok.RefreshToken == "" {
					t.Fatalf("refresh token not rotated: %q", tok.RefreshToken)
				}
				seen[tok.RefreshToken] = true
			}
			resp, err := oauth2.NewClient(cctx, ts).Get(srv.URL + "/me")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /me: %d", resp.StatusCode)
			}
			// The first refresh token was rotated away: reuse, and the family ends.
			_, err = conf.TokenSource(cctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
				t.Fatalf("reuse: got %v, want 400 invalid_grant", err)
			}
			if _, err := ts.Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("after reuse, the family: got %v, want invalid_grant", err)
			}
		})
	}
}
