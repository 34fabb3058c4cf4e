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

// defaultCPUBudget is PasswordHasherConfig.CPUBudget's default.
const defaultCPUBudget = 0.5

// cpuBudgetWindow is how much hashing time the budget lets through at once
// after a quiet spell, in seconds of its rate: CPUBudget × GOMAXPROCS × 1s.
const cpuBudgetWindow = time.Second

// cpuBudget admits hash computations while the CPU time they use stays
// within a share of the machine: a bucket that fills with rate seconds of
// CPU per second, up to one window's worth, and that each computation
// drains by the CPU time it used. A computation is admitted at once while
// the bucket holds time, or later, when the time it owes has been earned
// back, if that is soon enough; so a storm of logins gets the budget's share
// of the CPU, spread evenly, and the rest is refused at once with the time
// the budget frees.
//
// A run's CPU time depends on its parameters, not on the password, so it is
// measured once per set of parameters (the thread's CPU time, the run
// locked to its thread) and again every recalibrateEvery runs; the runs in
// between are charged that figure and run unlocked, because a locked
// goroutine that is preempted hands its processor to another thread and
// back, which costs the other requests dearly on a busy machine. Admission
// charges a run its parameters' figure up front, or the moving average of
// the last runs when they have none yet (nothing before the first run
// finishes), and settles the difference when the run ends. A run counts
// for at most one window's worth, so at least one runs per window whatever
// it costs.
type cpuBudget struct {
	rate     float64       // CPU seconds earned per second
	capacity time.Duration // the most CPU time the bucket holds
	now      func() time.Time

	mu       sync.Mutex
	level    time.Duration // CPU time available; negative: owed
	at       time.Time     // when level was last brought up to date
	estimate time.Duration // moving average of the runs' CPU time
	costs    map[kdfParams]*kdfCost
}

// kdfParams are what a key-derivation run's CPU time depends on.
type kdfParams struct {
	scheme  Scheme
	cost    int // bcrypt cost, argon2 time, pbkdf2 rounds
	memory  uint32
	threads uint8
	keyLen  int
}

// kdfCost is the measured CPU time of runs with one set of parameters.
type kdfCost struct {
	cpu  time.Duration
	runs int // charged since the last measurement
}

const (
	// recalibrateEvery: one run in this many with known parameters is
	// measured again (CPU frequency and cache effects drift).
	recalibrateEvery = 64
	// maxKDFCosts bounds the table of measured parameters (stored hashes
	// choose them, within the ceilings); when full, it starts over.
	maxKDFCosts = 64
)

func newCPUBudget(fraction float64, procs int, now func() time.Time) *cpuBudget {
	rate := fraction * float64(procs)
	capacity := time.Duration(rate * float64(cpuBudgetWindow))
	return &cpuBudget{rate: rate, capacity: capacity, now: now, level: capacity, at: now(),
		costs: map[kdfParams]*kdfCost{}}
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
func (b *cpuBudget) reserve(p kdfParams, maxWait time.Duration) (wait, charge time.Duration, ok bool) {
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
	charge = b.estimate
	if c := b.costs[p]; c != nil {
		charge = c.cpu
	}
	b.level -= charge
	return wait, charge, true
}

// known returns the measured CPU time of a run with parameters p, unless
// it is unknown or due to be measured again.
func (b *cpuBudget) known(p kdfParams) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.costs[p]
	if c == nil || c.runs >= recalibrateEvery-1 {
		return 0, false
	}
	c.runs++
	return c.cpu, true
}

// cancel returns the charge of a computation that never ran.
func (b *cpuBudget) cancel(charge time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.level = min(b.capacity, b.level+charge)
}

// done settles a run with parameters p that was charged charge and used
// used; measured says used is the run's own CPU time, to be remembered for
// p. A run counts for at most one window's worth (capacity): one that costs
// more than the budget earns in a window still leaves room for the next a
// window later, so logins slow down but never stop.
func (b *cpuBudget) done(p kdfParams, charge, used time.Duration, measured bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if measured {
		if len(b.costs) >= maxKDFCosts && b.costs[p] == nil {
			clear(b.costs)
		}
		b.costs[p] = &kdfCost{cpu: used}
	}
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

// compute runs f, one key-derivation run with parameters p, under the CPU
// budget and a pool slot: it waits for both as described on
// [PasswordHasherConfig.QueueTimeout], then charges the budget with the CPU
// time f used.
func (h *PasswordHasher) compute(ctx context.Context, p kdfParams, f func()) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	start := time.Now()
	maxWait := max(h.queueTimeout, 0)
	if deadline, ok := ctx.Deadline(); ok {
		maxWait = max(0, min(maxWait, deadline.Sub(start)))
	}
	wait, charge, ok := h.budget.reserve(p, maxWait)
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
	if cpu, ok := h.budget.known(p); ok {
		f()
		h.budget.done(p, charge, cpu, false)
		return nil
	}
	lanes := 1
	if p.scheme == SchemeArgon2id {
		lanes = int(p.threads)
	}
	used, measured := measureCPU(lanes, f)
	h.budget.done(p, charge, used, measured)
	return nil
}

// measureCPU runs f and returns the CPU time it used. With one lane, where
// the platform tells a thread's CPU time, f runs locked to its thread
// (which runs nothing else meanwhile) and measured is true. Otherwise the
// figure is the wall time, times the lanes that can run at once when f
// spreads over lanes goroutines (Argon2id with Threads > 1): an upper bound.
func measureCPU(lanes int, f func()) (used time.Duration, measured bool) {
	if lanes > 1 || !threadCPUTimeWorks {
		start := time.Now()
		f()
		return time.Since(start) * time.Duration(max(1, min(lanes, runtime.GOMAXPROCS(0)))), false
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0, ok0 := threadCPUTime()
	w0 := time.Now()
	f()
	if c1, ok1 := threadCPUTime(); ok0 && ok1 {
		return c1 - c0, true
	}
	return time.Since(w0), false
}
