package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHash(t *testing.T) {
	r := cmd(t, "correct horse\n", "hash")
	r.want(t, 0, []string{"$2b$12$"}, nil)
	stored := strings.TrimSpace(r.stdout)
	if bcrypt.CompareHashAndPassword([]byte(stored), []byte("correct horse")) != nil {
		t.Fatalf("x/crypto/bcrypt does not accept %q for the password", stored)
	}

	cmd(t, "correct horse\n", "hash", "verify", stored).want(t, 0, []string{"ok (bcrypt)", "needs rehash: no"}, nil)
	cmd(t, "correct horse\r\n", "hash", "verify", stored).want(t, 0, []string{"ok (bcrypt)"}, nil)
	cmd(t, "correct horse", "hash", "verify", stored).want(t, 0, []string{"ok (bcrypt)"}, nil)
	cmd(t, "wrong\n", "hash", "verify", stored).want(t, 1, []string{"mismatch (bcrypt)"}, nil)
	// Only one newline is dropped: the password is what was piped.
	cmd(t, "correct horse\n\n", "hash", "verify", stored).want(t, 1, []string{"mismatch"}, nil)
	// The policy of --argon2id moves bcrypt hashes to Argon2id.
	cmd(t, "correct horse\n", "hash", "verify", "--argon2id", stored).want(t, 0, []string{"needs rehash: yes"}, nil)

	r = cmd(t, "correct horse\n", "hash", "--argon2id")
	r.want(t, 0, []string{"$argon2id$v=19$m=19456,t=2,p=1$"}, nil)
	argon := strings.TrimSpace(r.stdout)
	// guard keeps Argon2id hashes at or above its parameters under the bcrypt policy too.
	cmd(t, "correct horse\n", "hash", "verify", argon).want(t, 0, []string{"ok (argon2id)", "needs rehash: no"}, nil)
	cmd(t, "correct horse\n", "hash", "verify", "--scheme", "argon2id", argon).want(t, 0, []string{"needs rehash: no"}, nil)
	cmd(t, "correct horse\n", "hash", "--scheme", "argon2id").want(t, 0, []string{"$argon2id$"}, nil)

	// A bcrypt cost below the policy needs a rehash.
	low, err := bcrypt.GenerateFromPassword([]byte("pw"), 10)
	if err != nil {
		t.Fatal(err)
	}
	cmd(t, "pw\n", "hash", "verify", string(low)).want(t, 0, []string{"ok (bcrypt)", "needs rehash: yes"}, nil)
	cmd(t, "pw\n", "hash", "verify", "--cost", "10", string(low)).want(t, 0, []string{"needs rehash: no"}, nil)

	r = cmd(t, "pw\n", "hash", "verify", "--json", string(low))
	r.want(t, 0, nil, nil)
	var res struct {
		OK          bool   `json:"ok"`
		NeedsRehash bool   `json:"needs_rehash"`
		Scheme      string `json:"scheme"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.OK || !res.NeedsRehash || res.Scheme != "bcrypt" {
		t.Errorf("JSON %s: %+v, %v", r.stdout, res, err)
	}
	r = cmd(t, "nope\n", "hash", "verify", "--json", string(low))
	r.want(t, 1, []string{`"ok": false`, `"reason": "password mismatch"`}, nil)
}

// TestHashVerifyPasslib: hashes written by passlib and argon2-cffi (the
// root's testdata/passlib vectors) verify, each with its scheme named.
func TestHashVerifyPasslib(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "passlib", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []struct{ Scheme, Password, Hash, Go_expect string }
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range doc.Vectors {
		if seen[v.Scheme] || v.Go_expect != "match" || v.Password == "" {
			continue
		}
		seen[v.Scheme] = true
		t.Run(v.Scheme, func(t *testing.T) {
			cmd(t, v.Password, "hash", "verify", v.Hash).want(t, 0, []string{"ok (" + v.Scheme + ")"}, nil)
			cmd(t, v.Password+"x", "hash", "verify", v.Hash).want(t, 1, []string{"mismatch (" + v.Scheme + ")"}, nil)
		})
	}
	if len(seen) != 4 {
		t.Errorf("schemes tried: %v, want 4", seen)
	}
}

func TestHashBadInput(t *testing.T) {
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"empty stdin", "", []string{"hash"}, 2, "empty password"},
		{"only a newline", "\n", []string{"hash"}, 2, "empty password"},
		{"bcrypt over 72 bytes", strings.Repeat("a", 73), []string{"hash"}, 2, "password too long"},
		{"over the cap", strings.Repeat("a", 5000), []string{"hash", "--argon2id"}, 2, "over 4096 bytes"},
		{"unknown scheme", "pw", []string{"hash", "--scheme", "md5"}, 2, `--scheme "md5"`},
		{"low cost", "pw", []string{"hash", "--cost", "4"}, 2, "BcryptCost 4"},
		{"extra argument", "pw", []string{"hash", "pw"}, 2, "unexpected argument"},
		{"verify without hash", "pw", []string{"hash", "verify"}, 2, "want one HASH argument"},
		{"unknown format", "pw", []string{"hash", "verify", "$1$abc$def"}, 2, "not in a format guard reads"},
		{"truncated bcrypt", "pw", []string{"hash", "verify", "$2b$12$abc"}, 2, "malformed password hash"},
		{"bad argon2", "pw", []string{"hash", "verify", "$argon2id$v=19$m=x$a$b"}, 2, "malformed password hash"},
		{"cost above the ceiling", "pw", []string{"hash", "verify", "$2b$15$" + strings.Repeat("a", 53)}, 1, "unsupported password hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cmd(t, tt.stdin, tt.args...)
			r.want(t, tt.code, nil, []string{tt.stderr})
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	r := cmd(t, "", "apikey", "new")
	r.want(t, 0, []string{"digest: "}, []string{"--show-secret"})
	if strings.Contains(r.stdout, "gk_") || strings.Contains(r.stdout, "key:") {
		t.Errorf("the key was printed without --show-secret:\n%s", r.stdout)
	}

	r = cmd(t, "", "apikey", "new", "--prefix", "shop", "--show-secret")
	r.want(t, 0, []string{"key:    shop_", "digest: "}, nil)
	var key, digest string
	for line := range strings.Lines(r.stdout) {
		if v, ok := strings.CutPrefix(line, "key:    "); ok {
			key = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "digest: "); ok {
			digest = strings.TrimSpace(v)
		}
	}
	sum := sha256.Sum256([]byte(key))
	if digest != hex.EncodeToString(sum[:]) || len(key) != len("shop_")+36 {
		t.Errorf("key %q, digest %q: want the key's SHA-256", key, digest)
	}

	r = cmd(t, "", "apikey", "new", "--json", "--show-secret")
	var res map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !strings.HasPrefix(res["key"], "gk_") || len(res["digest"]) != 64 {
		t.Errorf("JSON %s: %v", r.stdout, err)
	}
	r = cmd(t, "", "apikey", "new", "--json")
	if strings.Contains(r.stdout, `"key"`) {
		t.Errorf("JSON without --show-secret has the key: %s", r.stdout)
	}

	cmd(t, "", "apikey", "new", "--prefix", "Bad-Prefix").want(t, 2, nil, []string{"prefix"})
	cmd(t, "", "apikey", "new", "--prefix", strings.Repeat("a", 17)).want(t, 2, nil, []string{"1 to 16 characters"})
	cmd(t, "", "apikey", "rotate").want(t, 2, nil, []string{`want "guard apikey new"`})
}
