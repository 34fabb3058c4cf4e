package guard

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/guardkit/guard/internal/claimsjson"
)

// tokenCache remembers verified asymmetric tokens (VerifierConfig.CacheSize).
// Reads take no lock (sync.Map), so parallel requests do not contend; writes
// happen once per distinct token. When full, expired entries go first, then
// an eighth of the rest, so the size stays bounded whatever the traffic.
//
// Entries are found by a keyed 64-bit hash of the token (hash/maphash,
// a random seed per cache) and hold the token itself, which a hit compares
// in full: a hit is never decided by the hash, and the hash costs a
// fraction of a cryptographic digest (BenchmarkGuardES256Cached, bench/).
type tokenCache struct {
	seed  maphash.Seed
	m     sync.Map // uint64 -> *cachedToken
	n     atomic.Int64
	limit int64
	mu    sync.Mutex // serialises eviction
}

// cachedToken is an immutable verified token: the token, its claims, its
// time claims and the key (of its KeySnapshot) that verified it.
// Its claims share no memory with any request: copyClaims fills it on the
// miss and hands out copies on every hit, so a handler that writes into its
// Principal's or Claims' slices changes only its own request.
type cachedToken struct {
	token         string
	claims        Claims
	exp, nbf, iat claimsjson.NumericDate
	key           *Key
}

// copyClaims sets dst to a copy of src that shares no mutable memory with
// it. Strings are immutable and shared. A lone audience and a lone role live
// in dst.oneAud and dst.oneRole; other Audience, Roles and Scopes get one
// backing array together, each a full slice expression of it so that an
// append to one cannot write into the next. So a token with one audience
// and one role costs nothing here. Extra is copied when present. nil and
// empty slices stay as they were.
func copyClaims(dst, src *Claims) {
	*dst = *src
	n := len(src.Scopes)
	if len(src.Audience) == 1 {
		dst.oneAud[0] = src.Audience[0]
		dst.Audience = dst.oneAud[:1:1]
	} else {
		n += len(src.Audience)
	}
	if len(src.Roles) == 1 {
		dst.oneRole[0] = src.Roles[0]
		dst.Roles = dst.oneRole[:1:1]
	} else {
		n += len(src.Roles)
	}
	if n > 0 {
		buf := make([]string, 0, n)
		if len(src.Audience) != 1 {
			buf, dst.Audience = appendPart(buf, src.Audience)
		}
		if len(src.Roles) != 1 {
			buf, dst.Roles = appendPart(buf, src.Roles)
		}
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

func newTokenCache(size int) *tokenCache {
	return &tokenCache{seed: maphash.MakeSeed(), limit: int64(size)}
}

// key returns the map key of token.
func (c *tokenCache) key(token string) uint64 { return maphash.String(c.seed, token) }

// get returns the entry of token, found under key.
func (c *tokenCache) get(key uint64, token string) (*cachedToken, bool) {
	v, ok := c.m.Load(key)
	if !ok {
		return nil, false
	}
	e := v.(*cachedToken)
	if e.token != token {
		return nil, false // another token with the same hash: a miss
	}
	return e, true
}

// remove drops e, stored under key, unless another entry has replaced it.
func (c *tokenCache) remove(key uint64, e *cachedToken) {
	if c.m.CompareAndDelete(key, e) {
		c.n.Add(-1)
	}
}

// put stores e under key, replacing an entry of the same hash.
func (c *tokenCache) put(key uint64, e *cachedToken, now time.Time) {
	if c.n.Load() >= c.limit {
		c.evict(now)
	}
	if _, loaded := c.m.Swap(key, e); !loaded {
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
		e := v.(*cachedToken)
		if exp, _ := e.exp.Seconds(); exp <= nowSec {
			c.remove(k.(uint64), e)
		}
		return true
	})
	drop := c.n.Load() - c.limit + c.limit/8 + 1
	c.m.Range(func(k, v any) bool {
		if drop <= 0 {
			return false
		}
		c.remove(k.(uint64), v.(*cachedToken))
		drop--
		return true
	})
}
