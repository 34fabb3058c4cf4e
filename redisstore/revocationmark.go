package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrRevocationsUnmarked is returned (wrapped, with the prefix) by
// [Revocations.CheckMark] when nothing under the store's prefix says that
// revocations are written there.
var ErrRevocationsUnmarked = errors.New("redisstore: no revocation marker")

// markKey is where Mark writes; it is not a revocation, and Revoked never
// reads it.
func (r *Revocations) markKey() string { return r.s.prefix + "revocations:marker" }

// Mark records, under the store's prefix, that revocations are written
// here, so that the stores of other services can check with
// [Revocations.CheckMark] that they read the same namespace. The service
// that revokes (the one running the token and revocation endpoints) calls
// it at every start, before serving; it is idempotent. The marker is one small key without a
// TTL, holding the Unix time of the last Mark for operators to read. If
// Redis loses its data, it loses the revocations and the marker together,
// and CheckMark fails until the issuer marks again. Revocations behave the
// same with or without a marker.
func (r *Revocations) Mark(ctx context.Context) error {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	if err := r.s.rdb.Set(ctx, r.markKey(), time.Now().Unix(), 0).Err(); err != nil {
		return wrap("revocation mark", err)
	}
	return nil
}

// CheckMark returns nil if [Revocations.Mark] was called under this store's
// prefix, so that the revocations the issuer writes are the ones Revoked
// reads. A service that only verifies tokens calls it at start and refuses
// to start on an error: otherwise a Config.Prefix that differs from the
// issuer's makes every revoked token look valid, silently. Without a
// marker the error wraps [ErrRevocationsUnmarked] and names the prefix;
// when Redis fails it wraps the cause instead (not ErrRevocationsUnmarked),
// and the caller may retry.
func (r *Revocations) CheckMark(ctx context.Context) error {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	err := r.s.rdb.Get(ctx, r.markKey()).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("%w under prefix %q: the issuer's store uses another Config.Prefix, or it has not called Revocations.Mark",
			ErrRevocationsUnmarked, r.s.prefix)
	case err != nil:
		return wrap("revocation mark check", err)
	}
	return nil
}
