package guard

import (
	"container/heap"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ReplayCache remembers keys for a while, so that a DPoP proof (RFC 9449
// §11.1) is accepted only once. Implementations must be safe for
// concurrent use; [NewMemoryReplayCache] is one for a single instance,
// redisstore's is one for several replicas.
type ReplayCache interface {
	// Remember records key until the given time (a wall-clock time: DPoP
	// converts its deadlines, whatever DPoPConfig.Now says) in one atomic
	// operation;
	// first is false when key was already recorded and has not expired.
	// An error makes the request fail closed (503).
	Remember(ctx context.Context, key string, until time.Time) (first bool, err error)
}

// DefaultReplayCacheEntries is the capacity of [NewMemoryReplayCache] when
// maxEntries is not positive.
const DefaultReplayCacheEntries = 100_000

// errReplayCacheFull: a MemoryReplayCache holds maxEntries live keys.
var errReplayCacheFull = errors.New("guard: DPoP replay cache full")

// MemoryReplayCache is a [ReplayCache] in memory, for one instance. It is
// safe for concurrent use. Keys expire by time.Now, as in Redis by its
// clock; a DPoP with a test clock still gets each key kept for the right
// time (see [DPoP.Check]). It holds at most its capacity of unexpired keys;
// when they are all still live, Remember fails (and the request gets 503)
// rather than forget a key early, which would let a proof be replayed.
type MemoryReplayCache struct {
	mu   sync.Mutex
	max  int
	keys map[string]time.Time
	exp  expiryHeap
	now  func() time.Time // time.Now; tests set it
}

// NewMemoryReplayCache returns an empty cache of at most maxEntries keys
// (default [DefaultReplayCacheEntries] when maxEntries <= 0). A key costs
// about 150 bytes; with the default 60-second MaxAge, the default capacity
// takes about 1,600 proofs a second.
func NewMemoryReplayCache(maxEntries int) *MemoryReplayCache {
	if maxEntries <= 0 {
		maxEntries = DefaultReplayCacheEntries
	}
	return &MemoryReplayCache{max: maxEntries, keys: make(map[string]time.Time), now: time.Now}
}

// Remember implements [ReplayCache]. Expired keys are dropped as new ones
// come, oldest first.
func (c *MemoryReplayCache) Remember(ctx context.Context, key string, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.exp) > 0 && !c.exp[0].until.After(now) {
		e := heap.Pop(&c.exp).(expiry)
		if t, ok := c.keys[e.key]; ok && !t.After(now) {
			delete(c.keys, e.key)
		}
	}
	if t, ok := c.keys[key]; ok && t.After(now) {
		return false, nil
	}
	if !until.After(now) {
		return true, nil // already expired: nothing to remember
	}
	if len(c.keys) >= c.max {
		return false, errReplayCacheFull
	}
	c.keys[key] = until
	heap.Push(&c.exp, expiry{until: until, key: key})
	return true, nil
}

// Len returns the number of keys held, expired ones not yet dropped included.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

type expiry struct {
	until time.Time
	key   string
}

// expiryHeap orders keys by expiry, soonest first.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiry{}
	*h = old[:len(old)-1]
	return e
}

// Bounds of DPoP nonces.
const (
	// DefaultDPoPNonceLifetime is how long a nonce is accepted when
	// DPoPNoncesConfig.Lifetime is zero.
	DefaultDPoPNonceLifetime = 5 * time.Minute
	// MaxDPoPNonceLifetime is the largest DPoPNoncesConfig.Lifetime accepted.
	MaxDPoPNonceLifetime = time.Hour
	// MinDPoPNonceSecretBytes is the shortest DPoPNoncesConfig.Secret accepted.
	MinDPoPNonceSecretBytes = 32
)

// DPoPNoncesConfig configures [DPoPNonces].
type DPoPNoncesConfig struct {
	// Secret keys the nonces' MAC; replicas that share it accept each
	// other's nonces. Required, at least [MinDPoPNonceSecretBytes] bytes
	// (from crypto/rand). It is copied.
	Secret []byte
	// Lifetime is how long a nonce is accepted after it was made. Default
	// [DefaultDPoPNonceLifetime]; at most [MaxDPoPNonceLifetime].
	Lifetime time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// DPoPNonces makes and checks server-provided DPoP nonces (RFC 9449 §8,
// §9) without state: a nonce is its making time and a MAC of it, so it is
// valid on every replica that shares the secret, for Lifetime. A nonce may
// be used by many proofs while it is valid (replay is the jti cache's
// job); it limits how far ahead a stolen key can make proofs. DPoPNonces
// is immutable and safe for concurrent use.
type DPoPNonces struct {
	secret []byte
	life   time.Duration
	now    func() time.Time
}

// NewDPoPNonces validates cfg and returns a DPoPNonces: the secret must be
// at least 32 bytes, the lifetime within [0, 1h].
func NewDPoPNonces(cfg DPoPNoncesConfig) (*DPoPNonces, error) {
	var errs []error
	if len(cfg.Secret) < MinDPoPNonceSecretBytes {
		errs = append(errs, fmt.Errorf("guard: DPoPNoncesConfig.Secret is %d bytes; at least %d are required", len(cfg.Secret), MinDPoPNonceSecretBytes))
	}
	if cfg.Lifetime < 0 || cfg.Lifetime > MaxDPoPNonceLifetime {
		errs = append(errs, fmt.Errorf("guard: DPoPNoncesConfig.Lifetime %v is outside [0, %v]", cfg.Lifetime, MaxDPoPNonceLifetime))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	n := &DPoPNonces{secret: append([]byte(nil), cfg.Secret...), life: cfg.Lifetime, now: cfg.Now}
	if n.life == 0 {
		n.life = DefaultDPoPNonceLifetime
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// nonceMACBytes is the length of a nonce's MAC (truncated HMAC-SHA256).
const nonceMACBytes = 16

// Nonce returns a fresh nonce: 32 base64url characters.
func (n *DPoPNonces) Nonce() string {
	var b [8 + nonceMACBytes]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n.now().UnixMilli()))
	copy(b[8:], n.mac(b[:8]))
	return b64.EncodeToString(b[:])
}

// Valid reports whether nonce was made by n (or a DPoPNonces with the same
// secret) no longer than Lifetime ago, and not in the future (beyond a
// second, for clocks of replicas).
func (n *DPoPNonces) Valid(nonce string) bool {
	if len(nonce) != b64.EncodedLen(8+nonceMACBytes) {
		return false
	}
	var b [8 + nonceMACBytes]byte
	if k, err := b64.Decode(b[:], []byte(nonce)); err != nil || k != len(b) {
		return false
	}
	if !hmac.Equal(b[8:], n.mac(b[:8])) {
		return false
	}
	made := time.UnixMilli(int64(binary.BigEndian.Uint64(b[:8])))
	now := n.now()
	return !made.After(now.Add(time.Second)) && now.Sub(made) <= n.life
}

func (n *DPoPNonces) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte("guard DPoP nonce v1\x00"))
	m.Write(msg)
	return m.Sum(nil)[:nonceMACBytes]
}
