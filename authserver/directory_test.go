package authserver

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/guardkit/guard"
)

func TestMemoryUsers(t *testing.T) {
	ctx := context.Background()
	src := map[string]User{"alice": {PasswordHash: "h1", Roles: []string{"admin"}}}
	s := NewMemoryUsers(src)
	src["mallory"] = User{} // the store holds a copy
	u, err := s.LookupUser(ctx, "alice")
	if err != nil || u.Username != "alice" || u.PasswordHash != "h1" || u.Roles[0] != "admin" {
		t.Fatalf("alice: got %+v %v", u, err)
	}
	for _, name := range []string{"mallory", "Alice", ""} {
		if _, err := s.LookupUser(ctx, name); !errors.Is(err, guard.ErrNotFound) {
			t.Errorf("%q: got %v, want ErrNotFound", name, err)
		}
	}
	if err := s.UpdatePasswordHash(ctx, "alice", "h2"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.LookupUser(ctx, "alice"); u.PasswordHash != "h2" {
		t.Errorf("after UpdatePasswordHash: got %q, want h2", u.PasswordHash)
	}
	s.Delete("alice")
	if err := s.UpdatePasswordHash(ctx, "alice", "h3"); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("rehash of a deleted account: got %v, want ErrNotFound", err)
	}
	var zero MemoryUsers
	if _, err := zero.LookupUser(ctx, "x"); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("zero value: got %v", err)
	}
	zero.Set("bob", User{Subject: "u-2"})
	if u, err := zero.LookupUser(ctx, "bob"); err != nil || u.Subject != "u-2" || u.Username != "bob" {
		t.Errorf("zero value after Set: got %+v %v", u, err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				zero.Set("bob", User{Subject: "u-2"})
				_, _ = zero.LookupUser(ctx, "bob")
				_ = zero.UpdatePasswordHash(ctx, "bob", guard.Secret(rune('a'+i)))
			}
		})
	}
	wg.Wait()
}

func TestMemoryClients(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryClients(map[string]Client{"app": {Public: true, Grants: []string{"password"}}})
	if c, err := s.LookupClient(ctx, "app"); err != nil || !c.Public {
		t.Fatalf("app: got %+v %v", c, err)
	}
	if _, err := s.LookupClient(ctx, "other"); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("other: got %v, want ErrNotFound", err)
	}
	s.Set("svc", Client{SecretHash: "h"})
	s.Delete("app")
	if _, err := s.LookupClient(ctx, "app"); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("deleted: got %v", err)
	}
	if c, err := s.LookupClient(ctx, "svc"); err != nil || c.SecretHash != "h" {
		t.Errorf("svc: got %+v %v", c, err)
	}
	var zero MemoryClients
	if _, err := zero.LookupClient(ctx, "x"); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("zero value: got %v", err)
	}
}

// TestMemoryUsersRehash: the token endpoint stores an upgraded hash in a
// MemoryUsers through PasswordHashUpdater.
func TestMemoryUsersRehash(t *testing.T) {
	old := guard.Secret(tokHashes()[tokCarolPW]) // a legacy bcrypt hash the policy upgrades
	users := NewMemoryUsers(map[string]User{"carol": {PasswordHash: old, Scopes: []string{"read"}}})
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) { c.Users = users })
	f.checkTokSuccess(t, f.do(tokRequest(form("grant_type", "password", "username", "carol", "password", tokCarolPW))), "read")
	u, _ := users.LookupUser(context.Background(), "carol")
	if u.PasswordHash == old || u.PasswordHash == "" {
		t.Errorf("after a login with a legacy hash: the stored hash was not upgraded")
	}
}
