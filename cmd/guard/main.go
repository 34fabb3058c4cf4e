// Command guard does the everyday work around guard's keys, tokens, API keys
// and passwords from a shell, with the library's own code, so what it checks
// is exactly what a guard service checks.
//
// Install it with
//
//	go install github.com/guardkit/guard/cmd/guard@latest
//
// Commands:
//
//	guard keygen --alg ALG [--kid ID] [--out FILE] [--pem] [--force]
//	guard jwks FILE...
//	guard hash [--argon2id]          and   guard hash verify HASH
//	guard apikey new [--prefix P] [--show-secret]
//	guard token mint --key FILE [--sub S] [--aud A] [--iss I] [--ttl D] [--claims JSON]
//	guard token inspect TOKEN
//	guard token verify (--key FILE | --jwks URL | --issuer URL) [--aud A] [--iss I] [--leeway D] TOKEN
//	guard discover URL
//
// Every command takes -h. Exit status: 0 success, 1 a check failed (a
// token, a password, a discovery document), 2 a usage error or unreadable
// input.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command: it parses args, reads stdin when a command
// needs it, writes results to stdout and messages to stderr, and returns
// the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	return c.main(args)
}

// cli carries a run's streams and clock.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
}

const mainUsage = `guard: keys, tokens, API keys and passwords, checked the way the guard library checks them.

Usage:
  guard keygen --alg ALG [--kid ID] [--out FILE] [--pem] [--force]   make a signing key
  guard jwks FILE...                                                 a public JWK Set from key files
  guard hash [--argon2id]                                            hash a password (bcrypt by default)
  guard hash verify HASH                                             check a password against a hash
  guard apikey new [--prefix P] [--show-secret]                      make an API key and its digest
  guard token mint --key FILE [--sub S] [--aud A] [--iss I] [--ttl D] [--claims JSON]
  guard token inspect TOKEN                                          decode a token WITHOUT verifying it
  guard token verify (--key FILE | --jwks URL | --issuer URL) [--aud A] [--iss I] [--leeway D] TOKEN
  guard discover URL                                                 check an issuer's metadata and JWKS

Run "guard COMMAND -h" for a command's options and examples.
Exit status: 0 ok, 1 a check failed, 2 usage error or unreadable input.
`

func (c *cli) main(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, mainUsage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.stdout, mainUsage)
		return exitOK
	case "keygen":
		return c.keygen(args[1:])
	case "jwks":
		return c.jwks(args[1:])
	case "hash":
		return c.hash(args[1:])
	case "apikey":
		return c.apikey(args[1:])
	case "token":
		return c.token(args[1:])
	case "discover":
		return c.discover(args[1:])
	}
	fmt.Fprintf(c.stderr, "guard: unknown command %q\n\n%s", args[0], mainUsage)
	return exitUsage
}

// usageError is a mistake in the command line or its input: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// fail prints err for command name and returns its exit status: 2 for a
// usage error, 1 otherwise. guard's own "guard: " prefixes are dropped
// from the message, which already starts with the command.
func (c *cli) fail(name string, err error) int {
	msg := strings.ReplaceAll(err.Error(), "guard: ", "")
	fmt.Fprintf(c.stderr, "guard %s: %s\n", name, msg)
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFail
}

// flagSet returns a flag set for command name whose -h prints help (the
// usage line, the flags, then more: examples) to stdout.
func (c *cli) flagSet(name, usage, more string) *flag.FlagSet {
	fs := flag.NewFlagSet("guard "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(c.stdout, "Usage: %s\n\n", usage)
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if more != "" {
			fmt.Fprintf(c.stdout, "\n%s", more)
		}
	}
	return fs
}

// parse parses args with fs, allowing flags after positional arguments
// ("guard token verify TOKEN --aud api"); "--" ends the flags. It returns
// the positional arguments, or done with the exit status when -h was asked
// for (0) or the flags are wrong (2).
func (c *cli) parse(fs *flag.FlagSet, args []string) (pos []string, status int, done bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
				return nil, exitOK, true
			}
			fmt.Fprintf(c.stderr, "%s: %v (see -h)\n", fs.Name(), err)
			return nil, exitUsage, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// writeJSON writes v as indented JSON.
func (c *cli) writeJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// listFlag is a flag that may be repeated, each value also split on commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}
