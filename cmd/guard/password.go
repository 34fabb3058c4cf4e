package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	// x/term turns off echo for the password prompt on every platform Go
	// runs on (termios on Unix, console modes on Windows). It depends only
	// on golang.org/x/sys, which x/crypto already brings in.
	"golang.org/x/term"

	"github.com/guardkit/guard"
)

// readPassword reads a password: from the terminal without echo when
// stdin is one (asked twice when confirm is set), otherwise all of stdin
// with one trailing newline ("\n" or "\r\n") removed. Prompts go to stderr.
func (c *cli) readPassword(confirm bool) (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return c.promptPassword(int(f.Fd()), confirm)
	}
	data, err := io.ReadAll(io.LimitReader(c.stdin, guard.MaxPasswordLen+3))
	if err != nil {
		return "", err
	}
	if bytes.HasSuffix(data, []byte("\n")) {
		data = bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	}
	if len(data) > guard.MaxPasswordLen {
		return "", usagef("the password is over %d bytes", guard.MaxPasswordLen)
	}
	if len(data) == 0 {
		return "", usagef("empty password on stdin")
	}
	return string(data), nil
}

func (c *cli) promptPassword(fd int, confirm bool) (string, error) {
	fmt.Fprint(c.stderr, "Password: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", err
	}
	if len(p) == 0 {
		return "", usagef("empty password")
	}
	if confirm {
		fmt.Fprint(c.stderr, "Again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", err
		}
		if !bytes.Equal(p, again) {
			return "", errors.New("the passwords differ")
		}
	}
	return string(p), nil
}
