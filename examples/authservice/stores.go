package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/guardkit/guard/redisstore"
	"github.com/redis/go-redis/v9"
)

// stores is the service's state: in memory for one process, or in Redis
// for several replicas that act as one issuer.
type stores struct {
	kind string             // "memory" or "redis"
	ring guard.KeyRingStore // nil: the key set lives in this process
	// configure fills the token endpoint's stores (refresh families,
	// revocations, the three login limiters).
	configure func(ctx context.Context, cfg *authserver.TokenEndpointConfig) error
	// codes keeps the authorization codes, shared by the authorization and
	// token endpoints.
	codes authserver.AuthCodeStore
	// registry keeps the clients registered at POST /register, and
	// configureRegistration fills the registration endpoint's limiter.
	registry              authserver.ClientRegistry
	configureRegistration func(cfg *authserver.RegistrationConfig) error
	// replay remembers the DPoP proofs the token endpoint accepted, so that
	// each is accepted once by any replica.
	replay guard.ReplayCache
	close  func()
}

// refreshLifetime is how long a login's refresh family lives; revocations
// of a subject are kept as long, so no family outlives a logout everywhere.
const refreshLifetime = 30 * 24 * time.Hour

func openStores(ctx context.Context, cfg config) (*stores, error) {
	if cfg.redisURL == "" {
		return memoryStores(), nil
	}
	// A URL with addr parameters names the seed nodes of a Redis Cluster:
	// redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002
	u, err := url.Parse(cfg.redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	var rdb redis.UniversalClient
	if u.Query().Has("addr") {
		rdb, err = redisstore.NewClusterClient(cfg.redisURL)
	} else {
		rdb, err = redisstore.NewClient(cfg.redisURL)
	}
	if err != nil {
		return nil, err
	}
	ping, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ping).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	st, err := redisstore.New(rdb, redisstore.Config{Prefix: cfg.redisPrefix})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return &stores{kind: "redis", ring: st.KeyRing(""), configure: st.ConfigureTokenEndpoint, codes: st.AuthCodes(),
		registry: st.Clients(), configureRegistration: st.ConfigureRegistration, replay: st.ReplayCache(), close: func() { _ = rdb.Close() }}, nil
}

func memoryStores() *stores {
	return &stores{kind: "memory", close: func() {}, codes: new(authserver.MemoryAuthCodes), registry: new(authserver.MemoryClients),
		replay:                guard.NewMemoryReplayCache(guard.DefaultReplayCacheEntries),
		configureRegistration: func(*authserver.RegistrationConfig) error { return nil }, // the endpoint's in-memory limiter
		configure: func(_ context.Context, cfg *authserver.TokenEndpointConfig) error {
			var err error
			if cfg.Refresh != nil && cfg.Refresh.Store == nil {
				if cfg.Refresh.Store, err = authserver.NewMemoryRefreshStore(authserver.MemoryRefreshStoreConfig{}); err != nil {
					return err
				}
			}
			if cfg.Revocations == nil {
				cfg.Revocations, err = guard.NewMemoryRevocations(guard.MemoryRevocationsConfig{MaxTokenLifetime: refreshLifetime})
			}
			return err // the limiters default to the endpoint's MemoryLimiters
		}}
}
