package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/guardkit/guard"
)

const hashMore = `The password is read from the terminal without echo (asked twice), or from
stdin when stdin is not a terminal (one trailing newline is dropped). The hash
is printed to stdout: bcrypt ($2b$, cost 12, the form passlib writes) by
default, Argon2id (PHC string, OWASP parameters) with --argon2id.

  guard hash verify HASH

reads the password the same way and checks it against HASH in any format
guard reads (bcrypt $2a$/$2b$/$2y$, argon2id, passlib's bcrypt_sha256 and
pbkdf2_sha256). It prints "ok" or "mismatch" and whether the hash should be
replaced on the next login (needs rehash) under the same policy as guard's
PasswordHasher (bcrypt cost 12 by default; with --argon2id, Argon2id).
Exit status 1 on a mismatch, 2 for a malformed hash.

Examples:
  guard hash
  printf '%s' "$PASSWORD" | guard hash --argon2id
  guard hash verify '$2b$12$...'
  echo hunter2 | guard hash verify --json "$(cat stored.hash)"
`

func (c *cli) hash(args []string) int {
	if len(args) > 0 && args[0] == "verify" {
		return c.hashVerify(args[1:])
	}
	fs := c.flagSet("hash", "guard hash [--argon2id | --scheme SCHEME] [--cost N]\n       guard hash verify [--argon2id] [--json] HASH", hashMore)
	h := hasherFlags(fs)
	pos, status, done := c.parse(fs, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return c.fail("hash", usagef("unexpected argument %q (see -h)", pos[0]))
	}
	hasher, err := h()
	if err != nil {
		return c.fail("hash", err)
	}
	password, err := c.readPassword(true)
	if err != nil {
		return c.fail("hash", err)
	}
	enc, err := hasher.Hash(context.Background(), password)
	if err != nil {
		return c.fail("hash", usagef("%v", err))
	}
	fmt.Fprintln(c.stdout, string(enc))
	return exitOK
}

// hasherFlags declares --argon2id, --scheme and --cost on fs and returns
// a function building the PasswordHasher they describe.
func hasherFlags(fs *flag.FlagSet) func() (*guard.PasswordHasher, error) {
	argon := fs.Bool("argon2id", false, "hash with Argon2id (same as --scheme argon2id)")
	scheme := fs.String("scheme", "bcrypt", "`SCHEME` of new hashes: bcrypt or argon2id")
	cost := fs.Int("cost", 0, "bcrypt cost (default 12, at least 10)")
	return func() (*guard.PasswordHasher, error) {
		def := guard.Scheme(*scheme)
		if *argon {
			def = guard.SchemeArgon2id
		}
		schemes := []guard.Scheme{guard.SchemeBcrypt, guard.SchemeArgon2id, guard.SchemeBcryptSHA256, guard.SchemePBKDF2SHA256}
		switch def {
		case guard.SchemeBcrypt:
		case guard.SchemeArgon2id:
			schemes[0], schemes[1] = schemes[1], schemes[0]
		default:
			return nil, usagef("--scheme %q: use bcrypt or argon2id", *scheme)
		}
		h, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{Schemes: schemes, BcryptCost: *cost, QueueTimeout: -1})
		if err != nil {
			return nil, usagef("%v", err)
		}
		return h, nil
	}
}

func (c *cli) hashVerify(args []string) int {
	fs := c.flagSet("hash verify", "guard hash verify [--argon2id] [--json] HASH", hashMore)
	h := hasherFlags(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, status, done := c.parse(fs, args)
	if done {
		return status
	}
	if len(pos) != 1 {
		return c.fail("hash verify", usagef("want one HASH argument, got %d (see -h)", len(pos)))
	}
	encoded := pos[0]
	hasher, err := h()
	if err != nil {
		return c.fail("hash verify", err)
	}
	scheme := hashScheme(encoded)
	if scheme == "" {
		return c.fail("hash verify", usagef("HASH is not in a format guard reads (bcrypt, argon2id, bcrypt_sha256, pbkdf2_sha256)"))
	}
	password, err := c.readPassword(false)
	if err != nil {
		return c.fail("hash verify", err)
	}
	rehash, err := hasher.Verify(context.Background(), password, guard.Secret(encoded))
	switch {
	case errors.Is(err, guard.ErrMalformedHash):
		return c.fail("hash verify", usagef("%v", err))
	case errors.Is(err, guard.ErrUnsupportedHash):
		return c.fail("hash verify", err)
	case err != nil && !errors.Is(err, guard.ErrPasswordMismatch):
		return c.fail("hash verify", err)
	}
	ok := err == nil
	if *asJSON {
		res := map[string]any{"ok": ok, "scheme": scheme}
		if ok {
			res["needs_rehash"] = rehash
		} else {
			res["reason"] = strings.ReplaceAll(err.Error(), "guard: ", "")
		}
		if err := c.writeJSON(res); err != nil {
			return c.fail("hash verify", err)
		}
	} else if ok {
		fmt.Fprintf(c.stdout, "ok (%s)\nneeds rehash: %s\n", scheme, yesNo(rehash))
	} else {
		fmt.Fprintf(c.stdout, "mismatch (%s): %s\n", scheme, strings.ReplaceAll(err.Error(), "guard: ", ""))
	}
	if !ok {
		return exitFail
	}
	return exitOK
}

// hashScheme names the scheme of an encoded hash by its prefix, or "".
func hashScheme(s string) guard.Scheme {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return guard.SchemeBcrypt
	case strings.HasPrefix(s, "$argon2id$"):
		return guard.SchemeArgon2id
	case strings.HasPrefix(s, "$bcrypt-sha256$"):
		return guard.SchemeBcryptSHA256
	case strings.HasPrefix(s, "$pbkdf2-sha256$"):
		return guard.SchemePBKDF2SHA256
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
