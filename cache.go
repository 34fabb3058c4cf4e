package guard

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache remembers verified asymmetric tokens (VerifierConfig.CacheSize).
// Reads take no lock (sync.Map), so parallel requests do not contend; writes
// happen once per distinct token. When full, expired entries go first, then
// an eighth of the rest, so the size stays bounded whatever the traffic.
type tokenCache struct {
	m     sync.Map // [32]byte -> *cachedToken
	n     atomic.Int64
	limit int64
	mu    sync.Mutex // serialises eviction
}

// cachedToken is an immutable verified token: its claims and time claims.
type cachedToken struct {
	claims        Claims
	exp, nbf, iat numericDate
}

func newTokenCache(size int) *tokenCache { return &tokenCache{limit: int64(size)} }

func hashToken(token string) [32]byte {
	sc := getScratch()
	sc.token = append(sc.token[:0], token...)
	sum := sha256.Sum256(sc.token)
	putScratch(sc)
	return sum
}

func (c *tokenCache) get(sum [32]byte) (*cachedToken, bool) {
	e, ok := c.m.Load(sum)
	if !ok {
		return nil, false
	}
	return e.(*cachedToken), true
}

func (c *tokenCache) remove(sum [32]byte) {
	if _, loaded := c.m.LoadAndDelete(sum); loaded {
		c.n.Add(-1)
	}
}

func (c *tokenCache) put(sum [32]byte, e *cachedToken, now time.Time) {
	if c.n.Load() >= c.limit {
		c.evict(now)
	}
	if _, loaded := c.m.LoadOrStore(sum, e); !loaded {
		c.n.Add(1)
	}
}

func (c *tokenCache) evict(now time.Time) {
	if !c.mu.TryLock() {
		return // another goroutine is evicting; the bound is soft by at most the concurrency
	}
	defer c.mu.Unlock()
	nowSec := float64(now.Unix())
	c.m.Range(func(k, v any) bool {
		if v.(*cachedToken).exp.sec <= nowSec {
			c.remove(k.([32]byte))
		}
		return true
	})
	drop := c.n.Load() - c.limit + c.limit/8 + 1
	c.m.Range(func(k, _ any) bool {
		if drop <= 0 {
			return false
		}
		c.remove(k.([32]byte))
		drop--
		return true
	})
}
