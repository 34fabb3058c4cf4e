// Package redisstore keeps guard's shared state in Redis, so that several
// instances of a service throttle, revoke and refresh together: a
// [authserver.LoginLimiter], a [guard.APIKeyStore], a [authserver.RefreshStore], a
// [guard.RevocationStore] and a [authserver.AuthCodeStore], all over one go-redis
// client.
//
// Every key starts with the configured prefix and has a TTL, except API keys
// without an expiry, which an operator adds and deletes. Parts that come
// from requests (usernames, jtis, subjects, limiter keys) enter keys only as
// fixed-size SHA-256 digests, so no input can inject a separator or grow a key.
// Each operation is one round trip; the ones where a race matters (limiter
// reservations, refresh-token rotation, revocations, code redemption) are
// Lua scripts, atomic in Redis.
//
// Failures: every call is bounded by [Config].Timeout (and the client's own
// timeouts; see [NewClient]). An error reaches guard, which answers 503
// temporarily_unavailable with Retry-After: the stores fail closed. When
// Redis comes back, the next call succeeds; nothing needs a restart.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout bounds each call when Config.Timeout is zero.
const DefaultTimeout = 500 * time.Millisecond

// Config configures [New]. Zero fields take the defaults.
type Config struct {
	// Prefix starts every key, so that several apps or environments can share
	// one Redis. Default "guard:".
	Prefix string
	// Timeout bounds each call (a context deadline on top of the caller's).
	// Default [DefaultTimeout] (500 ms).
	Timeout time.Duration
}

// Store is the root of the Redis-backed stores. It is safe for concurrent use.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
}

// New returns a Store over rdb. rdb should have bounded timeouts and
// ContextTimeoutEnabled, as [NewClient] sets them; otherwise go-redis's
// defaults (seconds) bound a call to an unreachable Redis.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("redisstore: negative Timeout")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "guard:"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Store{rdb: rdb, prefix: cfg.Prefix, timeout: cfg.Timeout}, nil
}

// NewClient parses a redis:// or rediss:// URL and returns a client with
// timeouts fit for an authentication path: dial 500 ms, read and write 500
// ms, pool wait 1 s, one retry, and context deadlines honoured.
func NewClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	opt.PoolTimeout = time.Second
	opt.MaxRetries = 1
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt), nil
}

// call bounds one operation.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// key is prefix + kind + a digest of part: fixed size whatever part holds.
func (s *Store) key(kind string, part []byte) string {
	sum := sha256.Sum256(part)
	return s.prefix + kind + base64.RawURLEncoding.EncodeToString(sum[:16])
}

func wrap(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", op, err)
}
