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
	kind        string             // "memory" or "redis"
	ring        guard.KeyRingStore // nil: the key set lives in this process
	refresh     authserver.RefreshStore
	revocations guard.RevocationStore
	limiter     authserver.LoginLimiter // (account, IP) pairs
	ipLimiter   authserver.LoginLimiter
	account     authserver.LoginLimiter // accounts from new addresses
	close       func()
}

// refreshLifetime is how long a login's refresh family lives; revocations
// of a subject are kept as long, so no family outlives a logout everywhere.
const refreshLifetime = 30 * 24 * time.Hour

func openStores(ctx context.Context, cfg config) (*stores, error) {
	if cfg.redisURL == "" {
		return memoryStores(cfg)
	}
	// A URL with addr parameters names the seed nodes of a Redis Cluster:
	// redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002
	var rdb redis.UniversalClient
	u, err := url.Parse(cfg.redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if u.Query().Has("addr") {
		rdb, err = redisstore.NewClusterClient(cfg.redisURL)
	} else {
		rdb, err = redisstore.NewClient(cfg.redisURL)
	}
	if err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened {
			_ = rdb.Close()
		}
	}()
	ping, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ping).Err(); err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	st, err := redisstore.New(rdb, redisstore.Config{Prefix: cfg.redisPrefix})
	if err != nil {
		return nil, err
	}
	s := &stores{kind: "redis", ring: st.KeyRing(""), refresh: st.RefreshTokens(), close: func() { _ = rdb.Close() }}
	revocations, err := st.Revocations(redisstore.RevocationsConfig{SubjectRetention: refreshLifetime})
	if err != nil {
		return nil, err
	}
	// Services that check revocations in this Redis verify with CheckMark
	// that they read this prefix.
	if err := revocations.Mark(ping); err != nil {
		return nil, err
	}
	s.revocations = revocations
	for _, l := range []struct {
		dst       *authserver.LoginLimiter
		name      string
		threshold int
	}{{&s.limiter, "login", 5}, {&s.ipLimiter, "ip", 20}, {&s.account, "account", 50}} {
		if *l.dst, err = st.Limiter(redisstore.LimiterConfig{Name: l.name, Threshold: l.threshold}); err != nil {
			return nil, err
		}
	}
	opened = true
	return s, nil
}

func memoryStores(cfg config) (*stores, error) {
	refresh, err := authserver.NewMemoryRefreshStore(authserver.MemoryRefreshStoreConfig{})
	if err != nil {
		return nil, err
	}
	revocations, err := guard.NewMemoryRevocations(guard.MemoryRevocationsConfig{MaxTokenLifetime: refreshLifetime})
	if err != nil {
		return nil, err
	}
	return &stores{kind: "memory", refresh: refresh, revocations: revocations, close: func() {}}, nil
}
