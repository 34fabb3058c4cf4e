// Package redisstore keeps guard's shared state in Redis, so that several
// instances of a service throttle, revoke and refresh together: a
// [authserver.LoginLimiter], a [guard.APIKeyStore], a [authserver.RefreshStore], a
// [guard.RevocationStore], a [authserver.AuthCodeStore], a
// [guard.KeyRingStore] and a [guard.ReplayCache] for DPoP proofs, all over
// one go-redis client.
//
// Every key starts with the configured prefix and has a TTL, except API keys
// without an expiry, which an operator adds and deletes, the key ring, and
// the revocation marker (see [Revocations.Mark]). Parts that come from
// requests (usernames, jtis, subjects, limiter keys) enter keys only as
// fixed-size SHA-256 digests, so no input can inject a separator or grow a
// key. Each operation is one round trip; the ones where a race matters
// (limiter reservations, refresh-token rotation, revocations, code
// redemption, key-ring swaps) are Lua scripts, atomic in Redis.
//
// # Deployments: standalone, Cluster, Sentinel, Ring, Valkey
//
// [New] takes a [redis.UniversalClient], so the stores run unchanged on:
//
//   - one Redis: [NewClient] (redis:// or rediss:// URL);
//   - Redis Cluster: [NewClusterClient] (a URL listing the seed nodes). Every
//     Lua script and MULTI touches exactly one key, so no operation crosses
//     hash slots, and keys spread over the cluster by their digests. A
//     Config.Prefix holding a hash tag, such as "{app}:", puts every key in
//     one slot, on one node: it works, and gives up the spread;
//   - Redis Sentinel: [NewFailoverClient] (a URL naming the Sentinels and
//     the master), or [redis.NewFailoverClient] with the timeouts NewClient
//     sets. The stores use the master, never a replica: they read their
//     own writes;
//   - a go-redis [redis.Ring] of shards works for the same reason, but
//     fails open: when a shard stops answering its heartbeat, the ring
//     sends its keys to the other shards, which do not hold them, so the
//     revocations and used codes stored there are not seen until it
//     returns. Prefer Cluster or Sentinel;
//   - Valkey, a fork of Redis 7.2 that speaks the same protocol and runs
//     the same Lua: use it through any of the clients above.
//
// The tests run every store on a standalone redis-server, on a
// three-master Redis Cluster, through a Sentinel and on a Ring of two.
//
// # Services sharing revocations
//
// A service that only verifies tokens reads the revocations that the
// issuing service writes, on the same Redis and under the same
// Config.Prefix. A different prefix would make every revoked token look
// valid, without an error. So the issuer calls [Revocations.Mark] at start,
// and the verifier calls [Revocations.CheckMark] at start and refuses to
// run on [ErrRevocationsUnmarked], whose message names its prefix.
//
// Failures: every call is bounded by [Config].Timeout (and the client's own
// timeouts; see [NewClient]). An error reaches guard, which answers 503
// temporarily_unavailable with Retry-After: the stores fail closed. When
// Redis comes back, calls succeed again within about a second (after many
// failed dials, go-redis probes an address once a second before dialing
// it again); nothing needs a restart.
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

// NewClusterClient parses a Redis Cluster URL, a node and further seed
// nodes as addr parameters:
//
//	redis://user:password@10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379
//
// (rediss:// for TLS; see [redis.ParseClusterURL]), and returns a cluster
// client with [NewClient]'s timeouts: dial 500 ms, read and write 500 ms,
// pool wait 1 s, one retry, and context deadlines honoured. MOVED and ASK
// redirections are followed as go-redis does (at most 3 by default),
// within the call's [Config].Timeout. When no node answers, a call takes
// the whole Config.Timeout (the client retries and reloads the slot map
// within it), where a refused connection to one Redis fails at once.
func NewClusterClient(url string) (*redis.ClusterClient, error) {
	opt, err := redis.ParseClusterURL(url)
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
	return redis.NewClusterClient(opt), nil
}

// NewFailoverClient parses a Redis Sentinel URL: a Sentinel, further
// Sentinels as addr parameters, and the master's name; user and password
// in the URL authenticate to the Sentinels, the password parameter to the
// master (see [redis.ParseFailoverURL]):
//
//	redis://10.0.0.1:26379/0?master_name=guard&addr=10.0.0.2:26379&addr=10.0.0.3:26379
//
// It returns a client of the master that
// the Sentinels name, following failovers, with [NewClient]'s timeouts:
// dial 500 ms, read and write 500 ms, pool wait 1 s, one retry, and
// context deadlines honoured. It never reads from replicas: the stores
// read their own writes.
func NewFailoverClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseFailoverURL(url)
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
	opt.ReplicaOnly, opt.RouteByLatency, opt.RouteRandomly = false, false, false
	return redis.NewFailoverClient(opt), nil
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
