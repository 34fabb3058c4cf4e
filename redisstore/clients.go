package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/redis/go-redis/v9"
)

// Clients is an [authserver.ClientRegistry] on Redis: the registered clients
// of dynamic client registration ([authserver.RegistrationEndpoint]) and any
// an operator adds, shared by every instance. One string per client, keyed
// by a digest of its client_id, holds its record as JSON (the secret only as
// the hash the endpoint made). Records have no TTL: a client is kept until
// [Clients.DeleteClient], as an operator's record. It is safe for concurrent
// use; each method is one round trip.
type Clients struct{ s *Store }

// Clients returns the client registry.
func (s *Store) Clients() *Clients { return &Clients{s: s} }

func (c *Clients) key(clientID string) string { return c.s.key("client:", []byte(clientID)) }

// clientRecord is a Client as stored; V is the format's version.
type clientRecord struct {
	V            int      `json:"v"`
	SecretHash   string   `json:"secret,omitempty"`
	Public       bool     `json:"public,omitempty"`
	Grants       []string `json:"grants,omitempty"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Resources    []string `json:"resources,omitempty"`
	Name         string   `json:"name,omitempty"`
	Disabled     bool     `json:"disabled,omitempty"`
}

func encodeClient(c authserver.Client) ([]byte, error) {
	return json.Marshal(clientRecord{V: 1, SecretHash: string(c.SecretHash), Public: c.Public, Grants: c.Grants, RedirectURIs: c.RedirectURIs,
		Roles: c.Roles, Scopes: c.Scopes, Resources: c.Resources, Name: c.Name, Disabled: c.Disabled})
}

// RegisterClient implements [authserver.ClientRegistry]: SET NX, so of two
// registrations of one id exactly one wins; the other gets
// [authserver.ErrClientExists].
func (c *Clients) RegisterClient(ctx context.Context, clientID string, cl authserver.Client) error {
	b, err := encodeClient(cl)
	if err != nil {
		return fmt.Errorf("redisstore: client register: %w", err)
	}
	ctx, cancel := c.s.call(ctx)
	defer cancel()
	ok, err := c.s.rdb.SetNX(ctx, c.key(clientID), b, 0).Result()
	if err != nil {
		return wrap("client register", err)
	}
	if !ok {
		return authserver.ErrClientExists
	}
	return nil
}

// SetClient adds or replaces the client clientID: an operator's change,
// such as disabling a client.
func (c *Clients) SetClient(ctx context.Context, clientID string, cl authserver.Client) error {
	b, err := encodeClient(cl)
	if err != nil {
		return fmt.Errorf("redisstore: client set: %w", err)
	}
	ctx, cancel := c.s.call(ctx)
	defer cancel()
	if err := c.s.rdb.Set(ctx, c.key(clientID), b, 0).Err(); err != nil {
		return wrap("client set", err)
	}
	return nil
}

// DeleteClient forgets the client. It reports whether the client was known.
func (c *Clients) DeleteClient(ctx context.Context, clientID string) (bool, error) {
	ctx, cancel := c.s.call(ctx)
	defer cancel()
	n, err := c.s.rdb.Del(ctx, c.key(clientID)).Result()
	if err != nil {
		return false, wrap("client delete", err)
	}
	return n == 1, nil
}

// LookupClient implements [authserver.ClientStore]: [guard.ErrNotFound] for
// an unknown client, any other error when Redis fails or the record does
// not read.
func (c *Clients) LookupClient(ctx context.Context, clientID string) (authserver.Client, error) {
	ctx, cancel := c.s.call(ctx)
	defer cancel()
	b, err := c.s.rdb.Get(ctx, c.key(clientID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return authserver.Client{}, guard.ErrNotFound
	}
	if err != nil {
		return authserver.Client{}, wrap("client lookup", err)
	}
	var r clientRecord
	if err := json.Unmarshal(b, &r); err != nil || r.V != 1 {
		return authserver.Client{}, errors.New("redisstore: client lookup: malformed record")
	}
	return authserver.Client{SecretHash: guard.Secret(r.SecretHash), Public: r.Public, Grants: r.Grants, RedirectURIs: r.RedirectURIs,
		Roles: r.Roles, Scopes: r.Scopes, Resources: r.Resources, Name: r.Name, Disabled: r.Disabled}, nil
}

var _ authserver.ClientRegistry = (*Clients)(nil)
