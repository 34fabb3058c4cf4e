package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/guardkit/guard"
	"github.com/redis/go-redis/v9"
)

// MaxKeyRingSize bounds a key-ring document: [KeyRing.SwapKeyRing] refuses
// a larger one, and [KeyRing.LoadKeyRing] refuses to return one. A sealed
// ring of a few dozen keys is a few KiB.
const MaxKeyRingSize = 1 << 20

// ErrKeyRingTooLarge is returned (wrapped) for a document over
// [MaxKeyRingSize].
var ErrKeyRingTooLarge = errors.New("redisstore: key ring over MaxKeyRingSize")

// KeyRing is a [guard.KeyRingStore] on Redis: one hash holding the sealed
// document and its version, so that both are always read and written
// together. SwapKeyRing is a Lua script, so of replicas swapping from one
// version at once exactly one stores its document. The key has no TTL: the
// ring is the service's signing keys, kept until an operator deletes it.
// The store sees only the sealed document, never a key. It is safe for
// concurrent use; each method is one round trip, bounded by
// [Config].Timeout, and a Redis failure is an error, never a missing ring
// or a lost swap.
type KeyRing struct {
	s   *Store
	key string
}

// KeyRing returns the key ring called name, which separates several rings
// under one prefix (say, one per KeySet); "" is "default". The name is the
// operator's, not a request's: it enters the key as it is.
func (s *Store) KeyRing(name string) *KeyRing {
	if name == "" {
		name = "default"
	}
	return &KeyRing{s: s, key: s.prefix + "keyring:" + name}
}

// LoadKeyRing implements [guard.KeyRingStore]: (nil, 0, nil) when no ring
// was ever stored.
func (k *KeyRing) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	ctx, cancel := k.s.call(ctx)
	defer cancel()
	f, err := k.s.rdb.HMGet(ctx, k.key, "v", "doc").Result()
	if err != nil {
		return nil, 0, wrap("key ring load", err)
	}
	if len(f) != 2 {
		return nil, 0, errors.New("redisstore: key ring load: unexpected reply")
	}
	if f[0] == nil {
		return nil, 0, nil
	}
	v, _ := f[0].(string)
	doc, ok := f[1].(string)
	version, err := strconv.ParseUint(v, 10, 64)
	if err != nil || !ok || version == 0 {
		return nil, 0, errors.New("redisstore: key ring load: malformed record")
	}
	if len(doc) > MaxKeyRingSize {
		return nil, 0, fmt.Errorf("%w: key ring load: %d bytes", ErrKeyRingTooLarge, len(doc))
	}
	return []byte(doc), version, nil
}

// swapKeyRingScript: ARGV = old version, new version, document. Versions
// are compared as the decimal strings Go wrote, exact over all of uint64
// (Lua's numbers are doubles).
var swapKeyRingScript = redis.NewScript(`
if (redis.call('HGET', KEYS[1], 'v') or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3])
return 1
`)

// SwapKeyRing implements [guard.KeyRingStore]: it stores sealed as version
// old+1 if the stored version is old (0: none stored), and reports whether
// it did. A document over [MaxKeyRingSize] is refused before Redis is asked.
func (k *KeyRing) SwapKeyRing(ctx context.Context, old uint64, sealed []byte) (bool, error) {
	if len(sealed) > MaxKeyRingSize {
		return false, fmt.Errorf("%w: key ring swap: %d bytes", ErrKeyRingTooLarge, len(sealed))
	}
	if old == math.MaxUint64 {
		return false, errors.New("redisstore: key ring swap: version overflow")
	}
	ctx, cancel := k.s.call(ctx)
	defer cancel()
	n, err := swapKeyRingScript.Run(ctx, k.s.rdb, []string{k.key},
		strconv.FormatUint(old, 10), strconv.FormatUint(old+1, 10), sealed).Int()
	if err != nil {
		return false, wrap("key ring swap", err)
	}
	return n == 1, nil
}

var _ guard.KeyRingStore = (*KeyRing)(nil)
