package guard

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/guardkit/guard/internal/claimsjson"
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

// cachedToken is an immutable verified token: its claims, its time claims
// and the key (of its KeySnapshot) that verified it.
// Its claims share no memory with any request: copyClaims fills it on the
// miss and hands out copies on every hit, so a handler that writes into its
// Principal's or Claims' slices changes only its own request.
type cachedToken struct {
	claims        Claims
	exp, nbf, iat claimsjson.NumericDate
	key           *Key
}

// copyClaims sets dst to a copy of src that shares no mutable memory with
// it. Strings are immutable and shared. Audience, Roles and Scopes get one
// backing array together, each a full slice expression of it so that an
// append to one cannot write into the next; a lone role lives in
// dst.oneRole, so a role-only token costs nothing here. Extra is copied
// when present. nil and empty slices stay as they were.
func copyClaims(dst, src *Claims) {
	*dst = *src
	n := len(src.Audience) + len(src.Roles) + len(src.Scopes)
	if n == 1 && len(src.Roles) == 1 {
		dst.oneRole[0] = src.Roles[0]
		dst.Roles = dst.oneRole[:1:1]
	} else if n > 0 {
		buf := make([]string, 0, n)
		buf, dst.Audience = appendPart(buf, src.Audience)
		buf, dst.Roles = appendPart(buf, src.Roles)
		_, dst.Scopes = appendPart(buf, src.Scopes)
	}
	if src.Extra != nil {
		dst.Extra = append([]byte(nil), src.Extra...)
	}
}

// appendPart appends part to buf and returns the appended elements as their
// own full slice (nil when part is nil).
func appendPart(buf, part []string) (_, own []string) {
	if part == nil {
		return buf, nil
	}
	i := len(buf)
	buf = append(buf, part...)
	return buf, buf[i:len(buf):len(buf)]
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
		if exp, _ := v.(*cachedToken).exp.Seconds(); exp <= nowSec {
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
