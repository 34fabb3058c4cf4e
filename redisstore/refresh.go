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
// holding the digests of its current and previous tokens and the access
// tokens issued on it, expiring at the earlier of the family's absolute end
// and its current token's idle deadline; and one sorted set per subject
// naming its families, for [RefreshTokens.RevokeSubjectRefreshFamilies].
// Rotation and revocation are Lua scripts, so two instances racing with the
// same token see exactly one rotation, and a token rotated on one instance
// is reuse on every other. It is safe for concurrent use; each method is
// one round trip, but CreateRefreshFamily (two: the subject's index, then
// the family) and RevokeSubjectRefreshFamilies (three).
type RefreshTokens struct{ s *Store }

// RefreshTokens returns the refresh-token store.
func (s *Store) RefreshTokens() *RefreshTokens { return &RefreshTokens{s: s} }

// The family ID is a digest the endpoint derived; it is used as it is.
func (r *RefreshTokens) key(family string) string { return r.s.prefix + "rt:" + family }

// subKey names the sorted set of a subject's families (scored by their
// absolute end).
func (r *RefreshTokens) subKey(subject string) string { return r.s.key("rtsub:", []byte(subject)) }

// encodeTokens writes access tokens as "jti/expms jti/expms"; jtis are the
// endpoint's random text, without spaces or slashes.
func encodeTokens(toks []authserver.IssuedToken) string {
	var b strings.Builder
	for _, t := range toks {
		if t.ID == "" || strings.ContainsAny(t.ID, " /") {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.ID + "/" + strconv.FormatInt(t.ExpiresAt.UnixMilli(), 10))
	}
	return b.String()
}

// liveTokens returns the tokens not expired at now.
func liveTokens(toks []authserver.IssuedToken, now time.Time) []authserver.IssuedToken {
	var out []authserver.IssuedToken
	for _, t := range toks {
		if now.Before(t.ExpiresAt) {
			out = append(out, t)
		}
	}
	return out
}

func decodeTokens(s string) []authserver.IssuedToken {
	var out []authserver.IssuedToken
	for _, f := range strings.Fields(s) {
		id, exp, ok := strings.Cut(f, "/")
		ms, err := strconv.ParseInt(exp, 10, 64)
		if ok && err == nil {
			out = append(out, authserver.IssuedToken{ID: id, ExpiresAt: time.UnixMilli(ms)})
		}
	}
	return out
}

// indexScript files a family under its subject: drops the families whose
// absolute end has passed, adds this one, and keeps the set until the
// latest end. ARGV = now, family, exp.
var indexScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
`)

// CreateRefreshFamily implements [authserver.RefreshStore]. The family is
// filed under its subject first, so that a family exists only once
// settleScript closes the grace window of the previous token ARGV[1]:
// the endpoint has the rotation's answer. ARGV = presented.
var settleScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'prev') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'grace', '0')
  redis.call('HDEL', KEYS[1], 'sealed')
end
return 1
`)

// SettleRefreshToken implements [authserver.RefreshStore]: a second use of
// presented is reuse from now on.
func (r *RefreshTokens) SettleRefreshToken(ctx context.Context, family string, presented [32]byte) error {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	if err := settleScript.Run(ctx, r.s.rdb, []string{r.key(family)}, presented[:]).Err(); err != nil {
		return wrap("refresh settle", err)
	}
	return nil
}

// RevokeSubjectRefreshFamilies can find it.
func (r *RefreshTokens) CreateRefreshFamily(ctx context.Context, fam authserver.RefreshFamily, first [32]byte, idleUntil time.Time) error {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	if err := indexScript.Run(ctx, r.s.rdb, []string{r.subKey(fam.Subject)}, fam.AuthTime.UnixMilli(), fam.ID, fam.ExpiresAt.UnixMilli()).Err(); err != nil {
		return wrap("refresh create", err)
	}
	k := r.key(fam.ID)
	_, err := r.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "client", fam.ClientID, "user", fam.Username, "sub", fam.Subject, "scopes", strings.Join(fam.Scopes, " "),
			"auth", fam.AuthTime.UnixMilli(), "exp", fam.ExpiresAt.UnixMilli(), "cur", first[:], "idle", idleUntil.UnixMilli(),
			"ats", encodeTokens(liveTokens(fam.AccessTokens, fam.AuthTime)), "res", strings.Join(fam.Resources, " "), "jkt", fam.KeyThumbprint)
		// The earlier of the absolute end and the idle deadline.
		p.PExpireAt(ctx, k, minTime(fam.ExpiresAt, idleUntil))
		return nil
	})
	if err != nil {
		return wrap("refresh create", err)
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// rotateScript: ARGV = now, client, presented, next, idleUntil, graceUntil,
// sealed, access token jti, its expiry. The key lives until the earlier of
// the absolute end and the later of the idle deadline and the grace window.
var rotateScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'client', 'cur', 'idle', 'prev', 'grace', 'sealed', 'user', 'sub', 'scopes', 'auth', 'ats', 'res', 'jkt')
if not f[1] then return {'nf'} end
local now = tonumber(ARGV[1])
if now >= tonumber(f[1]) then redis.call('DEL', KEYS[1]) return {'nf'} end
if f[2] ~= ARGV[2] then return {'client'} end
local function ats(add)
  local out = {}
  for j, e in string.gmatch(f[12] or '', '(%S+)/(%d+)') do
    if tonumber(e) > now then out[#out+1] = j .. '/' .. e end
  end
  if add and ARGV[8] ~= '' and tonumber(ARGV[9]) > now then out[#out+1] = ARGV[8] .. '/' .. ARGV[9] end
  return table.concat(out, ' ')
end
if ARGV[3] == f[3] then
  if now >= tonumber(f[4]) then redis.call('DEL', KEYS[1]) return {'nf'} end
  local list = ats(true)
  redis.call('HSET', KEYS[1], 'cur', ARGV[4], 'idle', ARGV[5], 'prev', ARGV[3], 'grace', ARGV[6], 'sealed', ARGV[7], 'ats', list)
  redis.call('PEXPIREAT', KEYS[1], math.min(tonumber(f[1]), math.max(tonumber(ARGV[5]), tonumber(ARGV[6]))))
  return {'ok', '', f[8], f[9], f[10], f[11], f[1], f[2], list, f[13] or '', f[14] or ''}
end
if f[5] and ARGV[3] == f[5] and now < tonumber(f[6]) then
  local list = ats(true)
  redis.call('HSET', KEYS[1], 'ats', list)
  return {'retry', f[7], f[8], f[9], f[10], f[11], f[1], f[2], list, f[13] or '', f[14] or ''}
end
redis.call('DEL', KEYS[1])
return {'reuse', '', f[8], f[9], f[10], f[11], f[1], f[2], ats(false), f[13] or '', f[14] or ''}
`)

// RotateRefreshToken implements [authserver.RefreshStore].
func (r *RefreshTokens) RotateRefreshToken(ctx context.Context, rot authserver.RefreshRotation) (authserver.RefreshFamily, []byte, error) {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	atID := rot.AccessToken.ID
	if strings.ContainsAny(atID, " /") {
		atID = ""
	}
	res, err := rotateScript.Run(ctx, r.s.rdb, []string{r.key(rot.Family)}, rot.Now.UnixMilli(), rot.ClientID, rot.Presented[:], rot.Next[:],
		rot.IdleUntil.UnixMilli(), rot.GraceUntil.UnixMilli(), rot.Sealed, atID, rot.AccessToken.ExpiresAt.UnixMilli()).StringSlice()
	if err != nil {
		return authserver.RefreshFamily{}, nil, wrap("refresh rotate", err)
	}
	switch res[0] {
	case "nf":
		return authserver.RefreshFamily{}, nil, guard.ErrNotFound
	case "client":
		return authserver.RefreshFamily{}, nil, guard.ErrUnauthorizedClient
	}
	if len(res) != 11 {
		return authserver.RefreshFamily{}, nil, errors.New("redisstore: refresh rotate: unexpected reply")
	}
	auth, err1 := strconv.ParseInt(res[5], 10, 64)
	exp, err2 := strconv.ParseInt(res[6], 10, 64)
	if err1 != nil || err2 != nil {
		return authserver.RefreshFamily{}, nil, errors.New("redisstore: refresh rotate: malformed record")
	}
	fam := authserver.RefreshFamily{ID: rot.Family, Username: res[2], Subject: res[3], Scopes: fields(res[4]),
		AuthTime: time.UnixMilli(auth), ExpiresAt: time.UnixMilli(exp), ClientID: res[7], AccessTokens: decodeTokens(res[8]),
		Resources: fields(res[9]), KeyThumbprint: res[10]}
	switch res[0] {
	case "reuse":
		return fam, nil, authserver.ErrRefreshTokenReused
	case "retry":
		return fam, []byte(res[1]), nil
	}
	return fam, nil, nil
}

// lookupScript reads a family for introspection and changes nothing: a
// lookup is never a use. ARGV = now, presented.
var lookupScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'client', 'cur', 'idle', 'user', 'sub', 'scopes', 'auth', 'res', 'jkt')
if not f[1] then return {'nf'} end
local now = tonumber(ARGV[1])
if now >= tonumber(f[1]) or now >= tonumber(f[4]) or f[3] ~= ARGV[2] then return {'nf'} end
return {'ok', f[5], f[6], f[7], f[8], f[1], f[2], f[4], f[9] or '', f[10] or ''}
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
	if len(res) != 10 || res[0] != "ok" {
		return authserver.RefreshFamily{}, time.Time{}, errors.New("redisstore: refresh lookup: unexpected reply")
	}
	auth, err1 := strconv.ParseInt(res[4], 10, 64)
	exp, err2 := strconv.ParseInt(res[5], 10, 64)
	idle, err3 := strconv.ParseInt(res[7], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return authserver.RefreshFamily{}, time.Time{}, errors.New("redisstore: refresh lookup: malformed record")
	}
	fam := authserver.RefreshFamily{ID: family, Username: res[1], Subject: res[2], Scopes: fields(res[3]),
		AuthTime: time.UnixMilli(auth), ExpiresAt: time.UnixMilli(exp), ClientID: res[6], Resources: fields(res[8]), KeyThumbprint: res[9]}
	return fam, time.UnixMilli(idle), nil
}

var revokeFamilyScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'client', 'ats')
if not f[1] then return {'nf'} end
if f[1] ~= '' and f[1] ~= ARGV[1] then return {'client'} end
redis.call('DEL', KEYS[1])
return {'ok', f[2] or ''}
`)

// RevokeRefreshFamily implements [authserver.RefreshStore]. The family it
// returns carries its ID and AccessTokens.
func (r *RefreshTokens) RevokeRefreshFamily(ctx context.Context, family, clientID string) (authserver.RefreshFamily, error) {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	res, err := revokeFamilyScript.Run(ctx, r.s.rdb, []string{r.key(family)}, clientID).StringSlice()
	switch {
	case err != nil:
		return authserver.RefreshFamily{}, wrap("refresh revoke", err)
	case res[0] == "nf":
		return authserver.RefreshFamily{}, guard.ErrNotFound
	case res[0] == "client":
		return authserver.RefreshFamily{}, guard.ErrUnauthorizedClient
	case len(res) != 2:
		return authserver.RefreshFamily{}, errors.New("redisstore: refresh revoke: unexpected reply")
	}
	return authserver.RefreshFamily{ID: family, ClientID: clientID, AccessTokens: decodeTokens(res[1])}, nil
}

// RevokeSubjectRefreshFamilies implements [authserver.RefreshStore]: it
// reads the subject's index, deletes its families (on a cluster, each on
// its node) and takes them out of the index.
func (r *RefreshTokens) RevokeSubjectRefreshFamilies(ctx context.Context, subject string) (int, error) {
	ctx, cancel := r.s.call(ctx)
	defer cancel()
	sk := r.subKey(subject)
	ids, err := r.s.rdb.ZRange(ctx, sk, 0, -1).Result()
	if err != nil {
		return 0, wrap("refresh revoke subject", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	dels := make([]*redis.IntCmd, len(ids))
	_, _ = r.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			dels[i] = p.Del(ctx, r.key(id))
		}
		return nil
	})
	n := 0
	for _, d := range dels {
		v, err := d.Result()
		if err != nil {
			return 0, wrap("refresh revoke subject", err)
		}
		n += int(v)
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	if err := r.s.rdb.ZRem(ctx, sk, members...).Err(); err != nil {
		return 0, wrap("refresh revoke subject", err)
	}
	return n, nil
}

var _ authserver.RefreshStore = (*RefreshTokens)(nil)
