package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/guardkit/guard"
	"github.com/redis/go-redis/v9"
)

// ReplayCache is a [guard.ReplayCache] on Redis: the DPoP proofs (RFC
// 9449 §11.1) seen by any replica, so a proof accepted by one is refused by
// all. Each Remember is one round trip, one command: SET key NX PXAT
// until, atomic in Redis, so two replicas that receive the same proof at
// once accept it exactly once. A key is the prefix, "dpop:" and a digest of
// guard's key (the proof key's thumbprint and the jti), and expires at
// until by Redis's clock. It is safe for concurrent use.
type ReplayCache struct {
	s *Store
}

// ReplayCache returns the DPoP replay cache, for [guard.DPoPConfig].Replay.
func (s *Store) ReplayCache() guard.ReplayCache { return &ReplayCache{s: s} }

// Remember implements [guard.ReplayCache]. An error (Redis down, slow or
// paused past [Config].Timeout) makes guard answer 503; it never reports a
// proof as new that it could not record.
func (c *ReplayCache) Remember(ctx context.Context, key string, until time.Time) (bool, error) {
	ctx, cancel := c.s.call(ctx)
	defer cancel()
	err := c.s.rdb.Do(ctx, "SET", c.s.key("dpop:", []byte(key)), "1", "NX", "PXAT", until.UnixMilli()).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	}
	return false, wrap("DPoP replay cache", err)
}
