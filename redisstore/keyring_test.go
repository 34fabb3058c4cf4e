package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/guardkit/guard"
)

func TestKeyRing(t *testing.T) { forEachBackend(t, testKeyRing) }

func testKeyRing(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	kr := st.KeyRing("")
	ctx := context.Background()

	sealed, v, err := kr.LoadKeyRing(ctx)
	if sealed != nil || v != 0 || err != nil {
		t.Fatalf("never stored: got (%q, %d, %v), want (nil, 0, nil)", sealed, v, err)
	}
	doc1 := []byte("sealed-1\x00\xff")
	doc2 := bytes.Repeat([]byte{0xab}, MaxKeyRingSize) // the largest accepted
	tests := []struct {
		name        string
		old         uint64
		sealed      []byte
		want        bool
		wantErr     error
		wantDoc     []byte
		wantVersion uint64
	}{
		{name: "first store needs old 0: 1 is refused", old: 1, sealed: doc1, want: false, wantVersion: 0},
		{name: "first store", old: 0, sealed: doc1, want: true, wantDoc: doc1, wantVersion: 1},
		{name: "stale version 0", old: 0, sealed: doc2, want: false, wantDoc: doc1, wantVersion: 1},
		{name: "future version 2", old: 2, sealed: doc2, want: false, wantDoc: doc1, wantVersion: 1},
		{name: "current version, 1 MiB document", old: 1, sealed: doc2, want: true, wantDoc: doc2, wantVersion: 2},
		{name: "over 1 MiB", old: 2, sealed: make([]byte, MaxKeyRingSize+1), wantErr: ErrKeyRingTooLarge, wantDoc: doc2, wantVersion: 2},
		{name: "old at the top of uint64", old: math.MaxUint64, sealed: doc1, wantErr: errAny, wantDoc: doc2, wantVersion: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kr.SwapKeyRing(ctx, tt.old, tt.sealed)
			if !matchErr(err, tt.wantErr) {
				t.Fatalf("err: got %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("swapped: got %v, want %v", got, tt.want)
			}
			doc, v, err := kr.LoadKeyRing(ctx)
			if err != nil || v != tt.wantVersion || !bytes.Equal(doc, tt.wantDoc) {
				t.Errorf("load: got (%d bytes, %d, %v), want (%d bytes, %d, nil)", len(doc), v, err, len(tt.wantDoc), tt.wantVersion)
			}
		})
	}

	// Another name, and another prefix, are other rings.
	for name, other := range map[string]*KeyRing{"name": st.KeyRing("other"), "prefix": srv.store(t, "u:").KeyRing("")} {
		if doc, v, err := other.LoadKeyRing(ctx); doc != nil || v != 0 || err != nil {
			t.Errorf("another %s: got (%q, %d, %v), want (nil, 0, nil)", name, doc, v, err)
		}
	}
	checkKeys(t, st, -1) // namespaced and short; the ring itself has no TTL
}

// errAny stands for "some error" in tables whose rows carry a wanted error.
var errAny = errors.New("any error")

func matchErr(err, want error) bool {
	switch want {
	case nil:
		return err == nil
	case errAny:
		return err != nil
	}
	return errors.Is(err, want)
}

// TestKeyRingConcurrentSwap: replicas that load and swap in a loop until
// each has stored one document: every version is won by exactly one of
// them, no swap is lost, and the last document is the last winner's.
func TestKeyRingConcurrentSwap(t *testing.T) { forEachBackend(t, testKeyRingConcurrentSwap) }

func testKeyRingConcurrentSwap(t *testing.T, srv *backend) {
	const replicas = 20
	ctx := context.Background()
	var mu sync.Mutex
	winner := map[uint64]int{} // version → replica
	var wg sync.WaitGroup
	for i := range replicas {
		kr := srv.store(t, "t:").KeyRing("") // each replica its own client
		wg.Go(func() {
			doc := fmt.Appendf(nil, "replica-%d", i)
			for {
				_, v, err := kr.LoadKeyRing(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				ok, err := kr.SwapKeyRing(ctx, v, doc)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					if w, dup := winner[v+1]; dup {
						t.Errorf("version %d won by replicas %d and %d", v+1, w, i)
					}
					winner[v+1] = i
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	doc, v, err := srv.store(t, "t:").KeyRing("").LoadKeyRing(ctx)
	if err != nil || v != replicas || len(winner) != replicas {
		t.Fatalf("after %d swaps: version %d, %d winners, %v; want version %d", replicas, v, len(winner), err, replicas)
	}
	if want := fmt.Sprintf("replica-%d", winner[replicas]); string(doc) != want {
		t.Errorf("document: got %q, want %q (the last winner's)", doc, want)
	}

	// One version, many swappers at once: exactly one wins.
	kr := srv.store(t, "t:").KeyRing("burst")
	var won int
	for range 50 {
		wg.Go(func() {
			ok, err := kr.SwapKeyRing(ctx, 0, []byte("x"))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("swaps from version 0: got %d won, want exactly 1", won)
	}
}

var _ guard.KeyRingStore = (*KeyRing)(nil)
