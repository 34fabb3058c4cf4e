package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/redis/go-redis/v9"
)

// RevocationsConfig configures [Store.Revocations].
type RevocationsConfig struct {
	// SubjectRetention is how long a subject revocation is kept: at least
	// the longest lifetime of a token or refresh-token family it must
	// refuse. Default [authserver.DefaultRefreshLifetime] (30 days).
	SubjectRetention time.Duration
}

// Revocations is a [guard.RevocationStore] on Redis: a jti deny-list whose
// entries expire with their tokens, and per-subject revocation instants
// kept for SubjectRetention. A check is one round trip; a revocation on
// one instance is seen by the next check on every other. It is safe for
// concurrent use.
type Revocations struct {
	s         *Store
	retention time.Duration
}

// Revocations returns the revocation store.
func (s *Store) Revocations(cfg RevocationsConfig) (*Revocations, error) {
	if cfg.SubjectRetention < 0 {
		return nil, errors.New("redisstore: negative SubjectRetention")
	}
	if cfg.SubjectRetention == 0 {
		cfg.SubjectRetention = authserver.DefaultRefreshLifetime
	}
	return &Revocations{s: s, retention: cfg.SubjectRetention}, nil
}

func (r *Revocations) jtiKey(jti string) string { return r.s.key("jti:", []byte(jti)) }
func (r *Revocations) subKey(sub string) string { return r.s.key("sub:", []byte(sub)) }

// Revoked implements [guard.RevocationChecker]. The subject's entry and the
// jti's are read in one pipeline: one round trip on one Redis; on a
// cluster, where the two keys may live on different nodes, one round trip
// to each node, concurrently.
func (r *Revocations) Revoked(ctx context.Context, c *guard.Claims) (bool, error) {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	var sub, jti *redis.StringCmd
	// Each command's own error is checked below: on a cluster, one node
	// may fail while the other answers "no such key".
	_, _ = r.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		sub = p.Get(ctx, r.subKey(c.Subject))
		if c.ID != "" {
			jti = p.Get(ctx, r.jtiKey(c.ID))
		}
		return nil
	})
	if jti != nil {
		switch err := jti.Err(); {
		case err == nil:
			return true, nil
		case !errors.Is(err, redis.Nil):
			return false, wrap("revocation check", err)
		}
	}
	s, err := sub.Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, wrap("revocation check", err)
	}
	nb, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false, errors.New("redisstore: revocation check: malformed record")
	}
	return c.IssuedAt.IsZero() || c.IssuedAt.Unix() <= nb, nil
}

// RevokeToken implements [guard.RevocationStore].
func (r *Revocations) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" || !expiresAt.After(time.Now()) {
		return nil
	}
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	if err := r.s.rdb.Set(ctx, r.jtiKey(jti), 1, time.Until(expiresAt)+time.Second).Err(); err != nil {
		return wrap("revoke token", err)
	}
	return nil
}

// revokeSubjectScript keeps the later instant and the longer TTL.
var revokeSubjectScript = redis.NewScript(`
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
local nb = math.max(old, tonumber(ARGV[1]))
local ttl = math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], nb, 'PX', ttl)
return nb
`)

// RevokeSubject implements [guard.RevocationStore].
func (r *Revocations) RevokeSubject(ctx context.Context, subject string, at time.Time) error {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	ttl := time.Until(at) + r.retention + time.Second
	if ttl < r.retention {
		ttl = r.retention
	}
	if err := revokeSubjectScript.Run(ctx, r.s.rdb, []string{r.subKey(subject)}, at.Unix(), ttl.Milliseconds()).Err(); err != nil {
		return wrap("revoke subject", err)
	}
	return nil
}

var _ guard.RevocationStore = (*Revocations)(nil)
