package authserver

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LoginLimiter counts login attempts per key and says how long a key must
// wait. The token endpoint reserves an attempt before any password hashing
// (check and count in one atomic step, so concurrent guesses cannot overshoot
// the threshold), refunds it when the attempt did not fail, and calls Succeed
// after a successful login. Keys reach a limiter as short fixed-size digests
// (see [TokenEndpointConfig.Limiter]). Implementations must be safe for
// concurrent use; a shared store (Redis, SQL) lets several instances throttle
// together.
type LoginLimiter interface {
	// Reserve counts one attempt for key unless key must wait. It returns a
	// zero RetryAfter when the attempt was counted and may go ahead, or the
	// remaining wait (and counts nothing). The check and the count are one
	// atomic step.
	Reserve(ctx context.Context, key string) (Reservation, error)
	// Refund takes back one attempt counted by Reserve: the attempt did not
	// fail (it succeeded, or it was never evaluated).
	Refund(ctx context.Context, key string) error
	// Succeed forgets key's failures and remembers that key succeeded, which
	// the next Reserve reports in [Reservation.Succeeded].
	Succeed(ctx context.Context, key string) error
}

// Reservation is the answer of [LoginLimiter.Reserve].
type Reservation struct {
	// RetryAfter is how long the key must still wait; zero means the attempt
	// was counted and may go ahead.
	RetryAfter time.Duration
	// Succeeded reports that Succeed was called for the key within the
	// limiter's memory of successes.
	Succeeded bool
}

// MemoryLimiterConfig configures [NewMemoryLimiter]. Zero fields take the defaults.
type MemoryLimiterConfig struct {
	// Threshold is the number of failures allowed before throttling. Default 5.
	Threshold int
	// BaseDelay is the wait after the failure that reaches the threshold; each
	// further failure doubles it. Default 1s.
	BaseDelay time.Duration
	// MaxDelay caps the wait: a key is never locked for longer than this after
	// its last failure. Default 15m.
	MaxDelay time.Duration
	// Forget drops a key's failures after this long without an attempt; at
	// least MaxDelay. Default 1h, or MaxDelay if that is longer.
	Forget time.Duration
	// RememberSuccess is how long a success recorded by Succeed is reported by
	// Reserve. Default 30 days.
	RememberSuccess time.Duration
	// MaxKeys bounds memory: when full, expired records are pruned, then
	// records below the threshold that hold no success, then arbitrary ones.
	// Each record is a fixed-size digest of its key, whatever the key's length.
	// Default 100 000.
	MaxKeys int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// MemoryLimiter is the in-memory [LoginLimiter]: exponential backoff per key
// after Threshold failures, capped at MaxDelay. It is safe for concurrent use.
// Create it with [NewMemoryLimiter]; the zero value refuses every attempt with
// an error.
type MemoryLimiter struct {
	cfg MemoryLimiterConfig
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*attempts
}

type attempts struct {
	n         int       // attempts counted and not refunded
	last      time.Time // the last counted attempt: waits run from it
	prev      time.Time // last before that attempt, restored by a refund
	goodUntil time.Time // Succeed was called; reported until then
}

var errLimiterZero = errors.New("guard: MemoryLimiter used without NewMemoryLimiter")

// NewMemoryLimiter validates cfg and returns a MemoryLimiter. Zero fields
// take the defaults; negative ones, a MaxDelay below BaseDelay and a Forget
// set below MaxDelay (a capped key would be forgotten before it may retry)
// are errors, reported together.
func NewMemoryLimiter(cfg MemoryLimiterConfig) (*MemoryLimiter, error) {
	var errs []error
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"Threshold", cfg.Threshold < 0}, {"BaseDelay", cfg.BaseDelay < 0}, {"MaxDelay", cfg.MaxDelay < 0},
		{"Forget", cfg.Forget < 0}, {"RememberSuccess", cfg.RememberSuccess < 0}, {"MaxKeys", cfg.MaxKeys < 0},
	} {
		if f.neg {
			errs = append(errs, fmt.Errorf("guard: MemoryLimiterConfig.%s is negative", f.name))
		}
	}
	cfg.Threshold = cmp.Or(cfg.Threshold, 5)
	cfg.BaseDelay = cmp.Or(cfg.BaseDelay, time.Second)
	cfg.MaxDelay = cmp.Or(cfg.MaxDelay, 15*time.Minute)
	cfg.RememberSuccess = cmp.Or(cfg.RememberSuccess, 30*24*time.Hour)
	cfg.MaxKeys = cmp.Or(cfg.MaxKeys, 100_000)
	if cfg.MaxDelay < cfg.BaseDelay {
		errs = append(errs, fmt.Errorf("guard: MemoryLimiterConfig.MaxDelay %v is below BaseDelay %v", cfg.MaxDelay, cfg.BaseDelay))
	}
	if cfg.Forget == 0 {
		cfg.Forget = max(time.Hour, cfg.MaxDelay)
	} else if cfg.Forget < cfg.MaxDelay {
		errs = append(errs, fmt.Errorf("guard: MemoryLimiterConfig.Forget %v is below MaxDelay %v: a throttled key would be forgotten before it may retry", cfg.Forget, cfg.MaxDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryLimiter{cfg: cfg, m: map[[sha256.Size]byte]*attempts{}}, nil
}

// MustNewMemoryLimiter is [NewMemoryLimiter] for wiring in main and tests: it
// panics on a config error.
func MustNewMemoryLimiter(cfg MemoryLimiterConfig) *MemoryLimiter {
	x, err := NewMemoryLimiter(cfg)
	if err != nil {
		panic(err)
	}
	return x
}

func (l *MemoryLimiter) delay(n int) time.Duration {
	if n < l.cfg.Threshold {
		return 0
	}
	d := l.cfg.BaseDelay
	for i := l.cfg.Threshold; i < n && d < l.cfg.MaxDelay; i++ {
		if d > l.cfg.MaxDelay/2 { // doubling would pass the cap, or overflow
			return l.cfg.MaxDelay
		}
		d *= 2
	}
	return min(d, l.cfg.MaxDelay)
}

// expired reports whether a record holds nothing worth keeping at now.
func (l *MemoryLimiter) expired(a *attempts, now time.Time) bool {
	return now.Sub(a.last) >= l.cfg.Forget && !now.Before(a.goodUntil)
}

// record returns key's live record, creating it when create is set (nil otherwise).
func (l *MemoryLimiter) record(key string, now time.Time, create bool) *attempts {
	sum := sha256.Sum256([]byte(key))
	a := l.m[sum]
	if a != nil && l.expired(a, now) {
		delete(l.m, sum)
		a = nil
	}
	if a == nil && create {
		if len(l.m) >= l.cfg.MaxKeys {
			l.prune(now)
		}
		a = &attempts{}
		l.m[sum] = a
	}
	if a != nil && now.Sub(a.last) >= l.cfg.Forget {
		a.n = 0 // failures forgotten, success still remembered
	}
	return a
}

// Reserve implements [LoginLimiter].
func (l *MemoryLimiter) Reserve(_ context.Context, key string) (Reservation, error) {
	if l.m == nil {
		return Reservation{}, errLimiterZero
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.record(key, now, true)
	res := Reservation{Succeeded: now.Before(a.goodUntil)}
	if wait := a.last.Add(l.delay(a.n)).Sub(now); wait > 0 {
		res.RetryAfter = wait
		return res, nil
	}
	a.n++
	a.prev, a.last = a.last, now
	return res, nil
}

// Refund implements [LoginLimiter].
func (l *MemoryLimiter) Refund(_ context.Context, key string) error {
	if l.m == nil {
		return errLimiterZero
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.record(key, now, false); a != nil && a.n > 0 {
		a.n--
		a.last = a.prev // a refunded attempt does not restart the wait
	}
	return nil
}

// Succeed implements [LoginLimiter].
func (l *MemoryLimiter) Succeed(_ context.Context, key string) error {
	if l.m == nil {
		return errLimiterZero
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.record(key, now, true)
	a.n = 0
	a.goodUntil = now.Add(l.cfg.RememberSuccess)
	return nil
}

// prune drops expired records, then, if still full, a tenth of the rest:
// first records below the threshold that hold no success (they throttle
// nothing yet), then the others, so that a flood of fresh usernames cannot
// cheaply evict the record of an account under attack.
func (l *MemoryLimiter) prune(now time.Time) {
	for k, a := range l.m {
		if l.expired(a, now) {
			delete(l.m, k)
		}
	}
	drop := len(l.m) - l.cfg.MaxKeys + l.cfg.MaxKeys/10 + 1
	for _, all := range [2]bool{false, true} {
		for k, a := range l.m {
			if drop <= 0 {
				return
			}
			if all || (a.n < l.cfg.Threshold && !now.Before(a.goodUntil)) {
				delete(l.m, k)
				drop--
			}
		}
	}
}

var _ LoginLimiter = (*MemoryLimiter)(nil)
