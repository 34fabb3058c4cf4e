package main

import (
	"encoding/hex"
	"fmt"

	"github.com/guardkit/guard"
)

const apikeyMore = `Makes a key with guard.GenerateAPIKey: PREFIX_ then 30 random base62
characters (about 178 bits) and a 6-character CRC-32 checksum, which
APIKeyAuthConfig.Prefix uses to reject mistyped keys before any store lookup.
Store only the digest (the hex SHA-256 of the key, what MemoryAPIKeys.Add and
the Redis store take); hand the key to its owner once.

Secrets never print unless asked: without --show-secret only the digest is
printed and the key is gone. With --show-secret the key is printed too.

Examples:
  guard apikey new --prefix shop --show-secret
  guard apikey new --show-secret --json
`

func (c *cli) apikey(args []string) int {
	if len(args) == 0 || args[0] != "new" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintf(c.stdout, "Usage: guard apikey new [--prefix P] [--show-secret] [--json]\n\n%s", apikeyMore)
			return exitOK
		}
		return c.fail("apikey", usagef("want \"guard apikey new\" (see guard apikey new -h)"))
	}
	fs := c.flagSet("apikey new", "guard apikey new [--prefix P] [--show-secret] [--json]", apikeyMore)
	prefix := fs.String("prefix", "gk", "key prefix: 1 to 16 characters of [a-z0-9]")
	show := fs.Bool("show-secret", false, "print the key itself (it is shown this once)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, status, done := c.parse(fs, args[1:])
	if done {
		return status
	}
	if len(pos) > 0 {
		return c.fail("apikey new", usagef("unexpected argument %q (see -h)", pos[0]))
	}
	key, digest, err := guard.GenerateAPIKey(*prefix)
	if err != nil {
		return c.fail("apikey new", usagef("%v", err))
	}
	sum := hex.EncodeToString(digest[:])
	if *asJSON {
		res := map[string]string{"prefix": *prefix, "digest": sum}
		if *show {
			res["key"] = string(key)
		}
		if err := c.writeJSON(res); err != nil {
			return c.fail("apikey new", err)
		}
		return exitOK
	}
	if *show {
		fmt.Fprintf(c.stdout, "key:    %s\n", string(key))
	}
	fmt.Fprintf(c.stdout, "digest: %s\n", sum)
	if !*show {
		fmt.Fprintln(c.stderr, "guard apikey new: the key was not printed (use --show-secret); it cannot be recovered from the digest")
	}
	return exitOK
}
