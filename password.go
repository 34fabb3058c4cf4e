package guard

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// MaxPasswordLen is the longest password, in bytes, that any scheme accepts
// (passlib's limit too). Longer passwords are refused by Hash with
// [ErrPasswordTooLong] and never match in Verify; the cap keeps a huge request
// body from becoming a huge hashing job.
const MaxPasswordLen = 4096

// Scheme names a password-hash scheme, spelled as in passlib's CryptContext.
type Scheme string

// The supported schemes. Only [SchemeArgon2id] and [SchemeBcrypt] can be the
// default (first) scheme; the others verify existing passlib hashes only.
const (
	// SchemeArgon2id: Argon2id (RFC 9106) in the PHC string format
	// $argon2id$v=19$m=…,t=…,p=…$salt$hash, as argon2-cffi, passlib and pwdlib write it.
	SchemeArgon2id Scheme = "argon2id"
	// SchemeBcrypt: bcrypt, $2b$ (written), $2a$, $2y$ (read).
	SchemeBcrypt Scheme = "bcrypt"
	// SchemeBcryptSHA256: passlib's bcrypt_sha256, $bcrypt-sha256$v=2,… (HMAC-SHA256
	// keyed with the salt) and the older $bcrypt-sha256$2b,… (plain SHA-256). Verify only.
	SchemeBcryptSHA256 Scheme = "bcrypt_sha256"
	// SchemePBKDF2SHA256: passlib's pbkdf2_sha256, $pbkdf2-sha256$rounds$salt$checksum. Verify only.
	SchemePBKDF2SHA256 Scheme = "pbkdf2_sha256"
)

// Argon2Params are Argon2id cost parameters. Zero fields take the defaults
// below, which are OWASP's recommended Argon2id configuration (Password
// Storage Cheat Sheet: m=19 MiB, t=2, p=1).
type Argon2Params struct {
	// Memory in KiB. Default 19456 (19 MiB). Minimum 7168.
	Memory uint32
	// Time is the number of passes. Default 2. Memory×Time must be at least
	// 35840 KiB (OWASP's weakest listed configuration, m=7 MiB with t=5).
	Time uint32
	// Threads is the degree of parallelism (lanes). Default 1, so one hash
	// occupies one core and MaxConcurrent slots mean MaxConcurrent cores.
	Threads uint8
	// SaltLen is the random salt length in bytes. Default 16, minimum 16.
	SaltLen uint32
	// KeyLen is the hash length in bytes. Default 32, minimum 16.
	KeyLen uint32
}

// PasswordHasherConfig configures a [PasswordHasher]. The zero value is a
// good production configuration; every field documents its default.
type PasswordHasherConfig struct {
	// Schemes lists the accepted schemes, like passlib's CryptContext: the first
	// is the default used by Hash; the others only verify. Default: bcrypt,
	// argon2id, bcrypt_sha256, pbkdf2_sha256. The first must be bcrypt or
	// argon2id. Which hashes need a rehash is described on
	// [PasswordHasher.Verify].
	//
	// bcrypt is the default so that a user table shared with a Python service
	// using passlib's CryptContext(schemes=["bcrypt"]) stays readable there:
	// hashes are written as $2b$, passlib's own form, and a rehash on login
	// never moves a user to a scheme that service cannot check. Choose
	// Argon2id instead, with
	//
	//	Schemes: []guard.Scheme{guard.SchemeArgon2id, guard.SchemeBcrypt},
	//
	// (add bcrypt_sha256 and pbkdf2_sha256 if such hashes are stored) when no
	// bcrypt-only service shares the table and you want passwords over 72
	// bytes or a memory-hard hash that costs GPU crackers more; existing
	// bcrypt hashes then verify and are rehashed to Argon2id on login.
	Schemes []Scheme
	// BcryptCost is the bcrypt cost (log2 rounds) for new hashes and the
	// floor below which bcrypt hashes need a rehash. Default 12; minimum 10.
	BcryptCost int
	// Argon2 are the Argon2id parameters for new hashes and the floor below
	// which Argon2id hashes need a rehash. Default: see [Argon2Params].
	Argon2 Argon2Params

	// MaxConcurrent is the most hash computations (Hash, Verify, VerifyDummy)
	// running at once. Default half of runtime.GOMAXPROCS(0) at construction,
	// at least 1: a login storm then leaves the other cores to the rest of the
	// service (with every core hashing, a bearer route's p99 rose to ~120 ms
	// in the login load test). On one core that one slot is the whole CPU,
	// which is what CPUBudget is for.
	MaxConcurrent int
	// CPUBudget is the share of the CPU that hash computations may use, as a
	// fraction of runtime.GOMAXPROCS(0) at construction, in (0, 1]. Default
	// 0.35: about a third of the cores, or of the only one, so that during
	// a storm of failing logins the rest of the service keeps at least half
	// of its throughput (bench/loginstorm.sh). Each computation is
	// charged the time it ran, wall time (times its lanes for Argon2id with
	// Threads > 1): while a hash runs, other requests on its core wait, and
	// a process that gets less than its cores runs a hash for longer than
	// its CPU time. After a quiet spell up to one second's worth
	// (CPUBudget × GOMAXPROCS seconds) runs at once, then computations start
	// no faster than the budget earns time back, within QueueTimeout, and the
	// rest fail at once with an [ErrBusy] error whose [*Error] (see
	// [ErrorOf]) has Status 503, Code temporarily_unavailable and a
	// RetryAfter of when the budget would admit one at once. A slot only
	// bounds how many hashes run, and Go preempts a hash only every 10 ms or
	// so: on one core, a storm of failing logins took the CPU from every
	// other request (a bearer route fell from 55k to 392 req/s) until this
	// budget. A computation counts for at most a second's worth of the
	// budget, so at least one runs per second whatever it costs: logins slow
	// down but never stop (a hash that costs more than that exceeds the
	// budget; lower its cost instead). 1 lets hashing use every core, as
	// MaxConcurrent allows.
	CPUBudget float64
	// QueueTimeout is the longest a call waits for the CPU budget and a free
	// slot, whatever the context's deadline (an earlier deadline or
	// cancellation still wins); then it fails with [ErrBusy], so a login
	// flood sheds load instead of queueing without bound. A call the budget
	// cannot admit within it fails at once. Default 1s. Negative means never
	// wait: fail at once unless the budget has time left and a slot is free.
	QueueTimeout time.Duration

	// MaxBcryptCost is the highest bcrypt (and bcrypt_sha256) cost Verify will
	// run; a stored hash above this or the other ceilings below fails with
	// [ErrUnsupportedHash] after the dummy work (see [PasswordHasher.Verify])
	// instead of its own. Default 14 (about 4× the default cost).
	MaxBcryptCost int
	// MaxArgon2Memory is the highest Argon2 memory, in KiB, Verify will run.
	// Default 262144 (256 MiB, 4× argon2-cffi's default of 64 MiB).
	MaxArgon2Memory uint32
	// MaxArgon2Time is the highest Argon2 pass count Verify will run. Default 10.
	MaxArgon2Time uint32
	// MaxPBKDF2Rounds is the highest pbkdf2_sha256 round count Verify will run.
	// Default 2000000.
	MaxPBKDF2Rounds int
}

const (
	defaultBcryptCost      = 12
	minBcryptCost          = 10
	defaultArgon2Memory    = 19456
	defaultArgon2Time      = 2
	defaultArgon2Threads   = 1
	defaultArgon2SaltLen   = 16
	defaultArgon2KeyLen    = 32
	minArgon2Memory        = 7168
	minArgon2Work          = 7168 * 5
	defaultQueueTimeout    = time.Second
	defaultMaxBcryptCost   = 14
	defaultMaxArgon2Memory = 256 * 1024
	defaultMaxArgon2Time   = 10
	defaultMaxPBKDF2Rounds = 2_000_000
	bcryptMaxPasswordLen   = 72
)

// PasswordHasher hashes and verifies passwords under one policy. Create it
// with [NewPasswordHasher]; it is safe for concurrent use by multiple
// goroutines. At most MaxConcurrent hash computations run at once, within
// the CPUBudget share of the CPU; callers that cannot get a slot and the
// budget in time get [ErrBusy].
type PasswordHasher struct {
	def     Scheme
	enabled map[Scheme]bool

	bcryptCost int
	argon2     Argon2Params

	maxBcryptCost   int
	maxArgon2Memory uint32
	maxArgon2Time   uint32
	maxPBKDF2Rounds int

	sem          chan struct{}
	queueTimeout time.Duration
	budget       *cpuBudget

	// dummy is a hash in the default scheme at the current policy whose
	// password nobody knows; VerifyDummy runs against it.
	dummy passwordHash

	// kdfTrace, when not nil, is called once per key-derivation run (bcrypt,
	// Argon2id, PBKDF2), just before it, with the parameters it runs at.
	// Tests only; set it before the hasher is shared.
	kdfTrace func(*passwordHash)
}

// NewPasswordHasher validates cfg and returns a hasher. All problems are
// reported together with [errors.Join]. The config is copied; changing it
// afterwards has no effect. Construction computes no hash.
func NewPasswordHasher(cfg PasswordHasherConfig) (*PasswordHasher, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("guard: password hasher: "+format, args...))
	}

	schemes := cfg.Schemes
	if len(schemes) == 0 {
		schemes = []Scheme{SchemeBcrypt, SchemeArgon2id, SchemeBcryptSHA256, SchemePBKDF2SHA256}
	}
	enabled := make(map[Scheme]bool, len(schemes))
	for _, s := range schemes {
		switch s {
		case SchemeArgon2id, SchemeBcrypt, SchemeBcryptSHA256, SchemePBKDF2SHA256:
		default:
			bad("unknown scheme %q", s)
			continue
		}
		if enabled[s] {
			bad("scheme %q listed twice", s)
		}
		enabled[s] = true
	}
	if def := schemes[0]; def != SchemeArgon2id && def != SchemeBcrypt {
		bad("default scheme %q cannot hash; use %q or %q first", def, SchemeArgon2id, SchemeBcrypt)
	}

	h := &PasswordHasher{
		def:             schemes[0],
		enabled:         enabled,
		bcryptCost:      cmp.Or(cfg.BcryptCost, defaultBcryptCost),
		argon2:          cfg.Argon2,
		maxBcryptCost:   cmp.Or(cfg.MaxBcryptCost, defaultMaxBcryptCost),
		maxArgon2Memory: cmp.Or(cfg.MaxArgon2Memory, defaultMaxArgon2Memory),
		maxArgon2Time:   cmp.Or(cfg.MaxArgon2Time, defaultMaxArgon2Time),
		maxPBKDF2Rounds: cmp.Or(cfg.MaxPBKDF2Rounds, defaultMaxPBKDF2Rounds),
		queueTimeout:    cmp.Or(cfg.QueueTimeout, defaultQueueTimeout),
	}
	a := &h.argon2
	a.Memory = cmp.Or(a.Memory, defaultArgon2Memory)
	a.Time = cmp.Or(a.Time, defaultArgon2Time)
	a.Threads = cmp.Or(a.Threads, defaultArgon2Threads)
	a.SaltLen = cmp.Or(a.SaltLen, defaultArgon2SaltLen)
	a.KeyLen = cmp.Or(a.KeyLen, defaultArgon2KeyLen)

	if h.bcryptCost < minBcryptCost || h.bcryptCost > bcrypt.MaxCost {
		bad("BcryptCost %d outside [%d, %d]", h.bcryptCost, minBcryptCost, bcrypt.MaxCost)
	}
	if h.maxBcryptCost < h.bcryptCost || h.maxBcryptCost > bcrypt.MaxCost {
		bad("MaxBcryptCost %d outside [BcryptCost=%d, %d]", h.maxBcryptCost, h.bcryptCost, bcrypt.MaxCost)
	}
	if a.Memory < minArgon2Memory {
		bad("Argon2.Memory %d KiB below %d KiB", a.Memory, minArgon2Memory)
	}
	if uint64(a.Memory)*uint64(a.Time) < minArgon2Work {
		bad("Argon2.Memory×Time %d below %d", uint64(a.Memory)*uint64(a.Time), minArgon2Work)
	}
	if a.Memory < 8*uint32(a.Threads) {
		bad("Argon2.Memory %d KiB below 8×Threads", a.Memory)
	}
	if a.SaltLen < 16 || a.SaltLen > argon2MaxSalt {
		bad("Argon2.SaltLen %d outside [16, %d]", a.SaltLen, argon2MaxSalt)
	}
	if a.KeyLen < 16 || a.KeyLen > argon2MaxKey {
		bad("Argon2.KeyLen %d outside [16, %d]", a.KeyLen, argon2MaxKey)
	}
	if h.maxArgon2Memory < a.Memory {
		bad("MaxArgon2Memory %d below Argon2.Memory %d", h.maxArgon2Memory, a.Memory)
	}
	if h.maxArgon2Time < a.Time {
		bad("MaxArgon2Time %d below Argon2.Time %d", h.maxArgon2Time, a.Time)
	}
	if h.maxPBKDF2Rounds < 1 {
		bad("MaxPBKDF2Rounds %d below 1", h.maxPBKDF2Rounds)
	}
	n := cfg.MaxConcurrent
	if n == 0 {
		n = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if n < 0 {
		bad("MaxConcurrent %d is negative", n)
	}
	budget := cmp.Or(cfg.CPUBudget, defaultCPUBudget)
	if !(budget > 0 && budget <= 1) { // NaN too
		bad("CPUBudget %v outside (0, 1]", budget)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	h.sem = make(chan struct{}, n)
	h.budget = newCPUBudget(budget, runtime.GOMAXPROCS(0), time.Now)
	if err := h.initDummy(); err != nil {
		return nil, err
	}
	return h, nil
}

// initDummy builds a hash at the current policy with random salt and
// checksum: verifying against it costs exactly a real verification and never
// succeeds.
func (h *PasswordHasher) initDummy() error {
	switch h.def {
	case SchemeArgon2id:
		salt, err := randomBytes(int(h.argon2.SaltLen))
		if err != nil {
			return err
		}
		sum, err := randomBytes(int(h.argon2.KeyLen))
		if err != nil {
			return err
		}
		h.dummy = passwordHash{scheme: SchemeArgon2id, version: 0x13, cost: int(h.argon2.Time),
			memory: h.argon2.Memory, threads: h.argon2.Threads, salt: salt, sum: sum}
	default:
		salt, err := randomBytes(16)
		if err != nil {
			return err
		}
		sum, err := randomBytes(23)
		if err != nil {
			return err
		}
		h.dummy = passwordHash{scheme: SchemeBcrypt, ident: "2b", cost: h.bcryptCost,
			bsalt: bcrypt64.EncodeToString(salt), bsum: bcrypt64.EncodeToString(sum)}
	}
	return nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("guard: reading random salt: %w", err)
	}
	return b, nil
}

// Hash hashes password with the default scheme and returns the encoded
// hash: $2b$ modular crypt for bcrypt (the zero config's scheme, at cost 12,
// in the form passlib writes), a PHC string for argon2id. It waits for the
// CPU budget and a free slot as described on
// [PasswordHasherConfig.QueueTimeout]; once started, the computation is not
// interrupted by ctx.
//
// Hash enforces no password policy (empty passwords are hashed like any
// other). It fails with [ErrPasswordTooLong] above [MaxPasswordLen] bytes,
// or above 72 bytes when the default is bcrypt, as in the zero config
// (bcrypt would silently ignore the rest); with [ErrPasswordContainsNUL] for
// a NUL byte under bcrypt; and with an error matching [ErrBusy] when the
// CPU budget or a slot is not free in time (see
// [PasswordHasherConfig.CPUBudget] for its RetryAfter).
func (h *PasswordHasher) Hash(ctx context.Context, password string) (Secret, error) {
	enc, err := h.hash(ctx, password)
	return Secret(enc), err
}

func (h *PasswordHasher) hash(ctx context.Context, password string) (string, error) {
	if err := checkPasswordLen(h.def, password); err != nil {
		return "", err
	}
	var salt []byte
	if h.def == SchemeArgon2id {
		var err error
		if salt, err = randomBytes(int(h.argon2.SaltLen)); err != nil {
			return "", err
		}
	}
	if h.def == SchemeArgon2id {
		a := h.argon2
		ph := passwordHash{scheme: SchemeArgon2id, version: 0x13, cost: int(a.Time), memory: a.Memory,
			threads: a.Threads, salt: salt}
		err := h.compute(ctx, int(a.Threads), func() {
			h.trace(&ph)
			ph.sum = argon2.IDKey([]byte(password), salt, a.Time, a.Memory, a.Threads, a.KeyLen)
		})
		if err != nil {
			return "", err
		}
		return ph.String(), nil
	}
	var b []byte
	var berr error
	err := h.compute(ctx, 1, func() {
		h.trace(&passwordHash{scheme: SchemeBcrypt, ident: "2b", cost: h.bcryptCost})
		b, berr = bcrypt.GenerateFromPassword([]byte(password), h.bcryptCost)
	})
	if err != nil {
		return "", err
	}
	if berr != nil {
		return "", fmt.Errorf("guard: bcrypt: %w", berr)
	}
	// x/crypto writes $2a$; its algorithm is the fixed one that OpenBSD
	// renamed $2b$ (the 2a/2b difference is only for passwords of 255+
	// bytes, which bcrypt here refuses), so write the current name.
	b[2] = 'b'
	return string(b), nil
}

// checkPasswordLen applies the length and NUL rules for hashing with scheme.
func checkPasswordLen(scheme Scheme, password string) error {
	if len(password) > MaxPasswordLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrPasswordTooLong, len(password), MaxPasswordLen)
	}
	if scheme == SchemeBcrypt {
		if len(password) > bcryptMaxPasswordLen {
			return fmt.Errorf("%w: %d bytes, bcrypt uses at most %d", ErrPasswordTooLong, len(password), bcryptMaxPasswordLen)
		}
		if strings.IndexByte(password, 0) >= 0 {
			return ErrPasswordContainsNUL
		}
	}
	return nil
}

// Verify reports whether password matches the stored hash encoded, in any
// enabled scheme. On a match err is nil and needsRehash says whether the
// caller should store a fresh Hash of the password:
//   - a bcrypt hash needs one when its cost is below BcryptCost, or when the
//     default is Argon2id;
//   - an Argon2id hash, when its parameters are below [PasswordHasherConfig.Argon2],
//     whatever the default: one that meets them is not moved to a bcrypt
//     default, which would trade a memory-hard hash for a weaker one;
//   - bcrypt_sha256 and pbkdf2_sha256 hashes always;
//   - never when Hash would refuse the password (over 72 bytes or with a NUL
//     byte under a bcrypt default): the stored hash that works is kept.
//
// Costs and sizes above the policy never call for a rehash.
//
// Every failure costs one computation: a wrong password, one at the stored
// hash's parameters; every failure found without computing (no stored hash,
// a malformed or unsupported one, a password the stored scheme cannot take),
// the dummy work of [PasswordHasher.VerifyDummy]: one computation in the
// default scheme at the current policy, through the same pool of slots. So
// the response time does not tell such accounts from unknown users, and a
// poisoned stored hash (a $2b$31$, a 4 GiB Argon2 hash) costs no more than
// one verification at the policy.
//
// Failures: [ErrPasswordMismatch] for a wrong password, and for an empty
// encoded hash, which is an account with no password (single sign-on only),
// not a corrupt one; [ErrMalformedHash] or [ErrUnsupportedHash] for a stored
// hash that cannot be checked, a server-side problem worth logging apart
// from wrong passwords (the error names what is wrong, never the hash
// itself); an error matching [ErrBusy] (and the context's error, if it ended)
// when the CPU budget or a slot is not free in time, whatever else is wrong.
//
// bcrypt rule: bcrypt reads only 72 bytes, and this package never truncates.
// A password over 72 bytes (or containing NUL) checked against a bcrypt hash
// is a mismatch (the error also matches [ErrPasswordTooLong] or
// [ErrPasswordContainsNUL]), even if the hash was made by a library that
// truncated silently. bcrypt_sha256 and the other schemes have no such limit.
// Any password over [MaxPasswordLen] bytes is a mismatch matching
// [ErrPasswordTooLong].
func (h *PasswordHasher) Verify(ctx context.Context, password string, encoded Secret) (needsRehash bool, err error) {
	ph, err := h.checkable(password, string(encoded))
	if err != nil {
		if busy := h.dummyWork(ctx, password); busy != nil {
			return false, busy
		}
		return false, err
	}
	if err := h.verify(ctx, password, &ph); err != nil {
		return false, err
	}
	return h.needsRehash(&ph, password), nil
}

// VerifyDummy does the work of verifying password against a hash in the
// default scheme at the current policy, and always fails: with
// [ErrPasswordMismatch], or an error matching [ErrBusy] like Verify. Call it
// when the user is unknown, so that the response time does not tell which
// users exist. Its cost does not depend on the password.
func (h *PasswordHasher) VerifyDummy(ctx context.Context, password string) error {
	if err := h.dummyWork(ctx, password); err != nil {
		return err
	}
	return ErrPasswordMismatch
}

var (
	errMismatchTooLong = fmt.Errorf("%w (%w)", ErrPasswordMismatch, ErrPasswordTooLong)
	errMismatchNUL     = fmt.Errorf("%w (%w)", ErrPasswordMismatch, ErrPasswordContainsNUL)
	errMismatchNoHash  = fmt.Errorf("%w (no password set)", ErrPasswordMismatch)
)

// checkable parses encoded and reports, without computing anything, why
// password cannot be checked against it.
func (h *PasswordHasher) checkable(password, encoded string) (passwordHash, error) {
	if encoded == "" {
		return passwordHash{}, errMismatchNoHash
	}
	ph, err := parsePasswordHash(encoded)
	if err != nil {
		return ph, err
	}
	if err := h.admit(&ph); err != nil {
		return ph, err
	}
	if len(password) > MaxPasswordLen {
		return ph, errMismatchTooLong
	}
	if ph.scheme == SchemeBcrypt {
		if len(password) > bcryptMaxPasswordLen {
			return ph, errMismatchTooLong
		}
		if strings.IndexByte(password, 0) >= 0 {
			return ph, errMismatchNUL
		}
	}
	return ph, nil
}

// verify checks password against a checkable hash: one computation, under
// the pool.
func (h *PasswordHasher) verify(ctx context.Context, password string, ph *passwordHash) error {
	var ok bool
	var cerr error
	if err := h.compute(ctx, ph.lanes(), func() { ok, cerr = ph.check(password, h.kdfTrace) }); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if !ok {
		return ErrPasswordMismatch
	}
	return nil
}

// dummyWork checks password against the dummy hash under the pool and
// ignores the result; it fails only with ErrBusy. Whatever the password,
// the work is one computation at the current policy: bcrypt gets at most its
// 72 bytes (it takes as long for any length), every scheme at most
// MaxPasswordLen.
func (h *PasswordHasher) dummyWork(ctx context.Context, password string) error {
	limit := MaxPasswordLen
	if h.dummy.scheme == SchemeBcrypt {
		limit = bcryptMaxPasswordLen
	}
	password = password[:min(len(password), limit)]
	// A match would need the random dummy checksum to match: ignore it.
	return h.compute(ctx, h.dummy.lanes(), func() { _, _ = h.dummy.check(password, h.kdfTrace) })
}

func (h *PasswordHasher) trace(ph *passwordHash) {
	if h.kdfTrace != nil {
		h.kdfTrace(ph)
	}
}

// admit refuses hashes of disabled schemes or above the cost ceilings.
func (h *PasswordHasher) admit(ph *passwordHash) error {
	if !h.enabled[ph.scheme] {
		return fmt.Errorf("%w: scheme %s not enabled", ErrUnsupportedHash, ph.scheme)
	}
	switch ph.scheme {
	case SchemeBcrypt, SchemeBcryptSHA256:
		if ph.cost > h.maxBcryptCost {
			return fmt.Errorf("%w: bcrypt cost %d above ceiling %d", ErrUnsupportedHash, ph.cost, h.maxBcryptCost)
		}
	case SchemeArgon2id:
		if ph.memory > h.maxArgon2Memory {
			return fmt.Errorf("%w: argon2 memory %d KiB above ceiling %d", ErrUnsupportedHash, ph.memory, h.maxArgon2Memory)
		}
		if uint32(ph.cost) > h.maxArgon2Time {
			return fmt.Errorf("%w: argon2 time %d above ceiling %d", ErrUnsupportedHash, ph.cost, h.maxArgon2Time)
		}
	case SchemePBKDF2SHA256:
		if ph.cost > h.maxPBKDF2Rounds {
			return fmt.Errorf("%w: pbkdf2 rounds %d above ceiling %d", ErrUnsupportedHash, ph.cost, h.maxPBKDF2Rounds)
		}
	}
	return nil
}

// needsRehash applies the rules written on Verify to a hash password matched.
func (h *PasswordHasher) needsRehash(ph *passwordHash, password string) bool {
	if checkPasswordLen(h.def, password) != nil {
		return false
	}
	switch ph.scheme {
	case SchemeBcrypt:
		return h.def != SchemeBcrypt || ph.cost < h.bcryptCost
	case SchemeArgon2id:
		a := h.argon2
		return ph.memory < a.Memory || uint32(ph.cost) < a.Time ||
			uint32(len(ph.salt)) < a.SaltLen || uint32(len(ph.sum)) < a.KeyLen
	}
	return true
}

var errBusyFull = fmt.Errorf("%w: all %s", ErrBusy, "hashing slots in use")

// acquire takes a pool slot, waiting at most wait (zero or negative: not at all) or
// until ctx ends.
func (h *PasswordHasher) acquire(ctx context.Context, wait time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if wait <= 0 {
		return errBusyFull
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	case <-t.C:
		return errBusyFull
	}
}

func (h *PasswordHasher) release() { <-h.sem }
