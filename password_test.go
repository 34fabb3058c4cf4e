package guard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var updatePasslib = flag.Bool("update-passlib", false, "rewrite testdata/passlib/go_hashes.json for check_go.py")

// newTestHasher builds a hasher through the strict constructor, then lowers
// the policy costs for speed (bcrypt cost 4, Argon2 m=64 KiB t=1). Production
// code cannot reach these values; the ceilings stay at their defaults.
func newTestHasher(t testing.TB, cfg PasswordHasherConfig) *PasswordHasher {
	t.Helper()
	h, err := NewPasswordHasher(cfg)
	if err != nil {
		t.Fatalf("NewPasswordHasher: %v", err)
	}
	h.bcryptCost = 4
	h.argon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	if err := h.initDummy(); err != nil {
		t.Fatal(err)
	}
	return h
}

type passlibVector struct {
	Scheme   string `json:"scheme"`
	Password string `json:"password"`
	Hash     string `json:"hash"`
	Source   string `json:"source"`
	GoExpect string `json:"go_expect"`
}

func loadPasslibVectors(t testing.TB) []passlibVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "passlib", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []passlibVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 40 {
		t.Fatalf("got %d vectors, want at least 40", len(f.Vectors))
	}
	return f.Vectors
}

// TestPasslibVectors verifies hashes written by passlib, argon2-cffi and
// pyca/bcrypt (testdata/passlib/gen.py).
// testQueueTimeout replaces the 1 s default wait for a hashing slot in tests
// that are about results, not about the pool: parallel subtests under -race
// on a busy 2-core machine can queue longer than that, and a busy error
// there would be a false failure. The pool's own tests set their timeouts.
const testQueueTimeout = 10 * time.Minute

func TestPasslibVectors(t *testing.T) {
	t.Parallel()
	h, err := NewPasswordHasher(PasswordHasherConfig{QueueTimeout: testQueueTimeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, v := range loadPasslibVectors(t) {
		t.Run(fmt.Sprintf("%d_%s", i, v.Scheme), func(t *testing.T) {
			t.Parallel()
			// Vectors at a library's default cost take 0.1-0.3 s each (many
			// times that under -race); the low-cost ones cover every code path.
			// So does the mismatch vector: refused without computing, it
			// costs the dummy work at the default policy (bcrypt cost 12).
			heavy := strings.Contains(v.Source, "default") || v.GoExpect == "mismatch"
			if heavy && testing.Short() {
				t.Skip("default-cost vector skipped in -short mode")
			}
			ph, err := parsePasswordHash(v.Hash)
			if err != nil {
				t.Fatalf("parse %q: %v", v.Hash, err)
			}
			if string(ph.scheme) != v.Scheme {
				t.Errorf("scheme: got %s, want %s", ph.scheme, v.Scheme)
			}
			if got := ph.String(); got != v.Hash {
				t.Errorf("String: got %q, want %q", got, v.Hash)
			}
			rehash, err := h.Verify(ctx, v.Password, Secret(v.Hash))
			if v.GoExpect == "mismatch" {
				if !errors.Is(err, ErrPasswordMismatch) {
					t.Fatalf("Verify(%s): got %v, want ErrPasswordMismatch", v.Source, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify(%s, %q): %v", v.Source, v.Password, err)
			}
			// Under the default policy (bcrypt cost 12), a hash needs a rehash
			// unless it is bcrypt at cost 12 (passlib's default: #18, a shared
			// user table stays readable by CryptContext(schemes=["bcrypt"])) or
			// Argon2id at the Argon2 floor (never downgraded to bcrypt), or
			// the password is one bcrypt cannot take (Hash would refuse it).
			atPolicy := strings.Contains(v.Source, "guard's default policy") || strings.HasPrefix(v.Source, "passlib.hash.bcrypt default")
			wantRehash := !atPolicy && len(v.Password) <= 72 && !strings.Contains(v.Password, "\x00")
			if rehash != wantRehash {
				t.Errorf("needsRehash: got %v, want %v", rehash, wantRehash)
			}
			if heavy {
				return
			}
			// Same length, so a 72-byte bcrypt password stays checkable.
			wrong := "x"
			if v.Password != "" {
				wrong = string(v.Password[0]^1) + v.Password[1:]
			}
			if _, err := h.Verify(ctx, wrong, Secret(v.Hash)); !errors.Is(err, ErrPasswordMismatch) {
				t.Errorf("Verify(wrong password): got %v, want ErrPasswordMismatch", err)
			}
		})
	}
}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	passwords := []string{"", "password", "pässwörd ☃ 密码 🔑", strings.Repeat("a", 72), strings.Repeat("é", 36)}
	for _, def := range []Scheme{SchemeArgon2id, SchemeBcrypt} {
		t.Run(string(def), func(t *testing.T) {
			t.Parallel()
			h := newTestHasher(t, PasswordHasherConfig{Schemes: []Scheme{def}})
			ctx := context.Background()
			for _, pw := range passwords {
				enc, err := h.Hash(ctx, pw)
				if err != nil {
					t.Fatalf("Hash(%q): %v", pw, err)
				}
				wantPrefix := map[Scheme]string{SchemeArgon2id: "$argon2id$v=19$m=64,t=1,p=1$", SchemeBcrypt: "$2b$04$"}[def]
				if !strings.HasPrefix(string(enc), wantPrefix) {
					t.Errorf("Hash: got %q, want prefix %q", enc, wantPrefix)
				}
				rehash, err := h.Verify(ctx, pw, enc)
				if err != nil || rehash {
					t.Errorf("Verify(%q, own hash): got (%v, %v), want (false, nil)", pw, rehash, err)
				}
				if _, err := h.Verify(ctx, pw+"x", enc); !errors.Is(err, ErrPasswordMismatch) {
					t.Errorf("Verify(wrong): got %v, want ErrPasswordMismatch", err)
				}
				enc2, _ := h.Hash(ctx, pw)
				if enc2 == enc {
					t.Errorf("two hashes of %q are equal; salt not random", pw)
				}
			}
		})
	}
}

func TestHashPasswordRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	argon := newTestHasher(t, PasswordHasherConfig{Schemes: []Scheme{SchemeArgon2id}})
	bc := newTestHasher(t, PasswordHasherConfig{})
	bcEnc, err := bc.Hash(ctx, "password")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		h        *PasswordHasher
		password string
		err      []error // nil: success
	}{
		{"bcrypt 73 bytes", bc, strings.Repeat("a", 73), []error{ErrPasswordTooLong}},
		{"bcrypt 72 bytes of 2-byte runes plus one", bc, strings.Repeat("é", 36) + "a", []error{ErrPasswordTooLong}},
		{"bcrypt NUL", bc, "pass\x00word", []error{ErrPasswordContainsNUL}},
		{"bcrypt 72 bytes", bc, strings.Repeat("a", 72), nil},
		{"argon2 100 bytes", argon, strings.Repeat("a", 100), nil},
		{"argon2 NUL", argon, "pass\x00word", nil},
		{"argon2 at cap", argon, strings.Repeat("a", MaxPasswordLen), nil},
		{"argon2 over cap", argon, strings.Repeat("a", MaxPasswordLen+1), []error{ErrPasswordTooLong}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.h.Hash(ctx, tt.password)
			if tt.err == nil && err != nil {
				t.Fatalf("Hash: got %v, want nil", err)
			}
			for _, want := range tt.err {
				if !errors.Is(err, want) {
					t.Errorf("Hash: got %v, want %v", err, want)
				}
			}
		})
	}

	// Verify never truncates: 72 bytes of the password plus more is a
	// mismatch that also says why.
	for _, pw := range []string{"password" + strings.Repeat("x", 65), "pass\x00word"} {
		_, err := bc.Verify(ctx, pw, bcEnc)
		if !errors.Is(err, ErrPasswordMismatch) {
			t.Errorf("Verify(%q): got %v, want ErrPasswordMismatch", pw, err)
		}
		if !errors.Is(err, ErrPasswordTooLong) && !errors.Is(err, ErrPasswordContainsNUL) {
			t.Errorf("Verify(%q): got %v, want it to say why", pw, err)
		}
	}
}

const (
	okBcrypt = "$2b$04$5BJqKfqMQvV7nS.yUguNcueVirQqDBGaLXSqj.rs.pZPlNR0UX/HK"
	okArgon2 = "$argon2id$v=19$m=256,t=2,p=2$nNPae2/tfU/pXYsxZoxRyg$WmTsQi8T7m8+XjWIpl2m0w"
	okPBKDF2 = "$pbkdf2-sha256$1000$Pac0RujdG4PQWqs1Zuxd6w$ctHGmOhorU5B.pWDqM9xcVrrZZ.BNOHXVj0ImzaYIIE"
	okBSHA   = "$bcrypt-sha256$v=2,t=2b,r=4$gbvfmqX4.RfJGnPzg0MBAe$nYBdF.OZlOWTPAMHdZvlGmfkWAjUoCm"
)

// badHashes are stored hashes Verify must refuse before computing anything.
var badHashes = []struct {
	name string
	enc  string
	err  error
}{
	{"truncated bcrypt", "$2a$10$short", ErrMalformedHash},
	{"plain text", "password", ErrMalformedHash},
	{"dollar only", "$", ErrMalformedHash},
	{"too long", "$argon2id$" + strings.Repeat("A", 600), ErrMalformedHash},
	{"bcrypt truncated", okBcrypt[:59], ErrMalformedHash},
	{"bcrypt extra", okBcrypt + "A", ErrMalformedHash},
	{"bcrypt bad char", strings.Replace(okBcrypt, "5B", "5!", 1), ErrMalformedHash},
	{"bcrypt cost 03", strings.Replace(okBcrypt, "$04$", "$03$", 1), ErrMalformedHash},
	{"bcrypt cost 32", strings.Replace(okBcrypt, "$04$", "$32$", 1), ErrMalformedHash},
	{"bcrypt cost xx", strings.Replace(okBcrypt, "$04$", "$x4$", 1), ErrMalformedHash},
	{"bcrypt cost 31 above ceiling", strings.Replace(okBcrypt, "$04$", "$31$", 1), ErrUnsupportedHash},
	{"bcrypt cost 15 above ceiling", strings.Replace(okBcrypt, "$04$", "$15$", 1), ErrUnsupportedHash},
	{"bcrypt 2x", strings.Replace(okBcrypt, "$2b$", "$2x$", 1), ErrUnsupportedHash},
	{"bcrypt 2", "$2$04$" + okBcrypt[7:] + "A", ErrUnsupportedHash},
	{"argon2i", "$argon2i$v=19$m=256,t=2,p=2$nNPae2/tfU/pXYsxZoxRyg$WmTsQi8T7m8+XjWIpl2m0w", ErrUnsupportedHash},
	{"argon2 v=16", strings.Replace(okArgon2, "v=19", "v=16", 1), ErrUnsupportedHash},
	{"argon2 no version", strings.Replace(okArgon2, "v=19$", "", 1), ErrUnsupportedHash},
	{"argon2 4 GiB", strings.Replace(okArgon2, "m=256", "m=4194304", 1), ErrUnsupportedHash},
	{"argon2 max uint32 memory", strings.Replace(okArgon2, "m=256", "m=4294967295", 1), ErrUnsupportedHash},
	{"argon2 t=11", strings.Replace(okArgon2, "t=2", "t=11", 1), ErrUnsupportedHash},
	{"argon2 memory overflow", strings.Replace(okArgon2, "m=256", "m=4294967296", 1), ErrMalformedHash},
	{"argon2 t=0", strings.Replace(okArgon2, "t=2", "t=0", 1), ErrMalformedHash},
	{"argon2 p=0", strings.Replace(okArgon2, "p=2", "p=0", 1), ErrMalformedHash},
	{"argon2 p=256", strings.Replace(okArgon2, "p=2", "p=256", 1), ErrMalformedHash},
	{"argon2 m below 8p", strings.Replace(okArgon2, "m=256", "m=15", 1), ErrMalformedHash},
	{"argon2 leading zero", strings.Replace(okArgon2, "m=256", "m=0256", 1), ErrMalformedHash},
	{"argon2 sign", strings.Replace(okArgon2, "m=256", "m=+256", 1), ErrMalformedHash},
	{"argon2 param order", strings.Replace(okArgon2, "m=256,t=2", "t=2,m=256", 1), ErrMalformedHash},
	{"argon2 extra param", strings.Replace(okArgon2, "p=2", "p=2,k=1", 1), ErrMalformedHash},
	{"argon2 padded base64", okArgon2 + "==", ErrMalformedHash},
	{"argon2 url base64", strings.Replace(okArgon2, "/", "_", 1), ErrMalformedHash},
	{"argon2 missing hash", okArgon2[:strings.LastIndexByte(okArgon2, '$')], ErrMalformedHash},
	{"argon2 empty hash", okArgon2[:strings.LastIndexByte(okArgon2, '$')+1], ErrMalformedHash},
	{"argon2 short salt", "$argon2id$v=19$m=256,t=2,p=2$AAAA$WmTsQi8T7m8+XjWIpl2m0w", ErrMalformedHash},
	{"argon2 extra segment", okArgon2 + "$x", ErrMalformedHash},
	{"argon2 trailing CR", okArgon2 + "\r", ErrMalformedHash},
	{"argon2 LF in salt", strings.Replace(okArgon2, "$nNPae2", "$nN\nPae2", 1), ErrMalformedHash},
	{"pbkdf2 trailing LF", okPBKDF2 + "\n", ErrMalformedHash},
	{"pbkdf2 rounds 0", strings.Replace(okPBKDF2, "$1000$", "$0$", 1), ErrMalformedHash},
	{"pbkdf2 rounds above ceiling", strings.Replace(okPBKDF2, "$1000$", "$2000001$", 1), ErrUnsupportedHash},
	{"pbkdf2 plus not dot", strings.Replace(okPBKDF2, "B.p", "B+p", 1), ErrMalformedHash},
	{"pbkdf2 short checksum", okPBKDF2[:len(okPBKDF2)-2], ErrMalformedHash},
	{"pbkdf2-sha512", strings.Replace(okPBKDF2, "sha256", "sha512", 1), ErrMalformedHash},
	{"bcrypt-sha256 v=3", strings.Replace(okBSHA, "v=2", "v=3", 1), ErrUnsupportedHash},
	{"bcrypt-sha256 t=2a in v2", strings.Replace(okBSHA, "t=2b", "t=2a", 1), ErrMalformedHash},
	{"bcrypt-sha256 r=04", strings.Replace(okBSHA, "r=4", "r=04", 1), ErrMalformedHash},
	{"bcrypt-sha256 r=3", strings.Replace(okBSHA, "r=4", "r=3", 1), ErrMalformedHash},
	{"bcrypt-sha256 r=31", strings.Replace(okBSHA, "r=4", "r=31", 1), ErrUnsupportedHash},
	{"bcrypt-sha256 padding bits in salt", strings.Replace(okBSHA, "Ae$", "Af$", 1), ErrMalformedHash},
	{"bcrypt-sha256 no checksum", okBSHA[:strings.LastIndexByte(okBSHA, '$')], ErrMalformedHash},
	{"bcrypt-sha256 v1 2y", "$bcrypt-sha256$2y,4$gbvfmqX4.RfJGnPzg0MBAe$nYBdF.OZlOWTPAMHdZvlGmfkWAjUoCm", ErrMalformedHash},
}

func TestVerifyRefusesBadHashes(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t, PasswordHasherConfig{})
	for _, tt := range badHashes {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rehash, err := h.Verify(context.Background(), "password", Secret(tt.enc))
			if !errors.Is(err, tt.err) || rehash {
				t.Errorf("Verify(%q): got (%v, %v), want (false, %v)", tt.enc, rehash, err, tt.err)
			}
			if errors.Is(err, ErrPasswordMismatch) {
				t.Errorf("Verify(%q): a bad stored hash must not look like a wrong password", tt.enc)
			}
		})
	}
}

func TestVerifyDisabledScheme(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t, PasswordHasherConfig{Schemes: []Scheme{SchemeArgon2id}})
	for _, enc := range []string{okBcrypt, okPBKDF2, okBSHA} {
		if _, err := h.Verify(context.Background(), "test", Secret(enc)); !errors.Is(err, ErrUnsupportedHash) {
			t.Errorf("Verify(%q): got %v, want ErrUnsupportedHash", enc, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	argon, err := NewPasswordHasher(PasswordHasherConfig{QueueTimeout: testQueueTimeout, Schemes: []Scheme{SchemeArgon2id, SchemeBcrypt, SchemeBcryptSHA256, SchemePBKDF2SHA256}})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := NewPasswordHasher(PasswordHasherConfig{QueueTimeout: testQueueTimeout})
	if err != nil {
		t.Fatal(err)
	}
	const salt, sum16, sum32 = "$c2FsdHNhbHRzYWx0c2FsdA", "$AAAAAAAAAAAAAAAAAAAAAA", "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	long, nul := strings.Repeat("x", 73), "pass\x00word"
	tests := []struct {
		name     string
		h        *PasswordHasher
		enc      string
		password string // default "password"
		want     bool
	}{
		{"argon2 at policy", argon, "$argon2id$v=19$m=19456,t=2,p=1" + salt + sum32, "", false},
		{"argon2 above policy", argon, "$argon2id$v=19$m=65536,t=3,p=4" + salt + sum32, "", false},
		{"argon2 more lanes", argon, "$argon2id$v=19$m=19456,t=2,p=2" + salt + sum32, "", false},
		{"argon2 less memory", argon, "$argon2id$v=19$m=19455,t=2,p=1" + salt + sum32, "", true},
		{"argon2 fewer passes", argon, "$argon2id$v=19$m=65536,t=1,p=1" + salt + sum32, "", true},
		{"argon2 short key", argon, "$argon2id$v=19$m=65536,t=3,p=4" + salt + sum16, "", true},
		{"argon2 short salt", argon, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ" + sum32, "", true},
		{"bcrypt under argon2 default", argon, "$2b$12$" + okBcrypt[7:], "", true},
		{"bcrypt at policy", bc, "$2b$12$" + okBcrypt[7:], "", false},
		{"bcrypt 2a at policy", bc, "$2a$12$" + okBcrypt[7:], "", false},
		{"bcrypt 2y above policy", bc, "$2y$13$" + okBcrypt[7:], "", false},
		{"bcrypt below policy", bc, "$2b$11$" + okBcrypt[7:], "", true},
		// No downgrade: an Argon2id hash that meets the Argon2 floor stays.
		{"argon2 under bcrypt default", bc, "$argon2id$v=19$m=65536,t=3,p=4" + salt + sum32, "", false},
		{"argon2 at floor under bcrypt default", bc, "$argon2id$v=19$m=19456,t=2,p=1" + salt + sum32, "", false},
		{"argon2 below floor under bcrypt default", bc, "$argon2id$v=19$m=19455,t=2,p=1" + salt + sum32, "", true},
		{"pbkdf2", argon, okPBKDF2, "", true},
		{"bcrypt-sha256", argon, okBSHA, "", true},
		{"pbkdf2 under bcrypt default", bc, okPBKDF2, "", true},
		{"bcrypt-sha256 under bcrypt default", bc, okBSHA, "", true},
		// Hash under a bcrypt default would refuse these passwords.
		{"bcrypt-sha256, 73-byte password", bc, okBSHA, long, false},
		{"argon2 below floor, 73-byte password", bc, "$argon2id$v=19$m=19455,t=2,p=1" + salt + sum32, long, false},
		{"pbkdf2, NUL", bc, okPBKDF2, nul, false},
		{"pbkdf2, 73-byte password, argon2 default", argon, okPBKDF2, long, true},
	}
	for _, tt := range tests {
		ph, err := parsePasswordHash(tt.enc)
		if err != nil {
			t.Fatalf("%s: parse %q: %v", tt.name, tt.enc, err)
		}
		if err := tt.h.admit(&ph); err != nil {
			t.Fatalf("%s: admit: %v", tt.name, err)
		}
		pw := cmp.Or(tt.password, "password")
		if got := tt.h.needsRehash(&ph, pw); got != tt.want {
			t.Errorf("%s: needsRehash got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNewPasswordHasherConfig(t *testing.T) {
	t.Parallel()
	h, err := NewPasswordHasher(PasswordHasherConfig{})
	if err != nil {
		t.Fatalf("zero config: %v", err)
	}
	want := Argon2Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	schemes := map[Scheme]bool{SchemeBcrypt: true, SchemeArgon2id: true, SchemeBcryptSHA256: true, SchemePBKDF2SHA256: true}
	if h.def != SchemeBcrypt || !maps.Equal(h.enabled, schemes) || h.bcryptCost != 12 || h.argon2 != want || h.queueTimeout != time.Second ||
		h.maxBcryptCost != 14 || h.maxArgon2Memory != 262144 || h.maxArgon2Time != 10 || cap(h.sem) < 1 {
		t.Errorf("defaults: got %+v", h)
	}

	tests := []struct {
		name string
		cfg  PasswordHasherConfig
		want []string // substrings of the joined error
	}{
		{"unknown scheme", PasswordHasherConfig{Schemes: []Scheme{"md5_crypt"}}, []string{`unknown scheme "md5_crypt"`}},
		{"verify-only default", PasswordHasherConfig{Schemes: []Scheme{SchemePBKDF2SHA256, SchemeBcrypt}}, []string{"cannot hash"}},
		{"duplicate", PasswordHasherConfig{Schemes: []Scheme{SchemeBcrypt, SchemeBcrypt}}, []string{"listed twice"}},
		{"weak bcrypt", PasswordHasherConfig{BcryptCost: 9}, []string{"BcryptCost 9"}},
		{"bcrypt above ceiling", PasswordHasherConfig{BcryptCost: 15}, []string{"MaxBcryptCost 14"}},
		{"weak argon2", PasswordHasherConfig{Argon2: Argon2Params{Memory: 4096}}, []string{"Argon2.Memory 4096", "Memory×Time"}},
		{"argon2 t=1 m=19456", PasswordHasherConfig{Argon2: Argon2Params{Time: 1}}, []string{"Memory×Time 19456"}},
		{"short salt", PasswordHasherConfig{Argon2: Argon2Params{SaltLen: 8, KeyLen: 8}}, []string{"SaltLen 8", "KeyLen 8"}},
		{"argon2 above ceiling", PasswordHasherConfig{Argon2: Argon2Params{Memory: 1 << 20}}, []string{"MaxArgon2Memory"}},
		{"negative", PasswordHasherConfig{MaxConcurrent: -1, MaxPBKDF2Rounds: -1}, []string{"MaxConcurrent -1", "MaxPBKDF2Rounds -1"}},
		{"all at once", PasswordHasherConfig{Schemes: []Scheme{"x"}, BcryptCost: 4}, []string{`unknown scheme "x"`, "cannot hash", "BcryptCost 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewPasswordHasher(tt.cfg)
			if err == nil || h != nil {
				t.Fatalf("got (%v, %v), want an error", h, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to mention %q", err, w)
				}
			}
		})
	}

	// The config is copied.
	cfg := PasswordHasherConfig{Schemes: []Scheme{SchemeBcrypt, SchemeArgon2id}}
	h, err = NewPasswordHasher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Schemes[0] = SchemeArgon2id
	if h.def != SchemeBcrypt {
		t.Errorf("mutating the config changed the hasher")
	}
}

func TestBusy(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t, PasswordHasherConfig{MaxConcurrent: 1, QueueTimeout: time.Hour})
	enc, err := h.Hash(context.Background(), "password")
	if err != nil {
		t.Fatal(err)
	}
	h.sem <- struct{}{} // hold the only slot

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel2()
	waiting, cancel3 := context.WithCancel(context.Background())
	calls := []struct {
		name string
		ctx  context.Context
		want error
		run  func(context.Context) error
	}{
		{"Hash canceled", canceled, context.Canceled, func(ctx context.Context) error { _, err := h.Hash(ctx, "p"); return err }},
		{"Verify expired", expired, context.DeadlineExceeded, func(ctx context.Context) error { _, err := h.Verify(ctx, "password", enc); return err }},
		{"VerifyDummy canceled", canceled, context.Canceled, func(ctx context.Context) error { return h.VerifyDummy(ctx, "p") }},
		{"Hash canceled while waiting", waiting, context.Canceled, func(ctx context.Context) error {
			time.AfterFunc(time.Millisecond, cancel3)
			_, err := h.Hash(ctx, "p")
			return err
		}},
	}
	for _, c := range calls {
		err := c.run(c.ctx)
		if !errors.Is(err, ErrBusy) || !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want ErrBusy and %v", c.name, err, c.want)
		}
	}

	// Fail fast: no waiting at all.
	h.queueTimeout = -1
	if _, err := h.Verify(context.Background(), "password", enc); !errors.Is(err, ErrBusy) {
		t.Errorf("QueueTimeout<0: got %v, want ErrBusy", err)
	}
	// Queue timeout shorter than the context.
	h.queueTimeout = time.Millisecond
	if err := h.VerifyDummy(context.Background(), "p"); !errors.Is(err, ErrBusy) {
		t.Errorf("QueueTimeout: got %v, want ErrBusy", err)
	}

	// A bad stored hash costs the dummy work, which needs a slot like any
	// other: while none is free the answer is ErrBusy, as for a good hash.
	for _, bad := range []string{"$2b$31$" + okBcrypt[7:], "", "$2a$10$short"} {
		if _, err := h.Verify(context.Background(), "p", Secret(bad)); !errors.Is(err, ErrBusy) {
			t.Errorf("Verify(%q) while busy: got %v, want ErrBusy", bad, err)
		}
	}
	if _, err := h.Verify(context.Background(), strings.Repeat("x", 73), enc); !errors.Is(err, ErrBusy) {
		t.Errorf("Verify(73 bytes) while busy: got %v, want ErrBusy", err)
	}

	h.release()
	h.queueTimeout = time.Hour
	if _, err := h.Verify(context.Background(), "password", enc); err != nil {
		t.Errorf("after release: %v", err)
	}
	if n := len(h.sem); n != 0 {
		t.Errorf("slots held after calls: got %d, want 0", n)
	}
}

// TestConcurrentWaiters checks that waiters get slots as they free up and
// that no slot leaks.
func TestConcurrentWaiters(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t, PasswordHasherConfig{MaxConcurrent: 2, QueueTimeout: time.Minute})
	enc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			_, err := h.Verify(context.Background(), "pw", enc)
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if n := len(h.sem); n != 0 {
		t.Errorf("slots held: got %d, want 0", n)
	}
}

func TestVerifyDummy(t *testing.T) {
	t.Parallel()
	for _, cfg := range []PasswordHasherConfig{{}, {Schemes: []Scheme{SchemeArgon2id}}} {
		h := newTestHasher(t, cfg)
		for _, pw := range []string{"", "password", strings.Repeat("x", 100), "nul\x00"} {
			if err := h.VerifyDummy(context.Background(), pw); err != ErrPasswordMismatch {
				t.Errorf("%s: VerifyDummy(%q): got %v, want ErrPasswordMismatch", h.def, pw, err)
			}
		}
		// The dummy is a well-formed hash at the current policy.
		enc := h.dummy.String()
		ph, err := parsePasswordHash(enc)
		if err != nil {
			t.Fatalf("dummy %q: %v", enc, err)
		}
		if err := h.admit(&ph); err != nil || h.needsRehash(&ph, "password") {
			t.Errorf("dummy %q: admit %v, needsRehash %v; want nil, false", enc, err, h.needsRehash(&ph, "password"))
		}
	}
}

// TestWriteGoHashes writes testdata/passlib/go_hashes.json with -update-passlib,
// for testdata/passlib/check_go.py to verify with passlib and argon2-cffi. It
// uses the production Argon2id policy and bcrypt at the minimum cost 10 (to
// keep the script quick).
func TestWriteGoHashes(t *testing.T) {
	if !*updatePasslib {
		t.Skip("run with -update-passlib to rewrite testdata/passlib/go_hashes.json")
	}
	type rec struct {
		Scheme   Scheme `json:"scheme"`
		Password string `json:"password"`
		Hash     string `json:"hash"`
	}
	var out []rec
	ctx := context.Background()
	passwords := []string{"password", "", "pässwörd ☃ 密码 🔑", strings.Repeat("a", 72), strings.Repeat("é", 36)}
	for _, cfg := range []PasswordHasherConfig{{Schemes: []Scheme{SchemeArgon2id}}, {BcryptCost: 10}} {
		h, err := NewPasswordHasher(cfg)
		if err != nil {
			t.Fatal(err)
		}
		pws := passwords
		if h.def == SchemeArgon2id {
			pws = append(pws, strings.Repeat("long", 50), "nul\x00byte")
		}
		for _, pw := range pws {
			enc, err := h.Hash(ctx, pw)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rec{h.def, pw, string(enc)})
		}
	}
	b, err := json.MarshalIndent(map[string]any{"generated_by": "go test -run TestWriteGoHashes -update-passlib", "hashes": out}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "passlib", "go_hashes.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

var benchSink any

func BenchmarkHash(b *testing.B) {
	for _, def := range []Scheme{SchemeArgon2id, SchemeBcrypt} {
		b.Run(string(def), func(b *testing.B) {
			h, err := NewPasswordHasher(PasswordHasherConfig{QueueTimeout: testQueueTimeout, Schemes: []Scheme{def}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				enc, err := h.Hash(context.Background(), "correct horse battery staple")
				if err != nil {
					b.Fatal(err)
				}
				benchSink = enc
			}
		})
	}
}

// BenchmarkVerify measures Verify of a hash at each scheme's default policy
// (passlib's defaults for the verify-only schemes) and VerifyDummy.
func BenchmarkVerify(b *testing.B) {
	h, err := NewPasswordHasher(PasswordHasherConfig{})
	if err != nil {
		b.Fatal(err)
	}
	hashes := map[string]string{}
	for _, v := range loadPasslibVectors(b) {
		if v.Password == "password" {
			switch {
			case strings.Contains(v.Source, "guard's default policy"):
				hashes["argon2id"] = v.Hash
			case v.Source == "passlib.hash.bcrypt default (rounds=12)":
				hashes["bcrypt"] = v.Hash
			case strings.HasPrefix(v.Source, "passlib.hash.bcrypt_sha256 default"):
				hashes["bcrypt_sha256"] = v.Hash
			case strings.HasPrefix(v.Source, "passlib.hash.pbkdf2_sha256 default"):
				hashes["pbkdf2_sha256"] = v.Hash
			}
		}
	}
	for _, name := range []string{"argon2id", "bcrypt", "bcrypt_sha256", "pbkdf2_sha256"} {
		b.Run(name, func(b *testing.B) {
			enc := hashes[name]
			if enc == "" {
				b.Fatalf("no vector for %s", name)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Verify(context.Background(), "password", Secret(enc)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("dummy_"+string(h.def), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchSink = h.VerifyDummy(context.Background(), "password")
		}
	})
}

// BenchmarkParsePasswordHash measures the parser alone.
func BenchmarkParsePasswordHash(b *testing.B) {
	for _, enc := range []string{okArgon2, okBcrypt, okBSHA, okPBKDF2} {
		b.Run(enc[1:strings.IndexByte(enc[1:], '$')+1], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ph, err := parsePasswordHash(enc)
				if err != nil {
					b.Fatal(err)
				}
				benchSink = ph.scheme
			}
		})
	}
}

// kdfRun describes one key-derivation run seen by [PasswordHasher.kdfTrace]:
// the scheme and cost parameters it ran at, and whether it ran while holding
// a hashing slot.
type kdfRun struct {
	scheme  Scheme
	cost    int // bcrypt cost, Argon2 passes, PBKDF2 rounds
	memory  uint32
	threads uint8
	inSlot  bool
}

// traceKDF makes h record every key-derivation run (bcrypt, Argon2id,
// PBKDF2) and returns a function that returns and clears the runs so far.
// Call it before h is shared between goroutines. Endpoint tests can use it to
// check that a request cost exactly one hash: len(runs()) == 1.
func traceKDF(h *PasswordHasher) (runs func() []kdfRun) {
	var (
		mu  sync.Mutex
		got []kdfRun
	)
	h.kdfTrace = func(p *passwordHash) {
		r := kdfRun{scheme: p.scheme, cost: p.cost, memory: p.memory, threads: p.threads, inSlot: len(h.sem) > 0}
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	}
	return func() []kdfRun {
		mu.Lock()
		defer mu.Unlock()
		r := got
		got = nil
		return r
	}
}

// policyRun is the run h does when it hashes a new password: its default
// scheme at its current policy. The dummy work must look exactly like it.
func policyRun(h *PasswordHasher) kdfRun {
	if h.def == SchemeArgon2id {
		return kdfRun{scheme: SchemeArgon2id, cost: int(h.argon2.Time), memory: h.argon2.Memory, threads: h.argon2.Threads, inSlot: true}
	}
	return kdfRun{scheme: h.def, cost: h.bcryptCost, inSlot: true}
}

// storedRun is the run that checking a password against enc does.
func storedRun(t *testing.T, enc string) kdfRun {
	t.Helper()
	ph, err := parsePasswordHash(enc)
	if err != nil {
		t.Fatalf("parse %q: %v", enc, err)
	}
	return kdfRun{scheme: ph.scheme, cost: ph.cost, memory: ph.memory, threads: ph.threads, inSlot: true}
}

// TestVerifyCostsOneKDF is the timing-oracle regression test (issue 8, item
// 3): every way Verify can fail for a known user costs exactly one
// key-derivation run, and the paths that cannot check the stored hash (none
// stored, unparsable, unsupported, a password the stored scheme cannot take)
// run the default scheme at the current policy, like VerifyDummy for an
// unknown user. The error still says what happened.
func TestVerifyCostsOneKDF(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	long := strings.Repeat("a", 73)
	huge := strings.Repeat("a", MaxPasswordLen+1)
	for _, cfg := range []PasswordHasherConfig{
		{}, // bcrypt default
		{Schemes: []Scheme{SchemeArgon2id, SchemeBcrypt}},
	} {
		h := newTestHasher(t, cfg)
		runs := traceKDF(h)
		enc, err := h.Hash(ctx, "password")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := runs(), []kdfRun{policyRun(h)}; !slices.Equal(got, want) {
			t.Errorf("%s: Hash ran %v, want %v", h.def, got, want)
		}
		const (
			stored = "stored hash" // the run is the stored hash's
			dummy  = "dummy"       // the run is the default scheme at the current policy
		)
		tests := []struct {
			name, password, enc string
			err                 []error // nil: success
			notErr              error
			run                 string
		}{
			{"match", "password", string(enc), nil, nil, stored},
			{"wrong password", "wrong", string(enc), []error{ErrPasswordMismatch}, nil, stored},
			{"wrong password, legacy bcrypt", "wrong", okBcrypt, []error{ErrPasswordMismatch}, nil, stored},
			{"wrong password, argon2id", "wrong", okArgon2, []error{ErrPasswordMismatch}, nil, stored},
			{"empty stored hash (no password set)", "password", "", []error{ErrPasswordMismatch}, ErrMalformedHash, dummy},
			{"empty stored hash, empty password", "", "", []error{ErrPasswordMismatch}, ErrMalformedHash, dummy},
			{"truncated bcrypt", "password", "$2a$10$short", []error{ErrMalformedHash}, ErrPasswordMismatch, dummy},
			{"bcrypt cost 32", "password", strings.Replace(okBcrypt, "$04$", "$32$", 1), []error{ErrMalformedHash}, ErrPasswordMismatch, dummy},
			{"bcrypt cost 31 above ceiling", "password", strings.Replace(okBcrypt, "$04$", "$31$", 1), []error{ErrUnsupportedHash}, ErrPasswordMismatch, dummy},
			{"bcrypt 2x", "password", strings.Replace(okBcrypt, "$2b$", "$2x$", 1), []error{ErrUnsupportedHash}, ErrPasswordMismatch, dummy},
			{"garbage", "password", "not a hash at all", []error{ErrMalformedHash}, ErrPasswordMismatch, dummy},
			{"argon2i", "password", strings.Replace(okArgon2, "argon2id", "argon2i", 1), []error{ErrUnsupportedHash}, ErrPasswordMismatch, dummy},
			{"argon2 4 GiB", "password", strings.Replace(okArgon2, "m=256", "m=4194304", 1), []error{ErrUnsupportedHash}, ErrPasswordMismatch, dummy},
			{"legacy bcrypt, 73-byte password", long, okBcrypt, []error{ErrPasswordMismatch, ErrPasswordTooLong}, nil, dummy},
			{"legacy bcrypt, NUL", "pass\x00word", okBcrypt, []error{ErrPasswordMismatch, ErrPasswordContainsNUL}, nil, dummy},
			{"argon2id, password over MaxPasswordLen", huge, okArgon2, []error{ErrPasswordMismatch, ErrPasswordTooLong}, nil, dummy},
			{"own hash, password over MaxPasswordLen", huge, string(enc), []error{ErrPasswordMismatch, ErrPasswordTooLong}, nil, dummy},
		}
		if h.def == SchemeArgon2id {
			tests = append(tests, struct {
				name, password, enc string
				err                 []error
				notErr              error
				run                 string
			}{"disabled scheme", "password", okPBKDF2, []error{ErrUnsupportedHash}, ErrPasswordMismatch, dummy})
		}
		for _, tt := range tests {
			t.Run(string(h.def)+"/"+tt.name, func(t *testing.T) {
				rehash, err := h.Verify(ctx, tt.password, Secret(tt.enc))
				if tt.err == nil && err != nil {
					t.Errorf("Verify: got %v, want nil", err)
				}
				if tt.err != nil && rehash {
					t.Errorf("Verify: needsRehash true on failure")
				}
				for _, want := range tt.err {
					if !errors.Is(err, want) {
						t.Errorf("Verify: got %v, want it to match %v", err, want)
					}
				}
				if tt.notErr != nil && errors.Is(err, tt.notErr) {
					t.Errorf("Verify: got %v, want it not to match %v", err, tt.notErr)
				}
				want := policyRun(h)
				if tt.run == stored {
					want = storedRun(t, tt.enc)
				}
				if got := runs(); !slices.Equal(got, []kdfRun{want}) {
					t.Errorf("KDF runs: got %v, want one %s run %v", got, tt.run, want)
				}
			})
		}
		for _, pw := range []string{"", "password", long, "nul\x00", huge} {
			t.Run(string(h.def)+"/VerifyDummy", func(t *testing.T) {
				if err := h.VerifyDummy(ctx, pw); err != ErrPasswordMismatch {
					t.Errorf("VerifyDummy(%d bytes): got %v, want ErrPasswordMismatch", len(pw), err)
				}
				if got, want := runs(), []kdfRun{policyRun(h)}; !slices.Equal(got, want) {
					t.Errorf("VerifyDummy(%d bytes): KDF runs got %v, want %v", len(pw), got, want)
				}
			})
		}
	}
}

// TestDummyAtDefaultPolicy checks that the zero config's dummy work (what an
// unknown user and every unverifiable stored hash cost) is bcrypt at cost
// 12, the cost of checking a password against a hash Hash wrote.
// TestVerifyCostsOneKDF checks, at test costs, that the dummy work runs at
// the policy.
func TestDummyAtDefaultPolicy(t *testing.T) {
	t.Parallel()
	h, err := NewPasswordHasher(PasswordHasherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d := h.dummy
	if d.scheme != SchemeBcrypt || d.cost != 12 || d.ident != "2b" {
		t.Errorf("dummy: got %s $%s$%d, want bcrypt $2b$12", d.scheme, d.ident, d.cost)
	}
	if got, want := policyRun(h), (kdfRun{scheme: SchemeBcrypt, cost: 12, inSlot: true}); got != want {
		t.Errorf("policy: got %v, want %v", got, want)
	}
}

// TestVerifyErrorOmitsHash: the errors for a bad stored hash say what is
// wrong with it (so the endpoint can log it apart from a wrong password)
// without quoting its salt or checksum.
func TestVerifyErrorOmitsHash(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t, PasswordHasherConfig{})
	cases := []string{"$2a$10$short", strings.Replace(okBcrypt, "$04$", "$32$", 1)}
	for _, tt := range badHashes {
		cases = append(cases, tt.enc)
	}
	for _, enc := range cases {
		_, err := h.Verify(context.Background(), "password", Secret(enc))
		if err == nil {
			t.Fatalf("Verify(%q): got nil", enc)
		}
		for part := range strings.SplitSeq(enc, "$") {
			if len(part) >= 16 && strings.Contains(err.Error(), part) {
				t.Errorf("Verify(%q): error %q quotes %q", enc, err, part)
			}
		}
	}
}

// TestDefaultSchemeBcrypt: the zero config hashes with bcrypt at cost 12 in
// the $2b$ form passlib writes (issue 8, item 18), refuses what bcrypt would
// truncate, and a hash it wrote needs no rehash.
func TestDefaultSchemeBcrypt(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a bcrypt hash at cost 12 takes 0.3 s (10 s under -race)")
	}
	ctx := context.Background()
	h, err := NewPasswordHasher(PasswordHasherConfig{QueueTimeout: testQueueTimeout})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(ctx, "password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(enc), "$2b$12$") || len(enc) != 60 {
		t.Errorf("Hash: got %q, want $2b$12$ and 53 characters", enc)
	}
	ph, err := parsePasswordHash(string(enc))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.admit(&ph); err != nil || h.needsRehash(&ph, "password") {
		t.Errorf("own hash: admit %v, needsRehash %v; want nil, false", err, h.needsRehash(&ph, "password"))
	}
	for _, pw := range []string{strings.Repeat("a", 73), "pass\x00word"} {
		if _, err := h.Hash(ctx, pw); !errors.Is(err, ErrPasswordTooLong) && !errors.Is(err, ErrPasswordContainsNUL) {
			t.Errorf("Hash(%q): got %v, want ErrPasswordTooLong or ErrPasswordContainsNUL", pw, err)
		}
	}
}
