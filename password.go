package guard

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
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

// maxHashLen bounds a stored hash string before any parsing.
const maxHashLen = 512

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
	// is the default used by Hash; the others only verify, and a hash in them
	// is reported as needing a rehash. Default: argon2id, bcrypt,
	// bcrypt_sha256, pbkdf2_sha256. The first must be argon2id or bcrypt.
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
	// in the login load test).
	MaxConcurrent int
	// QueueTimeout is the longest a call waits for a free slot, whatever the
	// context's deadline (an earlier deadline or cancellation still wins);
	// then it fails with [ErrBusy], so a login flood sheds load instead of
	// queueing without bound. Default 1s. Negative means never wait: fail at
	// once unless a slot is free.
	QueueTimeout time.Duration

	// MaxBcryptCost is the highest bcrypt (and bcrypt_sha256) cost Verify will
	// run; a stored hash above it fails with [ErrUnsupportedHash] without being
	// computed. Default 14 (about 4× the default cost).
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
// goroutines. At most MaxConcurrent hash computations run at once; callers
// that cannot get a slot in time get [ErrBusy].
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

	// dummy is a hash in the default scheme at the current policy whose
	// password nobody knows; VerifyDummy runs against it.
	dummy passwordHash
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
		schemes = []Scheme{SchemeArgon2id, SchemeBcrypt, SchemeBcryptSHA256, SchemePBKDF2SHA256}
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
		bcryptCost:      orDefault(cfg.BcryptCost, defaultBcryptCost),
		argon2:          cfg.Argon2,
		maxBcryptCost:   orDefault(cfg.MaxBcryptCost, defaultMaxBcryptCost),
		maxArgon2Memory: orDefault(cfg.MaxArgon2Memory, defaultMaxArgon2Memory),
		maxArgon2Time:   orDefault(cfg.MaxArgon2Time, defaultMaxArgon2Time),
		maxPBKDF2Rounds: orDefault(cfg.MaxPBKDF2Rounds, defaultMaxPBKDF2Rounds),
		queueTimeout:    orDefault(cfg.QueueTimeout, defaultQueueTimeout),
	}
	a := &h.argon2
	a.Memory = orDefault(a.Memory, defaultArgon2Memory)
	a.Time = orDefault(a.Time, defaultArgon2Time)
	a.Threads = orDefault(a.Threads, defaultArgon2Threads)
	a.SaltLen = orDefault(a.SaltLen, defaultArgon2SaltLen)
	a.KeyLen = orDefault(a.KeyLen, defaultArgon2KeyLen)

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
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	h.sem = make(chan struct{}, n)
	if err := h.initDummy(); err != nil {
		return nil, err
	}
	return h, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
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

// Hash hashes password with the default scheme and returns the encoded hash
// (PHC string for argon2id, $2b$ modular crypt for bcrypt). It waits for a
// free slot as described on [PasswordHasherConfig.QueueTimeout]; once
// started, the computation is not interrupted by ctx.
//
// Hash enforces no password policy (empty passwords are hashed like any
// other). It fails with [ErrPasswordTooLong] above [MaxPasswordLen] bytes, or
// above 72 bytes when the default is bcrypt (bcrypt would silently ignore the
// rest), with [ErrPasswordContainsNUL] for a NUL byte under bcrypt, and with
// an error matching [ErrBusy] when no slot is free in time.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
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
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	switch h.def {
	case SchemeArgon2id:
		a := h.argon2
		ph := passwordHash{scheme: SchemeArgon2id, version: 0x13, cost: int(a.Time), memory: a.Memory,
			threads: a.Threads, salt: salt,
			sum: argon2.IDKey([]byte(password), salt, a.Time, a.Memory, a.Threads, a.KeyLen)}
		return ph.String(), nil
	default:
		b, err := bcrypt.GenerateFromPassword([]byte(password), h.bcryptCost)
		if err != nil {
			return "", fmt.Errorf("guard: bcrypt: %w", err)
		}
		// x/crypto writes $2a$; its algorithm is the fixed one that OpenBSD
		// renamed $2b$ (the 2a/2b difference is only for passwords of 255+
		// bytes, which bcrypt here refuses), so write the current name.
		b[2] = 'b'
		return string(b), nil
	}
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
// caller should store a fresh Hash of the password: true when the hash is not
// in the default scheme, or its cost or sizes are below the current policy
// (never because they are above it).
//
// Failures: [ErrPasswordMismatch] for a wrong password; [ErrMalformedHash] or
// [ErrUnsupportedHash] for a stored hash that cannot be checked (a server-side
// problem worth logging; such hashes are refused before any computation, so a
// poisoned $2b$31$ or a 4 GiB Argon2 hash costs nothing); an error matching
// [ErrBusy] (and the context's error, if it ended) when no slot is free in time.
//
// bcrypt rule: bcrypt reads only 72 bytes, and this package never truncates.
// A password over 72 bytes (or containing NUL) checked against a bcrypt hash
// is a mismatch (the error also matches [ErrPasswordTooLong] or
// [ErrPasswordContainsNUL]), even if the hash was made by a library that
// truncated silently. bcrypt_sha256 and the other schemes have no such limit.
func (h *PasswordHasher) Verify(ctx context.Context, password, encoded string) (needsRehash bool, err error) {
	ph, err := parsePasswordHash(encoded)
	if err != nil {
		return false, err
	}
	if err := h.admit(&ph); err != nil {
		return false, err
	}
	if err := h.verify(ctx, password, &ph); err != nil {
		return false, err
	}
	return h.needsRehash(&ph), nil
}

// VerifyDummy does the work of verifying password against a hash in the
// default scheme at the current policy, and always fails: with
// [ErrPasswordMismatch], or an error matching [ErrBusy] like Verify. Call it
// when the user is unknown, so that the response time does not tell which
// users exist.
func (h *PasswordHasher) VerifyDummy(ctx context.Context, password string) error {
	err := h.verify(ctx, password, &h.dummy)
	if err == nil || !errors.Is(err, ErrBusy) {
		// err == nil would need the random dummy checksum to match.
		return ErrPasswordMismatch
	}
	return err
}

var (
	errMismatchTooLong = fmt.Errorf("%w (%w)", ErrPasswordMismatch, ErrPasswordTooLong)
	errMismatchNUL     = fmt.Errorf("%w (%w)", ErrPasswordMismatch, ErrPasswordContainsNUL)
)

// verify checks password against an admitted hash under the pool.
func (h *PasswordHasher) verify(ctx context.Context, password string, ph *passwordHash) error {
	if len(password) > MaxPasswordLen {
		return errMismatchTooLong
	}
	if ph.scheme == SchemeBcrypt {
		if len(password) > bcryptMaxPasswordLen {
			return errMismatchTooLong
		}
		if strings.IndexByte(password, 0) >= 0 {
			return errMismatchNUL
		}
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	ok, err := ph.check(password)
	if err != nil {
		return err
	}
	if !ok {
		return ErrPasswordMismatch
	}
	return nil
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

func (h *PasswordHasher) needsRehash(ph *passwordHash) bool {
	if ph.scheme != h.def {
		return true
	}
	switch ph.scheme {
	case SchemeBcrypt:
		return ph.cost < h.bcryptCost
	case SchemeArgon2id:
		a := h.argon2
		return ph.memory < a.Memory || uint32(ph.cost) < a.Time ||
			uint32(len(ph.salt)) < a.SaltLen || uint32(len(ph.sum)) < a.KeyLen
	}
	return true
}

var errBusyFull = fmt.Errorf("%w: all %s", ErrBusy, "hashing slots in use")

// acquire takes a pool slot, waiting at most the queue timeout or until ctx
// ends.
func (h *PasswordHasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if h.queueTimeout < 0 {
		return errBusyFull
	}
	t := time.NewTimer(h.queueTimeout)
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

// ---- hash strings ----

const (
	bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	ab64Alphabet   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./"
	argon2MaxSalt  = 64
	argon2MaxKey   = 128
	pbkdf2MaxSalt  = 1024
)

var (
	// bcrypt64 is bcrypt's base64 (own alphabet, no padding).
	bcrypt64 = base64.NewEncoding(bcryptAlphabet).WithPadding(base64.NoPadding)
	// ab64 is passlib's "adapted base64": standard with '.' for '+', no padding.
	ab64   = base64.NewEncoding(ab64Alphabet).WithPadding(base64.NoPadding).Strict()
	phcB64 = base64.RawStdEncoding.Strict()
)

// passwordHash is a parsed stored hash. String formats it back; for every
// string parsePasswordHash accepts, String returns that exact string.
type passwordHash struct {
	scheme  Scheme
	version int    // argon2: 0x13; bcrypt_sha256: 1 or 2
	ident   string // bcrypt variants: "2a", "2b", "2y"
	cost    int    // bcrypt cost, argon2 time, pbkdf2 rounds
	memory  uint32 // argon2, KiB
	threads uint8  // argon2
	salt    []byte // argon2, pbkdf2
	sum     []byte // argon2, pbkdf2
	bsalt   string // bcrypt variants: 22 bcrypt64 characters
	bsum    string // bcrypt variants: 31 bcrypt64 characters
}

func (p *passwordHash) String() string {
	switch p.scheme {
	case SchemeArgon2id:
		return "$argon2id$v=" + strconv.Itoa(p.version) + "$m=" + strconv.FormatUint(uint64(p.memory), 10) +
			",t=" + strconv.Itoa(p.cost) + ",p=" + strconv.Itoa(int(p.threads)) +
			"$" + phcB64.EncodeToString(p.salt) + "$" + phcB64.EncodeToString(p.sum)
	case SchemeBcrypt:
		return p.bcryptString()
	case SchemeBcryptSHA256:
		if p.version == 1 {
			return "$bcrypt-sha256$" + p.ident + "," + strconv.Itoa(p.cost) + "$" + p.bsalt + "$" + p.bsum
		}
		return "$bcrypt-sha256$v=2,t=" + p.ident + ",r=" + strconv.Itoa(p.cost) + "$" + p.bsalt + "$" + p.bsum
	case SchemePBKDF2SHA256:
		return "$pbkdf2-sha256$" + strconv.Itoa(p.cost) + "$" + ab64.EncodeToString(p.salt) + "$" + ab64.EncodeToString(p.sum)
	}
	return ""
}

// bcryptString is the plain bcrypt hash inside p ($2b$12$salt+sum).
func (p *passwordHash) bcryptString() string {
	c := strconv.Itoa(p.cost)
	if p.cost < 10 {
		c = "0" + c
	}
	return "$" + p.ident + "$" + c + "$" + p.bsalt + p.bsum
}

func malformed(scheme, detail string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedHash, scheme, detail)
}

// parsePasswordHash parses a stored hash of any supported scheme. It never
// panics, and its work is linear in len(s), which is capped at maxHashLen.
func parsePasswordHash(s string) (passwordHash, error) {
	if len(s) > maxHashLen {
		return passwordHash{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, maxHashLen)
	}
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2(s[len("$argon2id$"):])
	case strings.HasPrefix(s, "$argon2i$"), strings.HasPrefix(s, "$argon2d$"):
		return passwordHash{}, fmt.Errorf("%w: only argon2id is supported", ErrUnsupportedHash)
	case strings.HasPrefix(s, "$bcrypt-sha256$"):
		return parseBcryptSHA256(s[len("$bcrypt-sha256$"):])
	case strings.HasPrefix(s, "$pbkdf2-sha256$"):
		return parsePBKDF2(s[len("$pbkdf2-sha256$"):])
	case strings.HasPrefix(s, "$2"):
		return parseBcrypt(s)
	}
	return passwordHash{}, fmt.Errorf("%w: unknown scheme", ErrMalformedHash)
}

// parseDecimal parses a canonical decimal (digits only, no sign, no leading
// zero) not above max.
func parseDecimal(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= max
}

func parseArgon2(s string) (passwordHash, error) {
	const name = "argon2id"
	ph := passwordHash{scheme: SchemeArgon2id}
	ver, rest, ok := strings.Cut(s, "$")
	if !ok || !strings.HasPrefix(ver, "v=") {
		return ph, fmt.Errorf("%w: argon2id: missing version (v1.0 hashes are not supported)", ErrUnsupportedHash)
	}
	v, ok := parseDecimal(ver[2:], 0xff)
	if !ok {
		return ph, malformed(name, "bad version")
	}
	if v != 0x13 {
		return ph, fmt.Errorf("%w: argon2id version %d", ErrUnsupportedHash, v)
	}
	ph.version = int(v)
	params, rest, ok := strings.Cut(rest, "$")
	if !ok {
		return ph, malformed(name, "missing salt")
	}
	m, tp, ok1 := strings.Cut(params, ",")
	t, p, ok2 := strings.Cut(tp, ",")
	if !ok1 || !ok2 || !strings.HasPrefix(m, "m=") || !strings.HasPrefix(t, "t=") || !strings.HasPrefix(p, "p=") {
		return ph, malformed(name, "parameters must be m=…,t=…,p=…")
	}
	mv, ok1 := parseDecimal(m[2:], 1<<32-1)
	tv, ok2 := parseDecimal(t[2:], 1<<32-1)
	pv, ok3 := parseDecimal(p[2:], 255)
	if !ok1 || !ok2 || !ok3 || tv < 1 || pv < 1 || mv < 8*pv {
		return ph, malformed(name, "parameters out of range")
	}
	ph.memory, ph.cost, ph.threads = uint32(mv), int(tv), uint8(pv)
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok {
		return ph, malformed(name, "missing hash")
	}
	var err error
	if ph.salt, err = decodeBounded(phcB64, salt, 8, argon2MaxSalt); err != nil {
		return ph, malformed(name, "salt: "+err.Error())
	}
	if ph.sum, err = decodeBounded(phcB64, sum, 4, argon2MaxKey); err != nil {
		return ph, malformed(name, "hash: "+err.Error())
	}
	return ph, nil
}

// decodeBounded decodes s with enc and checks the decoded length.
func decodeBounded(enc *base64.Encoding, s string, min, max int) ([]byte, error) {
	if enc.DecodedLen(len(s)) > max+1 {
		return nil, errors.New("too long")
	}
	// encoding/base64 skips CR and LF; a stored hash must not contain them.
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("bad base64")
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("bad base64")
	}
	if len(b) < min || len(b) > max {
		return nil, fmt.Errorf("length %d outside [%d, %d]", len(b), min, max)
	}
	return b, nil
}

func parsePBKDF2(s string) (passwordHash, error) {
	const name = "pbkdf2-sha256"
	ph := passwordHash{scheme: SchemePBKDF2SHA256}
	rounds, rest, ok := strings.Cut(s, "$")
	salt, sum, ok2 := strings.Cut(rest, "$")
	if !ok || !ok2 {
		return ph, malformed(name, "want $pbkdf2-sha256$rounds$salt$checksum")
	}
	r, ok := parseDecimal(rounds, 1<<31-1)
	if !ok || r < 1 {
		return ph, malformed(name, "bad rounds")
	}
	ph.cost = int(r)
	var err error
	if ph.salt, err = decodeBounded(ab64, salt, 0, pbkdf2MaxSalt); err != nil {
		return ph, malformed(name, "salt: "+err.Error())
	}
	if ph.sum, err = decodeBounded(ab64, sum, sha256.Size, sha256.Size); err != nil {
		return ph, malformed(name, "checksum: "+err.Error())
	}
	return ph, nil
}

// isBcrypt64 reports whether s is n characters of bcrypt's alphabet.
func isBcrypt64(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// parseBcryptTail parses "salt+checksum" (53 characters, plain bcrypt) or
// "salt$checksum" (54, passlib's bcrypt_sha256).
func parseBcryptTail(ph *passwordHash, name, s string, sep bool) error {
	salt, sum := s, ""
	if sep {
		var ok bool
		if salt, sum, ok = strings.Cut(s, "$"); !ok {
			return malformed(name, "missing checksum")
		}
	} else if len(s) == 53 {
		salt, sum = s[:22], s[22:]
	}
	if !isBcrypt64(salt, 22) || !isBcrypt64(sum, 31) {
		return malformed(name, "salt and checksum must be 22 and 31 bcrypt-base64 characters")
	}
	ph.bsalt, ph.bsum = salt, sum
	return nil
}

func parseBcrypt(s string) (passwordHash, error) {
	const name = "bcrypt"
	ph := passwordHash{scheme: SchemeBcrypt}
	if strings.HasPrefix(s, "$2$") || strings.HasPrefix(s, "$2x$") {
		// $2$ is pre-1997 bcrypt, $2x$ crypt_blowfish's buggy sign-extension.
		return ph, fmt.Errorf("%w: bcrypt variant %s", ErrUnsupportedHash, s[:strings.IndexByte(s[1:], '$')+2])
	}
	// $2b$12$ + 53 characters.
	if len(s) != 60 || s[3] != '$' || s[6] != '$' {
		return ph, malformed(name, "want $2b$NN$ and 53 characters")
	}
	switch ph.ident = s[1:3]; ph.ident {
	case "2a", "2b", "2y":
	default:
		return ph, fmt.Errorf("%w: bcrypt variant $%s$", ErrUnsupportedHash, ph.ident)
	}
	c := s[4:6]
	if c[0] < '0' || c[0] > '9' || c[1] < '0' || c[1] > '9' {
		return ph, malformed(name, "bad cost")
	}
	ph.cost = int(c[0]-'0')*10 + int(c[1]-'0')
	if ph.cost < bcrypt.MinCost || ph.cost > bcrypt.MaxCost {
		return ph, malformed(name, "cost out of range")
	}
	return ph, parseBcryptTail(&ph, name, s[7:], false)
}

func parseBcryptSHA256(s string) (passwordHash, error) {
	const name = "bcrypt-sha256"
	ph := passwordHash{scheme: SchemeBcryptSHA256}
	params, rest, ok := strings.Cut(s, "$")
	if !ok {
		return ph, malformed(name, "missing salt")
	}
	var rounds string
	if v, tr, ok := strings.Cut(params, ","); ok && strings.HasPrefix(v, "v=") {
		if v != "v=2" {
			return ph, fmt.Errorf("%w: bcrypt-sha256 version %q", ErrUnsupportedHash, v[2:])
		}
		ph.version = 2
		t, r, ok := strings.Cut(tr, ",")
		if !ok || t != "t=2b" || !strings.HasPrefix(r, "r=") {
			return ph, malformed(name, "want v=2,t=2b,r=N")
		}
		ph.ident, rounds = "2b", r[2:]
	} else {
		ph.version = 1
		t, r, ok := strings.Cut(params, ",")
		if !ok || (t != "2a" && t != "2b") {
			return ph, malformed(name, "want 2a,N or 2b,N")
		}
		ph.ident, rounds = t, r
	}
	r, ok := parseDecimal(rounds, uint64(bcrypt.MaxCost))
	if !ok || r < uint64(bcrypt.MinCost) || len(rounds) > 2 {
		return ph, malformed(name, "bad rounds")
	}
	ph.cost = int(r)
	if err := parseBcryptTail(&ph, name, rest, true); err != nil {
		return ph, err
	}
	// passlib refuses v2 salts whose last character carries padding bits,
	// because bcrypt implementations disagree on them.
	if ph.version == 2 && strings.IndexByte(".Oeu", ph.bsalt[21]) < 0 {
		return ph, malformed(name, "non-canonical salt")
	}
	return ph, nil
}

// check computes the hash of password under p's parameters and compares it
// in constant time.
func (p *passwordHash) check(password string) (bool, error) {
	switch p.scheme {
	case SchemeArgon2id:
		got := argon2.IDKey([]byte(password), p.salt, uint32(p.cost), p.memory, p.threads, uint32(len(p.sum)))
		return subtle.ConstantTimeCompare(got, p.sum) == 1, nil
	case SchemePBKDF2SHA256:
		got, err := pbkdf2.Key(sha256.New, password, p.salt, p.cost, sha256.Size)
		if err != nil {
			return false, fmt.Errorf("guard: pbkdf2: %w", err)
		}
		return subtle.ConstantTimeCompare(got, p.sum) == 1, nil
	case SchemeBcrypt:
		return bcryptCompare(p.bcryptString(), []byte(password))
	case SchemeBcryptSHA256:
		var digest []byte
		if p.version == 1 {
			d := sha256.Sum256([]byte(password))
			digest = d[:]
		} else {
			m := hmac.New(sha256.New, []byte(p.bsalt))
			io.WriteString(m, password)
			digest = m.Sum(nil)
		}
		key := make([]byte, base64.StdEncoding.EncodedLen(len(digest)))
		base64.StdEncoding.Encode(key, digest)
		return bcryptCompare(p.bcryptString(), key)
	}
	return false, fmt.Errorf("%w: scheme %q", ErrUnsupportedHash, p.scheme)
}

// bcryptCompare runs x/crypto's constant-time bcrypt comparison.
func bcryptCompare(hash string, password []byte) (bool, error) {
	err := bcrypt.CompareHashAndPassword([]byte(hash), password)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, fmt.Errorf("%w: bcrypt: %w", ErrMalformedHash, err)
}

// ---- secrets ----

// Secret is a string that must not be logged: a password, a client secret, a
// token. It prints as REDACTED through fmt (every verb, including %#v and
// %x), log/slog ([slog.LogValuer]) and encoding/json (MarshalJSON); convert
// it with string(s) where the real value is needed. Decoding JSON into a
// Secret works as for a string.
type Secret string

const redacted = "REDACTED"

// String returns "REDACTED".
func (Secret) String() string { return redacted }

// GoString returns "REDACTED", for %#v.
func (Secret) GoString() string { return redacted }

// LogValue implements [slog.LogValuer]: the value is "REDACTED".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format implements [fmt.Formatter] so that no verb (%x, %q, %v…) reveals
// the value; %q writes "REDACTED" quoted.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, `"`+redacted+`"`)
		return
	}
	io.WriteString(f, redacted)
}

// MarshalJSON returns "REDACTED" as a JSON string, so a Secret field never
// leaks through a serialized struct. Put string(s) in a response on purpose.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Equal reports whether s equals t in time that depends only on the lengths.
func (s Secret) Equal(t Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s), []byte(t)) == 1
}
