package redisstore

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"encoding/json"
	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

func TestClients(t *testing.T) { forEachBackend(t, testClients) }

func testClients(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	cs := st.Clients()
	ctx := context.Background()
	if _, err := cs.LookupClient(ctx, "app"); !errors.Is(err, guard.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	want := authserver.Client{SecretHash: "$argon2id$v=19$m=7168,t=5,p=1$c2FsdA$aGFzaA", Grants: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1:8080/cb", "https://app.example/cb?a=b c"}, Roles: []string{"r"}, Scopes: []string{"read"},
		Resources: []string{"https://mcp.example/mcp"}, Name: "App \"ü\"\n"}
	if err := cs.RegisterClient(ctx, "app", want); err != nil {
		t.Fatal(err)
	}
	got, err := cs.LookupClient(ctx, "app")
	if err != nil || !sameClient(got, want) {
		t.Fatalf("lookup:\n got %+v, %v\nwant %+v", got, err, want)
	}
	if err := cs.RegisterClient(ctx, "app", authserver.Client{Public: true}); !errors.Is(err, authserver.ErrClientExists) {
		t.Fatalf("register a taken id: %v", err)
	}
	if got, _ := cs.LookupClient(ctx, "app"); !sameClient(got, want) {
		t.Fatalf("a refused registration changed the client: %+v", got)
	}
	// Of concurrent registrations of one id, exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := cs.RegisterClient(ctx, "race", authserver.Client{Public: true})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, authserver.ErrClientExists):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("concurrent registrations of one id: %d won, want 1", n)
	}
	disabled := want
	disabled.Disabled = true
	if err := cs.SetClient(ctx, "app", disabled); err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.LookupClient(ctx, "app"); !got.Disabled {
		t.Error("SetClient did not replace the client")
	}
	checkKeys(t, st, 2)
	if ok, err := cs.DeleteClient(ctx, "app"); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if ok, err := cs.DeleteClient(ctx, "app"); ok || err != nil {
		t.Fatalf("delete again: %v %v", ok, err)
	}
	// A record that does not read is an error, never a client.
	if err := st.rdb.Set(ctx, cs.key("bad"), `{"v":2}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.LookupClient(ctx, "bad"); err == nil || errors.Is(err, guard.ErrNotFound) {
		t.Errorf("malformed record: %v", err)
	}
}

func sameClient(a, b authserver.Client) bool {
	return a.SecretHash == b.SecretHash && a.Public == b.Public && slices.Equal(a.Grants, b.Grants) && slices.Equal(a.RedirectURIs, b.RedirectURIs) &&
		slices.Equal(a.Roles, b.Roles) && slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Resources, b.Resources) && a.Name == b.Name && a.Disabled == b.Disabled
}

// TestRegistrationOnRedis: the registration endpoint with ConfigureRegistration
// stores clients that another instance's token endpoint finds; with Redis
// down it answers 503 with Retry-After.
func TestRegistrationOnRedis(t *testing.T) {
	forEachBackend(t, testRegistrationOnRedis, standalone, cluster)
}

func testRegistrationOnRedis(t *testing.T, b *backend) {
	st := b.store(t, "reg:")
	cfg := authserver.RegistrationConfig{Scopes: []string{"read"}, Resources: []string{"https://mcp.example/mcp"}}
	if err := st.ConfigureRegistration(&cfg); err != nil {
		t.Fatal(err)
	}
	if l, ok := cfg.Limiter.(*Limiter); !ok || l.name != "register" || l.args[0] != authserver.DefaultRegistrationThreshold {
		t.Errorf("Limiter: got %T, want a *Limiter named register", cfg.Limiter)
	}
	reg, err := authserver.NewRegistrationEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := register(reg)
	var resp struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("registration: %d %s", rec.Code, rec.Body)
	}
	c, err := st.Clients().LookupClient(context.Background(), resp.ClientID)
	if err != nil || !c.Public || !slices.Equal(c.RedirectURIs, []string{"http://127.0.0.1:9/cb"}) || !slices.Equal(c.Resources, cfg.Resources) {
		t.Fatalf("the registered client on Redis: %+v, %v", c, err)
	}
}

func register(h http.Handler) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/register", strings.NewReader(`{"redirect_uris":["http://127.0.0.1:9/cb"]}`))
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestRegistrationRedisDown(t *testing.T) {
	b := privateBackend(t, standalone)
	st := b.store(t, "reg:")
	// The registry is down, the limiter is not: the store's failure is
	// what answers.
	reg, err := authserver.NewRegistrationEndpoint(authserver.RegistrationConfig{Clients: st.Clients(),
		Limiter: authserver.MustNewMemoryLimiter(authserver.MemoryLimiterConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	b.stop()
	rec := register(reg)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" ||
		rec.Body.String() != `{"error":"temporarily_unavailable","error_description":"service unavailable; retry later"}`+"\n" {
		t.Errorf("registry down: got %d %v %q, want 503 with Retry-After", rec.Code, rec.Header(), rec.Body)
	}
	// And with the limiter on Redis too: 503 before anything is read.
	cfg := authserver.RegistrationConfig{}
	if err := st.ConfigureRegistration(&cfg); err != nil {
		t.Fatal(err)
	}
	reg, err = authserver.NewRegistrationEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rec := register(reg); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Errorf("limiter down: got %d %v", rec.Code, rec.Header())
	}
}
