package guard

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// defaultCPUBudget is PasswordHasherConfig.CPUBudget's default. On one core
// under a storm of failing logins (bench/loginstorm.sh, a quiet machine),
// 0.5 left a bearer route 35–46% of its idle throughput, 0.4 48–51% and 0.35
// 51–55%: serving the refused logins costs the rest of the service some of
// its share too.
const defaultCPUBudget = 0.35

// cpuBudgetWindow is how much hashing time the budget lets through at once
// after a quiet spell, in seconds of its rate: CPUBudget × GOMAXPROCS × 1s.
const cpuBudgetWindow = time.Second

// cpuBudget admits hash computations while the time they run stays within
// a share of the machine: a bucket that fills with rate seconds per second,
// up to one window's worth, and that each computation drains by the time it
// ran. A computation is admitted at once while the bucket holds time, or
// later, when the time it owes has been earned back, if that is soon
// enough; so a storm of logins gets the budget's share of the CPU, spread
// evenly, and the rest is refused at once with the time the budget frees.
//
// A computation is charged the wall time it held its slot (times its lanes,
// for Argon2id with Threads > 1), not its CPU time. While a hash runs, Go
// lets other goroutines in only when it preempts it, every 10 ms or so, so
// its wall time is what other requests wait through; on a machine that
// gives the process less than its cores (other processes, a CPU quota) a
// hash runs longer than its CPU time, and counting CPU time let hashing
// fill most of the time the process had. (Reading a goroutine's CPU time
// needs it locked to its thread, and a locked goroutine that is preempted
// hands its processor to another thread and back, which cost other requests
// dearly too.) Admission cannot know what a computation will take, so it
// charges the moving average of the last ones (nothing before the first one
// finishes) and settles the difference when the computation ends. A
// computation counts for at most one window's worth, so at least one runs
// per window whatever it costs.
type cpuBudget struct {
	rate     float64       // seconds of hashing earned per second
	capacity time.Duration // the most hashing time the bucket holds
	now      func() time.Time

	mu       sync.Mutex
	level    time.Duration // hashing time available; negative: owed
	at       time.Time     // when level was last brought up to date
	estimate time.Duration // moving average of the computations' time
}

func newCPUBudget(fraction float64, procs int, now func() time.Time) *cpuBudget {
	rate := fraction * float64(procs)
	capacity := time.Duration(rate * float64(cpuBudgetWindow))
	return &cpuBudget{rate: rate, capacity: capacity, now: now, level: capacity, at: now()}
}

// refill brings level up to date at now. b.mu is held.
func (b *cpuBudget) refill(now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.level = min(b.capacity, b.level+time.Duration(float64(d)*b.rate))
		b.at = now
	}
}

// reserve admits one computation if it can start within maxWait: it returns
// how long to wait before starting (0: at once) and the charge to settle
// with done or cancel. Otherwise ok is false and wait is how long until the
// budget admits a computation at once.
func (b *cpuBudget) reserve(maxWait time.Duration) (wait, charge time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(b.now())
	if b.level <= 0 {
		// Earned back at rate: the time to earn the debt and a nanosecond
		// more, so that level is positive again by then.
		wait = time.Duration(math.Ceil(float64(-b.level+1) / b.rate))
	}
	if wait > maxWait {
		return wait, 0, false
	}
	b.level -= b.estimate
	return wait, b.estimate, true
}

// cancel returns the charge of a computation that never ran.
func (b *cpuBudget) cancel(charge time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.level = min(b.capacity, b.level+charge)
}

// done settles a computation that was charged charge and used used. A
// computation counts for at most one window's worth (capacity): one that
// takes longer than the budget earns in a window still leaves room for the
// next a window later, so logins slow down but never stop.
func (b *cpuBudget) done(charge, used time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	used = min(used, b.capacity)
	b.level = min(b.capacity, b.level+charge-used)
	if b.estimate == 0 {
		b.estimate = used
	} else {
		b.estimate = (3*b.estimate + used) / 4
	}
}

// errBusyBudget is the cause of a refusal because the CPU budget is spent.
var errBusyBudget = fmt.Errorf("%w: %s", ErrBusy, "password hashing CPU budget spent")

// budgetRefusal is the error of a call the budget cannot admit in time: a
// 503 temporarily_unavailable whose RetryAfter is when it would be admitted
// at once.
func budgetRefusal(wait time.Duration) error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Description: "server busy; retry later", RetryAfter: max(wait, time.Millisecond), Err: errBusyBudget}
}

// compute runs f, one key-derivation run on lanes threads, under the CPU
// budget and a pool slot: it waits for both as described on
// [PasswordHasherConfig.QueueTimeout], then charges the budget with the
// time f ran.
func (h *PasswordHasher) compute(ctx context.Context, lanes int, f func()) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	start := time.Now()
	maxWait := max(h.queueTimeout, 0)
	if deadline, ok := ctx.Deadline(); ok {
		maxWait = max(0, min(maxWait, deadline.Sub(start)))
	}
	wait, charge, ok := h.budget.reserve(maxWait)
	if !ok {
		return budgetRefusal(wait)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			h.budget.cancel(charge)
			return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
		}
	}
	slotWait := h.queueTimeout
	if slotWait >= 0 {
		slotWait = max(0, slotWait-time.Since(start))
	}
	if err := h.acquire(ctx, slotWait); err != nil {
		h.budget.cancel(charge)
		return err
	}
	defer h.release()
	h.budget.done(charge, runTime(lanes, f))
	return nil
}

// runTime runs f and returns the time to charge for it: its wall time,
// times the lanes that can run at once when f spreads over lanes
// goroutines (Argon2id with Threads > 1).
func runTime(lanes int, f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start) * time.Duration(max(1, min(lanes, runtime.GOMAXPROCS(0))))
}
