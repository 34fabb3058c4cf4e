package guard

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// maxHashLen bounds a stored hash string before any parsing.
const maxHashLen = 512

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
// in constant time. trace, if not nil, is called just before the
// key-derivation run.
// lanes is how many threads checking a password against p runs at once:
// Argon2id's Threads, 1 for the other schemes.
func (p *passwordHash) lanes() int {
	if p.scheme == SchemeArgon2id {
		return int(p.threads)
	}
	return 1
}

func (p *passwordHash) check(password string, trace func(*passwordHash)) (bool, error) {
	if trace != nil {
		trace(p)
	}
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
