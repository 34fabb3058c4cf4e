package redisstore

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/redis/go-redis/v9"
)

// AuthCodes is a [authserver.AuthCodeStore] on Redis: one hash per code, keyed by
// the code's digest and expiring at its ExpiresAt. Redemption is one Lua
// script, so of two instances redeeming one code at once exactly one gets it
// unused; the record stays, marked used, until it expires, so that a second
// use is seen as reuse on every instance. It is safe for concurrent use;
// each method is one round trip.
type AuthCodes struct{ s *Store }

// AuthCodes returns the authorization code store.
func (s *Store) AuthCodes() *AuthCodes { return &AuthCodes{s: s} }

// The digest is SHA-256 of a random code: used as it is.
func (a *AuthCodes) key(digest [32]byte) string {
	return a.s.prefix + "ac:" + base64.RawURLEncoding.EncodeToString(digest[:])
}

// SaveAuthCode implements [authserver.AuthCodeStore]. A code already expired is
// not stored.
func (a *AuthCodes) SaveAuthCode(ctx context.Context, digest [32]byte, c authserver.AuthCode) error {
	if !time.Now().Before(c.ExpiresAt) {
		return nil
	}
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	k := a.key(digest)
	_, err := a.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "client", c.ClientID, "redirect", c.RedirectURI, "challenge", c.CodeChallenge,
			"scopes", strings.Join(c.Scopes, " "), "user", c.Username, "exp", c.ExpiresAt.UnixMilli(), "used", 0)
		p.PExpireAt(ctx, k, c.ExpiresAt)
		return nil
	})
	if err != nil {
		return wrap("auth code save", err)
	}
	return nil
}

// redeemScript: ARGV = now. Replies {state, client, redirect, challenge,
// scopes, user, exp, tid, fam} with state "ok" or "used", or {"nf"}.
var redeemScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'used', 'client', 'redirect', 'challenge', 'scopes', 'user', 'tid', 'fam')
if not f[1] or tonumber(ARGV[1]) >= tonumber(f[1]) then return {'nf'} end
local state = 'used'
if f[2] ~= '1' then
  state = 'ok'
  redis.call('HSET', KEYS[1], 'used', 1)
end
return {state, f[3], f[4], f[5], f[6], f[7], f[1], f[8] or '', f[9] or ''}
`)

// RedeemAuthCode implements [authserver.AuthCodeStore].
func (a *AuthCodes) RedeemAuthCode(ctx context.Context, digest [32]byte) (authserver.AuthCode, error) {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	res, err := redeemScript.Run(ctx, a.s.rdb, []string{a.key(digest)}, time.Now().UnixMilli()).StringSlice()
	if err != nil {
		return authserver.AuthCode{}, wrap("auth code redeem", err)
	}
	if res[0] == "nf" {
		return authserver.AuthCode{}, guard.ErrNotFound
	}
	if len(res) != 9 {
		return authserver.AuthCode{}, errors.New("redisstore: auth code redeem: unexpected reply")
	}
	exp, err := strconv.ParseInt(res[6], 10, 64)
	if err != nil {
		return authserver.AuthCode{}, errors.New("redisstore: auth code redeem: malformed record")
	}
	c := authserver.AuthCode{ClientID: res[1], RedirectURI: res[2], CodeChallenge: res[3], Scopes: fields(res[4]),
		Username: res[5], ExpiresAt: time.UnixMilli(exp), Used: res[0] == "used", TokenID: res[7], RefreshFamily: res[8]}
	if c.Used {
		return c, authserver.ErrCodeReused
	}
	return c, nil
}

var recordIssuedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'tid', ARGV[1], 'fam', ARGV[2])
return 1
`)

// RecordIssued implements [authserver.AuthCodeStore]. A code already expired is
// left alone.
func (a *AuthCodes) RecordIssued(ctx context.Context, digest [32]byte, tokenID, refreshFamily string) error {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	if err := recordIssuedScript.Run(ctx, a.s.rdb, []string{a.key(digest)}, tokenID, refreshFamily).Err(); err != nil {
		return wrap("auth code record", err)
	}
	return nil
}

var _ authserver.AuthCodeStore = (*AuthCodes)(nil)
