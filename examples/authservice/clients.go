package main

import (
	"context"

	"github.com/guardkit/guard/authserver"
)

// clientDirectory is the service's clients: the fixed ones of this example
// (demo-app, demo-client, resource-api), configured in every process, and
// the ones that registered at POST /register, kept in the registry (in
// memory, or in Redis and shared by the replicas).
type clientDirectory struct {
	fixed    map[string]authserver.Client
	registry authserver.ClientRegistry
}

// LookupClient implements authserver.ClientStore: a fixed client, else a
// registered one (guard.ErrNotFound from the registry when neither).
func (d *clientDirectory) LookupClient(ctx context.Context, clientID string) (authserver.Client, error) {
	if c, ok := d.fixed[clientID]; ok {
		return c, nil
	}
	return d.registry.LookupClient(ctx, clientID)
}

// RegisterClient implements authserver.ClientRegistry; the fixed ids are
// taken.
func (d *clientDirectory) RegisterClient(ctx context.Context, clientID string, c authserver.Client) error {
	if _, ok := d.fixed[clientID]; ok {
		return authserver.ErrClientExists
	}
	return d.registry.RegisterClient(ctx, clientID, c)
}

var _ authserver.ClientRegistry = (*clientDirectory)(nil)
