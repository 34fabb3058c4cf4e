package guard

import (
	"context"
	"errors"
	"math"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// budgetClock is a settable clock for cpuBudget.
type budgetClock struct{ t time.Time }

func (c *budgetClock) now() time.Time           { return c.t }
func (c *budgetClock) add(d time.Duration)      { c.t = c.t.Add(d) }
func newBudgetClock() *budgetClock              { return &budgetClock{t: time.Unix(1_700_000_000, 0)} }
func ms(n float64) time.Duration                { return time.Duration(n * float64(time.Millisecond)) }
func within(got, want time.Duration) bool       { return got >= want && got <= want+time.Microsecond }
func budgetLevel(b *cpuBudget) time.Duration    { b.mu.Lock(); defer b.mu.Unlock(); return b.level }
func budgetEstimate(b *cpuBudget) time.Duration { b.mu.Lock(); defer b.mu.Unlock(); return b.estimate }

// TestCPUBudgetAdmission walks the admission rule on one core at a budget of
// 0.5: 500ms of hashing at once, then 500ms earned back per second.
func TestCPUBudgetAdmission(t *testing.T) {
	t.Parallel()
	clock := newBudgetClock()
	b := newCPUBudget(0.5, 1, clock.now)
	if b.capacity != ms(500) || b.rate != 0.5 {
		t.Fatalf("capacity %v rate %v, want 500ms and 0.5", b.capacity, b.rate)
	}
	step := func(name string, maxWait, wantWait, wantCharge time.Duration, wantOK bool) {
		t.Helper()
		wait, charge, ok := b.reserve(maxWait)
		if ok != wantOK || !within(wait, wantWait) || charge != wantCharge {
			t.Errorf("%s: reserve(%v) = (%v, %v, %v), want (%v, %v, %v)", name, maxWait, wait, charge, ok, wantWait, wantCharge, wantOK)
		}
	}

	// Nothing measured yet: admitted at once and charged nothing up front.
	step("first", 0, 0, 0, true)
	b.done(0, ms(200))
	if l, e := budgetLevel(b), budgetEstimate(b); l != ms(300) || e != ms(200) {
		t.Fatalf("after the first hash: level %v estimate %v, want 300ms and 200ms", l, e)
	}
	step("second", 0, 0, ms(200), true) // level 100ms
	step("third", 0, 0, ms(200), true)  // level -100ms: positive before, so admitted
	// Spent: 100ms owed at 0.5 CPU per second is 200ms away.
	step("refused", 0, ms(200), 0, false)
	step("refused, QueueTimeout too short", ms(199), ms(200), 0, false)
	step("waits its turn", time.Second, ms(200), ms(200), true) // level -300ms
	step("queued behind it", time.Second, ms(600), ms(200), true)
	b.cancel(ms(200)) // the last one never ran
	b.cancel(ms(200)) // nor the one before
	if l := budgetLevel(b); l != ms(-100) {
		t.Fatalf("after cancels: level %v, want -100ms", l)
	}
	clock.add(ms(200))                              // exactly paid back: still not positive
	step("at zero", 0, 2*time.Nanosecond, 0, false) // 1ns of budget at 0.5 CPU
	clock.add(2 * time.Nanosecond)
	step("just positive", 0, 0, ms(200), true)
	b.done(ms(200), ms(200))
	b.done(ms(200), ms(200))
	b.done(ms(200), ms(200)) // the second and third settle at their estimate

	// A long quiet spell fills the bucket to one window, no more.
	clock.add(time.Hour)
	step("after an hour", 0, 0, ms(200), true)
	if l := budgetLevel(b); l != ms(300) {
		t.Errorf("level after a quiet hour and one admission: %v, want 500ms-200ms", l)
	}
	b.cancel(ms(200))

}

// TestCPUBudgetNeverStops: hashes that each cost a minute of CPU, against a
// budget that earns 500ms a second, still run once per second: each counts
// for one window's worth at most.
func TestCPUBudgetNeverStops(t *testing.T) {
	t.Parallel()
	clock := newBudgetClock()
	b := newCPUBudget(0.5, 1, clock.now)
	start := clock.t
	admitted := 0
	for clock.t.Sub(start) < 10*time.Second {
		wait, charge, ok := b.reserve(0)
		if !ok {
			if wait > time.Second {
				t.Fatalf("at %v: refused for %v, want at most a second", clock.t.Sub(start), wait)
			}
			clock.add(wait) // a client that honours Retry-After
			continue
		}
		admitted++
		b.done(charge, time.Minute)
	}
	if admitted < 9 || admitted > 11 {
		t.Errorf("%d one-minute hashes admitted in 10s, want one a second", admitted)
	}
}

func TestCPUBudgetScalesWithProcs(t *testing.T) {
	t.Parallel()
	clock := newBudgetClock()
	b := newCPUBudget(0.25, 8, clock.now) // two cores' worth of eight
	if b.capacity != 2*time.Second || b.rate != 2 {
		t.Fatalf("capacity %v rate %v, want 2s and 2", b.capacity, b.rate)
	}
	b.level = -time.Second
	if wait, _, ok := b.reserve(0); ok || !within(wait, ms(500)) {
		t.Errorf("1s owed at 2 CPUs: reserve = (%v, %v), want a refusal for 500ms", wait, ok)
	}
}

func TestCPUBudgetEstimate(t *testing.T) {
	t.Parallel()
	b := newCPUBudget(1, 1, newBudgetClock().now)
	for i, c := range []struct{ used, want time.Duration }{
		{ms(100), ms(100)}, // the first measurement is the estimate
		{ms(500), ms(200)}, // then a moving average: 3/4 old, 1/4 new
		{ms(200), ms(200)},
	} {
		b.done(0, c.used)
		if got := budgetEstimate(b); got != c.want {
			t.Errorf("step %d: estimate %v, want %v", i, got, c.want)
		}
	}
}

func TestCPUBudgetConfig(t *testing.T) {
	t.Parallel()
	procs := float64(runtime.GOMAXPROCS(0))
	for _, c := range []struct {
		budget, rate float64
		err          bool
	}{
		{0, 0.35 * procs, false}, {0.25, 0.25 * procs, false}, {1, procs, false},
		{-0.5, 0, true}, {1.5, 0, true}, {math.NaN(), 0, true}, {math.Inf(1), 0, true},
	} {
		h, err := NewPasswordHasher(PasswordHasherConfig{CPUBudget: c.budget})
		switch {
		case c.err && (err == nil || !strings.Contains(err.Error(), "CPUBudget")):
			t.Errorf("CPUBudget %v: got %v, want an error naming CPUBudget", c.budget, err)
		case !c.err && err != nil:
			t.Errorf("CPUBudget %v: %v", c.budget, err)
		case !c.err && h.budget.rate != c.rate:
			t.Errorf("CPUBudget %v: rate %v, want %v", c.budget, h.budget.rate, c.rate)
		}
	}
}

// TestHashBudgetRefusal: a spent budget refuses every call at once, before
// any hash or slot, with a 503 whose RetryAfter is when it frees; a call
// that can be admitted within QueueTimeout waits for it; one whose context
// ends while it waits gives its charge back.
func TestHashBudgetRefusal(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t, PasswordHasherConfig{MaxConcurrent: 1, QueueTimeout: time.Second})
	enc, err := h.Hash(context.Background(), "password")
	if err != nil {
		t.Fatal(err)
	}
	var kdfRuns atomic.Int32
	h.kdfTrace = func(*passwordHash) { kdfRuns.Add(1) }
	owed := time.Duration(10 * float64(time.Second) * h.budget.rate) // ten seconds to earn back
	h.budget.mu.Lock()
	h.budget.level = -owed
	h.budget.mu.Unlock()

	calls := map[string]func() error{
		"Hash":        func() error { _, err := h.Hash(context.Background(), "p"); return err },
		"Verify":      func() error { _, err := h.Verify(context.Background(), "password", enc); return err },
		"Verify bad":  func() error { _, err := h.Verify(context.Background(), "password", "$2a$10$short"); return err },
		"VerifyDummy": func() error { return h.VerifyDummy(context.Background(), "p") },
	}
	for name, call := range calls {
		err := call()
		e := ErrorOf(err)
		if !errors.Is(err, ErrBusy) || e.Status != http.StatusServiceUnavailable || e.Code != "temporarily_unavailable" ||
			e.RetryAfter < 9*time.Second || e.RetryAfter > 10*time.Second+time.Millisecond {
			t.Errorf("%s: got %v (%+v), want ErrBusy, 503 temporarily_unavailable, RetryAfter about 10s", name, err, e)
		}
	}
	if n := kdfRuns.Load(); n != 0 || len(h.sem) != 0 {
		t.Errorf("refusals ran %d KDFs and hold %d slots, want none", n, len(h.sem))
	}

	// Owing 20ms of earning: the call waits for it and runs.
	h.budget.mu.Lock()
	h.budget.level = -time.Duration(float64(20*time.Millisecond) * h.budget.rate)
	h.budget.mu.Unlock()
	if _, err := h.Verify(context.Background(), "password", enc); err != nil || kdfRuns.Load() != 1 {
		t.Errorf("within QueueTimeout: got %v after %d KDFs, want success after one", err, kdfRuns.Load())
	}

	// Canceled while waiting for the budget: the charge comes back.
	h.budget.mu.Lock()
	h.budget.level = -owed / 20 // half a second
	before := h.budget.level
	est := h.budget.estimate
	h.budget.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := h.VerifyDummy(ctx, "p"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled while waiting: got %v, want ErrBusy and context.Canceled", err)
	}
	if l := budgetLevel(h.budget); l < before || l > before+time.Second { // refilled a little meanwhile
		t.Errorf("after the cancel: level %v, want about %v (estimate %v given back)", l, before, est)
	}

	// QueueTimeout < 0: no wait at all, even for a budget that frees soon.
	h.queueTimeout = -1
	h.budget.mu.Lock()
	h.budget.level = -owed / 10 // a second
	h.budget.mu.Unlock()
	if err := h.VerifyDummy(context.Background(), "p"); !errors.Is(err, ErrBusy) {
		t.Errorf("QueueTimeout<0: got %v, want ErrBusy", err)
	}
	// A context that ends before the budget frees: refused at once, with
	// the budget's RetryAfter rather than the context's error after a wait.
	h.queueTimeout = time.Hour
	h.budget.mu.Lock()
	h.budget.level = -owed
	h.budget.mu.Unlock()
	ctx, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	err = h.VerifyDummy(ctx, "p")
	if e := ErrorOf(err); !errors.Is(err, ErrBusy) || errors.Is(err, context.DeadlineExceeded) || e.RetryAfter < 9*time.Second {
		t.Errorf("deadline before the budget frees: got %v (RetryAfter %v), want an immediate refusal", err, e.RetryAfter)
	}
}

// TestHashBudgetHolds runs hashes from more goroutines than the pool has
// slots, for a while, under a small budget, and counts how many ran: at
// least one, and no more than twice what the budget's time allows at the
// quickest hash measured here (loose, so that a machine whose load changes
// during the test cannot fail it; without the budget, ten times as many
// run).
func TestHashBudgetHolds(t *testing.T) {
	t.Parallel()
	const fraction, run = 0.05, 1500 * time.Millisecond
	h, err := NewPasswordHasher(PasswordHasherConfig{CPUBudget: fraction, MaxConcurrent: 4, QueueTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	h.bcryptCost = 6
	if err := h.initDummy(); err != nil {
		t.Fatal(err)
	}
	// The quickest of a few hashes, measured as the budget measures them.
	cost := time.Duration(math.MaxInt64)
	for range 10 {
		cost = min(cost, runTime(1, func() { _, _ = h.dummy.check("p", nil) }))
	}

	var ran, refused atomic.Int64
	stop := time.Now().Add(run)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				err := h.VerifyDummy(context.Background(), "p")
				switch {
				case errors.Is(err, ErrPasswordMismatch):
					ran.Add(1)
				case errors.Is(err, ErrBusy):
					refused.Add(1)
					// Back off a little, as a client honouring Retry-After
					// does, rather than spin on a shared machine.
					<-time.After(min(ErrorOf(err).RetryAfter, 5*time.Millisecond))
				default:
					t.Errorf("VerifyDummy: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	// CPU time the budget can let through: one window, what it earns
	// during the run, and an overdraft of two hashes per slot (those
	// admitted before the first one measured, and estimates that fell
	// short).
	allowed := h.budget.capacity + time.Duration(float64(run)*h.budget.rate) + 8*cost
	limit := 2*int64(allowed/cost) + 1
	t.Logf("GOMAXPROCS %d, one hash takes %v: %d ran (at most %d allowed), %d refused",
		runtime.GOMAXPROCS(0), cost, ran.Load(), limit, refused.Load())
	if ran.Load() < 1 || ran.Load() > limit {
		t.Errorf("%d hashes ran, want between 1 and %d", ran.Load(), limit)
	}
	if refused.Load() == 0 {
		t.Errorf("nothing refused: the budget never bound")
	}
}
