package redisstore

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/guardkit/guard"
	"github.com/redis/go-redis/v9"
)

// DefaultRevokedRetention is how long a revoked API key's record is kept, so
// that logs can tell it from an unknown key, when APIKeysConfig leaves it zero.
const DefaultRevokedRetention = 30 * 24 * time.Hour

// APIKeys is a [guard.APIKeyStore] on Redis, indexed by the keys' SHA-256
// digests (the store never sees a key). A record expires at its ExpiresAt; a
// key without one is kept until Delete, as an operator's record. A revoked
// record is kept for DefaultRevokedRetention. It is safe for concurrent use;
// a lookup is one round trip.
type APIKeys struct{ s *Store }

// APIKeys returns the API-key store.
func (s *Store) APIKeys() *APIKeys { return &APIKeys{s: s} }

func (a *APIKeys) key(digest [32]byte) string {
	return a.s.prefix + "apikey:" + hex.EncodeToString(digest[:])
}

// Add stores rec under digest (see [guard.APIKeyDigest]), replacing any
// record with the same digest, in one transaction.
func (a *APIKeys) Add(ctx context.Context, digest [32]byte, rec guard.APIKeyRecord) error {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	k := a.key(digest)
	_, err := a.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "sub", rec.Subject, "roles", strings.Join(rec.Roles, " "), "scopes", strings.Join(rec.Scopes, " "),
			"exp", unixMilli(rec.ExpiresAt), "revoked", boolInt(rec.Revoked))
		switch {
		case rec.Revoked:
			p.PExpire(ctx, k, DefaultRevokedRetention)
		case !rec.ExpiresAt.IsZero():
			p.PExpireAt(ctx, k, rec.ExpiresAt)
		}
		return nil
	})
	if err != nil {
		return wrap("api key add", err)
	}
	return nil
}

var revokeKeyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'revoked', 1)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or ttl > tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`)

// Revoke marks the key revoked on every instance at once. It reports whether
// the key was known.
func (a *APIKeys) Revoke(ctx context.Context, digest [32]byte) (bool, error) {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	n, err := revokeKeyScript.Run(ctx, a.s.rdb, []string{a.key(digest)}, DefaultRevokedRetention.Milliseconds()).Int()
	if err != nil {
		return false, wrap("api key revoke", err)
	}
	return n == 1, nil
}

// Delete forgets the key. It reports whether the key was known.
func (a *APIKeys) Delete(ctx context.Context, digest [32]byte) (bool, error) {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	n, err := a.s.rdb.Del(ctx, a.key(digest)).Result()
	if err != nil {
		return false, wrap("api key delete", err)
	}
	return n == 1, nil
}

// LookupAPIKey implements [guard.APIKeyStore]: [guard.ErrNotFound] for an
// unknown digest, any other error when Redis fails.
func (a *APIKeys) LookupAPIKey(ctx context.Context, digest [32]byte) (guard.APIKeyRecord, error) {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	h, err := a.s.rdb.HGetAll(ctx, a.key(digest)).Result()
	if err != nil {
		return guard.APIKeyRecord{}, wrap("api key lookup", err)
	}
	if len(h) == 0 {
		return guard.APIKeyRecord{}, guard.ErrNotFound
	}
	exp, err := strconv.ParseInt(h["exp"], 10, 64)
	if err != nil {
		return guard.APIKeyRecord{}, errors.New("redisstore: api key lookup: malformed record")
	}
	rec := guard.APIKeyRecord{Subject: h["sub"], Roles: fields(h["roles"]), Scopes: fields(h["scopes"]), Revoked: h["revoked"] == "1"}
	if exp != 0 {
		rec.ExpiresAt = time.UnixMilli(exp)
	}
	return rec, nil
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fields(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

var _ guard.APIKeyStore = (*APIKeys)(nil)
