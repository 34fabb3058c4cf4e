package guard

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
)

func newTestMemoryLimiter(cfg MemoryLimiterConfig) (*MemoryLimiter, *tokClock) {
	clock := &tokClock{t: time.Unix(1_700_000_000, 0)}
	cfg.Now = clock.Now
	return NewMemoryLimiter(cfg), clock
}

func limiterWait(t *testing.T, l *MemoryLimiter, key string, want time.Duration) {
	t.Helper()
	got, err := l.Check(context.Background(), key)
	if err != nil || got != want {
		t.Errorf("Check(%q): got %v, %v; want %v, nil", key, got, err, want)
	}
}

func limiterFail(t *testing.T, l LoginLimiter, key string, n int) {
	t.Helper()
	for range n {
		if err := l.Fail(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMemoryLimiterDefaults(t *testing.T) {
	t.Parallel()
	l := NewMemoryLimiter(MemoryLimiterConfig{Threshold: -1, BaseDelay: -1, MaxDelay: -1, Forget: -1, MaxKeys: -1})
	want := MemoryLimiterConfig{Threshold: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute, Forget: time.Hour, MaxKeys: 100_000}
	got := l.cfg
	if got.Threshold != want.Threshold || got.BaseDelay != want.BaseDelay || got.MaxDelay != want.MaxDelay ||
		got.Forget != want.Forget || got.MaxKeys != want.MaxKeys {
		t.Errorf("defaults: got %+v, want %+v", got, want)
	}
	if l.cfg.Now == nil {
		t.Error("Now is nil")
	}
	// Forget is at least MaxDelay, so a capped key is not forgotten before it may retry.
	l = NewMemoryLimiter(MemoryLimiterConfig{MaxDelay: 2 * time.Hour, Forget: time.Minute})
	if l.cfg.Forget != 2*time.Hour {
		t.Errorf("Forget: got %v, want 2h", l.cfg.Forget)
	}
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
	limiterFail(t, l, "k", 200) // 2^199 hours would overflow; the loop stops at the cap
	d, _ := l.Check(context.Background(), "k")
	if d <= 0 {
		t.Errorf("got %v, want a positive wait", d)
	}
}

func TestMemoryLimiterReset(t *testing.T) {
	t.Parallel()
	l, _ := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 1})
	limiterFail(t, l, "a", 3)
	limiterFail(t, l, "b", 3)
	if err := l.Reset(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	limiterWait(t, l, "a", 0)
	limiterWait(t, l, "b", 4*time.Second)
	if err := l.Reset(context.Background(), "never-seen"); err != nil {
		t.Fatal(err)
	}
	limiterFail(t, l, "a", 1) // counting starts over after a reset
	limiterWait(t, l, "a", time.Second)
}

func TestMemoryLimiterMaxKeys(t *testing.T) {
	t.Parallel()
	l, clock := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 3, MaxKeys: 100, Forget: time.Minute, MaxDelay: time.Minute})
	// Expired records go first.
	for i := range 50 {
		limiterFail(t, l, "old"+strconv.Itoa(i), 1)
	}
	clock.Add(time.Minute)
	// A victim under attack, throttled.
	limiterFail(t, l, "user:victim", 6)
	// A flood of fresh usernames fills the map many times over.
	for i := range 1000 {
		limiterFail(t, l, "flood"+strconv.Itoa(i), 1)
		if n := len(l.m); n > 100 {
			t.Fatalf("after %d: %d keys, want at most 100", i, n)
		}
	}
	for i := range 50 {
		if _, ok := l.m["old"+strconv.Itoa(i)]; ok {
			t.Fatalf("expired record old%d kept", i)
		}
	}
	// The throttled record survives: records below the threshold are dropped first.
	if d, _ := l.Check(context.Background(), "user:victim"); d != 8*time.Second {
		t.Errorf("victim: got wait %v, want 8s", d)
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

func TestMemoryLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l, clock := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 1000, MaxKeys: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			for i := range 500 {
				key := strconv.Itoa((g*31 + i) % 80)
				_, _ = l.Check(ctx, key)
				_ = l.Fail(ctx, key)
				if i%50 == 0 {
					_ = l.Reset(ctx, key)
					clock.Add(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if n := len(l.m); n > 50 {
		t.Errorf("got %d keys, want at most 50", n)
	}
	// Same key from many goroutines: every failure is counted.
	l2, _ := newTestMemoryLimiter(MemoryLimiterConfig{Threshold: 800, BaseDelay: time.Second})
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_ = l2.Fail(context.Background(), "k")
			}
		})
	}
	wg.Wait()
	limiterWait(t, l2, "k", time.Second)
}
