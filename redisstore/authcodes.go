package redisstore

import (
	"context"
	"encoding/base64"
	"fmt"
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
			"scopes", strings.Join(c.Scopes, " "), "user", c.Username, "exp", c.ExpiresAt.UnixMilli(), "used", 0,
			"res", strings.Join(c.Resources, " "), "jkt", c.KeyThumbprint)
		p.PExpireAt(ctx, k, c.ExpiresAt)
		return nil
	})
	if err != nil {
		return wrap("auth code save", err)
	}
	return nil
}

// codeFields are read by lookupCodeScript and redeemScript, in this order.
const codeFields = `'exp', 'used', 'client', 'redirect', 'challenge', 'scopes', 'user', 'tid', 'fam', 'sealed', 'retry', 'res', 'jkt'`

// lookupCodeScript: ARGV = now. Replies {"ok", used, client, redirect,
// challenge, scopes, user, exp, tid, fam, sealed, retry, res, jkt} or {"nf"}.
var lookupCodeScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], ` + codeFields + `)
if not f[1] or tonumber(ARGV[1]) >= tonumber(f[1]) then return {'nf'} end
return {'ok', f[2], f[3], f[4], f[5], f[6], f[7], f[1], f[8] or '', f[9] or '', f[10] or '', f[11] or '0', f[12] or '', f[13] or ''}
`)

// redeemScript: ARGV = now, tid, fam, sealed, retryUntil. Replies as
// lookupCodeScript, with state "ok" (now marked used), "retry" or "used"
// first, and the code as it was.
var redeemScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], ` + codeFields + `)
local now = tonumber(ARGV[1])
if not f[1] or now >= tonumber(f[1]) then return {'nf'} end
local state = 'used'
if f[2] ~= '1' then
  state = 'ok'
  redis.call('HSET', KEYS[1], 'used', 1, 'tid', ARGV[2], 'fam', ARGV[3], 'sealed', ARGV[4], 'retry', ARGV[5])
elseif f[10] and f[10] ~= '' and now < tonumber(f[11] or '0') then
  state = 'retry'
end
return {state, f[2], f[3], f[4], f[5], f[6], f[7], f[1], f[8] or '', f[9] or '', f[10] or '', f[11] or '0', f[12] or '', f[13] or ''}
`)

// parseCode reads a lookupCodeScript or redeemScript reply.
func parseCode(op string, res []string) (authserver.AuthCode, error) {
	if len(res) != 14 {
		return authserver.AuthCode{}, fmt.Errorf("redisstore: %s: unexpected reply", op)
	}
	exp, err1 := strconv.ParseInt(res[7], 10, 64)
	retry, err2 := strconv.ParseInt(res[11], 10, 64)
	if err1 != nil || err2 != nil {
		return authserver.AuthCode{}, fmt.Errorf("redisstore: %s: malformed record", op)
	}
	c := authserver.AuthCode{Used: res[1] == "1", ClientID: res[2], RedirectURI: res[3], CodeChallenge: res[4], Scopes: fields(res[5]),
		Username: res[6], ExpiresAt: time.UnixMilli(exp), TokenID: res[8], RefreshFamily: res[9], Resources: fields(res[12]), KeyThumbprint: res[13]}
	if res[10] != "" {
		c.Sealed, c.RetryUntil = []byte(res[10]), time.UnixMilli(retry)
	}
	return c, nil
}

// LookupAuthCode implements [authserver.AuthCodeStore].
func (a *AuthCodes) LookupAuthCode(ctx context.Context, digest [32]byte) (authserver.AuthCode, error) {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	res, err := lookupCodeScript.Run(ctx, a.s.rdb, []string{a.key(digest)}, time.Now().UnixMilli()).StringSlice()
	if err != nil {
		return authserver.AuthCode{}, wrap("auth code lookup", err)
	}
	if res[0] == "nf" {
		return authserver.AuthCode{}, guard.ErrNotFound
	}
	return parseCode("auth code lookup", res)
}

// RedeemAuthCode implements [authserver.AuthCodeStore].
func (a *AuthCodes) RedeemAuthCode(ctx context.Context, digest [32]byte, r authserver.AuthRedemption) (authserver.AuthCode, []byte, error) {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	res, err := redeemScript.Run(ctx, a.s.rdb, []string{a.key(digest)}, r.Now.UnixMilli(), r.TokenID, r.RefreshFamily, r.Sealed,
		r.RetryUntil.UnixMilli()).StringSlice()
	if err != nil {
		return authserver.AuthCode{}, nil, wrap("auth code redeem", err)
	}
	if res[0] == "nf" {
		return authserver.AuthCode{}, nil, guard.ErrNotFound
	}
	c, err := parseCode("auth code redeem", res)
	if err != nil {
		return authserver.AuthCode{}, nil, err
	}
	switch res[0] {
	case "used":
		return c, nil, authserver.ErrCodeReused
	case "retry":
		return c, c.Sealed, nil
	}
	return c, nil, nil
}

// SettleAuthCode implements [authserver.AuthCodeStore]: one HDEL, which
// creates nothing for a code that is gone.
func (a *AuthCodes) SettleAuthCode(ctx context.Context, digest [32]byte) error {
	ctx, cancel := a.s.call(ctx)
	defer cancel()
	if err := a.s.rdb.HDel(ctx, a.key(digest), "sealed", "retry").Err(); err != nil {
		return wrap("auth code settle", err)
	}
	return nil
}

var _ authserver.AuthCodeStore = (*AuthCodes)(nil)
