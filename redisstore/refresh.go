package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/redis/go-redis/v9"
)

// RefreshTokens is a [authserver.RefreshStore] on Redis: one hash per family
// holding the digests of its current and previous tokens, expiring at the
// family's absolute end. Rotation and revocation are Lua scripts, so two
// instances racing with the same token see exactly one rotation, and a
// token rotated on one instance is reuse on every other. It is safe for
// concurrent use; each method is one round trip.
type RefreshTokens struct{ s *Store }

// RefreshTokens returns the refresh-token store.
func (s *Store) RefreshTokens() *RefreshTokens { return &RefreshTokens{s: s} }

// The family ID is a digest the endpoint derived; it is used as it is.
func (r *RefreshTokens) key(family string) string { return r.s.prefix + "rt:" + family }

// CreateRefreshFamily implements [authserver.RefreshStore].
func (r *RefreshTokens) CreateRefreshFamily(ctx context.Context, fam authserver.RefreshFamily, first [32]byte, idleUntil time.Time) error {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	k := r.key(fam.ID)
	_, err := r.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "client", fam.ClientID, "user", fam.Username, "sub", fam.Subject, "scopes", strings.Join(fam.Scopes, " "),
			"auth", fam.AuthTime.UnixMilli(), "exp", fam.ExpiresAt.UnixMilli(), "cur", first[:], "idle", idleUntil.UnixMilli())
		p.PExpireAt(ctx, k, fam.ExpiresAt)
		return nil
	})
	if err != nil {
		return wrap("refresh create", err)
	}
	return nil
}

// rotateScript: ARGV = now, client, presented, next, idleUntil, graceUntil, sealed.
var rotateScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'client', 'cur', 'idle', 'prev', 'grace', 'sealed', 'user', 'sub', 'scopes', 'auth')
if not f[1] then return {'nf'} end
local now = tonumber(ARGV[1])
if now >= tonumber(f[1]) then redis.call('DEL', KEYS[1]) return {'nf'} end
if f[2] ~= ARGV[2] then return {'client'} end
local fam = {f[8], f[9], f[10], f[11], f[1], f[2]}
if ARGV[3] == f[3] then
  if now >= tonumber(f[4]) then redis.call('DEL', KEYS[1]) return {'nf'} end
  redis.call('HSET', KEYS[1], 'cur', ARGV[4], 'idle', ARGV[5], 'prev', ARGV[3], 'grace', ARGV[6], 'sealed', ARGV[7])
  return {'ok', '', unpack(fam)}
end
if f[5] and ARGV[3] == f[5] and now < tonumber(f[6]) then
  return {'retry', f[7], unpack(fam)}
end
redis.call('DEL', KEYS[1])
return {'reuse'}
`)

// RotateRefreshToken implements [authserver.RefreshStore].
func (r *RefreshTokens) RotateRefreshToken(ctx context.Context, rot authserver.RefreshRotation) (authserver.RefreshFamily, []byte, error) {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	res, err := rotateScript.Run(ctx, r.s.rdb, []string{r.key(rot.Family)}, rot.Now.UnixMilli(), rot.ClientID, rot.Presented[:], rot.Next[:],
		rot.IdleUntil.UnixMilli(), rot.GraceUntil.UnixMilli(), rot.Sealed).StringSlice()
	if err != nil {
		return authserver.RefreshFamily{}, nil, wrap("refresh rotate", err)
	}
	switch res[0] {
	case "nf":
		return authserver.RefreshFamily{}, nil, guard.ErrNotFound
	case "client":
		return authserver.RefreshFamily{}, nil, guard.ErrUnauthorizedClient
	case "reuse":
		return authserver.RefreshFamily{}, nil, authserver.ErrRefreshTokenReused
	}
	if len(res) != 8 {
		return authserver.RefreshFamily{}, nil, errors.New("redisstore: refresh rotate: unexpected reply")
	}
	auth, err1 := strconv.ParseInt(res[5], 10, 64)
	exp, err2 := strconv.ParseInt(res[6], 10, 64)
	if err1 != nil || err2 != nil {
		return authserver.RefreshFamily{}, nil, errors.New("redisstore: refresh rotate: malformed record")
	}
	fam := authserver.RefreshFamily{ID: rot.Family, Username: res[2], Subject: res[3], Scopes: fields(res[4]),
		AuthTime: time.UnixMilli(auth), ExpiresAt: time.UnixMilli(exp), ClientID: res[7]}
	var sealed []byte
	if res[0] == "retry" {
		sealed = []byte(res[1])
	}
	return fam, sealed, nil
}

// lookupScript reads a family for introspection and changes nothing: a
// lookup is never a use. ARGV = now, presented.
var lookupScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'client', 'cur', 'idle', 'user', 'sub', 'scopes', 'auth')
if not f[1] then return {'nf'} end
local now = tonumber(ARGV[1])
if now >= tonumber(f[1]) or now >= tonumber(f[4]) or f[3] ~= ARGV[2] then return {'nf'} end
return {'ok', f[5], f[6], f[7], f[8], f[1], f[2], f[4]}
`)

// LookupRefreshToken implements [authserver.RefreshStore]: the family whose
// current token has the digest presented, or [guard.ErrNotFound] for no
// family, an expired or idle one, or a token that is not current. It reads
// only; rotation and reuse detection are untouched.
func (r *RefreshTokens) LookupRefreshToken(ctx context.Context, family string, presented [32]byte, now time.Time) (authserver.RefreshFamily, time.Time, error) {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	res, err := lookupScript.Run(ctx, r.s.rdb, []string{r.key(family)}, now.UnixMilli(), presented[:]).StringSlice()
	if err != nil {
		return authserver.RefreshFamily{}, time.Time{}, wrap("refresh lookup", err)
	}
	if len(res) == 1 && res[0] == "nf" {
		return authserver.RefreshFamily{}, time.Time{}, guard.ErrNotFound
	}
	if len(res) != 8 || res[0] != "ok" {
		return authserver.RefreshFamily{}, time.Time{}, errors.New("redisstore: refresh lookup: unexpected reply")
	}
	auth, err1 := strconv.ParseInt(res[4], 10, 64)
	exp, err2 := strconv.ParseInt(res[5], 10, 64)
	idle, err3 := strconv.ParseInt(res[7], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return authserver.RefreshFamily{}, time.Time{}, errors.New("redisstore: refresh lookup: malformed record")
	}
	fam := authserver.RefreshFamily{ID: family, Username: res[1], Subject: res[2], Scopes: fields(res[3]),
		AuthTime: time.UnixMilli(auth), ExpiresAt: time.UnixMilli(exp), ClientID: res[6]}
	return fam, time.UnixMilli(idle), nil
}

var revokeFamilyScript = redis.NewScript(`
local c = redis.call('HGET', KEYS[1], 'client')
if not c then return 0 end
if c ~= '' and c ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1
`)

// RevokeRefreshFamily implements [authserver.RefreshStore].
func (r *RefreshTokens) RevokeRefreshFamily(ctx context.Context, family, clientID string) error {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	n, err := revokeFamilyScript.Run(ctx, r.s.rdb, []string{r.key(family)}, clientID).Int()
	switch {
	case err != nil:
		return wrap("refresh revoke", err)
	case n == 0:
		return guard.ErrNotFound
	case n < 0:
		return guard.ErrUnauthorizedClient
	}
	return nil
}

var _ authserver.RefreshStore = (*RefreshTokens)(nil)
