package guard

import (
	"context"
	"sync"
	"time"
)

// LoginLimiter counts failed login attempts per key (a username, a client_id
// or an IP address) and says how long a key must wait. The token endpoint
// calls Check before any password hashing, Fail after a failure and Reset after
// a success. Implementations must be safe for concurrent use; a shared store
// (Redis, SQL) lets several instances throttle together.
type LoginLimiter interface {
	// Check returns how long key must still wait; zero means go ahead.
	Check(ctx context.Context, key string) (retryAfter time.Duration, err error)
	// Fail records a failed attempt for key.
	Fail(ctx context.Context, key string) error
	// Reset forgets key's failures.
	Reset(ctx context.Context, key string) error
}

// MemoryLimiterConfig configures [NewMemoryLimiter]. Zero fields take the defaults.
type MemoryLimiterConfig struct {
	// Threshold is the number of failures allowed before throttling. Default 5.
	Threshold int
	// BaseDelay is the wait after the failure that reaches the threshold; each
	// further failure doubles it. Default 1s.
	BaseDelay time.Duration
	// MaxDelay caps the wait, so there is never a permanent lockout. Default 15m.
	MaxDelay time.Duration
	// Forget drops a key's record after this long without a failure. Default 1h
	// (at least MaxDelay).
	Forget time.Duration
	// MaxKeys bounds memory: when full, expired records are pruned, then
	// records below the threshold, then arbitrary ones. Default 100 000.
	MaxKeys int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// MemoryLimiter is the in-memory [LoginLimiter]: exponential backoff per key
// after Threshold failures, capped at MaxDelay. It is safe for concurrent use.
// Create it with [NewMemoryLimiter]; the zero value is not usable.
type MemoryLimiter struct {
	cfg MemoryLimiterConfig
	mu  sync.Mutex
	m   map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

// NewMemoryLimiter returns a MemoryLimiter; negative settings are replaced by the defaults.
func NewMemoryLimiter(cfg MemoryLimiterConfig) *MemoryLimiter {
	if cfg.Threshold <= 0 {
		cfg.Threshold = 5
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 15 * time.Minute
	}
	if cfg.Forget <= 0 {
		cfg.Forget = time.Hour
	}
	cfg.Forget = max(cfg.Forget, cfg.MaxDelay)
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryLimiter{cfg: cfg, m: map[string]*failures{}}
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

// Check implements [LoginLimiter].
func (l *MemoryLimiter) Check(_ context.Context, key string) (time.Duration, error) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[key]
	if f == nil {
		return 0, nil
	}
	if now.Sub(f.last) >= l.cfg.Forget {
		delete(l.m, key)
		return 0, nil
	}
	if wait := f.last.Add(l.delay(f.n)).Sub(now); wait > 0 {
		return wait, nil
	}
	return 0, nil
}

// Fail implements [LoginLimiter].
func (l *MemoryLimiter) Fail(_ context.Context, key string) error {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[key]
	if f == nil || now.Sub(f.last) >= l.cfg.Forget {
		if len(l.m) >= l.cfg.MaxKeys {
			l.prune(now)
		}
		f = &failures{}
		l.m[key] = f
	}
	f.n++
	f.last = now
	return nil
}

// Reset implements [LoginLimiter].
func (l *MemoryLimiter) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
	return nil
}

// prune drops expired records, then, if still full, a tenth of the rest:
// first records below the threshold (they throttle nothing yet), and only then
// throttled ones, so that a flood of fresh usernames cannot cheaply evict the
// record of an account under attack.
func (l *MemoryLimiter) prune(now time.Time) {
	for k, f := range l.m {
		if now.Sub(f.last) >= l.cfg.Forget {
			delete(l.m, k)
		}
	}
	drop := len(l.m) - l.cfg.MaxKeys + l.cfg.MaxKeys/10 + 1
	for _, throttled := range [2]bool{false, true} {
		for k, f := range l.m {
			if drop <= 0 {
				return
			}
			if throttled || f.n < l.cfg.Threshold {
				delete(l.m, k)
				drop--
			}
		}
	}
}

var _ LoginLimiter = (*MemoryLimiter)(nil)
