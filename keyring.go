package guard

import (
	"context"
	"sync"
)

// KeyRingStore keeps the one key ring that the replicas of a service share
// (KeySetConfig.Store): a sealed document and its version. The document is
// opaque to the store; a [KeySet] seals it with AES-256-GCM under the
// key-encryption key it was given, so a store never sees a private key and
// cannot change the ring without the change being detected.
//
// Writes are compare-and-set on the version, never a lock: a replica that
// crashes mid-rotation leaves nothing held, and when two replicas rotate at
// once exactly one write wins. Implementations must be safe for concurrent
// use; [MemoryKeyRing] is one (for tests and a single process), package
// redisstore has another.
type KeyRingStore interface {
	// LoadKeyRing returns the stored document and its version. A ring never
	// stored is (nil, 0, nil).
	LoadKeyRing(ctx context.Context) (sealed []byte, version uint64, err error)
	// SwapKeyRing stores sealed as version old+1 if the stored version is
	// still old (0: nothing stored yet), and reports whether it did. false
	// with a nil error means another writer stored first: load and retry.
	SwapKeyRing(ctx context.Context, old uint64, sealed []byte) (swapped bool, err error)
}

// MemoryKeyRing is a [KeyRingStore] in memory: the replicas it serves are
// the KeySets of one process (tests, examples). The zero value is an empty
// store, safe for concurrent use.
type MemoryKeyRing struct {
	mu      sync.Mutex
	sealed  []byte
	version uint64
}

// LoadKeyRing implements [KeyRingStore].
func (m *MemoryKeyRing) LoadKeyRing(context.Context) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.sealed...), m.version, nil
}

// SwapKeyRing implements [KeyRingStore].
func (m *MemoryKeyRing) SwapKeyRing(_ context.Context, old uint64, sealed []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version != old {
		return false, nil
	}
	m.sealed = append([]byte(nil), sealed...)
	m.version++
	return true, nil
}

var _ KeyRingStore = (*MemoryKeyRing)(nil)
