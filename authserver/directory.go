package authserver

import (
	"context"
	"errors"
	"maps"
	"sync"

	"github.com/guardkit/guard"
)

// MemoryUsers is a [UserStore] in memory, for tests, examples and services
// whose few accounts are known at start. It also implements
// [PasswordHashUpdater], so a login whose stored hash needs an upgrade
// stores the new one here. Names are matched exactly. The zero value is an
// empty store; it is safe for concurrent use.
type MemoryUsers struct {
	mu sync.RWMutex
	m  map[string]User
}

// NewMemoryUsers returns a store holding a copy of users, by username.
func NewMemoryUsers(users map[string]User) *MemoryUsers {
	return &MemoryUsers{m: maps.Clone(users)}
}

// Set adds or replaces the account username.
func (s *MemoryUsers) Set(username string, u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]User{}
	}
	s.m[username] = u
}

// Delete removes the account username, if present.
func (s *MemoryUsers) Delete(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, username)
}

// LookupUser implements [UserStore]: the account, with Username set to
// username, or [guard.ErrNotFound].
func (s *MemoryUsers) LookupUser(_ context.Context, username string) (User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.m[username]
	if !ok {
		return User{}, guard.ErrNotFound
	}
	if u.Username == "" {
		u.Username = username
	}
	return u, nil
}

// UpdatePasswordHash implements [PasswordHashUpdater]. An account deleted
// meanwhile is not brought back: it returns [guard.ErrNotFound].
func (s *MemoryUsers) UpdatePasswordHash(_ context.Context, username string, newHash guard.Secret) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[username]
	if !ok {
		return guard.ErrNotFound
	}
	u.PasswordHash = newHash
	s.m[username] = u
	return nil
}

// MemoryClients is a [ClientStore] in memory, for tests, examples and
// services whose clients are known at start. The zero value is an empty
// store; it is safe for concurrent use.
type MemoryClients struct {
	mu sync.RWMutex
	m  map[string]Client
}

// NewMemoryClients returns a store holding a copy of clients, by client_id.
func NewMemoryClients(clients map[string]Client) *MemoryClients {
	return &MemoryClients{m: maps.Clone(clients)}
}

// Set adds or replaces the client clientID.
func (s *MemoryClients) Set(clientID string, c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Client{}
	}
	s.m[clientID] = c
}

// Delete removes the client clientID, if present.
func (s *MemoryClients) Delete(clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, clientID)
}

// RegisterClient implements [ClientRegistry]: it adds c under clientID, or
// returns [ErrClientExists] and changes nothing when the id is taken.
func (s *MemoryClients) RegisterClient(_ context.Context, clientID string, c Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[clientID]; ok {
		return ErrClientExists
	}
	if s.m == nil {
		s.m = map[string]Client{}
	}
	s.m[clientID] = c
	return nil
}

// LookupClient implements [ClientStore]: the client, or [guard.ErrNotFound].
func (s *MemoryClients) LookupClient(_ context.Context, clientID string) (Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.m[clientID]
	if !ok {
		return Client{}, guard.ErrNotFound
	}
	return c, nil
}

// ClientRegistry is a [ClientStore] that dynamic client registration
// ([RegistrationEndpoint], RFC 7591) adds clients to. MemoryClients
// implements it for one instance, the redisstore module for several.
// Implementations must be safe for concurrent use.
type ClientRegistry interface {
	ClientStore
	// RegisterClient stores a new client under clientID in one atomic
	// step. It returns [ErrClientExists], changing nothing, when the id is
	// taken; any other error is a store failure (answered 503).
	RegisterClient(ctx context.Context, clientID string, c Client) error
}

// ErrClientExists is returned by [ClientRegistry.RegisterClient] for a
// client id that is already registered.
var ErrClientExists = errors.New("guard: client id already registered")

var (
	_ ClientRegistry      = (*MemoryClients)(nil)
	_ UserStore           = (*MemoryUsers)(nil)
	_ PasswordHashUpdater = (*MemoryUsers)(nil)
	_ ClientStore         = (*MemoryClients)(nil)
)
