package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/guardkit/guard/authserver"
	"github.com/redis/go-redis/v9"
)

// LimiterConfig configures [Store.Limiter]; the fields mean what they mean
// for [authserver.MemoryLimiterConfig]. Zero fields take the same defaults.
type LimiterConfig struct {
	// Name separates limiters with different settings in one Redis, such as
	// "pair", "ip" and "account" for the token endpoint's three. Default "login".
	Name string
	// Threshold is the number of failures allowed before throttling. Default 5.
	Threshold int
	// BaseDelay is the wait after the failure that reaches the threshold,
	// doubling with each further failure. Default 1s.
	BaseDelay time.Duration
	// MaxDelay caps the wait. Default 15m.
	MaxDelay time.Duration
	// Forget drops a key's failures after this long without an attempt (the
	// key's TTL). Default 1h, at least MaxDelay.
	Forget time.Duration
	// RememberSuccess is how long a success is reported. Default 30 days.
	RememberSuccess time.Duration
}

// Limiter is a [authserver.LoginLimiter] on Redis, shared by every instance using
// the same Redis, prefix and name: the threshold holds for the sum of their
// attempts. Reserve, Refund and Succeed are one Lua script each (one round
// trip, atomic), and time is Redis's clock, so instances with skewed clocks
// agree. Each key expires after Forget (or RememberSuccess after a success).
// It is safe for concurrent use.
type Limiter struct {
	s    *Store
	name string
	args []any // threshold, base ms, max ms, forget ms, remember ms
}

// Limiter returns a LoginLimiter named cfg.Name.
func (s *Store) Limiter(cfg LimiterConfig) (*Limiter, error) {
	if cfg.Threshold < 0 || cfg.BaseDelay < 0 || cfg.MaxDelay < 0 || cfg.Forget < 0 || cfg.RememberSuccess < 0 {
		return nil, errors.New("redisstore: negative LimiterConfig field")
	}
	if cfg.Name == "" {
		cfg.Name = "login"
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = 5
	}
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay = time.Second
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = 15 * time.Minute
	}
	if cfg.Forget == 0 {
		cfg.Forget = time.Hour
	}
	cfg.Forget = max(cfg.Forget, cfg.MaxDelay)
	if cfg.RememberSuccess == 0 {
		cfg.RememberSuccess = 30 * 24 * time.Hour
	}
	return &Limiter{s: s, name: cfg.Name, args: []any{cfg.Threshold, cfg.BaseDelay.Milliseconds(), cfg.MaxDelay.Milliseconds(),
		cfg.Forget.Milliseconds(), cfg.RememberSuccess.Milliseconds()}}, nil
}

// limiterScript keeps MemoryLimiter's record (n attempts, last and previous
// attempt, success remembered until good) in a hash. ARGV[6] is the
// operation. It answers {wait ms, succeeded}.
var limiterScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'n', 'last', 'prev', 'good')
local n, last, prev, good = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0
local threshold, base, maxd, forget, remember = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if now - last >= forget then n = 0 end
local op = ARGV[6]
if op == 'reserve' then
  local succeeded = 0
  if now < good then succeeded = 1 end
  local delay = 0
  if n >= threshold then
    delay = base
    for i = threshold + 1, n do
      if delay >= maxd then break end
      delay = delay * 2
    end
    if delay > maxd then delay = maxd end
  end
  local wait = last + delay - now
  if wait > 0 then return {wait, succeeded} end
  redis.call('HSET', KEYS[1], 'n', n + 1, 'last', now, 'prev', last)
  redis.call('PEXPIRE', KEYS[1], math.max(forget, good - now))
  return {0, succeeded}
elseif op == 'refund' then
  if h[1] and n > 0 then
    redis.call('HSET', KEYS[1], 'n', n - 1, 'last', prev)
  end
  return {0, 0}
end
redis.call('HSET', KEYS[1], 'n', 0, 'good', now + remember)
redis.call('PEXPIRE', KEYS[1], math.max(forget, remember))
return {0, 0}
`)

func (l *Limiter) run(ctx context.Context, key, op string) ([]int64, error) {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	k := l.s.key("lim:"+l.name+":", []byte(key))
	res, err := limiterScript.Run(ctx, l.s.rdb, []string{k}, append(l.args, op)...).Int64Slice()
	if err != nil {
		return nil, wrap("limiter "+op, err)
	}
	if len(res) != 2 {
		return nil, errors.New("redisstore: limiter: unexpected reply")
	}
	return res, nil
}

// Reserve implements [authserver.LoginLimiter].
func (l *Limiter) Reserve(ctx context.Context, key string) (authserver.Reservation, error) {
	res, err := l.run(ctx, key, "reserve")
	if err != nil {
		return authserver.Reservation{}, err
	}
	return authserver.Reservation{RetryAfter: time.Duration(res[0]) * time.Millisecond, Succeeded: res[1] == 1}, nil
}

// Refund implements [authserver.LoginLimiter].
func (l *Limiter) Refund(ctx context.Context, key string) error {
	_, err := l.run(ctx, key, "refund")
	return err
}

// Succeed implements [authserver.LoginLimiter].
func (l *Limiter) Succeed(ctx context.Context, key string) error {
	_, err := l.run(ctx, key, "succeed")
	return err
}

var _ authserver.LoginLimiter = (*Limiter)(nil)
