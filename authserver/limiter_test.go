package authserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestMemoryLimiter(cfg MemoryLimiterConfig) (*MemoryLimiter, *tokClock) {
	clock := &tokClock{t: time.Unix(1_700_000_000, 0)}
	cfg.Now = clock.Now
	return MustNewMemoryLimiter(cfg), clock
}

// limiterWait checks key's wait without counting anything: a refused
// reservation counts nothing, an accepted one is refunded.
func limiterWait(t *testing.T, l LoginLimiter, key string, want time.Duration) {
	t.Helper()
	ctx := context.Background()
	res, err := l.Reserve(ctx, key)
	if err != nil || res.RetryAfter != want {
		t.Errorf("Reserve(%q): got %v, %v; want %v, nil", key, res.RetryAfter, err, want)
	}
	if res.RetryAfter == 0 {
		if err := l.Refund(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
}

// limiterFail counts n failed attempts for key; each must be allowed.
func limiterFail(t *testing.T, l LoginLimiter, key string, n int) {
	t.Helper()
	for i := range n {
		res, err := l.Reserve(context.Background(), key)
		if err != nil || res.RetryAfter != 0 {
			t.Fatalf("attempt %d on %q: got wait %v, %v; want an accepted reservation", i+1, key, res.RetryAfter, err)
		}
	}
}

func (l *MemoryLimiter) recordOf(key string) *attempts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[sha256.Sum256([]byte(key))]
}

func TestMemoryLimiterDefaults(t *testing.T) {
	t.Parallel()
	l := MustNewMemoryLimiter(MemoryLimiterConfig{})
	want := MemoryLimiterConfig{Threshold: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute, Forget: time.Hour, MaxKeys: 100_000, RememberSuccess: 30 * 24 * time.Hour}
	got := l.cfg
	if got.Threshold != want.Threshold || got.BaseDelay != want.BaseDelay || got.MaxDelay != want.MaxDelay ||
		got.Forget != want.Forget || got.MaxKeys != want.MaxKeys || got.RememberSuccess != want.RememberSuccess {
		t.Errorf("defaults: got %+v, want %+v", got, want)
	}
	if l.cfg.Now == nil {
		t.Error("Now is nil")
	}
	// The default Forget follows a long MaxDelay, so a capped key is not
	// forgotten before it may retry.
	if l := MustNewMemoryLimiter(MemoryLimiterConfig{MaxDelay: 2 * time.Hour}); l.cfg.Forget != 2*time.Hour {
		t.Errorf("Forget: got %v, want 2h", l.cfg.Forget)
	}
}

func TestMemoryLimiterConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := NewMemoryLimiter(MemoryLimiterConfig{Threshold: -1, BaseDelay: -1, MaxDelay: -1, Forget: -1, MaxKeys: -1, RememberSuccess: -1})
	for _, field := range []string{"Threshold", "BaseDelay", "MaxDelay", "Forget", "MaxKeys", "RememberSuccess"} {
		if err == nil || !strings.Contains(err.Error(), "MemoryLimiterConfig."+field+" is negative") {
			t.Errorf("negative %s: got %v", field, err)
		}
	}
	_, err = NewMemoryLimiter(MemoryLimiterConfig{BaseDelay: time.Minute, MaxDelay: time.Second})
	if err == nil || !strings.Contains(err.Error(), "MaxDelay 1s is below BaseDelay 1m0s") {
		t.Errorf("MaxDelay below BaseDelay: got %v", err)
	}
	_, err = NewMemoryLimiter(MemoryLimiterConfig{MaxDelay: 2 * time.Hour, Forget: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "Forget 1m0s is below MaxDelay 2h0m0s") {
		t.Errorf("Forget below MaxDelay: got %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustNewMemoryLimiter did not panic on a bad config")
		}
	}()
	MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: -1})
}

// TestMemoryLimiterBackoff: threshold, doubling, cap, and no permanent lockout.
func TestMemoryLimiterBackoff(t *testing.T) {
	t.Parallel()
	l, clock := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 3, BaseDelay: time.Second, MaxDelay: 10 * time.Second, Forget: time.Minute})
	limiterWait(t, l, "k", 0)
	limiterFail(t, l, "k", 2)
	limiterWait(t, l, "k", 0) // below the threshold
	// Each failure at the end of the previous wait doubles the next one, up to the cap.
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10, 10} {
		limiterFail(t, l, "k", 1)
		want *= time.Second
		if i >= 4 {
			want = 10 * time.Second
		}
		limiterWait(t, l, "k", want)
		clock.Add(want / 2)
		limiterWait(t, l, "k", want-want/2)
		clock.Add(want - want/2)
		limiterWait(t, l, "k", 0) // the wait is over: never a permanent lockout
	}
	limiterWait(t, l, "other", 0) // keys are independent
	// Forget: a quiet minute drops the record; counting starts over.
	clock.Add(time.Minute)
	limiterFail(t, l, "k", 2)
	limiterWait(t, l, "k", 0)
	limiterFail(t, l, "k", 1)
	limiterWait(t, l, "k", time.Second)
}

func TestMemoryLimiterHugeCount(t *testing.T) {
	t.Parallel()
	l, _ := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 1, BaseDelay: time.Hour, MaxDelay: 1<<63 - 1})
	limiterFail(t, l, "k", 1)
	l.recordOf("k").n = 200 // 2^199 hours would overflow; the loop stops at the cap
	res, _ := l.Reserve(context.Background(), "k")
	if res.RetryAfter <= 0 {
		t.Errorf("got %v, want a positive wait", res.RetryAfter)
	}
}

// TestMemoryLimiterRefundSucceed: a refund takes back one attempt, a success
// clears the failures and is remembered for RememberSuccess.
func TestMemoryLimiterRefundSucceed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, clock := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 2, Forget: time.Minute, MaxDelay: time.Minute, RememberSuccess: time.Hour})
	limiterFail(t, l, "a", 2)
	limiterWait(t, l, "a", time.Second)
	if err := l.Refund(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	limiterWait(t, l, "a", 0) // one attempt taken back: below the threshold again
	if err := l.Refund(ctx, "never-seen"); err != nil {
		t.Fatal(err)
	}
	if l.recordOf("never-seen") != nil {
		t.Error("a refund created a record")
	}
	limiterFail(t, l, "b", 2)
	if err := l.Succeed(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	res, _ := l.Reserve(ctx, "b")
	if res.RetryAfter != 0 || !res.Succeeded {
		t.Errorf("after Succeed: got %+v, want no wait and Succeeded", res)
	}
	// The failures are forgotten after Forget, the success only after RememberSuccess.
	clock.Add(30 * time.Minute)
	if res, _ := l.Reserve(ctx, "b"); res.RetryAfter != 0 || !res.Succeeded {
		t.Errorf("within RememberSuccess: got %+v, want Succeeded", res)
	}
	if n := l.recordOf("b").n; n != 1 {
		t.Errorf("count after Forget: got %d, want 1 (old attempts forgotten)", n)
	}
	clock.Add(time.Hour)
	if res, _ := l.Reserve(ctx, "b"); res.Succeeded {
		t.Errorf("after RememberSuccess: got %+v, want the success forgotten", res)
	}
	if res, _ := l.Reserve(ctx, "c"); res.Succeeded {
		t.Error("a fresh key reports a success")
	}
}

func TestMemoryLimiterMaxKeys(t *testing.T) {
	t.Parallel()
	l, clock := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 3, MaxKeys: 100, Forget: time.Minute, MaxDelay: time.Minute})
	// Expired records go first.
	for i := range 50 {
		limiterFail(t, l, "old"+strconv.Itoa(i), 1)
	}
	clock.Add(time.Minute)
	// A victim under attack, throttled; an account with a remembered success.
	for range 6 {
		limiterFail(t, l, "user:victim", 1)
		clock.Add(10 * time.Second) // past each wait, within Forget
	}
	if err := l.Succeed(context.Background(), "user:good"); err != nil {
		t.Fatal(err)
	}
	// A flood of fresh usernames fills the map many times over.
	for i := range 1000 {
		limiterFail(t, l, "flood"+strconv.Itoa(i), 1)
		if n := len(l.m); n > 100 {
			t.Fatalf("after %d: %d keys, want at most 100", i, n)
		}
	}
	for i := range 50 {
		if l.recordOf("old"+strconv.Itoa(i)) != nil {
			t.Fatalf("expired record old%d kept", i)
		}
	}
	// The throttled record and the success survive: records below the
	// threshold are dropped first.
	if a := l.recordOf("user:victim"); a == nil || a.n != 6 {
		t.Errorf("victim: got record %+v, want 6 attempts kept", a)
	}
	if res, _ := l.Reserve(context.Background(), "user:good"); !res.Succeeded {
		t.Error("remembered success evicted by the flood")
	}
	// With only throttled records, arbitrary ones go, and the map stays bounded.
	l2, _ := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 1, MaxKeys: 10})
	for i := range 100 {
		limiterFail(t, l2, strconv.Itoa(i), 1)
	}
	if n := len(l2.m); n > 10 || n < 9 {
		t.Errorf("got %d keys, want 9 or 10", n)
	}
}

// TestMemoryLimiterKeysAreDigests: a 16 KiB key costs a record no more than a short one.
func TestMemoryLimiterKeysAreDigests(t *testing.T) {
	t.Parallel()
	l, _ := newTestMemoryLimiter(MemoryLimiterConfig{})
	long := strings.Repeat("a", 16<<10)
	limiterFail(t, l, long, 1)
	for k := range l.m {
		if len(k) != sha256.Size {
			t.Errorf("map key of %d bytes, want %d", len(k), sha256.Size)
		}
	}
	if l.recordOf(long) == nil {
		t.Error("record not found under the key's digest")
	}
}

// TestMemoryLimiterAtomicReserve: 50 concurrent attempts on one key, as many
// concurrent guesses would make: exactly Threshold are accepted.
func TestMemoryLimiterAtomicReserve(t *testing.T) {
	t.Parallel()
	l, _ := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 5})
	var accepted atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			if res, err := l.Reserve(context.Background(), "k"); err == nil && res.RetryAfter == 0 {
				accepted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := accepted.Load(); got != 5 {
		t.Errorf("accepted %d concurrent attempts, want 5", got)
	}
}

func TestMemoryLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l, clock := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 1000, MaxKeys: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			for i := range 500 {
				key := strconv.Itoa((g*31 + i) % 80)
				_, _ = l.Reserve(ctx, key)
				if i%50 == 0 {
					_ = l.Succeed(ctx, key)
					_ = l.Refund(ctx, key)
					clock.Add(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if n := len(l.m); n > 50 {
		t.Errorf("got %d keys, want at most 50", n)
	}
}

// TestMemoryLimiterZeroValue: the zero value fails closed with an error, never a panic.
func TestMemoryLimiterZeroValue(t *testing.T) {
	t.Parallel()
	var l MemoryLimiter
	ctx := context.Background()
	if _, err := l.Reserve(ctx, "k"); !errors.Is(err, errLimiterZero) {
		t.Errorf("Reserve: got %v, want errLimiterZero", err)
	}
	if err := l.Refund(ctx, "k"); !errors.Is(err, errLimiterZero) {
		t.Errorf("Refund: got %v, want errLimiterZero", err)
	}
	if err := l.Succeed(ctx, "k"); !errors.Is(err, errLimiterZero) {
		t.Errorf("Succeed: got %v, want errLimiterZero", err)
	}
}
